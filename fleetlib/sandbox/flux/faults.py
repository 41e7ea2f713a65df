"""Named fault scenarios, injected per sandbox cluster to rehearse troubleshooting.

A fault is a record in the cluster's state (`faults` in its meta table) plus, for some scenarios, a
change made the way it would happen for real: a deploy key deleted on GitHub, a Kustomization
suspended, a commit pushed that the cluster will not see. Clearing undoes exactly that.

    inject(api, hub, "deploy-key-revoked"); clear(api, hub, "deploy-key-revoked")
"""

from __future__ import annotations

from typing import Any

DEFAULT_TARGETS = {
    "controller-oomkilled": "kustomize-controller",
    "controller-crashloop": "helm-controller",
    "suspended-kustomization": "flux-system",
    "helm-install-retries-exhausted": "fault-release",
}


def target_of(faults: dict[str, Any] | set[str], scenario: str) -> str | None:
    record = faults.get(scenario) if isinstance(faults, dict) else None
    return (record or {}).get("target") or DEFAULT_TARGETS.get(scenario)
