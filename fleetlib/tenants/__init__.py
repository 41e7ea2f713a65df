"""Onboarding a team onto a cluster as flux2-multi-tenancy does it, as the tenants runbook does it.

Files: manifests.py (the tenant's objects and file, the lockdown patches), flow.py (TenantChange: plan, check,
apply, wait, then the fence proven with access reviews).

    change = TenantChange.from_run(run)
    plan = change.plan(); change.check(plan); change.apply(plan); change.wait(); change.fence()
"""

from fleetlib.repochange import Plan
from fleetlib.tenants.flow import TenantChange

__all__ = ["Plan", "TenantChange"]
