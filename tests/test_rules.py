"""Diagnosis rules on hand-built facts: no cluster, just the facts a rule reads, and the finding it must give."""

from __future__ import annotations

from typing import Any

from fleetlib.diagnose import diagnose, grouped
from fleetlib.facts import FLUX_CRDS, ClusterFacts

COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


def crd(name: str) -> dict[str, Any]:
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name}}


def deployment(name: str) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": "flux-system"}}


def installed(**changes: Any) -> ClusterFacts:
    facts = ClusterFacts(cluster="dev/services-amer", namespace="flux-system", kubernetes="v1.34.4",
                         namespace_present=True, components=COMPONENTS,
                         crds=[crd(n) for c in COMPONENTS for n in FLUX_CRDS[c]],
                         deployments=[deployment(c) for c in COMPONENTS])
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def test_a_complete_installation_has_no_finding() -> None:
    assert diagnose(installed()) == []


def test_nothing_of_flux_is_flux_not_installed() -> None:
    found = diagnose(installed(namespace_present=False, crds=[], deployments=[]))
    assert [(f.id, f.severity, f.object) for f in found] == [
        ("flux-not-installed", "critical", "cluster dev/services-amer")]
    assert found[0].evidence == "no namespace flux-system, none of the 10 Flux CRDs, no Flux controller Deployment"
    assert found[0].remediation == ("bootstrap it: `papermill runbooks/bootstrap.ipynb out.ipynb -p cluster "
                                    "services-amer -p stage dev`")


def test_missing_parts_are_flux_partially_installed() -> None:
    facts = installed(crds=[c for c in installed().crds if c["metadata"]["name"] != "helmreleases.helm.toolkit.fluxcd.io"],
                      deployments=[deployment(c) for c in COMPONENTS[:3]])
    found = diagnose(facts)
    assert [(f.id, f.severity) for f in found] == [("flux-partially-installed", "error")]
    assert found[0].evidence == ("CRDs missing: helmreleases.helm.toolkit.fluxcd.io; controllers missing: "
                                 "notification-controller")


def test_an_unreachable_cluster_is_not_called_uninstalled() -> None:
    found = diagnose(installed(unreachable="connection refused", namespace_present=None, crds=[], deployments=[]))
    assert [f.id for f in found] == ["api-unreachable"]


def test_grouped_folds_the_same_id_and_cause_into_one_row() -> None:
    rows = [{"id": "kustomize-build-failed", "severity": "error", "object": "Kustomization/flux-system/app-7",
             "evidence": "kustomize build failed: " + "x" * 300, "cause": "c1", "remediation": "r1", "symptom_of": None}]
    rows += [{"id": "stale-revision", "severity": "warning", "object": f"GitRepository/flux-system/app-{i:04d}",
              "evidence": f"e{i}", "cause": "c2", "remediation": f"r{i}", "symptom_of": None} for i in range(151)]
    out = grouped(rows)
    assert [(r["id"], r["count"]) for r in out] == [("kustomize-build-failed", 1), ("stale-revision", 151)]
    assert out[0]["evidence"] == rows[0]["evidence"] and out[0]["objects"] == "Kustomization/flux-system/app-7"
    assert out[1]["objects"] == ("GitRepository/flux-system/app-0000, GitRepository/flux-system/app-0001, "
                                 "GitRepository/flux-system/app-0002 and 148 more")
    assert out[1]["evidence"] == "e0" and out[1]["remediation"] == "r0"


def flux_object(kind: str, name: str, *conds: dict[str, Any], spec: Any = None) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec or {},
            "status": {"conditions": list(conds)}}


def test_a_stalled_object_is_a_finding_and_not_a_crash() -> None:
    bad = flux_object("Kustomization", "bad", {"type": "Ready", "status": "False", "reason": "InvalidSpec",
                                               "message": "spec must be an object, not str"},
                      {"type": "Stalled", "status": "True", "reason": "InvalidSpec",
                       "message": "spec must be an object, not str"}, spec="garbage")
    found = diagnose(installed(objects={"Kustomization": [bad]}))
    assert [(f.id, f.object) for f in found] == [("stalled", "Kustomization/flux-system/bad")]
    assert found[0].evidence == "InvalidSpec: spec must be an object, not str"
