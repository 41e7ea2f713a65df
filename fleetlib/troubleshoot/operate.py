"""Operating Flux objects as `flux reconcile`, `suspend`, `resume`, `tree` and `trace` do.

Reconcile annotates `reconcile.fluxcd.io/requestedAt` and waits until `status.lastHandledReconcileAt`
answers it, failing at once on Ready=False or Stalled (v2.5's CLI waits out its timeout instead).

    print(reconcile(run.kube, "Kustomization", "flux-system", "flux-system", with_source=True))
    print("\\n".join(tree(facts, "flux-system", "flux-system")))
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fleetlib.errors import ClusterError, InputError
from fleetlib.kube import Kube
from fleetlib.objects import (
    FLUX_KINDS,
    SOURCE_KINDS,
    Ref,
    condition,
    inventory,
    labels_of,
    plural,
    references,
    spec_of,
    status_of,
)
from fleetlib.troubleshoot.facts import ClusterFacts
from fleetlib.waiting import wait_until


def request_reconcile(kube: Kube, kind: str, namespace: str, name: str) -> str:
    """What `flux reconcile` does: annotate requestedAt (RFC 3339, nanoseconds); returns the value."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name,
                      {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}})
    return stamp


def _get(kube: Kube, kind: str, namespace: str, name: str) -> dict[str, Any]:
    if kind not in FLUX_KINDS:
        raise InputError(f"{kind} is not a Flux kind", hint="one of: " + ", ".join(FLUX_KINDS))
    obj = kube.get(FLUX_KINDS[kind], kind, namespace, name)
    if obj is None:
        raise InputError(f"{kind} {namespace}/{name} not found", hint=f"list them: flux get {plural(kind)} -A")
    return obj


def _wait(kube: Kube, kind: str, namespace: str, name: str, *, requested: str | None, timeout: float,
          poll: float) -> dict[str, Any]:
    """Until the controller handled `requested` (or, with None, the current generation) and says Ready; a
    failure it reports after handling the request ends the wait at once."""
    def reconciled() -> dict[str, Any] | None:
        obj = _get(kube, kind, namespace, name)
        handled = requested is None or status_of(obj).get("lastHandledReconcileAt") == requested
        current = status_of(obj).get("observedGeneration") == obj["metadata"].get("generation")
        ready, stalled = condition(obj), condition(obj, "Stalled")
        if handled and stalled.get("status") == "True":
            raise ClusterError(f"{kind} reconciliation failed: '{stalled.get('message')}'")
        if handled and ready.get("status") == "False" and (requested is not None or current):
            raise ClusterError(f"{kind} reconciliation failed: '{ready.get('message')}'",
                               hint="run the troubleshooting runbook for this cluster")
        return obj if handled and current and ready.get("status") == "True" else None

    return wait_until(f"{kind} {namespace}/{name} to be reconciled", reconciled, timeout=timeout, poll=poll,
                      hint="its controller may be down: check `kubectl -n flux-system get pods`")


def reconcile(kube: Kube, kind: str, namespace: str, name: str, *, with_source: bool = False,
              timeout: float = 300.0, poll: float = 0.5) -> str:
    """Request a reconcile and wait for it; returns flux's success line."""
    obj = _get(kube, kind, namespace, name)
    if spec_of(obj).get("suspend"):
        raise ClusterError(f"{kind} {namespace}/{name}: resource is suspended", hint=f"flux resume {plural(kind)[:-1]}")
    if with_source and kind in ("Kustomization", "HelmRelease"):
        for src in references(obj)["source"]:
            reconcile(kube, src.kind, src.namespace or namespace, src.name, timeout=timeout, poll=poll)
    stamp = request_reconcile(kube, kind, namespace, name)
    done = _wait(kube, kind, namespace, name, requested=stamp, timeout=timeout, poll=poll)
    if kind in SOURCE_KINDS:
        return f"✔ fetched revision {(status_of(done).get('artifact') or {}).get('revision', '')}"
    return f"✔ applied revision {status_of(done).get('lastAppliedRevision') or status_of(done).get('lastAttemptedRevision', '')}"


def suspend(kube: Kube, kind: str, namespace: str, name: str) -> str:
    _get(kube, kind, namespace, name)
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name, {"spec": {"suspend": True}})
    return f"✔ {kind} {namespace}/{name} suspended"


def resume(kube: Kube, kind: str, namespace: str, name: str, *, wait: bool = True, timeout: float = 300.0,
           poll: float = 0.5) -> str:
    _get(kube, kind, namespace, name)
    kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name, {"spec": {"suspend": False}})
    if wait:
        _wait(kube, kind, namespace, name, requested=None, timeout=timeout, poll=poll)
    return f"✔ {kind} {namespace}/{name} resumed"


def tree(facts: ClusterFacts, namespace: str, name: str) -> list[str]:
    """flux tree kustomization: the inventory, recursing into child Kustomizations."""
    by_ref = {Ref.of(o): o for o in facts.objects.get("Kustomization", [])}
    root_ref = Ref("Kustomization", namespace, name)
    root = by_ref.get(root_ref)
    if root is None:
        raise InputError(f"Kustomization {namespace}/{name} not found")
    lines = [str(root_ref)]

    def walk(ks: dict[str, Any], prefix: str, seen: set[Ref]) -> None:
        entries = inventory(ks)
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{entry.ref}")
            child = by_ref.get(entry.ref)
            if child is not None and entry.ref not in seen and not spec_of(child).get("kubeConfig"):
                walk(child, prefix + ("    " if last else "│   "), seen | {entry.ref})

    walk(root, "", {root_ref})
    return lines


def trace(kube: Kube, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
    """flux trace: the object, the Kustomization or HelmRelease that manages it, and that one's source."""
    obj = kube.get(api_version, kind, namespace, name)
    if obj is None:
        raise InputError(f"{kind} {namespace}/{name} not found")
    for manager, group in (("Kustomization", "kustomize"), ("HelmRelease", "helm")):
        mname = labels_of(obj).get(f"{group}.toolkit.fluxcd.io/name")
        mns = labels_of(obj).get(f"{group}.toolkit.fluxcd.io/namespace")
        if mname and mns:
            owner = _get(kube, manager, mns, mname)
            src = next(iter(references(owner)["source"]), None)
            source = kube.get(FLUX_KINDS.get(src.kind, ""), src.kind, src.namespace, src.name) if src else None
            return {"object": str(Ref(kind, namespace, name)),
                    manager.lower(): f"{mns}/{mname}", "path": spec_of(owner).get("path"),
                    "revision": status_of(owner).get("lastAppliedRevision") or status_of(owner).get("lastAttemptedRevision"),
                    "last_reconciled": condition(owner).get("lastTransitionTime"),
                    "message": condition(owner).get("message"),
                    "source": str(src) if src else None,
                    "source_url": spec_of(source).get("url"),
                    "source_revision": (status_of(source).get("artifact") or {}).get("revision"),
                    "source_ready": condition(source).get("status")}
    raise InputError(f"{kind} {namespace}/{name}: object not managed by Flux")
