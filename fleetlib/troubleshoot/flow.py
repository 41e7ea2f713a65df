"""The troubleshooting runbook's steps that reach outside: gather a cluster's facts (with the fleet
repository's branch heads, for stale revisions) and apply the remediations a run allows.

    facts = gather_for(run)
    actions = remediate(run, findings, reconcile_failed=True, resume_suspended=False)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from fleetlib.errors import ClusterError, FleetError, ParameterError, clip
from fleetlib.github import GitHub
from fleetlib.github import connect as github_connect
from fleetlib.kube import Kube
from fleetlib.locations import fleet_home
from fleetlib.objects import FLUX_KINDS, Ref, plural, spec_of, status_of
from fleetlib.options import TroubleshootOptions
from fleetlib.parameters import ClusterParams
from fleetlib.runcontext import RunContext
from fleetlib.troubleshoot.diagnose import GROUPED_COLUMNS, SEVERITY, Finding, grouped
from fleetlib.troubleshoot.facts import ClusterFacts, gather
from fleetlib.troubleshoot.operate import request_reconcile

_GITHUB_URL = re.compile(r"github\.com[:/]([^/]+)/([^/]+?)(?:\.git)?/?$")


def gather_for(run: RunContext) -> ClusterFacts:
    """Facts of a runbook run's cluster (see gather_cluster), with the run's own GitHub client."""
    return gather_cluster(run.params, run.kube, hub=lambda: run.hub)


def gather_cluster(params: ClusterParams, kube: Kube, *, hub: Callable[[], GitHub] | None = None) -> ClusterFacts:
    """Facts of a cluster, with the repository head of each GitRepository on GitHub (`hub` gives the client,
    asked only when there is a GitRepository; by default, connected through the cluster's target)."""
    facts = gather(kube, namespace=params.namespace, components=tuple(params.all_components))
    repos = facts.objects.get("GitRepository", [])
    if repos:
        try:
            client = hub() if hub is not None else github_connect(params, home=fleet_home())
            branch_heads: dict[tuple[str, str], tuple[str, float | None]] = {}  # many share one repository branch
            for repo in repos:
                rspec = spec_of(repo)
                m = _GITHUB_URL.search(str(rspec.get("url", "")))
                branch = (rspec.get("ref") or {}).get("branch")
                if m and branch:
                    key = (f"{m.group(1)}/{m.group(2)}", branch)
                    if key not in branch_heads:
                        branch_heads[key] = client.branch_head_at(*key)
                    where = f"{repo['metadata']['namespace']}/{repo['metadata']['name']}"
                    facts.heads[where], committed = branch_heads[key]
                    if committed is not None:
                        facts.head_times[where] = committed
        except FleetError as e:  # a GitHub failure must not hide the cluster's own findings
            facts.github_error = e.message
    return facts


def tree_text(facts: ClusterFacts, namespace: str) -> str:
    """The flux-system Kustomization's tree, or why there is none."""
    from fleetlib.errors import InputError
    from fleetlib.troubleshoot.operate import tree

    try:
        return "\n".join(tree(facts, namespace, namespace))
    except InputError as e:
        return f"no tree: {e.message} (is the cluster bootstrapped?)"


def findings_table(findings: list[Finding]) -> pd.DataFrame:
    """One row per finding id and cause, root causes first, evidence and remediation whole; `count` says how many
    objects share the row (the recorded findings keep every one)."""
    return pd.DataFrame(grouped(f.as_dict() for f in findings), columns=GROUPED_COLUMNS)


WITHOUT_READY = ("Alert", "Provider")
"""Kinds with no Ready condition (notification.toolkit.fluxcd.io v1beta3): never counted as not ready."""


def summary(facts: ClusterFacts, findings: list[Finding]) -> dict[str, Any]:
    """Counts per kind (objects and not ready) and per severity, for the fleet report."""
    kinds = {kind: {"objects": len(items), "not_ready": sum(
        1 for o in items if not any(c.get("type") == "Ready" and c.get("status") == "True"
                                    for c in status_of(o).get("conditions") or []))
                    if kind not in WITHOUT_READY else 0}
             for kind, items in facts.objects.items()}
    severities: dict[str, int] = {}
    for f in findings:
        severities[f.severity] = severities.get(f.severity, 0) + 1
    return {"cluster": facts.cluster, "kinds": kinds, "severities": severities}


def remediate(run: RunContext, findings: list[Finding], *, reconcile_failed: bool | None = None,
              resume_suspended: bool | None = None) -> pd.DataFrame:
    """Request a reconcile of failing Flux objects and/or resume suspended ones, as the run's options allow
    (`run.options.reconcile_failed` and `resume_suspended`, unless given here)."""
    opts = run.options.expect(TroubleshootOptions)
    if reconcile_failed is None:
        reconcile_failed = opts.reconcile_failed
    if resume_suspended is None:
        resume_suspended = opts.resume_suspended
    rows = []
    for f in findings:
        try:
            target = Ref.parse(f.object)
        except ValueError:  # a cluster-wide finding ("cluster dev/x")
            continue
        kind, namespace, name = target.kind, target.namespace, target.name
        if kind not in FLUX_KINDS or namespace is None:
            continue
        if f.id == "suspended" and resume_suspended:
            run.kube.patch_custom(FLUX_KINDS[kind], plural(kind), namespace, name, {"spec": {"suspend": False}})
            rows.append({"object": f.object, "action": "resumed"})
        elif f.id != "suspended" and reconcile_failed and f.severity in ("error", "warning"):
            request_reconcile(run.kube, kind, namespace, name)
            rows.append({"object": f.object, "action": "reconcile requested"})
    if not reconcile_failed and not resume_suspended:
        rows.append({"object": "-", "action": "none (set reconcile_failed or resume_suspended to act)"})
    return pd.DataFrame(rows, columns=["object", "action"])


FAIL_ON = ("none", "warning", "error", "critical")


def conclude(findings: list[Finding], *, fail_on: str) -> str:
    """The runbook's verdict, as `flux check` gives one: raise when a finding is at least `fail_on`, so a
    fleet run marks the cluster failed, names this cell and quotes the first such finding."""
    if fail_on not in FAIL_ON:
        raise ParameterError(f"{fail_on!r} is not one of {', '.join(FAIL_ON)}", source="runbook parameters", key="fail_on")
    bad = [] if fail_on == "none" else [f for f in findings if SEVERITY[f.severity] >= SEVERITY[fail_on]]
    if bad:
        first = bad[0]
        raise ClusterError(f"{len(bad)} finding(s) at {fail_on} or above; first: {first.id} on {first.object}: "
                           f"{clip(first.evidence, 300)}", hint=first.remediation)
    return f"no finding at {fail_on} or above" if fail_on != "none" else "fail_on='none': no verdict"
