"""Every fault scenario yields the conditions, events and log lines real Flux yields for that failure,
and clearing it lets the cluster recover. One bootstrapped cluster serves the whole module; each test
clears its fault."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github, GithubException
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from fleetlab.faults.scenarios import SCENARIOS
from fleetlab.sandbox import Sandbox
from fleetlab.sandbox.server import github_token

from .conftest import REPO, new_cluster
from .fluxenv import FluxCluster, bootstrapped, wait_for


@pytest.fixture(scope="module")
def flux(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FluxCluster]:
    fc = bootstrapped(new_cluster(sandbox, "faults", tmp_path_factory.mktemp("faults")))
    healthy(fc)
    yield fc


def condition(obj: dict[str, Any] | None, kind: str = "Ready") -> dict[str, Any]:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def healthy(fc: FluxCluster) -> None:
    revision = f"main@sha1:{fc.head()}"
    wait_for("flux-system source at HEAD", lambda: condition(g := fc.get("GitRepository", "flux-system"))
             .get("status") == "True" and g["status"]["artifact"]["revision"] == revision)
    fc.request_reconcile("Kustomization", "flux-system")
    wait_for("flux-system applied HEAD", lambda: condition(k := fc.get("Kustomization", "flux-system"))
             .get("status") == "True" and k["status"].get("lastAppliedRevision") == revision)
    for name in ("source-controller", "kustomize-controller", "helm-controller", "notification-controller"):
        wait_for(f"{name} ready", lambda n=name: ((fc.get("Deployment", n) or {}).get("status") or {})
                 .get("readyReplicas") == 1)


def events(fc: FluxCluster, namespace: str = "flux-system") -> list[dict[str, Any]]:
    return json.loads(fc.c.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]


def logs(fc: FluxCluster, app: str) -> list[dict[str, Any]]:
    text = fc.c.kubectl("logs", "-n", "flux-system", "-l", f"app={app}", "--tail=-1")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def failing(fc: FluxCluster, kind: str, name: str, reason: str, text: str, ns: str = "flux-system") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = fc.get(kind, name, ns)
        cond = condition(obj)
        return obj if cond.get("status") == "False" and cond.get("reason") == reason and text in cond.get(
            "message", "") else None

    return wait_for(f"{kind}/{name} Ready=False {reason}", check)


def warned(fc: FluxCluster, kind: str, name: str, reason: str, text: str) -> None:
    wait_for(f"a Warning event {reason} on {kind}/{name}", lambda: any(
        e["type"] == "Warning" and e["reason"] == reason and e["involvedObject"]["name"] == name
        and e["involvedObject"]["kind"] == kind and text in e["message"] for e in events(fc)))


def logged(fc: FluxCluster, app: str, name: str, text: str) -> None:
    wait_for(f"an error log line about {name}", lambda: any(
        line["level"] == "error" and line.get("name") == name and text in line.get("error", "")
        for line in logs(fc, app)))


def test_every_scenario_has_a_test() -> None:
    tested = {n.removeprefix("test_").replace("_", "-") for n in globals() if n.startswith("test_")}
    assert set(SCENARIOS) <= tested


def test_deploy_key_revoked(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "deploy-key-revoked")
    text = "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"
    repo = failing(flux, "GitRepository", "flux-system", "GitOperationFailed", text)
    # a commit was observed before the key went: go-git lists the remote first, as real source-controller does
    assert condition(repo)["message"].startswith("failed to checkout and determine revision: unable to list remote for "
                                                 f"'ssh://git@github.com/{flux.owner}/{flux.repo}'")
    assert condition(repo, "Reconciling")["reason"] == "ProgressingWithRetry"
    warned(flux, "GitRepository", "flux-system", "GitOperationFailed", text)
    logged(flux, "source-controller", "flux-system", text)
    flux.c.sandbox.clear_fault(flux.c.id, "deploy-key-revoked")
    healthy(flux)


def test_known_hosts_mismatch(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "known-hosts-mismatch")
    text = "ssh: handshake failed: knownhosts: key mismatch"
    failing(flux, "GitRepository", "flux-system", "GitOperationFailed", text)
    warned(flux, "GitRepository", "flux-system", "GitOperationFailed", text)
    logged(flux, "source-controller", "flux-system", text)
    flux.c.sandbox.clear_fault(flux.c.id, "known-hosts-mismatch")
    healthy(flux)


def test_kustomize_build_error(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "kustomize-build-error")
    flux.request_reconcile("GitRepository", "flux-system")
    ks = failing(flux, "Kustomization", "fault-build-error", "BuildFailed", "kustomize build failed:")
    assert "deployment.yaml" in condition(ks)["message"]
    warned(flux, "Kustomization", "fault-build-error", "BuildFailed", "kustomize build failed:")
    logged(flux, "kustomize-controller", "fault-build-error", "kustomize build failed:")
    flux.c.sandbox.clear_fault(flux.c.id, "kustomize-build-error")
    wait_for("the faulty Kustomization gone", lambda: flux.get("Kustomization", "fault-build-error") is None)
    healthy(flux)


def test_missing_crd(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "missing-crd")
    flux.request_reconcile("GitRepository", "flux-system")
    text = 'Widget/default/gadget dry-run failed: no matches for kind "Widget" in version "example.com/v1"'
    failing(flux, "Kustomization", "fault-missing-crd", "ReconciliationFailed", text)
    warned(flux, "Kustomization", "fault-missing-crd", "ReconciliationFailed", text)
    flux.c.sandbox.clear_fault(flux.c.id, "missing-crd")
    healthy(flux)


def test_dependency_not_ready(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "dependency-not-ready")
    ks = failing(flux, "Kustomization", "fault-dependent", "DependencyNotReady", "fault-infrastructure")
    assert condition(ks)["message"] == ("dependency 'flux-system/fault-infrastructure' not found: "
                                        'kustomizations.kustomize.toolkit.fluxcd.io "fault-infrastructure" not found')
    wait_for("a Normal event DependencyNotReady", lambda: any(
        e["type"] == "Normal" and e["reason"] == "DependencyNotReady" and e["involvedObject"]["name"] ==
        "fault-dependent" and e["message"] == "Dependencies do not meet ready condition, retrying in 30s"
        for e in events(flux)))
    flux.c.sandbox.clear_fault(flux.c.id, "dependency-not-ready")
    wait_for("the dependent Kustomization gone", lambda: flux.get("Kustomization", "fault-dependent") is None)


def test_health_check_timeout(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "health-check-timeout")
    flux.request_reconcile("GitRepository", "flux-system")
    text = "timeout waiting for: [Deployment/default/fault-health status: 'InProgress']"
    ks = failing(flux, "Kustomization", "fault-health-check", "HealthCheckFailed", text)
    assert re.fullmatch(r"health check failed after [0-9.]+(ms|s): " + re.escape(text), condition(ks)["message"])
    assert condition(ks, "Healthy")["message"] == text and condition(ks, "Healthy")["status"] == "False"
    warned(flux, "Kustomization", "fault-health-check", "HealthCheckFailed", f": {text}")
    pod = k8s.CoreV1Api(flux.c.client).list_namespaced_pod("default", label_selector="app=fault-health").items[0]
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    flux.c.sandbox.clear_fault(flux.c.id, "health-check-timeout")
    wait_for("the Deployment removed", lambda: flux.get("Deployment", "fault-health", "default") is None)
    healthy(flux)


def test_helm_install_retries_exhausted(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "helm-install-retries-exhausted")
    hr = wait_for("the HelmRelease stalled", lambda: condition(h := flux.get("HelmRelease", "fault-release"), "Stalled")
                  .get("reason") == "RetriesExceeded" and h, timeout=60)
    assert condition(hr, "Stalled")["message"] == "Failed to install after 3 attempt(s)"
    assert condition(hr)["reason"] == "InstallFailed" and condition(hr)["status"] == "False"
    assert condition(hr)["message"].startswith("Helm install failed for release flux-system/fault-release with chart "
                                               "broken@1.0.0: server-side apply failed for object flux-system/"
                                               "fault-release apps/v1, Kind=Deployment: Deployment.apps "
                                               '"fault-release" is invalid: [spec.selector: Required value')
    warned(flux, "HelmRelease", "fault-release", "InstallFailed", "Helm install failed")
    flux.c.sandbox.clear_fault(flux.c.id, "helm-install-retries-exhausted")
    wait_for("the HelmRelease gone", lambda: flux.get("HelmRelease", "fault-release") is None)


def _manager_status(flux: FluxCluster, app: str) -> Any:
    pods = k8s.CoreV1Api(flux.c.client).list_namespaced_pod("flux-system", label_selector=f"app={app}").items
    return pods[0].status.container_statuses[0] if pods and pods[0].status.container_statuses else None


def test_controller_oomkilled(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "controller-oomkilled")
    status = wait_for("an OOMKilled restart", lambda: (s := _manager_status(flux, "kustomize-controller")) and
                      s.last_state and s.last_state.terminated and s.last_state.terminated.reason == "OOMKilled" and s)
    assert status.restart_count >= 1 and status.last_state.terminated.exit_code == 137
    flux.c.sandbox.clear_fault(flux.c.id, "controller-oomkilled")
    wait_for("a fresh pod", lambda: (s := _manager_status(flux, "kustomize-controller")) and s.restart_count == 0
             and s.ready)


def test_controller_crashloop(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "controller-crashloop")
    status = wait_for("CrashLoopBackOff", lambda: (s := _manager_status(flux, "helm-controller")) and s.state.waiting
                      and s.state.waiting.reason == "CrashLoopBackOff" and s)
    assert status.last_state.terminated.reason == "Error" and not status.ready
    wait_for("the Deployment unavailable", lambda: not (flux.get("Deployment", "helm-controller")["status"]
                                                        .get("readyReplicas")))
    lines = flux.c.kubectl("logs", "-n", "flux-system", "-l", "app=helm-controller")
    assert 'invalid argument "four" for "--concurrent" flag' in lines  # the flag committed to Git
    flux.c.sandbox.clear_fault(flux.c.id, "controller-crashloop")
    healthy(flux)


def test_suspended_kustomization(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "suspended-kustomization")
    assert flux.get("Kustomization", "flux-system")["spec"]["suspend"] is True
    flux.c.sandbox.clear_fault(flux.c.id, "suspended-kustomization")
    assert flux.get("Kustomization", "flux-system")["spec"]["suspend"] is False
    healthy(flux)


def test_stale_revision(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "stale-revision")
    head = flux.head()
    repo = flux.get("GitRepository", "flux-system")
    assert repo["spec"]["interval"] == "1h0m0s"  # set in Git: the cluster polls hourly, so it is behind the head
    assert repo["status"]["artifact"]["revision"] != f"main@sha1:{head}"
    assert condition(repo)["status"] == "True"
    flux.c.sandbox.clear_fault(flux.c.id, "stale-revision")
    healthy(flux)


def test_api_flaky(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "api-flaky")
    v1 = k8s.CoreV1Api(flux.c.client)
    import time

    time.sleep(0.6)
    codes = []
    for _ in range(12):
        try:
            v1.list_namespace(_request_timeout=10)
            codes.append(200)
        except ApiException as e:
            codes.append(e.status)
    assert 503 in codes and 500 in codes and 200 in codes
    flux.c.sandbox.clear_fault(flux.c.id, "api-flaky")
    time.sleep(0.6)
    assert all(v1.list_namespace() for _ in range(8))


def test_github_rate_limited(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "github-rate-limited")
    g = Github(base_url=flux.c.sandbox.github_api_url, auth=Auth.Token(github_token(flux.c.sandbox.home)), retry=None,
               seconds_between_requests=None, seconds_between_writes=None)
    with pytest.raises(GithubException) as info:
        g.get_repo(f"{flux.owner}/{flux.repo}")
    assert info.value.status == 403 and "API rate limit exceeded" in info.value.data["message"]
    assert info.value.headers.get("x-ratelimit-remaining") == "0"
    flux.c.sandbox.clear_fault(flux.c.id, "github-rate-limited")
    assert g.get_repo(f"{flux.owner}/{flux.repo}").name == flux.repo


def test_fault_cli(flux: FluxCluster, tmp_path: Path) -> None:
    env = {**os.environ, "FLEET_HOME": str(flux.c.sandbox.home)}
    (tmp_path / "parameters" / "faults").mkdir(parents=True)
    (tmp_path / "parameters" / "defaults.yaml").write_text((REPO / "parameters" / "defaults.yaml").read_text())
    (tmp_path / "parameters" / "faults" / f"{flux.c.id.cluster}.yaml").write_text("target: sandbox\n")
    env["FLEET_ROOT"] = str(tmp_path)

    def fleet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fleetlib", "sandbox", "fault", *args], env=env,
                              capture_output=True, text=True, check=False, timeout=60)

    assert "deploy-key-revoked" in fleet("--list").stdout
    bad = fleet("--stage", "faults", "--cluster", flux.c.id.cluster, "no-such-fault")
    assert bad.returncode == 2 and "unknown fault scenario 'no-such-fault'" in bad.stderr
    done = fleet("--stage", "faults", "--cluster", flux.c.id.cluster, "suspended-kustomization")
    assert done.returncode == 0 and "injected suspended-kustomization" in done.stdout
    assert flux.get("Kustomization", "flux-system")["spec"]["suspend"] is True
    done = fleet("--stage", "faults", "--cluster", flux.c.id.cluster, "--clear")
    assert done.returncode == 0 and "cleared on sandbox cluster faults/" in done.stdout
    assert flux.get("Kustomization", "flux-system")["spec"]["suspend"] is False
