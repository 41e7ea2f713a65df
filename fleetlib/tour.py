"""The guided tour's steps on the sandbox (notebooks/getting-started.ipynb): break a cluster with a fault
scenario and wait until the diagnosis sees it, then clear it and wait until nothing is left.

    findings = break_cluster(params, kube, "deploy-key-revoked")
    findings = fix_cluster(params, kube, "deploy-key-revoked")
"""

from __future__ import annotations

import time

from fleetlib.diagnose import SEVERITY, Finding, diagnose
from fleetlib.errors import InputError
from fleetlib.kube import Kube
from fleetlib.locations import fleet_home
from fleetlib.operate import request_reconcile
from fleetlib.parameters import ClusterParams
from fleetlib.sandbox import Sandbox
from fleetlib.troubleshoot import gather_cluster


def _sandbox(params: ClusterParams) -> Sandbox:
    if params.target != "sandbox":
        raise InputError(f"{params.id} has target {params.target}: the tour breaks sandbox clusters only",
                         hint="run it with -p target sandbox")
    return Sandbox.running(fleet_home())


def _problems(params: ClusterParams, kube: Kube) -> list[Finding]:
    return [f for f in diagnose(gather_cluster(params, kube)) if SEVERITY[f.severity] > SEVERITY["info"]]


def _wait(params: ClusterParams, kube: Kube, *, broken: bool, timeout: float) -> list[Finding]:
    deadline = time.monotonic() + timeout
    while True:
        found = _problems(params, kube)
        if bool(found) == broken or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def break_cluster(params: ClusterParams, kube: Kube, scenario: str, *, timeout: float = 120.0) -> list[Finding]:
    """Inject a fault scenario; returns the findings once the diagnosis sees them."""
    _sandbox(params).inject_fault(params.id, scenario)
    return _wait(params, kube, broken=True, timeout=timeout)


def fix_cluster(params: ClusterParams, kube: Kube, scenario: str, *, timeout: float = 120.0) -> list[Finding]:
    """Clear the scenario; returns what is still found above info once the cluster has recovered ([] when healthy)."""
    _sandbox(params).clear_fault(params.id, scenario)
    request_reconcile(kube, "GitRepository", params.namespace, params.namespace)
    return _wait(params, kube, broken=False, timeout=timeout)
