"""Every scenario of the differential suite, in the order they run (kubectl, the client, Flux, Helm)."""

from __future__ import annotations

from fleetlab.fidelity import scenarios_flux, scenarios_helm, scenarios_kube  # noqa: F401 - registering
from fleetlab.fidelity.suite import REGISTRY, Scenario


def select(patterns: list[str] | None = None, groups: list[str] | None = None) -> list[Scenario]:
    """Scenarios whose name contains one of the patterns (all when none), in the given groups."""
    import fnmatch

    out = []
    for sc in REGISTRY.values():
        if groups and sc.group not in groups:
            continue
        if patterns and not any(fnmatch.fnmatch(sc.name, p if any(c in p for c in "*?[") else f"*{p}*")
                                for p in patterns):
            continue
        out.append(sc)
    return out
