"""What a fault scenario acts through: a cluster's objects and fault records, in this process (a sandbox
cluster's ClusterApi) or over HTTP (any cluster, a local one), the fleet's GitHub and artifact store, and the
small edits scenarios make (a patch committed to the cluster's kustomization.yaml, a container field replaced).

    c = ClusterOps(InProcess(api), hub)
    c.commit({"sandbox-faults/x/kustomization.yaml": b"..."}, "Add x")
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from fleetlab.charts.artifacts import ArtifactStore
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError
from fleetlib.errors import InputError
from fleetlib.files import write_atomic
from fleetlib.objects import condition, spec_of, status_of

NAMESPACE = "flux-system"
FAULT_DIR = "sandbox-faults"
AUTHOR = ("Sandbox Faults", "faults@fleetlib.invalid")
RATE_LIMIT_FILE = "rate-limited.json"
MANAGER = "fleetlib-faults"
GROUPS = {"GitRepository": "source.toolkit.fluxcd.io", "HelmRepository": "source.toolkit.fluxcd.io",
          "Kustomization": "kustomize.toolkit.fluxcd.io", "HelmRelease": "helm.toolkit.fluxcd.io",
          "Deployment": "apps", "Pod": "", "Secret": "", "Event": "", "ConfigMap": ""}


class Kube(Protocol):
    """What a scenario needs of a cluster: objects by kind, and where the cluster keeps its fault records."""

    def get(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None: ...
    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None
             ) -> builtins.list[dict[str, Any]]: ...
    def apply(self, obj: dict[str, Any]) -> None: ...
    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None, *,
              missing_ok: bool = False) -> None:
        """A merge patch; `missing_ok`: an object that is gone (or going) is left alone."""
    def delete(self, kind: str, name: str, namespace: str | None) -> None: ...
    def records(self) -> dict[str, Any]: ...
    def save(self, records: dict[str, Any]) -> None: ...


@dataclass
class InProcess:
    """A sandbox cluster in this process: its ClusterApi, records in the cluster's state (its meta table)."""

    api: ClusterApi

    def type(self, kind: str) -> Any:
        group = GROUPS.get(kind)
        types = [x for x in self.api.registry().types if x.kind == kind and (group is None or x.group == group)]
        if not types:
            raise InputError(f"the cluster has no {kind} kind", hint="bootstrap Flux on the cluster first")
        return types[0]

    def get(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            return self.api.get(self.type(kind), namespace, name)
        except ApiError:
            return None

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None
             ) -> builtins.list[dict[str, Any]]:
        return list(json.loads(self.api.list_raw(self.type(kind), namespace, label_selector=label_selector))["items"])

    def apply(self, obj: dict[str, Any]) -> None:
        self.api.patch(self.type(obj["kind"]), obj["metadata"].get("namespace"), obj["metadata"]["name"],
                       "application/apply-patch+yaml", json.dumps(obj).encode(), manager=MANAGER, force=True)

    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None, *,
              missing_ok: bool = False) -> None:
        try:
            self.api.patch(self.type(kind), namespace, name, "application/merge-patch+json",
                           json.dumps(body).encode(), manager=MANAGER)
        except ApiError as e:
            if not (missing_ok and e.code == 404):
                raise

    def delete(self, kind: str, name: str, namespace: str | None) -> None:
        try:
            self.api.delete(self.type(kind), namespace, name)
        except ApiError:
            pass

    def records(self) -> dict[str, Any]:
        raw = self.api.store.meta("faults")
        return dict(json.loads(raw)) if raw else {}

    def save(self, records: dict[str, Any]) -> None:
        with self.api.store.write() as tx:
            tx.set_meta("faults", json.dumps(records))


