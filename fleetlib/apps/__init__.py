"""Adding and removing an application on a cluster the Flux way, as the add-app runbook does it.

Files: manifests.py (the app's objects and file, and why that layout), checks.py (what is refused before
anything is pushed), flow.py (AppChange: plan, check, apply, wait), waits.py (Ready, or pruned).

    change = AppChange.from_run(run)
    plan = change.plan(); change.check(plan); change.apply(plan); change.wait()
"""

from fleetlib.apps.flow import AppChange
from fleetlib.repochange import Plan

__all__ = ["AppChange", "Plan"]
