"""The Kubernetes API semantics of one sandbox cluster, over its SQLite store; no HTTP here.

Create (generateName, 201), get, list (selectors, limit/continue), replace (409 on a stale
resourceVersion), patch (merge, JSON, strategic, server-side apply), delete (finalizers,
namespace contents, ownerReference cascade), status subresources kept apart, uid,
creationTimestamp, one resourceVersion counter and generation +1 only on spec changes. Every failure
is an `ApiError` carrying the `Status` the real server would send.

    api = ClusterApi(Store(path))
    rt = api.registry().lookup("apps", "v1", "deployments")
    api.create(rt, "flux-system", body, manager="kubectl")
"""

from __future__ import annotations

import base64
import copy
import json
import random
import string
import time
import uuid
from collections.abc import Iterator
from typing import Any

import yaml

from fleetlib.local.versions import LOCAL
from fleetlib.objects import meta_of
from fleetlib.sandbox.admission import BUILTIN_GROUPS, Admission, fold_string_data, service_defaults
from fleetlib.sandbox.apply import ApplyConflict, record_update, server_side_apply
from fleetlib.sandbox.apply import prefix as conflict_prefix
from fleetlib.sandbox.apply import render as render_path
from fleetlib.sandbox.errors import (
    ApiError,
    conflict,
    details_of,
    invalid,
    invalid_causes,
    not_found,
    now_rfc3339,
)
from fleetlib.sandbox.patch import PatchError, json_patch, merge_patch, strategic_merge
from fleetlib.sandbox.registry import CRD_KEY, Registry, ResourceType
from fleetlib.sandbox.selectors import SelectorError, parse_fields, parse_labels
from fleetlib.sandbox.store import Row, Store, Tx
from fleetlib.sandbox.validation import (
    immutable_causes,
    update_problem,
)

KUBERNETES_VERSION = {"major": "1", "minor": LOCAL.kubernetes.split(".")[1], "gitVersion": LOCAL.kubernetes,
                      "gitCommit": "sandbox", "gitTreeState": "clean", "buildDate": "2026-02-10T00:00:00Z",
                      "goVersion": "go1.24.12", "compiler": "gc", "platform": "linux/amd64"}
"""The sandbox speaks as the Kubernetes release the local stack builds (its judge)."""


