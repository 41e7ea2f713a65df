"""The guided tour's steps (notebooks/getting-started.ipynb), on the sandbox or a local cluster: break a
cluster with a fault scenario and wait until the cluster shows it, then clear it and wait until it has
recovered.

    findings = break_cluster(params, kube, "deploy-key-revoked")
    findings = fix_cluster(params, kube, "deploy-key-revoked")
"""

from __future__ import annotations

from typing import Any

from fleetlib.kube import Kube
from fleetlib.locations import fleet_home
from fleetlib.parameters import ClusterParams
from fleetlib.targets import rehearsal
from fleetlib.troubleshoot.diagnose import SEVERITY, Finding, diagnose
from fleetlib.troubleshoot.flow import gather_cluster


def _rehearsal(params: ClusterParams) -> Any:
    return rehearsal(params, home=fleet_home())


def _problems(params: ClusterParams, kube: Kube) -> list[Finding]:
    return [f for f in diagnose(gather_cluster(params, kube)) if SEVERITY[f.severity] > SEVERITY["info"]]


def _say(text: str) -> None:
    print(f"◎ {text}", flush=True)


def break_cluster(params: ClusterParams, kube: Kube, scenario: str) -> list[Finding]:
    """Inject a fault scenario and wait until the cluster shows it; returns the diagnosis."""
    _rehearsal(params).inject(scenario, wait=True, progress=_say)
    return _problems(params, kube)


def fix_cluster(params: ClusterParams, kube: Kube, scenario: str) -> list[Finding]:
    """Clear the scenario and wait until the cluster shows the recovery; returns what is still found above info
    ([] when healthy)."""
    _rehearsal(params).clear(scenario, wait=True, progress=_say)
    return _problems(params, kube)
