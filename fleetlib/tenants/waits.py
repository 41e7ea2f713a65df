"""After the tenants runbook pushed a removal: the flux-system sync at the pushed revision, then the tenant's
Kustomization (and the namespaces its file declared) gone.

    wait_gone(w, namespaces=["team"], kept=[])
"""

from __future__ import annotations

from fleetlib.apps.waits import AppWait, synced
from fleetlib.objects import FLUX_KINDS
from fleetlib.waiting import wait_until


def wait_gone(w: AppWait, *, namespaces: list[str], kept: list[str]) -> None:
    """The Kustomization `w` names and `namespaces` deleted (a Kustomization with a finalizer is gone only after
    kustomize-controller collected what it applied); `kept` are named as staying."""
    synced(w)
    ns = w.object_namespace or w.params.namespace
    watched = [(FLUX_KINDS[w.kind], w.kind, ns, w.name)] + [("v1", "Namespace", None, n) for n in namespaces]
    what = ", ".join(f"{kind} {f'{space}/' if space else ''}{name}" for _, kind, space, name in watched)

    def gone() -> bool | None:
        return None if any(w.kube.get(*x) is not None for x in watched) else True

    wait_until(f"{what} to be pruned", gone, timeout=w.timeout,
               hint="check that the flux-system Kustomization has prune: true")
    w.log.say("✔", f"Flux pruned {what}" + (f"; Namespace {', '.join(kept)} stays" if kept else ""))