def _ns_key(rt: ResourceType, namespace: str | None) -> str:
    return (namespace or "") if rt.namespaced else ""


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal objects, ignoring the `time` of managedFields entries."""
    if a == b:
        return True

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        meta = dict(meta_of(obj))
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or []]
        return {**obj, "metadata": meta}

    return strip(a) == strip(b)


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_apply(body: bytes) -> Any:
    """An apply body is YAML, and most clients send JSON (a subset of YAML): try the fast parser first."""
    stripped = body.lstrip()
    if stripped[:1] == b"{":
        try:
            return json.loads(body)
        except ValueError:
            pass
    return yaml.load(body, Loader=_YAML_LOADER)  # a safe loader


def _spec_view(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ClusterApi:
    """API semantics for one cluster. Thread-safe; several processes may share one store."""

    def __init__(self, store: Store, *, node: str = "sandbox-control-plane", clock: Any = time.time,
                 root_ca: str | None = None) -> None:
        self.store = store
        self.root_ca = root_ca
        """The cluster CA (PEM) that kube-controller-manager's root-ca-cert-publisher puts in every namespace as
        ConfigMap kube-root-ca.crt; None: no such ConfigMaps."""
        self.node = node
        self.clock = clock
        self._registry: tuple[str | None, Registry] | None = None
        self.admission = Admission(self.registry, clock=clock)
        self.virtual: dict[str, Any] = {}
        """Resource key -> callable(namespace) giving the objects of a computed resource (metrics.k8s.io)."""
        if store.meta("initialized") is None:
            initialize(self)

    # --- registry -------------------------------------------------------------------------------

    def registry(self) -> Registry:
        mark = self.store.meta("schema")
        if self._registry is None or self._registry[0] != mark:
            _, rows = self.store.scan([CRD_KEY], None)
            self._registry = (mark, Registry.with_crds([r.obj() for r in rows]))
        return self._registry[1]

    # --- reads ----------------------------------------------------------------------------------

    def _served(self, rt: ResourceType, body: str) -> str:
        """The stored JSON, with apiVersion set to the version asked for when it differs."""
        if body.startswith(f'{{"apiVersion":"{rt.api_version}",'):
            return body
        obj = json.loads(body)
        obj["apiVersion"] = rt.api_version
        return json.dumps(obj, separators=(",", ":"))

    def get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        if rt.key in self.virtual:
            found = [o for o in self.virtual[rt.key](namespace) if o["metadata"]["name"] == name]
            if not found:
                raise not_found(rt, name)
            return json.dumps(found[0], separators=(",", ":"))
        row = self.store.get(rt.key, _ns_key(rt, namespace), name)
        if row is None:
            raise not_found(rt, name)
        return self._served(rt, row.body)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        return json.loads(self.get_raw(rt, namespace, name))

    def list_raw(self, rt: ResourceType, namespace: str | None, *, label_selector: str | None = None,
                 field_selector: str | None = None, limit: int | None = None, cont: str | None = None) -> str:
        try:
            labels = parse_labels(label_selector)
            fields, equal = parse_fields(field_selector)
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e
        if rt.key in self.virtual:
            objects = [o for o in self.virtual[rt.key](namespace if rt.namespaced else None)
                       if labels(meta_of(o).get("labels") or {}) and fields(o)]
            return json.dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                               "metadata": {"resourceVersion": str(self.store.rv())}, "items": objects},
                              separators=(",", ":"))
        after = None
        list_rv: int | None = None
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                start = [str(x) for x in token["start"]]
                if len(start) != 3:
                    raise ValueError("start")
                after, list_rv = (start[0], start[1], start[2]), int(token["rv"])
            except (ValueError, KeyError, TypeError) as e:
                raise ApiError(400, "BadRequest", "continue key is not valid") from e
        ns = namespace if rt.namespaced else None
        if "metadata.namespace" in equal:
            ns = equal["metadata.namespace"]
        names = [equal["metadata.name"]] if "metadata.name" in equal else None
        rv, rows = self.store.scan([rt.key], ns, after=after, names=names)
        plain = label_selector is None and not field_selector
        items: list[str] = []
        more: Row | None = None
        remaining = 0
        for row in rows:
            if not plain:
                obj = row.obj()
                if not labels(meta_of(obj).get("labels") or {}) or not fields(obj):
                    continue
            if limit and len(items) >= limit:
                remaining += 1
                more = more or row
                continue
            items.append(self._served(rt, row.body))
        meta: dict[str, Any] = {"resourceVersion": str(list_rv or rv)}
        if more is not None:
            last = json.loads(items[-1])["metadata"]
            start = [rt.key, last.get("namespace", "") if rt.namespaced else "", last["name"]]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": list_rv or rv, "start": start}).encode()
                                                        ).decode()
            meta["remainingItemCount"] = remaining
        head = json.dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta},
                          separators=(",", ":"))
        return head[:-1] + ',"items":[' + ",".join(items) + "]}"

    # --- writes ---------------------------------------------------------------------------------

    def _write(self, tx: Tx, rt: ResourceType, obj: dict[str, Any], change: str) -> dict[str, Any]:
        # apiVersion and kind first, so reads serve the stored text without parsing it (see _served)
        obj = {"apiVersion": obj.pop("apiVersion", rt.api_version), "kind": obj.pop("kind", rt.kind), **obj}
        meta = obj["metadata"]
        tx.put(rt.key, meta.get("namespace", "") if rt.namespaced else "", meta["name"], meta["uid"],
               int(meta["resourceVersion"]), obj, change=change)
        if rt.key == CRD_KEY:
            tx.set_meta("schema", meta["resourceVersion"])
        return obj

    def create(self, rt: ResourceType, namespace: str | None, obj: dict[str, Any], *, manager: str,
               dry_run: bool = False, strict: bool = False) -> dict[str, Any]:
        if rt.key == "authorization.k8s.io/selfsubjectaccessreviews":
            return {**obj, "status": {"allowed": True, "reason": "sandbox: the sandbox user is cluster-admin"}}
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            self.admission.validate(rt, obj, namespace, "", partial=True)  # the decoding error, 400
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        name = str(meta.get("name") or "")
        self.admission.validate(rt, obj, namespace, name, partial=True)
        self.admission.prune_fields(rt, obj, strict=strict)
        self.admission.validate(rt, obj, namespace, name)
        namespace = (namespace or meta.get("namespace")) if rt.namespaced else None
        try:
            with self.store.write() as tx:
                self.admission.check_namespace(tx, rt, namespace)
                if tx.get(rt.key, _ns_key(rt, namespace), name) is not None:
                    what = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
                    raise ApiError(409, "AlreadyExists", f'{what} "{name}" already exists', details_of(rt, name))
                obj = self.admission.prepare_new(rt, obj, namespace, tx.next_rv())
                record_update(None, obj, manager=manager, now=obj["metadata"]["creationTimestamp"],
                              api_version=rt.api_version, with_status=not rt.has_status)
                if dry_run:
                    raise _Rollback(obj)
                created = self._write(tx, rt, obj, "ADDED")
        except _Rollback as done:
            return done.obj
        if rt.key == "/namespaces" and self.root_ca:
            self._publish_root_ca(name)
        return created

    def _publish_root_ca(self, namespace: str) -> None:
        cm = self.registry().lookup("", "v1", "configmaps")
        assert cm is not None
        try:
            self.create(cm, namespace, {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.root_ca}},
                        manager="kube-controller-manager")
        except ApiError:
            pass  # already there

    def _finish_update(self, tx: Tx, rt: ResourceType, row: Row, old: dict[str, Any], new: dict[str, Any], *,
                       subresource: str | None, manager: str | None, record: bool = True) -> dict[str, Any]:
        """Keep what clients cannot change, bump generation on spec changes, write or finish deletion."""
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["name"] = old_meta["name"]
        if rt.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        fold_string_data(rt, new)
        if subresource == "status":
            new = {**old, "status": new.get("status"), "metadata": {**old_meta, "managedFields": meta.get("managedFields",
                                                                                                         old_meta.get("managedFields"))}}
            if new["status"] is None:
                new.pop("status")
        elif rt.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if rt.key == "/services" and subresource is None:
            service_defaults(new)
        if subresource is None:
            causes = immutable_causes(rt, old, new)
            if causes:
                raise invalid_causes(rt, old_meta["name"], causes)
        if "generation" in old_meta and _spec_view(new) != _spec_view(old):
            new["metadata"]["generation"] = int(old_meta["generation"]) + 1
        if record and manager:
            record_update(old, new, manager=manager, now=now_rfc3339(self.clock()), api_version=rt.api_version,
                          subresource=subresource, with_status=subresource == "status" or not rt.has_status)
        if _same(new, old):
            return old  # a no-op write (managedFields timestamps aside) keeps its resourceVersion, as the real server does
        rv = tx.next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(tx, rt, row, new, rv)
            return new
        return self._write(tx, rt, new, "MODIFIED")

    def replace(self, rt: ResourceType, namespace: str | None, name: str, obj: dict[str, Any], *, manager: str,
                subresource: str | None = None, strict: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        given = str(meta_of(obj).get("name") or name) if isinstance(obj.get("metadata"), dict) else name
        self.admission.validate(rt, obj, namespace, given, partial=True)
        if subresource is None:
            self.admission.prune_fields(rt, obj, strict=strict)
            self.admission.validate(rt, obj, namespace, given)
        wanted_rv = meta_of(obj).get("resourceVersion")
        with self.store.write() as tx:
            row = tx.get(rt.key, _ns_key(rt, namespace), name)
            if row is None:
                raise not_found(rt, name)
            problem = update_problem(rt, row.obj(), obj, name=name, namespace=namespace)
            if problem:
                raise ApiError(problem[0], problem[1], problem[2], details_of(rt, name))
            if not wanted_rv:
                raise invalid(rt, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")
            if str(wanted_rv) != str(row.rv):
                raise conflict(rt, name)
            return self._finish_update(tx, rt, row, row.obj(), copy.deepcopy(obj), subresource=subresource,
                                       manager=manager)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes, *,
              manager: str | None, force: bool = False, subresource: str | None = None,
              strict: bool = False, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        """Apply a patch; returns (HTTP code, object): 201 when server-side apply created it. With `dry_run`, every
        check runs and the would-be object is returned, and nothing is stored."""
        try:
            return self._patch(rt, namespace, name, content_type, body, manager=manager, force=force,
                               subresource=subresource, strict=strict, dry_run=dry_run)
        except _Rollback as done:
            return done.code, done.obj

    def _patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes, *,
               manager: str | None, force: bool, subresource: str | None, strict: bool,
               dry_run: bool) -> tuple[int, dict[str, Any]]:
        kind = content_type.split(";")[0].strip()
        try:
            patch = _load_apply(body) if kind == "application/apply-patch+yaml" else json.loads(body or b"null")
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"error decoding patch: {str(e)[:200]}") from e
        if kind == "application/apply-patch+yaml":
            if not manager:
                raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                               "is required for apply patch")
            if isinstance(patch, dict) and subresource is None:
                self.admission.prune_fields(rt, patch, strict=strict, defaults=False)
            return self._apply(rt, namespace, name, patch, manager=manager, force=force, subresource=subresource,
                               dry_run=dry_run)
        with self.store.write() as tx:
            row = tx.get(rt.key, _ns_key(rt, namespace), name)
            if row is None:
                raise not_found(rt, name)
            old = row.obj()
            try:
                if kind == "application/json-patch+json":
                    new = json_patch(old, patch)
                elif kind == "application/merge-patch+json":
                    new = merge_patch(old, patch)
                elif kind == "application/strategic-merge-patch+json":
                    if rt.group not in BUILTIN_GROUPS:
                        raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for "
                                       f"custom resources ({rt.kind}); use a merge patch")
                    new = strategic_merge(old, patch)
                else:
                    raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                   "accepted media types include: application/json-patch+json, application/merge-patch"
                                   "+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
            except PatchError as e:
                raise ApiError(422, "Invalid", str(e), {}) from e
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch did not produce an object")
            problem = update_problem(rt, old, new, name=name, namespace=namespace)
            if problem:
                raise ApiError(problem[0], problem[1], problem[2], details_of(rt, name))
            if subresource is None:
                self.admission.validate(rt, new, namespace, name, partial=True)
                self.admission.prune_fields(rt, new, strict=strict)
                self.admission.validate(rt, new, namespace, name)
            rv_wanted = meta_of(new).get("resourceVersion")
            if rv_wanted and str(rv_wanted) != str(row.rv):
                raise conflict(rt, name)
            done = self._finish_update(tx, rt, row, old, new, subresource=subresource, manager=manager)
            if dry_run:
                raise _Rollback(done, 200)
            return 200, done

    def _apply(self, rt: ResourceType, namespace: str | None, name: str, applied: Any, *, manager: str,
               force: bool, subresource: str | None, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        if not isinstance(applied, dict):
            raise ApiError(400, "BadRequest", "an apply patch must be a YAML or JSON object")
        meta = applied.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name') or ''}) does not match the "
                           f"name on the URL ({name})")
        self.admission.validate(rt, applied, namespace, name, partial=True)
        now = now_rfc3339(self.clock())
        with self.store.write() as tx:
            row = tx.get(rt.key, _ns_key(rt, namespace), name)
            try:
                if row is None:
                    self.admission.check_namespace(tx, rt, namespace)
                    obj = server_side_apply(None, applied, manager=manager, force=force, now=now,
                                            api_version=rt.api_version, with_status=not rt.has_status)
                    obj = self.admission.prepare_new(rt, obj, namespace, tx.next_rv())
                    self.admission.prune_fields(rt, obj, strict=False)
                    self.admission.validate(rt, obj, namespace, name)
                    if dry_run:
                        raise _Rollback(obj, 201)
                    return 201, self._write(tx, rt, obj, "ADDED")
                old = row.obj()
                new = server_side_apply(old, applied, manager=manager, force=force, now=now,
                                        api_version=rt.api_version, subresource=subresource,
                                        with_status=subresource == "status" or not rt.has_status)
            except ApplyConflict as e:
                raise ApiError(409, "Conflict", str(e), {"causes": [
                    {"reason": "FieldManagerConflict", "message": conflict_prefix(m, v), "field": render_path(p)}
                    for m, v, p in e.conflicts]}) from e
            if subresource is None:
                self.admission.prune_fields(rt, new, strict=False)
                self.admission.validate(rt, new, namespace, name)
            done = self._finish_update(tx, rt, row, old, new, subresource=subresource, manager=manager, record=False)
            if dry_run:
                raise _Rollback(done, 200)
            return 200, done

    # --- delete ---------------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str | None = None,
               preconditions: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.store.write() as tx:
            row = tx.get(rt.key, _ns_key(rt, namespace), name)
            if row is None:
                raise not_found(rt, name)
            pre = preconditions or {}
            if (pre.get("uid") and pre["uid"] != row.uid) or (
                    pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(row.rv)):
                raise conflict(rt, name)
            return self._delete_row(tx, rt, row, propagation or "Background")

    def _delete_row(self, tx: Tx, rt: ResourceType, row: Row, propagation: str) -> dict[str, Any]:
        obj = row.obj()
        meta = obj["metadata"]
        if rt.key == "/namespaces":
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339(self.clock())
                obj["status"] = {"phase": "Terminating"}
            for child in tx.in_namespace(row.name):
                child_rt = self._type_for_key(child.resource)
                if child_rt is not None:
                    self._delete_row(tx, child_rt, child, propagation)
            if not tx.in_namespace(row.name):
                self._remove(tx, rt, row, obj, tx.next_rv())
            else:
                meta["resourceVersion"] = str(tx.next_rv())
                self._write(tx, rt, obj, "MODIFIED")
            return obj
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339(self.clock())
                meta["deletionGracePeriodSeconds"] = 0
                meta["resourceVersion"] = str(tx.next_rv())
                self._write(tx, rt, obj, "MODIFIED")
            return obj
        self._remove(tx, rt, row, obj, tx.next_rv())
        if propagation != "Orphan":
            for child in tx.owned_by(row.uid):
                child_rt = self._type_for_key(child.resource)
                if child_rt is not None and tx.get(child.resource, child.namespace, child.name) is not None:
                    self._delete_row(tx, child_rt, child, propagation)
        return obj

    def _remove(self, tx: Tx, rt: ResourceType, row: Row, obj: dict[str, Any], rv: int) -> None:
        obj["metadata"]["resourceVersion"] = str(rv)
        tx.remove(rt.key, row.namespace, row.name, rv, obj)
        if rt.key == CRD_KEY:
            tx.set_meta("schema", str(rv))
            spec = obj.get("spec") or {}
            key = f"{spec.get('group')}/{(spec.get('names') or {}).get('plural')}"
            for r in tx.db.execute("SELECT namespace, name, body FROM objects WHERE resource=?", (key,)).fetchall():
                tx.remove(key, r[0], r[1], tx.next_rv(), json.loads(r[2]))
        if row.namespace:
            ns_row = tx.get("/namespaces", "", row.namespace)
            if ns_row is not None and '"Terminating"' in ns_row.body and not tx.in_namespace(row.namespace):
                tx.remove("/namespaces", "", row.namespace, tx.next_rv(), ns_row.obj())

    def _type_for_key(self, key: str) -> ResourceType | None:
        for t in self.registry().types:
            if t.key == key:
                return t
        return None

    # --- watch ----------------------------------------------------------------------------------

    def watch(self, rt: ResourceType, namespace: str | None, *, resource_version: str | None,
              label_selector: str | None, field_selector: str | None, timeout: float,
              poll: float = 0.05, bookmark: bool = False) -> Iterator[dict[str, Any]]:
        """Watch events as dicts {"type", "object"}; an ERROR event with a 410 Status when too old. With
        `bookmark`, the current objects are followed by a BOOKMARK marking the end of the initial events."""
        labels = parse_labels(label_selector)
        fields, _ = parse_fields(field_selector)
        ns = namespace if rt.namespaced else None

        def wanted(obj: dict[str, Any]) -> bool:
            return labels(meta_of(obj).get("labels") or {}) and fields(obj)

        if resource_version in (None, "", "0"):
            since, rows = self.store.scan([rt.key], ns)
            for row in rows:
                obj = json.loads(self._served(rt, row.body))
                if wanted(obj):
                    yield {"type": "ADDED", "object": obj}
            if bookmark:
                yield {"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(since),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}
        else:
            since = int(resource_version)
            if since < self.store.oldest_change() - 1:
                yield {"type": "ERROR", "object": ApiError(
                    410, "Expired", f"too old resource version: {since} ({self.store.oldest_change() - 1})").status()}
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rv, kind, body in self.store.changes(since, rt.key, ns):
                since = rv
                obj = json.loads(self._served(rt, body))
                if wanted(obj):
                    yield {"type": kind, "object": obj}
            time.sleep(poll)

class _Rollback(Exception):
    """Internal: abort a dry-run write transaction, carrying the would-be object and its status code."""

    def __init__(self, obj: dict[str, Any], code: int = 201) -> None:
        self.obj = obj
        self.code = code


def initialize(api: ClusterApi) -> None:
    """A new cluster has what kind gives: namespaces, a node, the system priority classes."""
    with api.store.write() as tx:
        if api.store.meta("initialized") is not None:
            return
        tx.set_meta("initialized", now_rfc3339(api.clock()))
    reg = api.registry()
    ns = reg.lookup("", "v1", "namespaces")
    assert ns is not None
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        api.create(ns, None, {"metadata": {"name": name}}, manager="sandbox")
    pcs = reg.lookup("scheduling.k8s.io", "v1", "priorityclasses")
    assert pcs is not None
    for name, value in (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)):
        api.create(pcs, None, {"metadata": {"name": name}, "value": value,
                                "description": "Used for system critical pods that must run in the cluster, "
                                "but can be moved to another node if necessary."}, manager="sandbox")
    nodes = reg.lookup("", "v1", "nodes")
    assert nodes is not None
    api.create(nodes, None, {"metadata": {"name": api.node, "labels": {
        "kubernetes.io/hostname": api.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": ""}}, "spec": {"podCIDR": "10.244.0.0/24"}}, manager="sandbox")
    _set_node_status(api, nodes)
    svc = reg.lookup("", "v1", "services")
    assert svc is not None
    api.create(svc, "default", {"metadata": {"name": "kubernetes", "labels": {"component": "apiserver"}},
                                 "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                     "targetPort": 6443}]}}, manager="sandbox")


def _set_node_status(api: ClusterApi, nodes: ResourceType) -> None:
    status = {"capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
              "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
              "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                              "message": "kubelet is posting ready status",
                              "lastHeartbeatTime": now_rfc3339(api.clock()),
                              "lastTransitionTime": now_rfc3339(api.clock())}],
              "nodeInfo": {"kubeletVersion": KUBERNETES_VERSION["gitVersion"],
                           "kubeProxyVersion": KUBERNETES_VERSION["gitVersion"],
                           "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-sandbox",
                           "containerRuntimeVersion": "containerd://1.7.24", "operatingSystem": "linux",
                           "architecture": "amd64", "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, api.node)),
                           "machineID": uuid.uuid5(uuid.NAMESPACE_URL, api.node).hex,
                           "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_OID, api.node))},
              "addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                            {"type": "Hostname", "address": api.node}]}
    api.patch(nodes, None, api.node, "application/merge-patch+json", json.dumps({"status": status}).encode(),
               manager="sandbox", subresource="status")
