"""Diagnosis on a bootstrapped sandbox cluster (each fault scenario's first finding is tested on both targets in
test_conformance.py): once `faults.settle` says the
cluster shows it (what `fleet sandbox fault` waits for), a single diagnosis has the matching finding first,
naming the right object; once the clear has settled, a single diagnosis finds nothing above info. A
cluster without Flux is `flux-not-installed`, never "no findings"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fleetlab.sandbox import Sandbox
from fleetlib import kube as kube_adapter
from fleetlib.errors import ClusterError
from fleetlib.parameters import Catalog, Layer, merge_and_validate
from fleetlib.troubleshoot.diagnose import SEVERITY, diagnose
from fleetlib.troubleshoot.facts import gather
from fleetlib.troubleshoot.flow import conclude, gather_cluster

from .conftest import REPO, new_cluster
from .fluxenv import FluxCluster, bootstrapped, wait_for


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FluxCluster, Any]]:
    fc = bootstrapped(new_cluster(sandbox, "diag", tmp_path_factory.mktemp("diag")))
    cid = fc.c.id
    params = merge_and_validate(cid, [*Catalog.load(REPO).base_layers("dev"),
                                      Layer("test", {"target": "sandbox", "path": fc.path})])
    kube = kube_adapter.connect(params, home=sandbox.home)
    wait_for("controllers ready", lambda: all(((fc.get("Deployment", n) or {}).get("status") or {}).get("readyReplicas")
                                              for n in ("source-controller", "kustomize-controller", "helm-controller",
                                                        "notification-controller")))
    yield fc, kube
    sandbox.forget_cluster(cid)


def findings(fc: FluxCluster, kube: Any) -> list[Any]:
    """What the troubleshooting runbook diagnoses: the cluster's facts with the repository heads from GitHub."""
    return diagnose(gather_cluster(kube.params, kube))


def above_info(found: list[Any]) -> list[Any]:
    return [f for f in found if SEVERITY[f.severity] > 0]


def test_a_healthy_cluster_has_no_finding_above_info(env: tuple[FluxCluster, Any]) -> None:
    fc, kube = env
    fc.request_reconcile("GitRepository", "flux-system")
    wait_for("no finding", lambda: not above_info(findings(fc, kube)), timeout=30)


def test_a_cluster_without_flux_is_flux_not_installed(sandbox: Sandbox, tmp_path: Any) -> None:
    c = new_cluster(sandbox, "noflux", tmp_path)
    params = merge_and_validate(c.id, [*Catalog.load(REPO).base_layers("dev"),
                                       Layer("test", {"target": "sandbox", "path": "./clusters/none"})])
    facts = gather(kube_adapter.connect(params, home=sandbox.home))
    found = diagnose(facts)
    assert [f.id for f in found] == ["flux-not-installed"] and found[0].severity == "critical"
    assert f"-p cluster {c.id.cluster} -p stage {c.id.stage}" in found[0].remediation
    with pytest.raises(ClusterError, match="flux-not-installed"):
        conclude(found, fail_on="error")


def test_flux_views(env: tuple[FluxCluster, Any]) -> None:
    from fleetlib.troubleshoot import fluxview

    fc, kube = env
    facts = wait_for("every object ready", lambda: (f := gather(kube, heads={"flux-system/flux-system": fc.head()}))
                     and f.objects and fluxview.get(f, ready=False).empty and f)
    table = fluxview.get(facts)
    row = table.set_index(["kind", "name"]).loc[("GitRepository", "flux-system")]
    assert row["ready"] == "True" and row["revision"] == f"main@sha1:{fc.head()[:8]}"
    assert row["message"] == f"stored artifact for revision 'main@sha1:{fc.head()[:8]}'"
    checks = fluxview.check(facts, flux_version="v2.5.1").set_index("check")
    assert checks.loc["kubernetes", "ok"] and checks.loc["distribution", "detail"] == "flux-v2.5.1"
    assert checks.loc["bootstrapped", "detail"] == "true"  # the flux-system Kustomization applied the CRDs
    assert checks.loc["controller source-controller", "detail"].startswith("deployment ready; ghcr.io/fluxcd/")
    assert checks.loc["crd gitrepositories.source.toolkit.fluxcd.io", "detail"] == "v1"
    stats = fluxview.stats(facts).set_index("reconcilers")
    assert stats.loc["GitRepository", "running"] == 1 and stats.loc["GitRepository", "storage"] != "-"
    ev = fluxview.events(facts, for_object=("Kustomization", "flux-system", "flux-system"))
    assert set(ev["object"]) <= {"Kustomization/flux-system", "GitRepository/flux-system"} and len(ev) > 0
    assert list(ev["last_seen"]) == sorted(ev["last_seen"])
    lines = fluxview.logs(facts, kind="Kustomization", name="flux-system")
    assert len(lines) > 0 and set(lines["controller"]) == {"kustomize-controller"}
    assert fluxview.truncate_hex("main@sha1:" + "a" * 40) == "main@sha1:aaaaaaaa"
    assert facts.requests <= 20  # lists per kind, never a request per object


def test_reconcile_suspend_resume_tree_and_trace(env: tuple[FluxCluster, Any]) -> None:
    from fleetlib.errors import ClusterError
    from fleetlib.troubleshoot import operate

    fc, kube = env
    out = operate.reconcile(kube, "Kustomization", "flux-system", "flux-system", with_source=True, timeout=30)
    assert out == f"✔ applied revision main@sha1:{fc.head()}"
    assert operate.suspend(kube, "Kustomization", "flux-system", "flux-system").endswith("suspended")
    with pytest.raises(ClusterError, match="resource is suspended"):
        operate.reconcile(kube, "Kustomization", "flux-system", "flux-system", timeout=5)
    assert operate.resume(kube, "Kustomization", "flux-system", "flux-system", timeout=30).endswith("resumed")
    facts = gather(kube)
    lines = operate.tree(facts, "flux-system", "flux-system")
    assert lines[0] == "Kustomization/flux-system/flux-system"
    assert any(line.endswith("Deployment/flux-system/source-controller") for line in lines)
    assert lines[-1].startswith("└── ")
    report = operate.trace(kube, "apps/v1", "Deployment", "flux-system", "source-controller")
    assert report["kustomization"] == "flux-system/flux-system"
    assert report["source"] == "GitRepository/flux-system/flux-system" and report["source_ready"] == "True"
    fc.c.sandbox.inject_fault(fc.c.id, "deploy-key-revoked")
    try:
        with pytest.raises(ClusterError, match="GitRepository reconciliation failed: '.*unable to authenticate"):
            operate.reconcile(kube, "GitRepository", "flux-system", "flux-system", timeout=30)
    finally:
        fc.c.sandbox.clear_fault(fc.c.id, "deploy-key-revoked")
    wait_for("recovered", lambda: not above_info(findings(fc, kube)), timeout=60)


def test_charts_render(env: tuple[FluxCluster, Any], tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fleetlib import charts
    from fleetlib.troubleshoot import fluxview

    fc, kube = env
    facts = gather(kube)
    for fig in (charts.reconcile_timeline(fluxview.events(facts)), charts.readiness_summary(fluxview.get(facts)),
                charts.reconcile_timeline(fluxview.events(facts).iloc[0:0])):
        out = tmp_path / "chart.png"
        fig.savefig(out)
        assert out.stat().st_size > 1000
