"""After the add-app runbook pushed: the flux-system sync at the pushed revision, then the app's Kustomization
or HelmRelease Ready at its current generation (failing fast on a terminal condition, with its message), or,
for a removal, the app's objects pruned. Progress lines say what is awaited and what the cluster says. The
waits take what they read (an `AppWait`), not the flow.

    w = AppWait(params, kube, log, "HelmRelease", "web", timeout=300.0, revision="main@sha1:...", checkout=co)
    wait_ready(w); wait_pruned(w)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetlib.bootstrap.waits import ClusterWaits
from fleetlib.errors import ClusterError
from fleetlib.git import Checkout
from fleetlib.kube import Kube
from fleetlib.objects import FLUX_KINDS, condition, status_of
from fleetlib.parameters import ClusterParams
from fleetlib.steplog import StepLog
from fleetlib.waiting import wait_until

TERMINAL = ("BuildFailed", "HealthCheckFailed", "ReconciliationFailed", "InstallFailed", "UpgradeFailed",
            "ArtifactFailed", "DependencyNotReady")
"""Ready=False reasons that do not clear without a change (a dependency may, but it is named, so say it)."""


@dataclass(frozen=True)
class AppWait:
    params: ClusterParams
    kube: Kube
    log: StepLog
    kind: str
    """Kustomization (a Git source) or HelmRelease, in the cluster's Flux namespace."""
    name: str
    timeout: float
    revision: str | None
    """What was pushed now (None: nothing; what is in Git is what the cluster should show)."""
    checkout: Checkout | None
    namespace: str | None = None
    """The app's namespace when the app's file declares it (Flux prunes it with the app)..."""
    stays: str | None = None
    """...or when it does not (it existed before the app: it stays, with what it holds)."""
    object_namespace: str | None = None
    """The Kustomization's or HelmRelease's own namespace (a tenant's); None: the cluster's Flux namespace."""


def synced(w: AppWait) -> None:
    if w.revision is None:
        return
    ns = w.params.namespace
    w.log.say("◎", f"waiting for Kustomization {ns}/{ns} to apply {w.revision}")
    ClusterWaits(w.params, w.kube, w.log, timeout=w.timeout).at_revision(
        "Kustomization", w.revision, w.checkout, lambda o: status_of(o).get("lastAppliedRevision"))


def wait_ready(w: AppWait) -> None:
    synced(w)
    kind, ns, name = w.kind, w.object_namespace or w.params.namespace, w.name
    said: dict[str, str] = {}

    def ready() -> dict[str, Any] | None:
        obj = w.kube.get(FLUX_KINDS[kind], kind, ns, name)
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
            w.log.say("◎", f"{kind} {ns}/{name}: {text}")
            said["last"] = text
        return None

    obj = wait_until(f"{kind} {ns}/{name} to be Ready", ready, timeout=w.timeout, hint="run the troubleshooting runbook")
    w.log.say("✔", f"{kind} {ns}/{name} is Ready: {condition(obj).get('message')}")


def wait_pruned(w: AppWait) -> None:
    synced(w)
    kind, ns, name = w.kind, w.object_namespace or w.params.namespace, w.name
    watched: list[tuple[str, str, str, str | None, str]] = [(f"{kind} {ns}/{name}", FLUX_KINDS[kind], kind, ns, name)]
    if w.namespace is not None:  # a namespace the app did not create stays, with what it holds
        watched.append((f"Namespace {w.namespace}", "v1", "Namespace", None, w.namespace))
    what = " and ".join(x[0] for x in watched)

    def gone() -> bool | None:
        return None if any(w.kube.get(*x[1:]) is not None for x in watched) else True

    wait_until(f"{what} to be pruned", gone, timeout=w.timeout,
               hint="check that the flux-system Kustomization has prune: true")
    w.log.say("✔", f"Flux pruned {what}" + (f"; Namespace {w.stays} stays" if w.stays else ""))
