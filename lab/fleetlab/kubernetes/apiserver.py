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

import copy
import json
import random
import string
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fleetlab.kubernetes.admission import Admission, fold_string_data, service_defaults
from fleetlab.kubernetes.apply import record_update
from fleetlab.kubernetes.deletion import Deletion
from fleetlab.kubernetes.errors import (
    ApiError,
    Rollback,
    conflict,
    details_of,
    invalid,
    invalid_causes,
    not_found,
    now_rfc3339,
)
from fleetlab.kubernetes.patching import Patching
from fleetlab.kubernetes.policy import ClusterPolicy
from fleetlab.kubernetes.rbac import CLUSTER_ROLES
from fleetlab.kubernetes.reads import Reads, ns_key
from fleetlab.kubernetes.registry import CRD_KEY, Registry, ResourceType
from fleetlab.kubernetes.store import Row, Store, Tx
from fleetlab.kubernetes.validation import (
    immutable_causes,
    keep_stored_versions,
    stored_versions_causes,
    update_problem,
)
from fleetlab.versions import LOCAL
from fleetlib.objects import meta_of

KUBERNETES_VERSION = {"major": "1", "minor": LOCAL.kubernetes.split(".")[1], "gitVersion": LOCAL.kubernetes,
                      "gitCommit": "sandbox", "gitTreeState": "clean", "buildDate": "2026-02-10T00:00:00Z",
                      "goVersion": "go1.24.12", "compiler": "gc", "platform": "linux/amd64"}
"""The sandbox speaks as the Kubernetes release the local stack builds (its judge)."""


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal objects, ignoring the `time` of managedFields entries."""
    if a == b:
        return True

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        meta = dict(meta_of(obj))
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or []]
        return {**obj, "metadata": meta}

    return strip(a) == strip(b)




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
        self.reads = Reads(store, self.virtual)
        self.policy = ClusterPolicy(self)
        store.committed = self._committed
        if store.meta("initialized") is None:
            initialize(self)
        if store.meta("rbac") is None:
            self.policy.bootstrap()

    def _committed(self, changed: list[tuple[str, str, str, str]]) -> None:
        """What kube-controller-manager does on a write, at once: a new namespace gets its default ServiceAccount and
        the kube-root-ca.crt ConfigMap, a changed ClusterRole re-aggregates the roles that select it."""
        for change, resource, _, name in changed:
            if change == "ADDED" and resource == "/namespaces":
                self.policy.namespace_added(name)
                if self.root_ca:
                    self._publish_root_ca(name)
        if any(resource == CLUSTER_ROLES for _, resource, _, _ in changed):
            self.policy.aggregate()

    # --- registry -------------------------------------------------------------------------------

    def registry(self) -> Registry:
        mark = self.store.meta("schema")
        if self._registry is None or self._registry[0] != mark:
            _, rows = self.store.scan([CRD_KEY], None)
            self._registry = (mark, Registry.with_crds([r.obj() for r in rows]))
        return self._registry[1]

    # --- reads (sandbox.reads) --------------------------------------------------------------------

    def _served(self, rt: ResourceType, body: str) -> str:
        return self.reads.served(rt, body)

    def get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        return self.reads.get_raw(rt, namespace, name)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        return json.loads(self.reads.get_raw(rt, namespace, name))

    def list_raw(self, rt: ResourceType, namespace: str | None, *, label_selector: str | None = None,
                 field_selector: str | None = None, limit: int | None = None, cont: str | None = None) -> str:
        return self.reads.list_raw(rt, namespace, label_selector=label_selector, field_selector=field_selector,
                                   limit=limit, cont=cont)

    def watch(self, rt: ResourceType, namespace: str | None, *, resource_version: str | None,
              label_selector: str | None, field_selector: str | None, timeout: float,
              poll: float = 0.05, bookmark: bool = False) -> Iterator[dict[str, Any]]:
        return self.reads.watch(rt, namespace, resource_version=resource_version, label_selector=label_selector,
                                field_selector=field_selector, timeout=timeout, poll=poll, bookmark=bookmark)

    # --- writes ---------------------------------------------------------------------------------

    def write(self, tx: Tx, rt: ResourceType, obj: dict[str, Any], change: str) -> dict[str, Any]:
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
                if tx.get(rt.key, ns_key(rt, namespace), name) is not None:
                    what = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
                    raise ApiError(409, "AlreadyExists", f'{what} "{name}" already exists', details_of(rt, name))
                obj = self.admission.prepare_new(rt, obj, namespace, tx.next_rv())
                record_update(None, obj, manager=manager, now=obj["metadata"]["creationTimestamp"],
                              api_version=rt.api_version, with_status=not rt.has_status)
                if dry_run:
                    raise Rollback(obj)
                created = self.write(tx, rt, obj, "ADDED")
        except Rollback as done:
            return done.obj
        return created

    def _publish_root_ca(self, namespace: str) -> None:
        cm = self.registry().lookup("", "v1", "configmaps")
        assert cm is not None
        try:
            self.create(cm, namespace, {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.root_ca}},
                        manager="kube-controller-manager")
        except ApiError:
            pass  # already there

    def finish_update(self, tx: Tx, rt: ResourceType, row: Row, old: dict[str, Any], new: dict[str, Any], *,
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
        if rt.key == CRD_KEY and subresource is None:
            keep_stored_versions(new)
        if subresource is None:
            causes = immutable_causes(rt, old, new)
            if causes:
                raise invalid_causes(rt, old_meta["name"], causes)
        if rt.key == CRD_KEY:
            causes = stored_versions_causes(new)
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
            Deletion(self).remove(tx, rt, row, new, rv)  # the last finalizer went: the object goes
            return new
        return self.write(tx, rt, new, "MODIFIED")

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
            row = tx.get(rt.key, ns_key(rt, namespace), name)
            if row is None:
                raise not_found(rt, name)
            problem = update_problem(rt, row.obj(), obj, name=name, namespace=namespace)
            if problem:
                raise ApiError(problem[0], problem[1], problem[2], details_of(rt, name))
            if not wanted_rv:
                raise invalid(rt, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")
            if str(wanted_rv) != str(row.rv):
                raise conflict(rt, name)
            return self.finish_update(tx, rt, row, row.obj(), copy.deepcopy(obj), subresource=subresource,
                                       manager=manager)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes, *,
              manager: str | None, force: bool = False, subresource: str | None = None,
              strict: bool = False, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        """Apply a patch; returns (HTTP code, object): 201 when server-side apply created it. With `dry_run`, every
        check runs and the would-be object is returned, and nothing is stored."""
        try:
            return Patching(self).patch(rt, namespace, name, content_type, body, manager=manager, force=force,
                                        subresource=subresource, strict=strict, dry_run=dry_run)
        except Rollback as done:
            return done.code, done.obj

    # --- delete ---------------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *, propagation: str | None = None,
               preconditions: dict[str, Any] | None = None) -> dict[str, Any]:
        """Delete as the server does (sandbox.deletion): finalizers, namespace contents, ownerReference cascade."""
        return Deletion(self).delete(rt, namespace, name, propagation=propagation, preconditions=preconditions)

    def type_for_key(self, key: str) -> ResourceType | None:
        for t in self.registry().types:
            if t.key == key:
                return t
        return None

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
