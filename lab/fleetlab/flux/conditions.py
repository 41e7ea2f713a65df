"""Status conditions as Flux writes them (fluxcd/pkg apis/meta), as pure functions on plain data.

`Reconciling` and `Stalled` are "abnormal-true": present only while True. As fluxcd/pkg/runtime's
conditions.Set: a condition keeps its lastTransitionTime while its status, reason and message stay the same, and
the list is sorted Stalled, Reconciling, Ready, then the others by observedGeneration (newest first) and type.

    conds = set_condition(conds, "Ready", "True", "Succeeded", "stored artifact for revision 'main@sha1:…'", now=now)
"""

from __future__ import annotations

from typing import Any

from fleetlib import objects
from fleetlib.objects import meta_of

READY, RECONCILING, STALLED, HEALTHY = "Ready", "Reconciling", "Stalled", "Healthy"


def get_condition(status: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(conditions: list[dict[str, Any]] | None, kind: str, status: str, reason: str, message: str, *,
                  now: str, generation: int | None = None) -> list[dict[str, Any]]:
    out = [dict(c) for c in conditions or [] if c.get("type") != kind]
    old = next((c for c in conditions or [] if c.get("type") == kind), None)
    same = old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (status, reason, message)
    cond: dict[str, Any] = {"type": kind, "status": status, "reason": reason, "message": message,
                            "lastTransitionTime": old["lastTransitionTime"] if same and old else now}
    if generation is not None:
        cond["observedGeneration"] = generation
    out.append(cond)
    return sorted(out, key=_condition_order)


_WEIGHTS = {STALLED: 0, RECONCILING: 1, READY: 2}


def _condition_order(cond: dict[str, Any]) -> tuple[int, int, int, str]:
    """fluxcd/pkg/runtime's lexicographicLess as a sort key."""
    if cond["type"] in _WEIGHTS:
        return 0, _WEIGHTS[cond["type"]], 0, ""
    return 1, 0, -int(cond.get("observedGeneration") or 0), str(cond["type"])


def drop_condition(conditions: list[dict[str, Any]] | None, kind: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions or [] if c.get("type") != kind]


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready=True for the current generation, as flux and kstatus judge a Flux object."""
    status = obj.get("status") or {}
    ready = get_condition(status, READY)
    generation = meta_of(obj).get("generation")
    return bool(ready and ready.get("status") == "True"
                and (generation is None or status.get("observedGeneration") == generation))


def workload_current(obj: dict[str, Any]) -> tuple[bool, str]:
    """kstatus for the kinds health checks wait on: (current?, kstatus word)."""
    kind = obj.get("kind")
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        want = int(spec.get("replicas", 1))
        if status.get("observedGeneration", 0) < meta.get("generation", 1):
            return False, "InProgress"
        for field in ("readyReplicas", "availableReplicas") if kind != "StatefulSet" else ("readyReplicas",):
            if int(status.get(field) or 0) < want:
                return False, "InProgress"
        return True, "Current"
    if kind == "Pod":
        ready = get_condition(status, "Ready")
        return (status.get("phase") == "Running" and ready is not None and ready["status"] == "True"), \
            "Current" if status.get("phase") == "Running" else "InProgress"
    if get_condition(status, READY) is not None or kind in FLUX_KINDS:
        stalled = get_condition(status, STALLED)
        if stalled is not None and stalled["status"] == "True":
            return False, "Failed"
        return (is_ready(obj), "Current" if is_ready(obj) else "InProgress")
    return True, "Current"


FLUX_KINDS = {*objects.FLUX_KINDS, *objects.IMAGE_KINDS}
