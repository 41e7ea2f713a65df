"""How kustomize-controller reports a reconcile: the deferred status patch (lastHandledReconcileAt,
observedGeneration, ProgressingWithRetry), the log line and event of a success or a failure (Warning, the Ready
condition's reason), and the next run scheduled.

    report.fail(ks, status, Failure("BuildFailed", message), revision, started)
"""

from __future__ import annotations

import time
from typing import Any

from fleetlab.flux.conditions import READY, RECONCILING, STALLED, drop_condition, set_condition
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule, interval_of
from fleetlab.flux.ssa import Failure
from fleetlab.kubernetes.errors import now_rfc3339
from fleetlib.model import go_duration
from fleetlib.objects import spec_of

COMPONENT = "kustomize-controller"


def mark(status: dict[str, Any], kind: str, value: str, reason: str, message: str, ks: dict[str, Any]) -> None:
    status["conditions"] = set_condition(status.get("conditions"), kind, value, reason, message,
                                         now=now_rfc3339(), generation=ks["metadata"].get("generation", 1))


def drop(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = drop_condition(status.get("conditions"), kind)


def is_true(status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


class KsReport:
    def __init__(self, rt: Runtime, schedule: Schedule) -> None:
        self.rt, self.schedule = rt, schedule

    def event(self, ks: dict[str, Any], status: dict[str, Any], severity: str, message: str,
               revision: str | None) -> None:
        """As the controller's event(): reason is the Ready condition's (else the severity), Warning for errors."""
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == READY), None)
        reason = (ready or {}).get("reason") or severity
        self.rt.event(ks, "Warning" if severity == "error" else "Normal", reason, message, COMPONENT,
                      annotations={"kustomize.toolkit.fluxcd.io/revision": revision} if revision else None)

    def succeed(self, ks: dict[str, Any], status: dict[str, Any], revision: str, started: float) -> None:
        status["lastAppliedRevision"] = revision
        mark(status, READY, "True", "ReconciliationSucceeded", f"Applied revision: {revision}", ks)
        self.finish(ks, status, started)
        self.schedule.done(ks)

    def fail(self, ks: dict[str, Any], status: dict[str, Any], failure: Failure, revision: str,
              started: float) -> None:
        retry = interval_of(ks, "retryInterval", str(spec_of(ks).get("interval") or "10m"))
        self.rt.log(COMPONENT, "error", f"Reconciliation failed after {go_duration(time.monotonic() - started)}, "
                                        f"next try in {go_duration(retry)}", ks, revision=revision,
                    error=failure.message)
        self.event(ks, status, "error", failure.message, revision)
        self.finish(ks, status, started)
        self.schedule.done(ks, failed=True, retry=retry)

    def deny(self, ks: dict[str, Any], status: dict[str, Any], message: str, started: float) -> None:
        """An ACL refusal (acl.AccessDeniedError): Ready=False and Stalled, reason AccessDenied, an error event, and
        no retry until the spec changes (the controller returns a terminal error)."""
        mark(status, READY, "False", "AccessDenied", message, ks)
        mark(status, STALLED, "True", "AccessDenied", message, ks)
        self.rt.log(COMPONENT, "error", "Reconciler error", ks, error=message)
        self.event(ks, status, "error", message, None)
        self.finish(ks, status, started)
        self.schedule.done(ks, failed=True, retry=1e9)

    def finish(self, ks: dict[str, Any], status: dict[str, Any], started: float, *, announce: bool = True) -> None:
        """finalizeStatus, then the success log line and event of the deferred function."""
        requested = self.schedule.requested(ks)
        if requested:
            status["lastHandledReconcileAt"] = requested
        if is_true(status, READY):
            drop(status, RECONCILING)
            drop(status, STALLED)
            status["observedGeneration"] = ks["metadata"].get("generation", 1)
        elif "observedGeneration" not in status:
            status["observedGeneration"] = -1  # as the controller initialises it, until a reconcile succeeds
        if any(c.get("type") == READY and c.get("status") == "False" for c in status.get("conditions") or []):
            for cond in status.get("conditions") or []:
                if cond.get("type") == RECONCILING:
                    cond["reason"] = "ProgressingWithRetry"
        self.rt.patch_status(ks, status, COMPONENT)
        if announce and not spec_of(ks).get("suspend") and is_true(status, READY):
            self.announce_finished(ks, status, started)

    def announce_finished(self, ks: dict[str, Any], status: dict[str, Any], started: float) -> None:
        message = (f"Reconciliation finished in {go_duration(time.monotonic() - started)}, "
                   f"next run in {go_duration(interval_of(ks))}")
        self.rt.log(COMPONENT, "info", message, ks, revision=status.get("lastAttemptedRevision"))
        self.event(ks, status, "info", message, status.get("lastAppliedRevision"))
