"""Named fault scenarios, injected per sandbox cluster to rehearse troubleshooting.

A fault is a record in the cluster's state (`faults` in its meta table) plus, for most scenarios, a
change made the way the failure happens for real: a deploy key deleted on GitHub, a broken
kustomization committed to Git, a Kustomization suspended, a controller that runs out of memory.
Clearing undoes exactly that. The controllers (in whichever process holds the cluster's lease)
pick the change up on their next pass.

    inject(api, hub, "deploy-key-revoked")
    clear(api, hub, "deploy-key-revoked")
"""

from __future__ import annotations

import base64
import builtins
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from fleetlab.charts.artifacts import CHARTS_URL, ArtifactStore, publish_demo_chart
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError
from fleetlib.errors import InputError
from fleetlib.files import write_atomic
from fleetlib.objects import condition, meta_of, spec_of, status_of

SCENARIOS: dict[str, str] = {
    "deploy-key-revoked": "the cluster's deploy key is deleted on GitHub (clusters sharing the repository keep theirs)",
    "known-hosts-mismatch": "github.com presents a host key the flux-system Secret's known_hosts does not hold",
    "kustomize-build-error": "a Kustomization whose folder has a kustomization.yaml listing a missing file",
    "missing-crd": "a Kustomization applying a custom resource whose CRD is not installed",
    "dependency-not-ready": "a Kustomization that depends on one that does not exist",
    "health-check-timeout": "a Kustomization waiting on a Deployment whose image cannot be pulled",
    "helm-install-retries-exhausted": "a HelmRelease whose install keeps failing until retries are exhausted",
    "controller-oomkilled": "a controller's pod is OOMKilled and restarted (target: kustomize-controller)",
    "controller-crashloop": "a controller's pod crash-loops (target: helm-controller)",
    "suspended-kustomization": "a Kustomization is suspended (target: flux-system)",
    "stale-revision": "the repository has a commit the cluster never fetched",
    "api-flaky": "a share of Kubernetes API requests fail with 500/503 or answer slowly",
    "github-rate-limited": "the GitHub API answers 403 rate limit exceeded",
}
DIAGNOSIS: dict[str, tuple[str, str | None]] = {
    "deploy-key-revoked": ("source-auth-failed", "GitRepository/flux-system/flux-system"),
    "known-hosts-mismatch": ("known-hosts-mismatch", "GitRepository/flux-system/flux-system"),
    "kustomize-build-error": ("kustomize-build-failed", "Kustomization/flux-system/fault-build-error"),
    "missing-crd": ("crd-missing", "Kustomization/flux-system/fault-missing-crd"),
    "dependency-not-ready": ("dependency-not-ready", "Kustomization/flux-system/fault-dependent"),
    "health-check-timeout": ("health-check-failed", "Kustomization/flux-system/fault-health-check"),
    "helm-install-retries-exhausted": ("helm-retries-exhausted", "HelmRelease/flux-system/fault-release"),
    "controller-oomkilled": ("controller-oomkilled", "Deployment/flux-system/kustomize-controller"),
    "controller-crashloop": ("controller-crashloop", "Deployment/flux-system/helm-controller"),
    "suspended-kustomization": ("suspended", "Kustomization/flux-system/flux-system"),
    "stale-revision": ("stale-revision", "GitRepository/flux-system/flux-system"),
    "api-flaky": ("api-unreachable", None),
    "github-rate-limited": ("github-rate-limited", None),
}
"""The first finding the troubleshooting runbook must give for each scenario (rule id, object), on every target."""
DEFAULT_TARGETS = {
    "controller-oomkilled": "kustomize-controller",
    "controller-crashloop": "helm-controller",
    "suspended-kustomization": "flux-system",
    "helm-install-retries-exhausted": "fault-release",
}
NAMESPACE = "flux-system"
FAULT_DIR = "sandbox-faults"
AUTHOR = ("Sandbox Faults", "faults@fleetlib.invalid")
RATE_LIMIT_FILE = "rate-limited.json"
MANAGER = "fleetlib-faults"
GROUPS = {"GitRepository": "source.toolkit.fluxcd.io", "HelmRepository": "source.toolkit.fluxcd.io",
          "Kustomization": "kustomize.toolkit.fluxcd.io", "HelmRelease": "helm.toolkit.fluxcd.io",
          "Deployment": "apps", "Pod": "", "Secret": "", "Event": "", "ConfigMap": ""}


