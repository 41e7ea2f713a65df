"""Operating Flux objects as `flux reconcile`, `suspend`, `resume`, `tree` and `trace` do.

Reconcile annotates `reconcile.fluxcd.io/requestedAt` and waits until `status.lastHandledReconcileAt`
answers it, failing at once on Ready=False or Stalled (v2.5's CLI waits out its timeout instead).

    print(reconcile(run.kube, "Kustomization", "flux-system", "flux-system", with_source=True))
    print("\\n".join(tree(facts, "flux-system", "flux-system")))
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fleetlib.diagnose import condition
from fleetlib.errors import ClusterError, InputError
from fleetlib.facts import FLUX_KINDS, ClusterFacts
from fleetlib.kube import Kube
from fleetlib.objects import spec

SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart")


def plural(kind: str) -> str:
    """The resource name of a Flux kind: GitRepository -> gitrepositories."""
    return kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"


def request_reconcile(kube: Kube, kind: str, name: str, namespace: str) -> str:
    """What `flux reconcile` does: annotate requestedAt (RFC 3339, nanoseconds); returns the value."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name,
                      {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}})
    return stamp


def _get(kube: Kube, kind: str, name: str, namespace: str) -> dict[str, Any]:
    if kind not in FLUX_KINDS:
        raise InputError(f"{kind} is not a Flux kind", hint="one of: " + ", ".join(FLUX_KINDS))
    obj = kube.get(FLUX_KINDS[kind], kind, namespace, name)
    if obj is None:
        raise InputError(f"{kind} {namespace}/{name} not found", hint=f"list them: flux get {plural(kind)} -A")
    return obj


def _wait(kube: Kube, kind: str, name: str, namespace: str, *, requested: str | None, timeout: float,
          poll: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        obj = _get(kube, kind, name, namespace)
        status = obj.get("status") or {}
        handled = requested is None or status.get("lastHandledReconcileAt") == requested
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        ready, stalled = condition(obj), condition(obj, "Stalled")
        if handled and stalled.get("status") == "True":
            raise ClusterError(f"{kind} reconciliation failed: '{stalled.get('message')}'")
        if handled and ready.get("status") == "False" and (requested is not None or current):
            raise ClusterError(f"{kind} reconciliation failed: '{ready.get('message')}'",
                               hint="run the troubleshooting runbook for this cluster")
        if handled and current and ready.get("status") == "True":
            return obj
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out waiting for {kind} {namespace}/{name} to be reconciled",
                               hint="its controller may be down: check `kubectl -n flux-system get pods`")
        time.sleep(poll)


def reconcile(kube: Kube, kind: str, name: str, namespace: str, *, with_source: bool = False,
              timeout: float = 300.0, poll: float = 0.5) -> str:
    """Request a reconcile and wait for it; returns flux's success line."""
    obj = _get(kube, kind, name, namespace)
    if spec(obj).get("suspend"):
        raise ClusterError(f"{kind} {namespace}/{name}: resource is suspended", hint=f"flux resume {plural(kind)[:-1]}")
    if with_source and kind in ("Kustomization", "HelmRelease"):
        ospec = spec(obj)
        src = ospec.get("sourceRef") or ((ospec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
        if src.get("name"):
            reconcile(kube, src.get("kind", "GitRepository"), src["name"], src.get("namespace") or namespace,
                      timeout=timeout, poll=poll)
    stamp = request_reconcile(kube, kind, name, namespace)
    done = _wait(kube, kind, name, namespace, requested=stamp, timeout=timeout, poll=poll)
    status = done.get("status") or {}
    if kind in SOURCE_KINDS:
        return f"✔ fetched revision {(status.get('artifact') or {}).get('revision', '')}"
    return f"✔ applied revision {status.get('lastAppliedRevision') or status.get('lastAttemptedRevision', '')}"


def suspend(kube: Kube, kind: str, name: str, namespace: str) -> str:
    _get(kube, kind, name, namespace)
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name, {"spec": {"suspend": True}})
    return f"✔ {kind} {namespace}/{name} suspended"


def resume(kube: Kube, kind: str, name: str, namespace: str, *, wait: bool = True, timeout: float = 300.0,
           poll: float = 0.5) -> str:
    _get(kube, kind, name, namespace)
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name, {"spec": {"suspend": False}})
    if wait:
        _wait(kube, kind, name, namespace, requested=None, timeout=timeout, poll=poll)
    return f"✔ {kind} {namespace}/{name} resumed"


def tree(facts: ClusterFacts, name: str, namespace: str) -> list[str]:
    """flux tree kustomization: the inventory, recursing into child Kustomizations."""
    by_key = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in facts.objects.get("Kustomization", [])}
    root = by_key.get((namespace, name))
    if root is None:
        raise InputError(f"Kustomization {namespace}/{name} not found")
    lines = [f"Kustomization/{namespace}/{name}"]

    def walk(ks: dict[str, Any], prefix: str, seen: set[tuple[str, str]]) -> None:
        entries = ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []
        for i, entry in enumerate(entries):
            ns, obj_name, _group, kind = (entry["id"].split("_", 3) + ["", "", "", ""])[:4]
            obj_name = obj_name.replace("__", ":")
            last = i == len(entries) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{kind}/{ns + '/' if ns else ''}{obj_name}")
            child = by_key.get((ns, obj_name)) if kind == "Kustomization" else None
            if child is not None and (ns, obj_name) not in seen and not spec(child).get("kubeConfig"):
                walk(child, prefix + ("    " if last else "│   "), seen | {(ns, obj_name)})

    walk(root, "", {(namespace, name)})
    return lines


def trace(kube: Kube, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    """flux trace: the object, the Kustomization or HelmRelease that manages it, and that one's source."""
    obj = kube.get(api_version, kind, namespace, name)
    if obj is None:
        raise InputError(f"{kind} {namespace}/{name} not found")
    labels = obj["metadata"].get("labels") or {}
    for manager, group in (("Kustomization", "kustomize"), ("HelmRelease", "helm")):
        mname, mns = labels.get(f"{group}.toolkit.fluxcd.io/name"), labels.get(f"{group}.toolkit.fluxcd.io/namespace")
        if mname and mns:
            owner = _get(kube, manager, mname, mns)
            ospec, status = spec(owner), owner.get("status") or {}
            src = ospec.get("sourceRef") or ((ospec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
            source = kube.get(FLUX_KINDS.get(src.get("kind", "GitRepository"), ""), src.get("kind", "GitRepository"),
                              src.get("namespace") or mns, src.get("name", "")) if src else None
            return {"object": f"{kind}/{namespace + '/' if namespace else ''}{name}",
                    manager.lower(): f"{mns}/{mname}", "path": ospec.get("path"),
                    "revision": status.get("lastAppliedRevision") or status.get("lastAttemptedRevision"),
                    "last_reconciled": condition(owner).get("lastTransitionTime"),
                    "message": condition(owner).get("message"),
                    "source": f"{src.get('kind')}/{src.get('namespace') or mns}/{src.get('name')}" if src else None,
                    "source_url": spec(source).get("url"),
                    "source_revision": (((source or {}).get("status") or {}).get("artifact") or {}).get("revision"),
                    "source_ready": condition(source or {}).get("status")}
    raise InputError(f"{kind} {namespace}/{name}: object not managed by Flux")
