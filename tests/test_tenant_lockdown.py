"""The tenants runbook's `-p lockdown True` on the sandbox: refused while a HelmRelease without a service account
would lose its rights, then written as fluxcd/flux2-multi-tenancy writes it (three controller flags and the
flux-system sync's serviceAccountName), applied by the cluster, the tenant onboarded under it, and a second run
up to date."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleetlib.kube import connect
from fleetlib.parameters import Catalog
from fleetlib.record import read_records

from .conftest import fleet_with_cluster, run_runbook

CLUSTER = "locked"
TEAM = "locked-team"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return fleet_with_cluster(tmp_path_factory.mktemp("lockdown-fleet"), CLUSTER)


def papermill(env: dict[str, str], runbook: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_runbook(env, CLUSTER, runbook, out, *args)


def test_the_lockdown_is_refused_then_written_and_the_tenant_works_under_it(env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub

    home = Path(env["FLEET_HOME"])
    assert papermill(env, "bootstrap", tmp_path / "b.ipynb").returncode == 0
    hub = Hub(sandbox_root(home) / "github", token=github_token(home))
    hub.create_repo("JiwooL0920", TEAM, private=True)
    hub.bare("JiwooL0920", TEAM).commit_files(
        "main", {"settings.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {TEAM}\n"
                                  "data:\n  a: b\n".encode()}, message="settings", author=("dev", "dev@x.org"))
    app = ("-p", "app", "plain", "-p", "chart", "hello", "-p", "apply", "commit")
    assert papermill(env, "add-app", tmp_path / "a.ipynb", *app).returncode == 0
    tenant = ("-p", "tenant", TEAM, "-p", "lockdown", "True", "-p", "apply", "commit")

    def run(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        out = tmp_path / f"t-{len(list(tmp_path.iterdir()))}.ipynb"
        done = papermill(env, "tenants", out, *args)
        return done, (read_records(out).get("tenant") or {}) if done.returncode == 0 else {}

    refused, _ = run(*tenant)
    text = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0
    assert ("the lockdown would make HelmRelease/flux-system/plain act as their namespace's default service account: "
            "give them serviceAccountName first") in text
    assert papermill(env, "add-app", tmp_path / "r.ipynb", *app, "-p", "remove", "True").returncode == 0

    done, record = run(*tenant)
    assert done.returncode == 0, done.stderr[-3000:]
    assert record["status"] == "committed" and all(c["allowed"] == c["expected"] for c in record["fence"])
    repo = hub.bare("JiwooL0920", CLUSTER)
    entry = repo.entry(repo.branch_sha("main") or "main", "clusters/stages/dev/clusters/locked/flux-system/"
                                                          "kustomization.yaml")
    assert entry is not None
    written = repo.blob(entry.sha).decode()
    for needle in ("--no-cross-namespace-refs=true", "--no-remote-bases=true", "--default-service-account=default",
                   "path: /spec/serviceAccountName"):
        assert needle in written, needle
    kube = connect(Catalog.load(Path(env["FLEET_ROOT"])).resolve(CLUSTER, stage="dev"), home=home)
    args = kube.get("apps/v1", "Deployment", "flux-system", "kustomize-controller")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert {"--no-cross-namespace-refs=true", "--no-remote-bases=true", "--default-service-account=default"} <= set(args)
    sync = kube.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "flux-system")
    assert sync["spec"]["serviceAccountName"] == "kustomize-controller"
    assert kube.get("v1", "ConfigMap", TEAM, "settings") is not None  # the team's, applied as the team

    again, record = run(*tenant)
    assert again.returncode == 0 and record["status"] == "up to date" and record["lockdown_missing"] == []