def target_of(faults: dict[str, Any] | set[str], scenario: str) -> str | None:
    record = faults.get(scenario) if isinstance(faults, dict) else None
    return (record or {}).get("target") or DEFAULT_TARGETS.get(scenario)


class Kube(Protocol):
    """What a scenario needs of a cluster: objects by kind, and where the cluster keeps its fault records."""

    def get(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None: ...
    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None
             ) -> builtins.list[dict[str, Any]]: ...
    def apply(self, obj: dict[str, Any]) -> None: ...
    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None) -> None: ...
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

    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None) -> None:
        self.api.patch(self.type(kind), namespace, name, "application/merge-patch+json", json.dumps(body).encode(),
                       manager=MANAGER)

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

    def merge(self, kind: str, name: str, body: dict[str, Any], namespace: str | None) -> None:
        self._resource(kind).patch(body=body, name=name, namespace=namespace,
                                   content_type="application/merge-patch+json")

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


def _kube(cluster: ClusterApi | Kube) -> Kube:
    return InProcess(cluster) if isinstance(cluster, ClusterApi) else cluster


def active(cluster: ClusterApi | Kube) -> dict[str, Any]:
    return _kube(cluster).records()


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

    def commit(self, files: dict[str, bytes | None], message: str) -> str:
        owner, name, branch = self.source_repo()
        return self.hub.bare(owner, name).commit_files(branch, files, message=message, author=AUTHOR)

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
        """What `flux reconcile` does: the requestedAt annotation."""
        if self.get(kind, name, namespace) is not None:
            self.patch(kind, name, {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}},
                       namespace)

    def pods(self, app: str) -> builtins.list[dict[str, Any]]:
        return self.kube.list("Pod", NAMESPACE, label_selector=f"app={app}")

    def head(self) -> str | None:
        """The commit the flux-system source's branch points at in the sandbox GitHub."""
        owner, name, branch = self.source_repo()
        return self.hub.bare(owner, name).resolve(branch)


