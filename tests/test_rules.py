"""Diagnosis rules on hand-built facts: no cluster, just the facts a rule reads, and the finding it must give."""

from __future__ import annotations

from typing import Any

import pytest

from fleetlib.troubleshoot.diagnose import CATCH_ALL, RULES, diagnose, grouped
from fleetlib.troubleshoot.facts import FLUX_CRDS, ClusterFacts

COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


def crd(name: str) -> dict[str, Any]:
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name}}


def deployment(name: str, ready: int = 1) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": "flux-system"}, "spec": {"replicas": 1},
            "status": {"readyReplicas": ready} if ready else {}}


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
    # every distinct remediation is named (each stale source its own command), up to three and a count
    assert out[1]["evidence"] == "e0" and out[1]["remediation"] == "r0; r1; r2; and 148 more (see the record)"
    same = grouped([{**rows[1], "object": f"o{i}", "remediation": "r"} for i in range(5)])
    assert same[0]["remediation"] == "r"


def test_a_grouped_dependency_row_names_every_dependency() -> None:
    objs = [flux_object("Kustomization", f"app-{i}", ready_false("DependencyNotReady", f"dependency 'flux-system/"
                        f"infra-{i % 2}' is not ready"), spec={"dependsOn": [{"name": f"infra-{i % 2}"}]})
            for i in range(6)]
    rows = grouped([f.as_dict() for f in diagnose(installed(objects={"Kustomization": objs}))])
    assert len(rows) == 1 and rows[0]["count"] == 6
    assert "flux-system/infra-0" in rows[0]["remediation"] and "flux-system/infra-1" in rows[0]["remediation"]


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


# --- one case per rule: the facts a rule reads, and the finding it must give --------------------------------

READY_FALSE = {"type": "Ready", "status": "False"}


def ready_false(reason: str, message: str) -> dict[str, Any]:
    return {**READY_FALSE, "reason": reason, "message": message}


def git_repository(name: str, *conds: dict[str, Any], revision: str = "") -> dict[str, Any]:
    obj = flux_object("GitRepository", name, *conds, spec={"url": "ssh://git@github.com/o/r", "secretRef": {"name": name}})
    if revision:
        obj["status"]["artifact"] = {"revision": revision}
    return obj


def pod(app: str, container_status: dict[str, Any], memory: str = "1Gi") -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": f"{app}-abc", "namespace": "flux-system", "labels": {"app": app}},
            "spec": {"containers": [{"name": "manager", "resources": {"limits": {"memory": memory}}}]},
            "status": {"containerStatuses": [{"name": "manager", "restartCount": 4, **container_status}]}}


def helm_release(name: str, *conds: dict[str, Any]) -> dict[str, Any]:
    return flux_object("HelmRelease", name, *conds, spec={"chart": {"spec": {"chart": "c", "sourceRef": {
        "kind": "HelmRepository", "name": "charts"}}}})