class OverHttp:
    """Any cluster through the official client (a local cluster: real Kubernetes); records in a JSON file the
    cluster's supervisor reads (for api-flaky), `on_change` called after each save."""

    def __init__(self, client: Any, records_file: Path, on_change: Callable[[dict[str, Any]], object] | None = None
                 ) -> None:
        from kubernetes.dynamic import DynamicClient

        self.client = client
        self.dynamic = DynamicClient(client)
        self.records_file = records_file
        self.on_change = on_change

    def _resource(self, kind: str) -> Any:
        found = [r for r in self.dynamic.resources.search(kind=kind) if "/" not in r.name]
        group = GROUPS.get(kind)
        found = [r for r in found if group is None or r.group == group] or found
        if not found:
            raise InputError(f"the cluster has no {kind} kind", hint="bootstrap Flux on the cluster first")
        return next((r for r in found if getattr(r, "preferred", False)), found[0])

    def get(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        try:
            return dict(self._resource(kind).get(name=name, namespace=namespace).to_dict())
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None
             ) -> builtins.list[dict[str, Any]]:
        try:
            resource = self._resource(kind)
        except InputError:
            return []
        return list(resource.get(namespace=namespace, label_selector=label_selector).to_dict()["items"])

    def apply(self, obj: dict[str, Any]) -> None:
        self._resource(obj["kind"]).server_side_apply(body=obj, name=obj["metadata"]["name"],
                                                      namespace=obj["metadata"].get("namespace"),
                                                      field_manager=MANAGER, force_conflicts=True)

    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None, *,
              missing_ok: bool = False) -> None:
        from kubernetes.client.rest import ApiException

        try:
            self._resource(kind).patch(body=body, name=name, namespace=namespace,
                                       content_type="application/merge-patch+json")
        except ApiException as e:
            if not (missing_ok and e.status == 404):
                raise

    def delete(self, kind: str, name: str, namespace: str | None) -> None:
        from kubernetes.client.rest import ApiException

        try:
            self._resource(kind).delete(name=name, namespace=namespace)
        except (ApiException, InputError):
            pass

    def records(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.records_file.read_text()))
        except (OSError, ValueError):
            return {}

    def save(self, records: dict[str, Any]) -> None:
        write_atomic(self.records_file, json.dumps(records, indent=1))
        if self.on_change is not None:
            self.on_change(records)


def as_kube(cluster: ClusterApi | Kube) -> Kube:
    return InProcess(cluster) if isinstance(cluster, ClusterApi) else cluster


def active(cluster: ClusterApi | Kube) -> dict[str, Any]:
    return as_kube(cluster).records()


@dataclass
class ClusterOps:
    """What a scenario needs: the cluster, the sandbox GitHub, the artifact store, the flux-system source repo."""

    kube: Kube
    hub: Hub

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore.beside(self.hub.root)

    def get(self, kind: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
        return self.kube.get(kind, name, namespace)

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        try:
            return self.kube.list(kind, namespace)
        except InputError:
            return []

    def source_repo(self) -> tuple[str, str, str]:
        repo = self.get("GitRepository", "flux-system")
        if repo is None:
            raise InputError("the cluster has no flux-system GitRepository", hint="bootstrap the cluster first")
        spec = repo.get("spec") or {}
        m = re.search(r"github\.com[:/]([^/]+)/([^/]+?)(?:\.git)?/?$", str(spec.get("url")))
        if not m:
            raise InputError(f"flux-system GitRepository URL {spec.get('url')!r} is not a GitHub repository")
        return m.group(1), m.group(2), str((spec.get("ref") or {}).get("branch") or "main")

    def commit(self, files: dict[str, bytes | None], message: str, *, when: float | None = None) -> str:
        owner, name, branch = self.source_repo()
        return self.hub.bare(owner, name).commit_files(branch, files, message=message, author=AUTHOR, when=when)

    def read(self, path: str) -> str | None:
        """A file of the flux-system source repository at its branch head."""
        owner, name, branch = self.source_repo()
        bare = self.hub.bare(owner, name)
        head = bare.resolve(branch)
        entry = bare.entry(head, path) if head else None
        return bare.blob(entry.sha).decode() if entry is not None and entry.kind == "blob" else None

    def cluster_path(self) -> str:
        ks = self.get("Kustomization", "flux-system") or {}
        return str(spec_of(ks).get("path") or "").removeprefix("./").strip("/")

    def apply(self, obj: dict[str, Any]) -> None:
        self.kube.apply(obj)

    def delete(self, kind: str, name: str, namespace: str | None = NAMESPACE) -> None:
        self.kube.delete(kind, name, namespace)

    def patch(self, kind: str, name: str, body: dict[str, Any], namespace: str = NAMESPACE) -> None:
        self.kube.merge(kind, name, body, namespace)

    def reconcile(self, kind: str, name: str, namespace: str = NAMESPACE) -> None:
        """What `flux reconcile` does: the requestedAt annotation (on an object still there: one deleted while
        a scenario clears needs none)."""
        self.kube.merge(kind, name, {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}},
                        namespace, missing_ok=True)

    def pods(self, app: str) -> builtins.list[dict[str, Any]]:
        return self.kube.list("Pod", NAMESPACE, label_selector=f"app={app}")

    def head(self) -> str | None:
        """The commit the flux-system source's branch points at in the sandbox GitHub."""
        owner, name, branch = self.source_repo()
        return self.hub.bare(owner, name).resolve(branch)


