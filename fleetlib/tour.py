"""The guided tour's steps (notebooks/getting-started.ipynb), on the sandbox or a local cluster: break a
cluster with a fault scenario and wait until the cluster shows it, then clear it and wait until it has
recovered.

    findings = break_cluster(params, kube, "deploy-key-revoked")
    left = fix_cluster(params, kube, "deploy-key-revoked")
    what_changed(findings, left)     # the findings per severity, broken and fixed, as a chart
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


SEVERITY_COLOURS = {"critical": "#6a1b9a", "error": "#c62828", "warning": "#f9a825"}


def what_changed(broken: Sequence[Finding], fixed: Sequence[Finding]) -> Figure:
    """What the tour did to the cluster, as a chart: its findings above info per severity when broken and when
    fixed, side by side."""
    fig, ax = plt.subplots(figsize=(6, 2.4))
    stages = ("broken", "fixed")
    bottom = [0, 0]
    for severity, colour in SEVERITY_COLOURS.items():
        counts = [sum(f.severity == severity for f in found) for found in (broken, fixed)]
        if any(counts):
            ax.bar(stages, counts, bottom=bottom, color=colour, label=severity)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total} finding{'s' if total != 1 else ''}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, max(bottom + [1]) * 1.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("findings above info")
    ax.set_title("What the tour changed: the cluster broken, then fixed", fontsize=9)
    if any(bottom):
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    plt.close(fig)
    return fig
