"""The one module that talks to the Kubernetes API, through the official client.

`connect` gives the same `Kube` for every target: fleetlib.targets says which kubeconfig and context
(the sandbox's, a local cluster's, or the user's for live); everything above this module is the same for
all. Client errors become ClusterError with the API's own message, cut short.

    kube = connect(params, home=fleet_home())
    kube.version()          # "v1.34.4"
"""

from __future__ import annotations

import builtins
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from fleetlib import targets
from fleetlib.errors import ClusterError, InputError, clip
from fleetlib.parameters import ClusterParams
from fleetlib.targets import Endpoints


def api_error(e: ApiException, what: str) -> ClusterError:
    """A ClusterError from an ApiException, with the Status message when there is one."""
    message = e.reason or ""
    try:
        message = json.loads(e.body or "{}").get("message") or message
    except (ValueError, AttributeError):
        pass
    return ClusterError(f"{what}: {e.status} {clip(message, 300)}")


@dataclass
class Kube:
    """An API client bound to one cluster, and how it was reached."""

    params: ClusterParams
    api_client: client.ApiClient
    context: str
    kubeconfig: Path | None
    _dynamic: DynamicClient | None = None
    where: str = ""
    """What this client really talks to, for progress lines: a kube context, or the sandbox API server's address."""

    # The official client's APIs, typed Any: this adapter sends plain dicts (the client accepts them, its
    # stubs want its models) and reads its models' Optional fields where the server always sets them.
    def core(self) -> Any:
        return client.CoreV1Api(self.api_client)

    def apps(self) -> Any:
        return client.AppsV1Api(self.api_client)

    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api_client)

    def authorization(self) -> Any:
        return client.AuthorizationV1Api(self.api_client)

    def version(self) -> str:
        try:
            return str(client.VersionApi(self.api_client).get_code().git_version)
        except ApiException as e:
            raise api_error(e, f"reading the version of {self.params.id}") from e
        except urllib3.exceptions.HTTPError as e:
            raise ClusterError(f"cannot reach cluster {self.params.id} through context {self.context!r}: "
                               f"{clip(str(e), 200)}",
                               hint=f"check `kubectl --context {self.context} get ns`") from e

    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            cache = Path(tempfile.gettempdir()) / f"fleetlib-discovery-{os.getpid()}-{id(self)}.json"
            self._dynamic = DynamicClient(self.api_client, cache_file=str(cache))
        return self._dynamic

    def _resource(self, api_version: str, kind: str, *, any_version: bool = False) -> Any:
        """The API resource of a kind at a version; with `any_version`, the most stable version the cluster serves
        when that one is not (Flux v2.9 serves OCIRepository v1 only, v2.5 v1beta2 only)."""
        for attempt in range(2):
            try:
                return self.dynamic().resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError as e:
                group = api_version.rpartition("/")[0]
                found = [r for r in self.dynamic().resources.search(group=group, kind=kind)
                         if getattr(r, "kind", None) == kind and "/" not in str(getattr(r, "name", "/"))] \
                    if any_version else []
                if found:
                    return max(found, key=lambda r: _stability(str(r.api_version)))
                if attempt == 0:
                    self.dynamic().resources.invalidate_cache()  # a CRD applied a moment ago
                    continue
                raise ClusterError(f'no matches for kind "{kind}" in version "{api_version}"',
                                   hint="apply the CustomResourceDefinition first") from e
        raise AssertionError("unreachable")

    def served_version(self, api_version: str, kind: str) -> str:
        """`api_version` when the cluster serves it, else the most stable version of the kind's group it serves
        (what a manifest for this cluster should say); `api_version` itself when the kind is not served at all."""
        try:
            resource = self._resource(api_version, kind, any_version=True)
        except ClusterError:
            return api_version
        group, version = str(resource.group or ""), str(resource.api_version)
        return version if "/" in version or not group else f"{group}/{version}"

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self._resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except ApiException as e:
            if e.status == 404:
                return None
            raise api_error(e, f"reading {kind}/{namespace or ''}/{name}") from e

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every object of a kind (one request); [] when the kind is not served (its CRD is absent)."""
        try:
            resource = self._resource(api_version, kind, any_version=True)
        except ClusterError:
            return []
        # the raw JSON, parsed once: wrapping thousands of items in ResourceInstances costs seconds
        query = [("labelSelector", label_selector)] if label_selector else []
        request = self.api_client.param_serialize("GET", resource.path(namespace=namespace), query_params=query,
                                                  header_params={"Accept": "application/json"},
                                                  auth_settings=["BearerToken"])
        try:
            response = self.api_client.call_api(*request)
            response.read()
        except urllib3.exceptions.HTTPError as e:
            raise ClusterError(f"listing {kind}: {clip(str(e), 200)}") from e
        data = bytes(response.data or b"")
        if not 200 <= response.status <= 299:
            raise ClusterError(f"listing {kind}: {response.status} {clip(data.decode(errors='replace'), 300)}")
        return list(json.loads(data)["items"])

    def namespace_contents(self, namespace: str) -> builtins.list[dict[str, Any]]:
        """Every object stored in a namespace, of every listable namespaced kind the cluster serves (one version
        a kind; events and metrics left out), as `{"apiVersion", "kind", "metadata"}`."""
        seen: set[tuple[str, str]] = set()
        out: builtins.list[dict[str, Any]] = []
        for r in self.dynamic().resources.search():
            group, kind = str(getattr(r, "group", "") or ""), str(getattr(r, "kind", ""))
            if (not getattr(r, "namespaced", False) or "list" not in (getattr(r, "verbs", None) or [])
                    or "/" in str(getattr(r, "name", "/")) or kind in ("Event", "Endpoints") or kind.endswith("List")
                    or group in ("metrics.k8s.io", "events.k8s.io") or (group, kind) in seen):
                continue
            seen.add((group, kind))
            api_version = str(r.group_version)
            out += [{"apiVersion": api_version, "kind": kind, "metadata": o.get("metadata") or {}}
                    for o in self.list(api_version, kind, namespace)]
        return out

    def pod_log(self, namespace: str, pod: str, container: str, *, tail: int | None = None) -> str:
        try:
            return str(self.core().read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail))
        except ApiException as e:
            raise api_error(e, f"reading the logs of {namespace}/{pod}") from e

    def apply(self, objects: builtins.list[dict[str, Any]], *, manager: str,
              dry_run: bool = False) -> builtins.list[tuple[str, str]]:
        """Server-side apply each object (forcing ownership, as flux does); returns (Kind/ns/name, action). With
        `dry_run`, the server admits each object (validation, schemas) and stores nothing."""
        out = []
        for obj in objects:
            meta = obj["metadata"]
            ref = "/".join(x for x in (obj["kind"], meta.get("namespace"), meta["name"]) if x)
            before = self.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
            try:
                after = self._resource(obj["apiVersion"], obj["kind"]).server_side_apply(
                    body=obj, name=meta["name"], namespace=meta.get("namespace"), field_manager=manager,
                    force_conflicts=True, **({"dry_run": "All"} if dry_run else {})).to_dict()
            except ApiException as e:
                raise api_error(e, f"{ref} apply failed") from e
            old_rv = (before or {}).get("metadata", {}).get("resourceVersion")
            out.append((ref, "created" if before is None else
                        "unchanged" if old_rv == after["metadata"]["resourceVersion"] else "configured"))
        return out

    def dry_run_apply(self, obj: dict[str, Any], *, manager: str) -> dict[str, Any]:
        """What the API server would hold after server-side applying `obj` as `manager` (forcing ownership, as
        flux does), storing nothing: how `flux diff` sees a change before it lands."""
        meta = obj["metadata"]
        ref = "/".join(x for x in (obj["kind"], meta.get("namespace"), meta["name"]) if x)
        try:
            return dict(self._resource(obj["apiVersion"], obj["kind"]).server_side_apply(
                body=obj, name=meta["name"], namespace=meta.get("namespace"), field_manager=manager,
                force_conflicts=True, dry_run="All").to_dict())
        except ApiException as e:
            raise api_error(e, f"{ref} dry-run failed") from e

    def patch(self, api_version: str, kind: str, namespace: str | None, name: str, body: Any, *,
              json_patch: bool = False, status: bool = False) -> dict[str, Any]:
        """A merge patch (a JSON patch with `json_patch`), of the object or of its status subresource."""
        resource = self._resource(api_version, kind)
        if status:
            resource = resource.subresources["status"]
        kind_of_patch = "application/json-patch+json" if json_patch else "application/merge-patch+json"
        try:
            return dict(resource.patch(body=body, name=name, namespace=namespace, content_type=kind_of_patch).to_dict())
        except ApiException as e:
            raise api_error(e, f"patching {kind}/{namespace or ''}/{name}{' status' if status else ''}") from e

    def rediscover(self) -> None:
        """Forget the served kinds and versions read so far (after CRDs changed)."""
        self.dynamic().resources.invalidate_cache()

    def patch_custom(self, api_version: str, plural: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        """Merge-patch a custom object (as `flux reconcile` annotates one)."""
        group, version = api_version.split("/")
        try:
            self.custom().patch_namespaced_custom_object(group, version, namespace, plural, name, body)
        except ApiException as e:
            raise api_error(e, f"patching {plural}/{namespace}/{name}") from e

    def write_secret(self, namespace: str, name: str, string_data: dict[str, str], *, replace: bool,
                     labels: dict[str, str] | None = None) -> None:
        """Create (or replace) an Opaque Secret from string values; the values never reach an error message."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": name, "namespace": namespace, **({"labels": labels} if labels else {})}, "stringData": string_data}
        try:
            if replace:
                current = self.core().read_namespaced_secret(name, namespace)
                body["metadata"]["resourceVersion"] = current.metadata.resource_version
                self.core().replace_namespaced_secret(name, namespace, body)
            else:
                self.core().create_namespaced_secret(namespace, body)
        except ApiException as e:
            raise ClusterError(f"writing secret {namespace}/{name}: {e.status} {e.reason}") from None

    def delete_secret(self, namespace: str, name: str) -> bool:
        """Delete a Secret; False when there was none."""
        try:
            self.core().delete_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise ClusterError(f"deleting secret {namespace}/{name}: {e.status} {e.reason}") from None
        return True

    def can_i(self, verb: str, group: str, resource: str) -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}}}
        try:
            done = self.authorization().create_self_subject_access_review(review)
        except ApiException as e:
            raise api_error(e, "asking the API server what this user may do") from e
        return bool(done.status.allowed)

    def may(self, user: str, verb: str, group: str, resource: str, namespace: str | None) -> tuple[bool, str]:
        """Whether `user` (a service account: system:serviceaccount:<ns>:<name>) may `verb` the resource, asked
        as a SubjectAccessReview (what `kubectl auth can-i --as` sends), and the authorizer's reason."""
        groups = ["system:authenticated"]
        if user.startswith("system:serviceaccount:"):
            groups += ["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}"]
        attributes = {"verb": verb, "group": group, "resource": resource, **({"namespace": namespace} if namespace
                                                                             else {})}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "groups": groups, "resourceAttributes": attributes}}
        try:
            done = self.authorization().create_subject_access_review(review)
        except ApiException as e:
            raise api_error(e, f"asking the API server what {user} may do") from e
        return bool(done.status.allowed), str(done.status.reason or "")

    def facts(self) -> dict[str, Any]:
        """What a runbook shows first: where it is connected and what answers there."""
        try:
            nodes = self.core().list_node().items
            namespaces = self.core().list_namespace().items
        except ApiException as e:
            raise api_error(e, f"listing nodes and namespaces of {self.params.id}") from e
        return {"cluster": str(self.params.id), "target": self.params.target, "context": self.context,
                "kubernetes": self.version(), "nodes": len(nodes), "namespaces": len(namespaces),
                "flux-system": any(n.metadata.name == self.params.namespace for n in namespaces)}


def _stability(api_version: str) -> tuple[int, int, int]:
    """v1 > v1beta2 > v1beta1 > v1alpha1: the order Kubernetes prefers versions in."""
    m = re.match(r"^(?:.*/)?v(\d+)(?:(alpha|beta)(\d+))?$", api_version)
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), {"alpha": 0, "beta": 1, None: 2}[m.group(2)], int(m.group(3) or 0))


def connect(params: ClusterParams, *, home: Path) -> Kube:
    """A client for the cluster through its target's endpoints (starting the stand-in a target needs)."""
    return open_client(targets.kube_only(params, home=home))


def open_client(where: Endpoints) -> Kube:
    """A client for the endpoints' kube context."""
    try:
        api = config.new_client_from_config(str(where.kubeconfig) if where.kubeconfig else None, context=where.context)
    except ConfigException as e:
        raise InputError(f"kube context {where.context!r} of cluster {where.params.id} cannot be used: "
                         f"{clip(str(e), 200)}",
                         hint="check `kubectl config get-contexts`, or set context in the cluster's parameters file") from e
    return Kube(where.params, api, where.context, where.kubeconfig, where=where.kube_where)
