"""After the add-app runbook pushed: the flux-system sync at the pushed revision, then the app's Kustomization
or HelmRelease Ready at its current generation (failing fast on a terminal condition, with its message), or,
for a removal, the app's objects pruned. Progress lines say what is awaited and what the cluster says.

    wait_ready(change); wait_pruned(change)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetlib.bootstrap.waits import ClusterWaits
from fleetlib.errors import ClusterError
from fleetlib.model import Duration
from fleetlib.objects import FLUX_KINDS, condition, status_of
from fleetlib.waiting import wait_until

if TYPE_CHECKING:
    from fleetlib.apps.flow import AppChange

TERMINAL = ("BuildFailed", "HealthCheckFailed", "ReconciliationFailed", "InstallFailed", "UpgradeFailed",
            "ArtifactFailed", "DependencyNotReady")
"""Ready=False reasons that do not clear without a change (a dependency may, but it is named, so say it)."""


def _synced(change: AppChange) -> None:
    if change.revision is None:  # nothing pushed now: what is in Git is what the cluster should show
        return
    timeout = Duration.parse(change.options.timeout).seconds
    ns = change.params.namespace
    change.say("◎", f"waiting for Kustomization {ns}/{ns} to apply {change.revision}")
    ClusterWaits(change.params, change.kube, change.log, timeout=timeout).at_revision(
        "Kustomization", change.revision, change.repo.checkout, lambda o: status_of(o).get("lastAppliedRevision"))


def _workload(change: AppChange) -> tuple[str, str, str]:
    kind = "Kustomization" if change.options.source == "git" else "HelmRelease"
    return kind, change.params.namespace, change.options.app


def wait_ready(change: AppChange) -> None:
    _synced(change)
    kind, ns, name = _workload(change)
    said: dict[str, str] = {}

    def ready() -> dict[str, Any] | None:
        obj = change.kube.get(FLUX_KINDS[kind], kind, ns, name)
        if obj is None:
            return None
        cond, stalled = condition(obj), condition(obj, "Stalled")
        current = status_of(obj).get("observedGeneration") == obj["metadata"].get("generation")
        if stalled.get("status") == "True" or (current and cond.get("status") == "False"
                                                and cond.get("reason") in TERMINAL):
            raise ClusterError(f"{kind} {ns}/{name} is not ready: {cond.get('reason')}: {cond.get('message')}",
                               hint="run the troubleshooting runbook, fix the parameters and run again")
        if cond.get("status") == "True" and current:
            return obj
        text = str(cond.get("message") or "waiting for its first reconcile")
        if said.get("last") != text:
            change.say("◎", f"{kind} {ns}/{name}: {text}")
            said["last"] = text
        return None

    obj = wait_until(f"{kind} {ns}/{name} to be Ready", ready, timeout=Duration.parse(change.options.timeout).seconds,
                     hint="run the troubleshooting runbook")
    change.say("✔", f"{kind} {ns}/{name} is Ready: {condition(obj).get('message')}")


def wait_pruned(change: AppChange) -> None:
    _synced(change)
    kind, ns, name = _workload(change)
    app_ns = change.options.namespace_of_app
    watched: list[tuple[str, str, str, str | None, str]] = [(f"{kind} {ns}/{name}", FLUX_KINDS[kind], kind, ns, name)]
    if change.own_namespace:  # a namespace the app did not create stays, with what it holds
        watched.append((f"Namespace {app_ns}", "v1", "Namespace", None, app_ns))
    what = " and ".join(w[0] for w in watched)

    def gone() -> bool | None:
        return None if any(change.kube.get(*w[1:]) is not None for w in watched) else True

    wait_until(f"{what} to be pruned", gone, timeout=Duration.parse(change.options.timeout).seconds,
               hint="check that the flux-system Kustomization has prune: true")
    change.say("✔", f"Flux pruned {what}" + ("" if change.own_namespace else f"; Namespace {app_ns} stays"))
