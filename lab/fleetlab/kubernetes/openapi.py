"""The OpenAPI documents kubectl reads: before `apply`, to learn per kind that the server validates
fields itself (the `fieldValidation` query parameter), and for `kubectl explain`, the schema of each
kind. Custom resources get their CRD's schema for that version (the Flux kinds' are written in
fleetlab.release.schemas); built-in kinds are open (`x-kubernetes-preserve-unknown-fields`), a known
difference from a real server.

    index = openapi_v3_index(registry, "/clusters/dev/services-amer")
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from fleetlab.kubernetes.apiserver import KUBERNETES_VERSION
from fleetlab.kubernetes.registry import Registry, ResourceType

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(t: ResourceType) -> str:
    return f"api/{t.version}" if not t.group else f"apis/{t.group}/{t.version}"


def _schema_name(t: ResourceType) -> str:
    group = ".".join(reversed(t.group.split("."))) if t.group else "io.k8s.api.core"
    return f"{group}.{t.version}.{t.kind}"


def _paths(t: ResourceType) -> dict[str, Any]:
    gvk = [{"group": t.group, "version": t.version, "kind": t.kind}]
    params = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY_PARAMS]
    ns = "/namespaces/{namespace}" if t.namespaced else ""
    item = f"/{_gv_path(t)}{ns}/{t.plural}/{{name}}"
    ref = {"$ref": f"#/components/schemas/{_schema_name(t)}"}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    op = {"x-kubernetes-group-version-kind": gvk[0], "parameters": params, "responses": ok}
    return {
        item: {"get": {**op, "x-kubernetes-action": "get"}, "put": {**op, "x-kubernetes-action": "put"},
               "patch": {**op, "x-kubernetes-action": "patch"}, "delete": {**op, "x-kubernetes-action": "delete"}},
        f"/{_gv_path(t)}{ns}/{t.plural}": {"get": {**op, "x-kubernetes-action": "list"},
                                           "post": {**op, "x-kubernetes-action": "post"}},
    }


def _schema(registry: Registry, t: ResourceType) -> dict[str, Any]:
    gvk = [{"group": t.group, "version": t.version, "kind": t.kind}]
    crd_schema = registry.schema(t)
    if crd_schema is not None and crd_schema.get("properties"):
        return {**copy.deepcopy(dict(crd_schema)), "x-kubernetes-group-version-kind": gvk}
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "x-kubernetes-group-version-kind": gvk,
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def openapi_v3_group(registry: Registry, gv_path: str) -> dict[str, Any] | None:
    types = [t for t in registry.types if _gv_path(t) == gv_path]
    if not types:
        return None
    paths: dict[str, Any] = {}
    for t in types:
        paths.update(_paths(t))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {_schema_name(t): _schema(registry, t) for t in types}}}


def _hash(registry: Registry, gv_path: str) -> str:
    text = "|".join(f"{t.kind}/{t.plural}/{t.namespaced}/{json.dumps(registry.schema(t), sort_keys=True)}"
                    for t in registry.types if _gv_path(t) == gv_path)
    return hashlib.sha512(text.encode()).hexdigest()[:64].upper()


def openapi_v3_index(registry: Registry, prefix: str) -> dict[str, Any]:
    gvs = sorted({_gv_path(t) for t in registry.types})
    return {"paths": {gv: {"serverRelativeURL": f"{prefix}/openapi/v3/{gv}?hash={_hash(registry, gv)}"} for gv in gvs}}


def openapi_v2(registry: Registry) -> dict[str, Any]:
    definitions = {_schema_name(t): _schema(registry, t) for t in registry.types}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
            "paths": {}, "definitions": definitions}
