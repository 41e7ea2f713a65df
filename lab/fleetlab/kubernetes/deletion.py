"""Deletion as kube-apiserver does it: preconditions (uid, resourceVersion), finalizers (a deletionTimestamp
until they are gone), a namespace Terminating until its contents are deleted, background or foreground
cascade to the objects an object owns (not with Orphan), and a CRD's objects going with it.

    Deletion(api).delete(rt, "flux-system", "apps", propagation="Background")
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fleetlab.kubernetes.errors import conflict, not_found, now_rfc3339
from fleetlab.kubernetes.reads import ns_key
from fleetlab.kubernetes.registry import CRD_KEY, ResourceType
from fleetlab.kubernetes.store import Row, Tx

if TYPE_CHECKING:
    from fleetlab.kubernetes.apiserver import ClusterApi


class Deletion:
    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str | None = None,
               preconditions: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.api.store.write() as tx:
            row = tx.get(rt.key, ns_key(rt, namespace), name)
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
                meta["deletionTimestamp"] = now_rfc3339(self.api.clock())
                obj["status"] = {"phase": "Terminating"}
            for child in tx.in_namespace(row.name):
                child_rt = self.api.type_for_key(child.resource)
                if child_rt is not None:
                    self._delete_row(tx, child_rt, child, propagation)
            if not tx.in_namespace(row.name):
                self.remove(tx, rt, row, obj, tx.next_rv())
            else:
                meta["resourceVersion"] = str(tx.next_rv())
                self.api.write(tx, rt, obj, "MODIFIED")
            return obj
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339(self.api.clock())
                meta["deletionGracePeriodSeconds"] = 0
                meta["resourceVersion"] = str(tx.next_rv())
                self.api.write(tx, rt, obj, "MODIFIED")
            return obj
        self.remove(tx, rt, row, obj, tx.next_rv())
        if propagation != "Orphan":
            for child in tx.owned_by(row.uid):
                child_rt = self.api.type_for_key(child.resource)
                if child_rt is not None and tx.get(child.resource, child.namespace, child.name) is not None:
                    self._delete_row(tx, child_rt, child, propagation)
        return obj

    def remove(self, tx: Tx, rt: ResourceType, row: Row, obj: dict[str, Any], rv: int) -> None:
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