CASES: dict[str, tuple[ClusterFacts, tuple[str, str, str]]] = {
    "api-unreachable": (installed(unreachable="connection refused"),
                        ("critical", "cluster dev/services-amer", "connection refused")),
    "flux-not-installed": (installed(namespace_present=False, crds=[], deployments=[]),
                           ("critical", "cluster dev/services-amer", "no namespace flux-system")),
    "flux-partially-installed": (installed(deployments=[deployment(c) for c in COMPONENTS[:3]]),
                                 ("error", "cluster dev/services-amer", "controllers missing: notification-controller")),
    "controller-crashloop": (installed(pods=[pod("helm-controller", {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 2}}})]),
        ("critical", "Deployment/flux-system/helm-controller", "last exit Error (2), 4 restarts")),
    "controller-oomkilled": (installed(pods=[pod("kustomize-controller", {
        "state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}, "20Mi")]),
        ("error", "Deployment/flux-system/kustomize-controller", "memory limit 20Mi")),
    "source-auth-failed": (installed(objects={"GitRepository": [git_repository("flux-system", ready_false(
        "GitOperationFailed", "failed to checkout and determine revision: unable to authenticate"))]}),
        ("error", "GitRepository/flux-system/flux-system", "unable to authenticate")),
    "known-hosts-mismatch": (installed(objects={"GitRepository": [git_repository("flux-system", ready_false(
        "GitOperationFailed", "ssh: handshake failed: knownhosts: key mismatch"))]}),
        ("error", "GitRepository/flux-system/flux-system", "knownhosts: key mismatch")),
    "kustomize-build-failed": (installed(objects={"Kustomization": [flux_object("Kustomization", "apps", ready_false(
        "BuildFailed", "kustomize build failed: accumulating resources"))]}),
        ("error", "Kustomization/flux-system/apps", "kustomize build failed")),
    "crd-missing": (installed(objects={"Kustomization": [flux_object("Kustomization", "apps", ready_false(
        "ReconciliationFailed", 'Widget/x/y dry-run failed: no matches for kind "Widget" in version "w/v1"'))]}),
        ("error", "Kustomization/flux-system/apps", "no matches for kind")),
    "api-version-not-served": (installed(
        crds=[{"kind": "CustomResourceDefinition", "metadata": {"name": "helmrepositories.source.toolkit.fluxcd.io"},
               "spec": {"group": "source.toolkit.fluxcd.io", "names": {"kind": "HelmRepository"},
                        "versions": [{"name": "v1", "served": True}]}}],
        objects={"Kustomization": [flux_object("Kustomization", "apps", ready_false(
            "ReconciliationFailed", 'HelmRepository/apps/charts dry-run failed: no matches for kind "HelmRepository" '
                                    'in version "source.toolkit.fluxcd.io/v1beta1"'))]}),
        ("error", "Kustomization/flux-system/apps", 'in version "source.toolkit.fluxcd.io/v1beta1"')),
    "rbac-refused": (installed(objects={"Kustomization": [flux_object("Kustomization", "dev-team", ready_false(
        "ReconciliationFailed", 'ConfigMap/kube-system/escape dry-run failed (Forbidden): configmaps "escape" is '
        'forbidden: User "system:serviceaccount:apps:dev-team" cannot patch resource "configmaps" in API group "" in '
        'the namespace "kube-system"'), spec={"serviceAccountName": "dev-team"})]}),
        ("error", "Kustomization/flux-system/dev-team", 'User "system:serviceaccount:apps:dev-team" cannot patch')),
    "cross-namespace-ref-blocked": (installed(objects={"Kustomization": [flux_object("Kustomization", "cross",
        ready_false("AccessDenied", "can't access 'GitRepository/flux-system/flux-system', cross-namespace "
                                    "references have been blocked"))]}),
        ("error", "Kustomization/flux-system/cross", "cross-namespace references have been blocked")),
    "sandbox-unsupported": (installed(objects={"Kustomization": [flux_object("Kustomization", "secrets", {
        "type": "Unsupported", "status": "True", "reason": "NotImplementedInSandbox",
        "message": "the sandbox does not implement spec.decryption (SOPS decryption of Secrets): ..."})]}),
        ("warning", "Kustomization/flux-system/secrets", "spec.decryption")),
    "health-check-failed": (installed(objects={"Kustomization": [flux_object("Kustomization", "apps", ready_false(
        "HealthCheckFailed", "health check failed after 1m0s: timeout waiting for: [Deployment/apps/web status: "
        "'InProgress']"))]}), ("error", "Kustomization/flux-system/apps", "health check failed after 1m0s")),
    "helm-retries-exhausted": (installed(objects={"HelmRelease": [helm_release("web", ready_false(
        "InstallFailed", "Helm install failed"), {"type": "Stalled", "status": "True", "reason": "RetriesExceeded",
                                                  "message": "Failed to install after 3 attempt(s)"})]}),
        ("error", "HelmRelease/flux-system/web", "Failed to install after 3 attempt(s)")),
    "dependency-not-ready": (installed(objects={"Kustomization": [flux_object(
        "Kustomization", "apps", ready_false("DependencyNotReady", "dependency 'flux-system/infra' is not ready"),
        spec={"dependsOn": [{"name": "infra"}]})]}),
        ("warning", "Kustomization/flux-system/apps", "dependency 'flux-system/infra' is not ready")),
    "suspended": (installed(objects={"Kustomization": [flux_object("Kustomization", "apps", spec={"suspend": True})]}),
                  ("warning", "Kustomization/flux-system/apps", "spec.suspend: true")),
    "stale-revision": (installed(objects={"GitRepository": [git_repository(
        "flux-system", {"type": "Ready", "status": "True"}, revision="main@sha1:" + "a" * 40)]},
        heads={"flux-system/flux-system": "b" * 40}),
        ("warning", "GitRepository/flux-system/flux-system", "the repository branch is at bbbbbbbbbbbb")),
    "github-rate-limited": (installed(github_error="reading heads: GitHub answered 403 API rate limit exceeded"),
                            ("warning", "cluster dev/services-amer", "rate limit")),
    "github-unavailable": (installed(github_error="reading heads: no token in GITHUB_TOKEN"),
                           ("info", "cluster dev/services-amer", "no token")),
    "stalled": (installed(objects={"Kustomization": [flux_object("Kustomization", "bad", {
        "type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "spec.interval is not a duration"})]}),
        ("error", "Kustomization/flux-system/bad", "InvalidSpec: spec.interval is not a duration")),
    "controller-not-ready": (installed(
        deployments=[deployment(c, ready=int(c != "source-controller")) for c in COMPONENTS],
        pods=[pod("source-controller", {"state": {"running": {}}, "ready": False, "restartCount": 0})]),
        ("error", "Deployment/flux-system/source-controller", "0/1 replicas ready; running, not ready, 0 restarts")),
    "reconcile-failed": (installed(objects={"HelmRelease": [helm_release("web", ready_false(
        "InstallFailed", "Helm install failed for release apps/web: timed out"))]}),
        ("error", "HelmRelease/flux-system/web", "Helm install failed")),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES) | set(CATCH_ALL)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_rule_on_hand_built_facts(rule_id: str) -> None:
    facts, (severity, obj, evidence) = CASES[rule_id]
    found = [f for f in diagnose(facts) if f.id == rule_id]
    assert [(f.severity, f.object) for f in found] == [(severity, obj)]
    assert evidence in found[0].evidence and found[0].cause and found[0].remediation


@pytest.mark.parametrize(("state", "ready", "restarts", "finished", "looping"), [
    ({"running": {"startedAt": "2026-12-06T06:00:58Z"}}, False, 4, "2026-12-06T06:00:50Z", True),  # just restarted
    ({"terminated": {"reason": "Error", "exitCode": 2}}, False, 4, "2026-12-06T06:00:50Z", True),  # exited again
    # the first restart after the first failed exit (CI saw this one between two troubleshoot runs)
    ({"running": {"startedAt": "2026-12-06T06:00:58Z"}}, False, 1, "2026-12-06T06:00:48Z", True),
    ({"running": {"startedAt": "2026-12-06T06:00:58Z"}}, True, 4, "2026-12-06T06:00:50Z", False),  # came up this time
    ({"running": {"startedAt": "2026-12-06T05:00:00Z"}}, False, 4, "2026-12-06T04:59:50Z", False),  # an hour ago
])
def test_a_crash_loop_between_two_back_offs_is_still_one(state: dict[str, Any], ready: bool, restarts: int,
                                                          finished: str, looping: bool) -> None:
    """The kubelet shows the container running (or terminated) for a moment each time it restarts it: a crash
    loop is also a restart after a recent failed exit, not ready. Whatever the rule says, the Deployment not
    ready is a finding."""
    status = {"state": state, "ready": ready, "restartCount": restarts,
              "lastState": {"terminated": {"reason": "Error", "exitCode": 2, "finishedAt": finished}}}
    facts = installed(pods=[pod("helm-controller", status)], now=1796536860.0,  # 2026-12-06T06:01:00Z
                      deployments=[deployment(c, ready=int(ready or c != "helm-controller")) for c in COMPONENTS])
    found = [f.id for f in diagnose(facts)]
    assert found == (["controller-crashloop"] if looping else [] if ready else ["controller-not-ready"])


@pytest.mark.parametrize(("replicas", "ready"), [(0, 0), (1, 2)])  # scaled to 0; a rollout's surge
def test_a_controller_with_the_replicas_it_asks_for_ready_is_ready(replicas: int, ready: int) -> None:
    helm = {**deployment("helm-controller", ready=ready), "spec": {"replicas": replicas}}
    assert diagnose(installed(deployments=[*(deployment(c) for c in COMPONENTS[:2]), helm,
                                           deployment(COMPONENTS[3])])) == []


def test_the_catch_all_sees_only_what_no_rule_claimed() -> None:
    auth = git_repository("flux-system", ready_false("GitOperationFailed", "unable to authenticate"),
                          {"type": "Stalled", "status": "True", "reason": "AuthFailed", "message": "x"})
    facts = installed(objects={"GitRepository": [auth]})
    assert [f.id for f in diagnose(facts)] == ["source-auth-failed"]  # neither stalled nor reconcile-failed


def test_a_consumer_of_a_failing_source_is_its_symptom() -> None:
    source = git_repository("apps-repo", ready_false("GitOperationFailed", "unable to authenticate"))
    apps = flux_object("Kustomization", "apps", ready_false("ArtifactFailed", "Source artifact not found"),
                       spec={"sourceRef": {"kind": "GitRepository", "name": "apps-repo"}})
    found = diagnose(installed(objects={"GitRepository": [source], "Kustomization": [apps]}))
    assert [(f.id, f.symptom_of) for f in found] == [
        ("source-auth-failed", None), ("reconcile-failed", "GitRepository/flux-system/apps-repo")]


def test_a_dependency_chain_links_to_its_root_and_a_cycle_stays_roots() -> None:
    def ks(name: str, depends: str, reason: str = "DependencyNotReady") -> dict[str, Any]:
        return flux_object("Kustomization", name, ready_false(reason, f"dependency 'flux-system/{depends}' is not ready"),
                           spec={"dependsOn": [{"name": depends}]})
    infra = flux_object("Kustomization", "infra", ready_false("BuildFailed", "kustomize build failed"))
    found = diagnose(installed(objects={"Kustomization": [ks("apps", "configs"), ks("configs", "infra"), infra]}))
    assert {f.object: f.symptom_of for f in found} == {
        "Kustomization/flux-system/infra": None, "Kustomization/flux-system/configs": "Kustomization/flux-system/infra",
        "Kustomization/flux-system/apps": "Kustomization/flux-system/infra"}
    assert found[0].id == "kustomize-build-failed"
    loop = diagnose(installed(objects={"Kustomization": [ks("a", "b"), ks("b", "a")]}))
    assert [f.symptom_of for f in loop] == [None, None]


def test_a_health_check_waiting_on_a_failing_release_is_its_symptom() -> None:
    release = helm_release("web", ready_false("InstallFailed", "Helm install failed"),
                           {"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "gave up"})
    parent = flux_object("Kustomization", "apps", ready_false("HealthCheckFailed", "health check failed after 5m0s"))
    parent["status"]["inventory"] = {"entries": [{"id": "flux-system_web_helm.toolkit.fluxcd.io_HelmRelease", "v": "v2"},
                                                 {"id": "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization",
                                                  "v": "v1"}]}
    found = diagnose(installed(objects={"HelmRelease": [release], "Kustomization": [parent]}))
    assert [(f.id, f.symptom_of) for f in found] == [
        ("helm-retries-exhausted", None), ("health-check-failed", "HelmRelease/flux-system/web")]


def event(kind: str, name: str, type_: str, reason: str, message: str, at: str) -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": name, "namespace": "flux-system"}, "type": type_,
            "reason": reason, "message": message, "lastTimestamp": at}


RETRYING = {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress"}


def test_a_failure_that_has_shown_stays_found_while_the_controller_retries() -> None:
    ks = flux_object("Kustomization", "apps", RETRYING)
    failed = event("Kustomization", "apps", "Warning", "HealthCheckFailed", "health check failed after 1m0s: timeout "
                   "waiting for: [Deployment/apps/web status: 'InProgress']", "2026-12-05T10:00:00Z")
    earlier = event("Kustomization", "apps", "Normal", "ReconciliationSucceeded", "Applied revision", "2026-12-05T09:00:00Z")
    found = diagnose(installed(objects={"Kustomization": [ks]}, events=[earlier, failed]))
    assert [(f.id, f.object) for f in found] == [("health-check-failed", "Kustomization/flux-system/apps")]
    assert found[0].evidence == failed["message"]
    recovered = event("Kustomization", "apps", "Normal", "ReconciliationSucceeded", "Applied revision",
                      "2026-12-05T10:05:00Z")
    assert diagnose(installed(objects={"Kustomization": [ks]}, events=[failed, recovered])) == []


def test_a_source_behind_a_commit_younger_than_its_interval_is_lag_not_a_fault() -> None:
    """Right after a push (a cluster sharing the branch committed): Flux has not polled yet; info, not warning."""
    repo = git_repository("flux-system", {"type": "Ready", "status": "True"}, revision="main@sha1:" + "a" * 40)
    head = {"flux-system/flux-system": "b" * 40}
    young = diagnose(installed(objects={"GitRepository": [repo]}, heads=head, now=1000.0,
                               head_times={"flux-system/flux-system": 1000.0 - 30}))
    assert [(f.id, f.severity) for f in young] == [("stale-revision", "info")] and "normal Flux lag" in young[0].cause
    old = diagnose(installed(objects={"GitRepository": [repo]}, heads=head, now=1000.0,
                             head_times={"flux-system/flux-system": 1000.0 - 60 - 61}))  # interval 1m + the grace
    assert [(f.id, f.severity) for f in old] == [("stale-revision", "warning")]


def test_kinds_without_a_ready_condition_are_not_counted_as_not_ready() -> None:
    from fleetlib.troubleshoot.flow import summary

    alert = {"kind": "Alert", "metadata": {"name": "a", "namespace": "flux-system"}, "spec": {}, "status": {}}
    facts = installed(objects={"Alert": [alert], "Provider": [{**alert, "kind": "Provider"}],
                               "Kustomization": [flux_object("Kustomization", "apps")]})
    kinds = summary(facts, [])["kinds"]
    assert kinds["Alert"]["not_ready"] == 0 and kinds["Provider"]["not_ready"] == 0
    assert kinds["Kustomization"]["not_ready"] == 1
