"""When a Flux object is due for reconciliation, as the controllers decide it: a generation not yet
attempted, a `reconcile.fluxcd.io/requestedAt` not yet handled, or its interval (retryInterval after a
failure, the dependency requeue while waiting on one) elapsed. Suspended objects are never due.

    if schedule.due(obj): ...; schedule.done(obj, failed=False)
"""

from __future__ import annotations

from typing import Any

from fleetlib.model import Duration
from fleetlib.objects import meta_of, spec_of, status_of
from fleetlib.sandbox.flux.runtime import Runtime

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


def interval_of(obj: dict[str, Any], field: str = "interval", default: str = "10m") -> float:
    try:
        return Duration.parse(str(spec_of(obj).get(field) or default)).seconds
    except ValueError:
        return Duration.parse(default).seconds


class Schedule:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.next: dict[str, float] = {}
        self.generation: dict[str, int] = {}
        self.handled: dict[str, str] = {}

    @staticmethod
    def requested(obj: dict[str, Any]) -> str | None:
        return (meta_of(obj).get("annotations") or {}).get(REQUESTED_AT)

    def due(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        if spec_of(obj).get("suspend") or meta.get("deletionTimestamp"):
            return False
        key = meta["uid"]
        if self.generation.get(key) != meta.get("generation", 1):
            return True
        requested = self.requested(obj)
        if requested and requested != status_of(obj).get("lastHandledReconcileAt") \
                and requested != self.handled.get(key):
            return True
        return self.rt.now() >= self.next.get(key, 0.0)

    def done(self, obj: dict[str, Any], *, failed: bool = False, changed: bool = True,
             retry: float | None = None) -> None:
        meta = obj["metadata"]
        key = meta["uid"]
        self.generation[key] = meta.get("generation", 1)
        requested = self.requested(obj)
        if requested:
            self.handled[key] = requested
        if retry is None:
            retry = interval_of(obj, "retryInterval", str(spec_of(obj).get("interval") or "10m")) \
                if failed else interval_of(obj)
        self.next[key] = self.rt.now() + retry
