"""The promote runbook: a cluster's folder compared across stages (promote.compare), what each stage's folder
gives its cluster and what a change would do there (promote.render), and the flow that promotes chosen apps and
paths as a commit or pull request (promote.flow)."""

from fleetlib.promote.flow import PromoteChange

__all__ = ["PromoteChange"]
