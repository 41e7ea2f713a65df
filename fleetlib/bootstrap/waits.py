"""What the bootstrap waits for, through fleetlib.waiting's one polling loop: CRDs established, the
GitRepository accepting a rotated key, the sync objects Ready at the pushed revision (or a later commit
of the branch that contains it), and every controller Deployment ready. A failure the cluster reports
ends a wait at once, with the troubleshooting runbook as the hint."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fleetlib.errors import ClusterError, clip
from fleetlib.git import Checkout
from fleetlib.kube import Kube
from fleetlib.model import Duration
from fleetlib.objects import FLUX_KINDS, condition, deployment_ready, is_true, spec_of, status_of
from fleetlib.parameters import ClusterParams
from fleetlib.steplog import StepLog
from fleetlib.waiting import wait_until

TROUBLESHOOT = ("run the troubleshooting runbook (`papermill runbooks/troubleshoot.ipynb out.ipynb -p cluster "
                "{cluster} -p stage {stage}`), or inspect it with `kubectl --context {context} -n {ns} describe {kind} "
                "{name}` and the controller logs")


class ClusterWaits:
    def __init__(self, params: ClusterParams, kube: Kube, log: StepLog, *, timeout: float) -> None:
        self.params, self.kube, self.log, self.timeout = params, kube, log, timeout
        self._descendants: dict[str, bool] = {}

    def flux_object(self, kind: str) -> dict[str, Any] | None:
        """The flux-system object of a Flux kind, or None (also while its CRD is not installed)."""
        ns = self.params.namespace
        try:
            return self.kube.get(FLUX_KINDS[kind], kind, ns, ns)
        except ClusterError:
            return None

    def troubleshoot(self, kind: str) -> str:
        p = self.params
        return TROUBLESHOOT.format(cluster=p.cluster, stage=p.stage, context=self.kube.context, ns=p.namespace,
                                   kind=kind, name=p.namespace)

    def established(self, names: list[str]) -> None:
        for name in names:
            wait_until(f"CustomResourceDefinition {name}", partial(self._established, name), timeout=60, poll=0.2,
                       timed_out=partial(ClusterError, f"CustomResourceDefinition {name} was not established within "
                                                       "1m0s"))

    def _established(self, name: str) -> bool | None:
        crd = self.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)
        return True if is_true(crd, "Established") else None

    def source_accepts(self, requested: str) -> None:
        """The GitRepository handled the reconcile `requested` and is Ready (a rotated key works)."""
        failed = ClusterError("the new deploy key was not accepted in time; the old key is kept",
                              hint=self.troubleshoot("gitrepository"))

        def handled() -> bool | None:
            repo = self.flux_object("GitRepository")
            if status_of(repo).get("lastHandledReconcileAt") != requested:
                return None
            if not is_true(repo):
                raise failed
            return True

        wait_until("the GitRepository to accept the new key", handled, timeout=self.timeout, timed_out=lambda: failed)

    def at_revision(self, kind: str, revision: str, checkout: Checkout | None,
                    revision_of: Callable[[dict[str, Any]], str | None]) -> None:
        """The flux-system `kind` is Ready at `revision` (or a later commit containing it); fails fast on
        Ready=False there, Stalled, or suspend."""
        ns = self.params.namespace
        last: dict[str, Any] = {}

        def reconciled() -> bool | None:
            obj = self.flux_object(kind) or {}
            last["obj"] = obj
            ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
            current = bool(obj) and status_of(obj).get("observedGeneration") == obj["metadata"].get("generation")
            if spec_of(obj).get("suspend"):
                raise ClusterError(f"{kind} {ns}/{ns} is suspended", hint=f"resume it: flux resume {kind.lower()} {ns}")
            reached = self._reached(revision_of(obj), revision, checkout)
            if ready.get("status") == "True" and current and reached:
                return True
            if (ready.get("status") == "False" and (reached or kind == "GitRepository")) or \
                    stalled.get("status") == "True":
                message = ready.get("message") or stalled.get("message")
                raise ClusterError(f"{kind} {ns}/{ns} is not ready: {clip(message or '', 400)}",
                                   hint=self.troubleshoot(kind.lower()))
            return None

        wait_until(f"{kind} {ns}/{ns}", reconciled, timeout=self.timeout, timed_out=lambda: ClusterError(
            f"bootstrap failed with 1 health check failure(s): {kind} {ns}/{ns} did not reach {revision} within "
            f"{Duration(self.timeout).go()} ({last_seen(last.get('obj'), revision_of)})",
            hint=self.troubleshoot(kind.lower())))

    def _reached(self, seen: str | None, revision: str, checkout: Checkout | None) -> bool:
        """At our revision, or at a later commit of the branch that contains it (clusters sharing the repository
        push too, and Flux fetches the newest head)."""
        if not seen:
            return False
        if seen == revision:
            return True
        prefix = f"{self.params.branch}@sha1:"
        if not seen.startswith(prefix) or checkout is None:
            return False
        if seen not in self._descendants:
            self._descendants[seen] = checkout.is_ancestor(revision.removeprefix(prefix), seen.removeprefix(prefix))
        return self._descendants[seen]

    def components_ready(self) -> None:
        pending = list(self.params.all_components)

        def all_ready() -> bool | None:
            for name in list(pending):
                d = self.kube.get("apps/v1", "Deployment", self.params.namespace, name)
                if deployment_ready(d):
                    self.log.say("✔", f"{name}: deployment ready")
                    pending.remove(name)
            return None if pending else True

        wait_until("the Flux controllers", all_ready, timeout=self.timeout, timed_out=lambda: ClusterError(
            f"bootstrap failed with {len(pending)} health check failure(s): "
            + ", ".join(f"{n}: deployment not ready" for n in pending),
            hint=f"kubectl -n {self.params.namespace} get pods; run runbooks/troubleshoot.ipynb"))


def last_seen(obj: dict[str, Any] | None, revision_of: Callable[[dict[str, Any]], str | None]) -> str:
    """What a timed-out wait last saw of a Flux object, in a person's words: whether it exists, whether its
    controller has looked at it, and its Ready condition and revision."""
    if not obj:
        return "it does not exist"
    status = status_of(obj)
    if not status.get("conditions") and status.get("observedGeneration") is None:
        return "its controller never reported a status: is it running? `flux check`"
    ready = condition(obj, "Ready")
    said = f"Ready={ready.get('status', 'Unknown')}"
    if ready.get("reason"):
        said += f" {ready['reason']}"
    if ready.get("message"):
        said += f": {clip(ready['message'], 200)}"
    return f"last seen {said}; revision {revision_of(obj) or 'none yet'}"