def kustomization_object(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"interval": "10m0s", "path": path, "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, **spec}}


def fault_files(folder: str, docs: dict[str, Any]) -> dict[str, bytes | None]:
    return {f"{FAULT_DIR}/{folder}/{name}": (text if isinstance(text, str) else yaml.safe_dump(text)).encode()
            for name, text in docs.items()}


OTHER_HOST_KEY = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgw"
                  "FB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=")
"""A host key github.com does not present: what a stale or hand-edited known_hosts holds."""
FAULT_MARKER = "# fleetlib fault: "
LOW_MEMORY = "20Mi"
"""A memory limit below what any Flux controller needs at start: the kernel (kubelet) kills it, OOMKilled."""
BAD_FLAG = "--concurrent=four"
"""A flag value the controller's flag parser refuses, so it exits at start, again and again (CrashLoopBackOff)."""
STALE_INTERVAL = "1h0m0s"


def manager_container(c: ClusterOps, app: str) -> dict[str, Any]:
    deploy = c.get("Deployment", app)
    if deploy is None:
        raise InputError(f"the cluster has no Deployment {NAMESPACE}/{app}", hint="name a Flux controller as target")
    containers = (((spec_of(deploy).get("template") or {}).get("spec") or {}).get("containers")) or []
    return next((x for x in containers if x.get("name") == "manager"), containers[0] if containers else {})


def replace_container_field(c: ClusterOps, app: str, field: str, value: Any) -> None:
    deploy = c.get("Deployment", app) or {}
    containers = deploy["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") == "manager":
            container[field] = value
    c.patch("Deployment", app, {"spec": {"template": {"spec": {"containers": containers}}}})


def commit_patch(c: ClusterOps, scenario: str, app: str, body: str, record: dict[str, Any]) -> None:
    """Commit a patch for the controller's Deployment to the cluster's flux-system/kustomization.yaml (how a
    bad limit or flag reaches a real cluster), keeping the file's original text in the record."""
    path = f"{c.cluster_path()}/flux-system/kustomization.yaml"
    original = c.read(path)
    if original is None:
        raise InputError(f"the repository has no {path}", hint="bootstrap the cluster first")
    record.update({"file": path, "original": original})  # clearing restores the file byte for byte
    doc = yaml.safe_load(original) or {}
    doc.setdefault("patches", []).append({"patch": f"{FAULT_MARKER}{scenario}\n{body}",
                                          "target": {"kind": "Deployment", "name": app}})
    c.commit({path: yaml.safe_dump(doc, sort_keys=False).encode()}, f"Tune {app}")


def rate_limit(hub: Hub, *, add: bool) -> None:
    """The sandbox GitHub's rate limit is per account, like GitHub's: a flag file its server reads."""
    path = hub.root / RATE_LIMIT_FILE
    count = int(json.loads(path.read_text())["count"]) if path.exists() else 0
    count = count + 1 if add else max(0, count - 1)
    if count:
        path.write_text(json.dumps({"count": count}))
    else:
        path.unlink(missing_ok=True)


def source_at_head(c: ClusterOps) -> bool:
    repo = c.get("GitRepository", "flux-system")
    head = c.head()
    revision = str((status_of(repo).get("artifact") or {}).get("revision", ""))
    return bool(head) and revision.endswith(str(head)) and condition(repo).get("status") == "True"
