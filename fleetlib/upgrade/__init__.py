"""The upgrade runbook: which API versions a Flux release serves and what that means for a cluster's manifests and
stored objects (upgrade.apis), the storage inventory and migration as `flux migrate` does it (upgrade.storage),
and the flow that takes a cluster from its release to a later one, step by step through Git (upgrade.flow)."""

from fleetlib.upgrade.flow import UpgradeChange

__all__ = ["UpgradeChange"]
