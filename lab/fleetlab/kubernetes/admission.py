"""Admission for the sandbox's API server: what kube-apiserver does to a body before it is stored. Namespace
checks (404, 403 while terminating), decoding checks (400) then every validation cause at once (422), custom
resources pruned to and defaulted from their CRD's schema (strict field validation refuses unknown fields),
and the create strategies' defaults (uid, timestamps, generation, Namespace phase, CRD conditions, Service
ClusterIP, Pod phase).

    admission = Admission(api.registry, clock=time.time)
    admission.validate(rt, obj, "flux-system", "apps")
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

from fleetlab.kubernetes.defaulting import builtin_defaults
from fleetlab.kubernetes.errors import ApiError, invalid, invalid_causes, now_rfc3339
from fleetlab.kubernetes.registry import BUILTINS, CRD_KEY, Registry, ResourceType
from fleetlab.kubernetes.schema import apply_defaults, prune, schema_problems
from fleetlab.kubernetes.store import Tx
from fleetlab.kubernetes.validation import Cause, DecodeError, check_object, check_types

BUILTIN_GROUPS = {t.group for t in BUILTINS}
NO_GENERATION = {"ConfigMap", "Secret", "Event", "ServiceAccount", "Endpoints", "Namespace", "Lease", "ResourceQuota"}


def fold_string_data(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Secrets: `stringData` is write-only; the server merges it into base64 `data`, as the real one does, and
    the type defaults to Opaque."""
    if rt.key == "/secrets":
        obj.setdefault("type", "Opaque")
    if rt.key == "/secrets" and "stringData" in obj:
        data = dict(obj.get("data") or {})
        for key, value in (obj.pop("stringData") or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def service_defaults(obj: dict[str, Any]) -> None:
    """The API server's defaulting of a Service, on every write: type, port protocol and targetPort, and for a
    ClusterIP Service its session affinity, IP families and traffic policy."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    if spec["type"] == "ClusterIP":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")


class Admission:
    def __init__(self, registry: Callable[[], Registry], *, clock: Callable[[], float]) -> None:
        self.registry = registry
        self.clock = clock

    def check_namespace(self, tx: Tx, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns_row = tx.get("/namespaces", "", namespace or "")
        if ns_row is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})
        if '"Terminating"' in ns_row.body:
            raise ApiError(403, "Forbidden", f"{rt.plural} \"{namespace}\" is forbidden: unable to create new content "
                           f"in namespace {namespace} because it is being terminated",
                           {"name": namespace, "kind": "namespaces"})

    def validate(self, rt: ResourceType, obj: dict[str, Any], namespace: str | None, name: str, *,
                  partial: bool = False, applied: bool = False) -> None:
        """Decode checks (400), then every validation cause at once (422), as the real server orders them.
        A `partial` object (a server-side apply configuration) gets the decode checks only: the merged result is
        validated whole. An `applied` one fails its decoding as structured-merge-diff words it (500, no reason)."""
        try:
            check_types(rt, obj)
            if not partial:
                causes = check_object(rt, obj)
        except DecodeError as e:
            typed = e.typed_patch()
            if applied and typed is not None:  # a server-side apply configuration: the typed patch fails (500)
                where = f"{namespace or ''}/{name}"
                raise ApiError(500, "", f"failed to create typed patch object ({where}; {rt.group}/{rt.version}, "
                                        f"Kind={rt.kind}): {typed}") from None
            raise ApiError(400, "BadRequest", f"{rt.kind} in version \"{rt.version}\" cannot be handled as a "
                           f"{rt.kind}: {e}") from None
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind is not None and kind != rt.kind:
            raise ApiError(400, "BadRequest", f"the object provided is unrecognized (kind {kind!r} on {rt.plural})")
        if api_version is not None and api_version.rpartition("/")[0] != rt.group:
            raise ApiError(400, "BadRequest", f"the API version in the data ({api_version}) does not match the expected "
                           f"API version ({rt.api_version})")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise invalid(rt, name, "metadata", "Required value")
        body_ns = meta.get("namespace")
        if rt.namespaced and body_ns and namespace and body_ns != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        if not name:
            raise invalid_causes(rt, "", [Cause("metadata.name", "FieldValueRequired",
                                                "Required value: name or generateName is required")])
        if partial:
            return
        if rt.key == CRD_KEY:
            spec = obj.get("spec") or {}
            want = f"{(spec.get('names') or {}).get('plural')}.{spec.get('group')}"
            if name != want:
                causes.append(Cause("metadata.name", "FieldValueInvalid",
                                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
        elif rt.group not in BUILTIN_GROUPS:
            causes += self.schema_causes(rt, obj)
        if causes:
            raise invalid_causes(rt, name, causes)

    def prune_fields(self, rt: ResourceType, obj: dict[str, Any], *, strict: bool, defaults: bool = True) -> None:
        """Drop fields a custom resource's schema does not declare (under fieldValidation=Strict, refuse them), then
        fill in the schema's defaults (not for a server-side apply configuration: only its merged result)."""
        if rt.group in BUILTIN_GROUPS:
            if defaults:
                builtin_defaults(rt.kind, obj)
            return
        schema = self.registry().schema(rt)
        if schema is None:
            return
        removed = prune(schema, obj)
        if defaults:
            apply_defaults(schema, obj)
        if removed and strict:
            shown = ", ".join(f'unknown field "{p}"' for p in removed[:5])
            raise ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                           f"strict decoding error: {shown}")

    def schema_causes(self, rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
        """A custom resource against its CRD's OpenAPI schema for the version it was sent in."""
        schema = self.registry().schema(rt)
        return schema_problems(schema, obj) if schema is not None else []

    def prepare_new(self, rt: ResourceType, obj: dict[str, Any], namespace: str | None, rv: int) -> dict[str, Any]:
        meta = obj["metadata"]
        meta.update({"uid": str(uuid.uuid4()), "resourceVersion": str(rv),
                     "creationTimestamp": now_rfc3339(self.clock())})
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if rt.kind not in NO_GENERATION and ("spec" in obj or rt.group not in BUILTIN_GROUPS):
            meta["generation"] = 1
        if rt.has_status:
            obj.pop("status", None)
        fold_string_data(rt, obj)
        self.defaults(rt, obj)
        return obj

    def defaults(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """What the real server's create strategies fill in for the kinds we serve."""
        name = obj["metadata"]["name"]
        if rt.key == "/namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        elif rt.key == CRD_KEY:
            spec = obj.get("spec") or {}
            storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
            now = now_rfc3339(self.clock())
            obj["status"] = {
                "acceptedNames": spec.get("names") or {},
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "storedVersions": [storage] if storage else [],
            }
        elif rt.key == "/services":
            spec = obj.setdefault("spec", {})
            if spec.get("type", "ClusterIP") == "ClusterIP" and "clusterIP" not in spec:
                h = uuid.UUID(obj["metadata"]["uid"]).int
                spec["clusterIP"] = f"10.96.{(h >> 8) % 256}.{h % 254 + 1}"
                spec["clusterIPs"] = [spec["clusterIP"]]
            service_defaults(obj)
        elif rt.key == "/pods":
            obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