def _kustomization(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"interval": "10m0s", "path": path, "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, **spec}}


def _files(folder: str, docs: dict[str, Any]) -> dict[str, bytes | None]:
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


def _deployment_container(c: ClusterOps, app: str) -> dict[str, Any]:
    deploy = c.get("Deployment", app)
    if deploy is None:
        raise InputError(f"the cluster has no Deployment {NAMESPACE}/{app}", hint="name a Flux controller as target")
    containers = (((spec_of(deploy).get("template") or {}).get("spec") or {}).get("containers")) or []
    return next((x for x in containers if x.get("name") == "manager"), containers[0] if containers else {})


def _replace_container_field(c: ClusterOps, app: str, field: str, value: Any) -> None:
    deploy = c.get("Deployment", app) or {}
    containers = deploy["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") == "manager":
            container[field] = value
    c.patch("Deployment", app, {"spec": {"template": {"spec": {"containers": containers}}}})


def _committed_patch(c: ClusterOps, scenario: str, app: str, body: str, record: dict[str, Any]) -> None:
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


def inject(cluster: ClusterApi | Kube, hub: Hub, scenario: str, *, target: str | None = None) -> dict[str, Any]:
    """Start a scenario on the cluster the way the failure happens for real; returns its record."""
    if scenario not in SCENARIOS:
        raise InputError(f"unknown fault scenario {scenario!r}", hint="scenarios: " + ", ".join(SCENARIOS))
    kube = _kube(cluster)
    faults = kube.records()
    if scenario in faults:
        return dict(faults[scenario])
    c = ClusterOps(kube, hub)
    record: dict[str, Any] = {"target": target or DEFAULT_TARGETS.get(scenario), "since": time.time()}
    if scenario == "deploy-key-revoked":
        owner, name, _ = c.source_repo()
        path = str(spec_of(c.get("Kustomization", "flux-system")).get("path") or "")
        keys = hub.keys(owner, name)
        own = [k for k in keys if path and str(k["title"]).endswith(f"-{path}")]
        keys = own or keys  # this cluster's key (clusters sharing the repository keep theirs), else every key
        record["keys"] = [{"title": k["title"], "key": k["key"], "read_only": k["read_only"]} for k in keys]
        for k in keys:
            hub.delete_key(owner, name, k["id"])
    elif scenario == "known-hosts-mismatch":
        secret_name = str((spec_of(c.get("GitRepository", "flux-system")).get("secretRef") or {})
                          .get("name") or "flux-system")
        secret = c.get("Secret", secret_name)
        if secret is None:
            raise InputError(f"the cluster has no Secret {NAMESPACE}/{secret_name}", hint="bootstrap the cluster first")
        record.update({"secret": secret_name, "known_hosts": (secret.get("data") or {}).get("known_hosts")})
        wrong = base64.b64encode(f"github.com {OTHER_HOST_KEY}\n".encode()).decode()
        c.patch("Secret", secret_name, {"data": {"known_hosts": wrong}})
    elif scenario == "kustomize-build-error":
        c.commit(_files("build-error", {"kustomization.yaml": {
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["deployment.yaml"]}}), "Add apps overlay")
        c.apply(_kustomization("fault-build-error", f"./{FAULT_DIR}/build-error"))
    elif scenario == "missing-crd":
        c.commit(_files("missing-crd", {"widget.yaml": {
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "gadget", "namespace": "default"},
            "spec": {"size": 3}}}), "Add a widget")
        c.apply(_kustomization("fault-missing-crd", f"./{FAULT_DIR}/missing-crd"))
    elif scenario == "dependency-not-ready":
        c.apply(_kustomization("fault-dependent", f"./{FAULT_DIR}/dependent",
                               dependsOn=[{"name": "fault-infrastructure"}]))
    elif scenario == "health-check-timeout":
        c.commit(_files("health", {"deployment.yaml": {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fault-health", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fault-health"}},
                     "template": {"metadata": {"labels": {"app": "fault-health"}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": "registry.invalid/example/app:0.0.0"}]}}}}}),
            "Add fault-health")
        c.apply(_kustomization("fault-health-check", f"./{FAULT_DIR}/health", wait=True, timeout="1m0s"))
    elif scenario == "helm-install-retries-exhausted":
        publish_demo_chart(c.store, "broken", "1.0.0", broken=True)
        c.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                 "metadata": {"name": "fault-charts", "namespace": NAMESPACE},
                 "spec": {"interval": "1h0m0s", "url": CHARTS_URL}})
        c.apply({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                 "metadata": {"name": record["target"], "namespace": NAMESPACE},
                 "spec": {"interval": "10m0s", "chart": {"spec": {"chart": "broken", "version": "1.0.0",
                          "sourceRef": {"kind": "HelmRepository", "name": "fault-charts"}}},
                          "install": {"remediation": {"retries": 2}}}})
    elif scenario == "controller-oomkilled":
        app = str(record["target"])
        container = _deployment_container(c, app)
        record["resources"] = container.get("resources") or {}
        low = {"limits": {**((container.get("resources") or {}).get("limits") or {}), "memory": LOW_MEMORY},
               "requests": {**((container.get("resources") or {}).get("requests") or {}), "memory": LOW_MEMORY}}
        _committed_patch(c, scenario, app, "- op: add\n  path: /spec/template/spec/containers/0/resources\n"
                         f"  value: {json.dumps(low)}\n", record)
        _replace_container_field(c, app, "resources", low)  # the rollout now, not at the next sync
    elif scenario == "controller-crashloop":
        app = str(record["target"])
        container = _deployment_container(c, app)
        record["args"] = list(container.get("args") or [])
        _committed_patch(c, scenario, app, "- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
                         f"  value: {BAD_FLAG}\n", record)
        _replace_container_field(c, app, "args", [*record["args"], BAD_FLAG])
    elif scenario == "suspended-kustomization":
        c.patch("Kustomization", record["target"], {"spec": {"suspend": True}})
    elif scenario == "stale-revision":
        _stale_revision(c, record)
    elif scenario == "github-rate-limited":
        _rate_limit(hub, add=True)
    faults[scenario] = record
    kube.save(faults)
    if scenario in ("deploy-key-revoked", "known-hosts-mismatch"):
        c.reconcile("GitRepository", "flux-system")
    return record


def _stale_revision(c: ClusterOps, record: dict[str, Any], *, timeout: float = 120.0) -> None:
    """A cluster behind HEAD, as one polling its repository hourly is: the flux-system GitRepository's interval
    set to 1h in Git (and applied), then a commit it will not fetch for an hour."""
    path = f"{c.cluster_path()}/flux-system/gotk-sync.yaml"
    original = c.read(path)
    if original is None:
        raise InputError(f"the repository has no {path}", hint="bootstrap the cluster first")
    docs = list(yaml.safe_load_all(original))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "GitRepository":
            doc["spec"]["interval"] = STALE_INTERVAL
    record.update({"file": path, "original": original})
    c.commit({path: yaml.safe_dump_all(docs, sort_keys=False).encode()}, "Poll the repository hourly")
    deadline = time.monotonic() + timeout
    nudged = 0.0
    while True:  # fetched, applied, and fetched once more for the new generation: then it waits an hour
        repo = c.get("GitRepository", "flux-system") or {}
        status = repo.get("status") or {}
        if spec_of(repo).get("interval") == STALE_INTERVAL and status.get("observedGeneration") == \
                meta_of(repo).get("generation") and _source_at_head(c):
            break
        if time.monotonic() > deadline:
            raise InputError(f"stale-revision: the flux-system GitRepository did not take the {STALE_INTERVAL} "
                             f"interval within {timeout:.0f} s", hint="check the cluster's Flux controllers")
        if time.monotonic() - nudged > 3:
            c.reconcile("GitRepository", "flux-system")
            c.reconcile("Kustomization", "flux-system")
            nudged = time.monotonic()
        time.sleep(0.5)
    c.commit(_files("stale", {"NOTES.md": f"Pushed at {time.ctime()}; the cluster has not fetched it.\n"}),
             "Update release notes")


def clear(cluster: ClusterApi | Kube, hub: Hub, scenario: str | None = None) -> builtins.list[str]:
    """End one scenario (or all of them) and undo what it changed; returns the scenarios cleared."""
    kube = _kube(cluster)
    faults = kube.records()
    names = [scenario] if scenario else list(faults)
    if scenario is not None and scenario not in SCENARIOS:
        raise InputError(f"unknown fault scenario {scenario!r}", hint="scenarios: " + ", ".join(SCENARIOS))
    c = ClusterOps(kube, hub)
    done = []
    for name in names:
        record = faults.pop(name, None)
        if record is None:
            continue
        kube.save(faults)
        if name == "deploy-key-revoked":
            owner, repo, _ = c.source_repo()
            present = {k["key"] for k in hub.keys(owner, repo)}
            for key in record.get("keys") or []:
                if key["key"] not in present:
                    hub.add_key(owner, repo, title=key["title"], key=key["key"], read_only=key["read_only"])
            c.reconcile("GitRepository", "flux-system")
        elif name == "known-hosts-mismatch":
            if record.get("known_hosts"):
                c.patch("Secret", record["secret"], {"data": {"known_hosts": record["known_hosts"]}})
            c.reconcile("GitRepository", "flux-system")
        elif name in ("kustomize-build-error", "missing-crd", "health-check-timeout", "dependency-not-ready"):
            c.delete("Kustomization", _KUSTOMIZATIONS[name])
            if name == "health-check-timeout":
                c.delete("Deployment", "fault-health", "default")
            folder = {"kustomize-build-error": "build-error", "missing-crd": "missing-crd",
                      "health-check-timeout": "health"}.get(name)
            if folder:
                c.commit({f"{FAULT_DIR}/{folder}": None}, f"Remove {folder}")
        elif name == "helm-install-retries-exhausted":
            c.delete("HelmRelease", record.get("target") or "fault-release")
            c.delete("HelmRepository", "fault-charts")
        elif name in ("controller-oomkilled", "controller-crashloop"):
            app = str(record.get("target") or DEFAULT_TARGETS[name])
            if record.get("file"):
                c.commit({record["file"]: str(record["original"]).encode()}, f"Revert the {app} patch")
            if name == "controller-oomkilled":  # the operator's fix: the controller may be too dead to sync it
                _replace_container_field(c, app, "resources", record.get("resources") or {})
            else:
                _replace_container_field(c, app, "args", record.get("args") or [])
            c.reconcile("GitRepository", "flux-system")
        elif name == "suspended-kustomization":
            c.patch("Kustomization", record.get("target") or "flux-system", {"spec": {"suspend": False}})
        elif name == "stale-revision":
            if record.get("file"):
                c.commit({record["file"]: str(record["original"]).encode()}, "Poll the repository every minute")
            c.reconcile("GitRepository", "flux-system")
            c.reconcile("Kustomization", "flux-system")
        elif name == "github-rate-limited":
            _rate_limit(hub, add=False)
        done.append(name)
    return done


def _rate_limit(hub: Hub, *, add: bool) -> None:
    """The sandbox GitHub's rate limit is per account, like GitHub's: a flag file its server reads."""
    path = hub.root / RATE_LIMIT_FILE
    count = int(json.loads(path.read_text())["count"]) if path.exists() else 0
    count = count + 1 if add else max(0, count - 1)
    if count:
        path.write_text(json.dumps({"count": count}))
    else:
        path.unlink(missing_ok=True)


# --- waiting until the cluster shows the failure, or the recovery ------------------------------------

Check = Callable[[ClusterOps, dict[str, Any]], bool]
SETTLE_TIMEOUT = 180.0
"""Wall-clock seconds `settle` waits (a health check times out after its own 1m0s first)."""

_KUSTOMIZATIONS = {"kustomize-build-error": "fault-build-error", "missing-crd": "fault-missing-crd",
                   "health-check-timeout": "fault-health-check", "dependency-not-ready": "fault-dependent"}


def _source_at_head(c: ClusterOps) -> bool:
    repo = c.get("GitRepository", "flux-system")
    head = c.head()
    revision = str((status_of(repo).get("artifact") or {}).get("revision", ""))
    return bool(head) and revision.endswith(str(head)) and condition(repo).get("status") == "True"


def _ks_shows(name: str, test: Callable[[dict[str, Any]], bool]) -> Check:
    def check(c: ClusterOps, record: dict[str, Any]) -> bool:
        ks = c.get("Kustomization", name)
        if ks is None or not _source_at_head(c):
            return False
        attempted = str((status_of(ks).get("lastAttemptedRevision")) or "")
        return attempted.endswith(str(c.head())) and test(condition(ks))
    return check


def _source_shows(text: str) -> Check:
    return lambda c, record: text in str(condition(c.get("GitRepository", "flux-system")).get("message", ""))


def _pod_shows(test: Callable[[dict[str, Any]], bool]) -> Check:
    return lambda c, record: any(test(s) for p in c.pods(str(record.get("target")))
                                 for s in status_of(p).get("containerStatuses") or [])


def _pods_fresh(c: ClusterOps, record: dict[str, Any]) -> bool:
    pods = c.pods(str(record.get("target")))
    return bool(pods) and all(s.get("ready") and not s.get("lastState") for p in pods
                              for s in status_of(p).get("containerStatuses") or [{}])


def _always(c: ClusterOps, record: dict[str, Any]) -> bool:
    return True


SHOWS: dict[str, tuple[str, Check]] = {
    "deploy-key-revoked": ("GitRepository flux-system fails authentication", _source_shows("unable to authenticate")),
    "known-hosts-mismatch": ("GitRepository flux-system reports the host key mismatch",
                             _source_shows("knownhosts: key mismatch")),
    "kustomize-build-error": ("Kustomization fault-build-error reports BuildFailed",
                              _ks_shows("fault-build-error", lambda r: r.get("reason") == "BuildFailed")),
    "missing-crd": ("Kustomization fault-missing-crd reports the missing kind",
                    _ks_shows("fault-missing-crd", lambda r: "no matches for kind" in str(r.get("message")))),
    "dependency-not-ready": ("Kustomization fault-dependent reports DependencyNotReady",
                             lambda c, record: condition(c.get("Kustomization", "fault-dependent")).get("reason")
                             == "DependencyNotReady"),
    "health-check-timeout": ("Kustomization fault-health-check reports HealthCheckFailed (after its 1m0s timeout)",
                             _ks_shows("fault-health-check", lambda r: r.get("reason") == "HealthCheckFailed")),
    "helm-install-retries-exhausted": ("the HelmRelease is Stalled with RetriesExceeded",
                                       lambda c, record: condition(c.get("HelmRelease", str(record.get("target"))),
                                                               "Stalled").get("reason") == "RetriesExceeded"),
    "controller-oomkilled": ("the controller's pod was OOMKilled",
                             _pod_shows(lambda s: ((s.get("lastState") or {}).get("terminated") or {}).get("reason")
                                        == "OOMKilled")),
    "controller-crashloop": ("the controller's pod is in CrashLoopBackOff",
                             _pod_shows(lambda s: ((s.get("state") or {}).get("waiting") or {}).get("reason")
                                        == "CrashLoopBackOff")),
    "suspended-kustomization": ("the Kustomization is suspended", _always),
    "stale-revision": ("the repository is ahead of the cluster", _always),
    "api-flaky": ("the API server fails a share of requests", lambda c, record: _waited(1.0, record)),
    "github-rate-limited": ("GitHub answers 403 rate limit exceeded", _always),
}


def _waited(seconds: float, record: dict[str, Any]) -> bool:
    """True once `seconds` passed since the fault started (servers notice a fault within half a second)."""
    return time.time() - float(record.get("cleared") or record.get("since") or 0) >= seconds


def _all_ready(c: ClusterOps) -> bool:
    """Every Kustomization and HelmRelease Ready (not being deleted): what "none above info" needs."""
    for kind in ("Kustomization", "HelmRelease"):
        for obj in c.list(kind):
            if not meta_of(obj).get("deletionTimestamp") and condition(obj).get("status") != "True" \
                    and not (spec_of(obj) if isinstance(obj.get("spec"), dict) else {}).get("suspend"):
                return False
    return True


def _recovered(scenario: str) -> Check:
    """The scenario's own objects are healthy again (or gone), the source is at the branch head, and every
    Kustomization and HelmRelease is Ready."""
    specific = _recovered_objects(scenario)
    return lambda c, record: specific(c, record) and _all_ready(c)


def _recovered_objects(scenario: str) -> Check:
    if scenario in _KUSTOMIZATIONS:
        return lambda c, record: c.get("Kustomization", _KUSTOMIZATIONS[scenario]) is None and _source_at_head(c)
    if scenario == "helm-install-retries-exhausted":
        return lambda c, record: c.get("HelmRelease", str(record.get("target"))) is None
    if scenario in ("controller-oomkilled", "controller-crashloop"):
        return _pods_fresh
    if scenario == "suspended-kustomization":
        return lambda c, record: condition(c.get("Kustomization", str(record.get("target")))).get("status") == "True" \
            and not ((c.get("Kustomization", str(record.get("target"))) or {}).get("spec") or {}).get("suspend")
    if scenario == "api-flaky":
        return lambda c, record: _waited(1.0, record)
    if scenario == "github-rate-limited":
        return _always
    return lambda c, record: _source_at_head(c)


def _checking_health(obj: dict[str, Any]) -> bool:
    """A Kustomization running its health checks: a reconcile request now would cancel them (kustomize-controller
    v1.6 and later), so it is left to finish."""
    return "health checks" in str(condition(obj, "Reconciling").get("message", ""))


def _nudge(c: ClusterOps, scenario: str, record: dict[str, Any]) -> None:
    """What `flux reconcile ... --with-source` does, so the cluster shows the change now, not at its next interval."""
    if scenario in ("api-flaky", "github-rate-limited", "stale-revision") and "cleared" not in record:
        return
    if c.get("GitRepository", "flux-system") is not None and not _source_at_head(c):
        c.reconcile("GitRepository", "flux-system")
    elif "cleared" in record and not _all_ready(c):
        for obj in c.list("Kustomization"):
            if condition(obj).get("status") != "True" and not _checking_health(obj):
                c.reconcile("Kustomization", obj["metadata"]["name"], obj["metadata"]["namespace"])
    elif scenario in _KUSTOMIZATIONS and (ks := c.get("Kustomization", _KUSTOMIZATIONS[scenario])) is not None and \
            not str(status_of(ks).get("lastAttemptedRevision") or "").endswith(str(c.head())):
        c.reconcile("Kustomization", _KUSTOMIZATIONS[scenario])  # only until it has tried the head revision
    elif scenario == "suspended-kustomization" and "cleared" in record:
        c.reconcile("Kustomization", str(record.get("target")))


def settle(cluster: ClusterApi | Kube, hub: Hub, scenario: str, record: dict[str, Any], *, cleared: bool = False,
           timeout: float = SETTLE_TIMEOUT, progress: Callable[[str], None] | None = None,
           poll: float = 0.5) -> str:
    """Wait until the cluster shows the fault (or, `cleared`, the recovery) in its Flux conditions, requesting
    reconciles as `flux reconcile` would; the controllers of whichever process holds the cluster's lease act.
    Returns what was seen; raises InputError on timeout, naming what did not happen."""
    c = ClusterOps(_kube(cluster), hub)
    what, check = (f"{scenario} cleared", _recovered(scenario)) if cleared else SHOWS[scenario]
    record = {**record, **({"cleared": time.time()} if cleared else {})}
    if progress:
        progress(f"waiting until {what} (up to {timeout:.0f} s)")
    deadline = time.monotonic() + timeout
    nudged = 0.0
    while True:
        try:
            if check(c, record):
                return what
        except InputError:
            pass  # e.g. the source is being recreated; look again
        if time.monotonic() > deadline:
            raise InputError(f"{scenario}: the cluster did not show that {what} within {timeout:.0f} s",
                             hint="is a process running the cluster's controllers? (`fleet sandbox status`); "
                                  "runbooks and `fleet sandbox serve` run them")
        if time.monotonic() - nudged > 5.0:
            _nudge(c, scenario, record)
            nudged = time.monotonic()
        time.sleep(poll)


@dataclass
class Rehearsal:
    """The fault scenarios of one stand-in cluster (a sandbox cluster, or a local one): inject, clear and
    wait until the cluster shows it."""

    kube: Kube
    hub: Hub
    name: str
    """How progress lines name the cluster."""

    def active(self) -> dict[str, Any]:
        return self.kube.records()

    def inject(self, scenario: str, *, target: str | None = None, wait: bool = False,
               timeout: float = SETTLE_TIMEOUT, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        record = inject(self.kube, self.hub, scenario, target=target)
        if wait:
            settle(self.kube, self.hub, scenario, record, timeout=timeout, progress=progress)
        return record

    def clear(self, scenario: str | None = None, *, wait: bool = False, timeout: float = SETTLE_TIMEOUT,
              progress: Callable[[str], None] | None = None) -> list[str]:
        records = self.kube.records()
        cleared = clear(self.kube, self.hub, scenario)
        for name in cleared if wait else []:
            settle(self.kube, self.hub, name, records.get(name) or {}, cleared=True, timeout=timeout,
                   progress=progress)
        return cleared
