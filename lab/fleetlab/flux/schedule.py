"""When a Flux object is due for reconciliation, as the controllers decide it: a generation not yet
attempted, a `reconcile.fluxcd.io/requestedAt` not yet handled, or its interval (retryInterval after a
failure, the dependency requeue while waiting on one) elapsed. Suspended objects are never due.

The schedule is the cluster's, not the process's: it lives in the cluster's store (on the cluster's clock,
runtime.Runtime.now), so a process that takes the controller lease (a notebook's kernel, `fleet sandbox serve`)
reconciles only what is due, as real controllers do not start over because someone ran `flux get`.

    if schedule.due(obj): ...; schedule.done(obj, failed=False)
"""

from __future__ import annotations

from typing import Any

from fleetlab.flux.runtime import Runtime
from fleetlib.model import Duration
from fleetlib.objects import meta_of, spec_of, status_of

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
        self.generation: dict[str, int | None] = {}
        self.handled: dict[str, str | None] = {}
        self._epoch = -1
        self.taken: set[str] = set()
        """The objects this process has started reconciling (see `interrupted`)."""
        self.failures: dict[str, int] = {}
        """uid -> failures in a row: the controller's rate limiter (kept in memory, as a controller's workqueue is)."""

    def _sync(self) -> None:
        """Read the cluster's schedule again after this process took the lease."""
        if self._epoch == self.rt.lease_epoch:
            return
        rows = self.rt.api.store.schedules()
        self.generation = {u: g for u, (g, _, _) in rows.items()}
        self.handled = {u: h for u, (_, h, _) in rows.items()}
        self.next = {u: n for u, (_, _, n) in rows.items()}
        self._epoch = self.rt.lease_epoch

    @staticmethod
    def requested(obj: dict[str, Any]) -> str | None:
        return (meta_of(obj).get("annotations") or {}).get(REQUESTED_AT)

    def changed_generation(self, obj: dict[str, Any]) -> bool:
        self._sync()
        return self.generation.get(obj["metadata"]["uid"]) != obj["metadata"].get("generation", 1)

    def saw(self, obj: dict[str, Any]) -> None:
        """Record the generation seen (a suspended object's), keeping its next due time."""
        self._sync()
        key = obj["metadata"]["uid"]
        self.generation[key] = obj["metadata"].get("generation", 1)
        self._save(key)

    def _save(self, key: str) -> None:
        self.rt.api.store.put_schedule(key, self.generation.get(key), self.handled.get(key), self.next.get(key, 0.0))

    def interrupted(self, obj: dict[str, Any]) -> bool:
        """Ready=Unknown (a reconcile under way, health checks running) but not by this process: the process that
        started it is gone, so it starts again, as a restarted controller picks up its in-flight objects."""
        meta = obj["metadata"]
        if spec_of(obj).get("suspend") or meta.get("deletionTimestamp") or meta["uid"] in self.taken:
            return False
        return any(c.get("type") == "Ready" and c.get("status") == "Unknown"
                   for c in status_of(obj).get("conditions") or [] if isinstance(c, dict))

    def due(self, obj: dict[str, Any]) -> bool:
        found = self._due(obj)
        if found:
            self.taken.add(obj["metadata"]["uid"])
        return found

    def _due(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        if spec_of(obj).get("suspend") or meta.get("deletionTimestamp"):
            return False
        self._sync()
        key = meta["uid"]
        if self.generation.get(key) != meta.get("generation", 1):
            return True
        requested = self.requested(obj)
        if requested and requested != status_of(obj).get("lastHandledReconcileAt") \
                and requested != self.handled.get(key):
            return True
        return self.rt.now() >= self.next.get(key, 0.0)

    def backoff(self, obj: dict[str, Any], component: str) -> float:
        """The delay before the next attempt after a failure the reconciler returns as an error: controller-runtime's
        per-object exponential rate limiter, --min-retry-delay doubled on each failure in a row up to
        --max-retry-delay (750ms and 15m by default); a success starts it over."""
        key = obj["metadata"]["uid"]
        count = self.failures.get(key, 0)
        self.failures[key] = count + 1
        flags = self.rt.flags(component)
        return float(min(flags.duration("min-retry-delay") * 2 ** min(count, 40), flags.duration("max-retry-delay")))

    def done(self, obj: dict[str, Any], *, failed: bool = False, changed: bool = True,
             retry: float | None = None) -> None:
        self._sync()
        meta = obj["metadata"]
        key = meta["uid"]
        if not failed:
            self.failures.pop(key, None)
        self.generation[key] = meta.get("generation", 1)
        requested = self.requested(obj)
        if requested:
            self.handled[key] = requested
        if retry is None:
            retry = interval_of(obj, "retryInterval", str(spec_of(obj).get("interval") or "10m")) \
                if failed else interval_of(obj)
        self.next[key] = self.rt.now() + retry
        self._save(key)
