"""The upgrade runbook: its Git migration held against the real `flux migrate -f` (the v2.9.2 CLI built from the
module), and on the sandbox a cluster bootstrapped at Flux v2.5.1, whose folder holds a v1beta2 HelmRepository and
OCIRepository, taken to v2.9.2: refused straight (Kubernetes would refuse v2.9.2's OCIRepository CRD), then through
v2.6.4, every Flux object Ready afterwards and no deprecated version left in Git or in storage."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleetlab.local.build import build, cache_dir
from fleetlab.release.built import install_yaml
from fleetlab.versions import LOCAL, flux_cli
from fleetlib.cli import main
from fleetlib.record import read_records
from fleetlib.upgrade.apis import migrate_text, release_apis

from .conftest import REPO, fleet_with_cluster, run_runbook

CLUSTER = "upgrade-me"
LEGACY = """# sources the team wrote in 2024
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata:
  name: legacy-charts
  namespace: flux-system
spec:
  interval: 10m
  url: http://charts.fleet.internal/
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  namespace: flux-system
data:
  apiVersion: source.toolkit.fluxcd.io/v1beta2
---
apiVersion: source.toolkit.fluxcd.io/v1beta2  # the chart as an OCI artifact
kind: OCIRepository
metadata:
  name: legacy-oci
  namespace: flux-system
spec:
  interval: 10m
  url: oci://registry.fleet.internal/charts/hello
  insecure: true
  ref:
    tag: 0.1.0
"""
KIND_FIRST = """kind: Kustomization
apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
metadata:
  name: apps
spec:
  path: ./apps
"""


@pytest.fixture(scope="module")
def built() -> None:
    build(cache_dir(), LOCAL, say=print)  # cached: the flux CLIs and the v2.9.2 release the sandbox serves


def test_the_git_migration_writes_what_the_real_flux_migrate_writes(built: None, tmp_path: Path) -> None:
    """Byte for byte, comments and non-Flux documents kept; one difference: the real command migrates an object only
    when `kind:` is the line after `apiVersion:` (flux2 v2.9.2 cmd/flux/migrate.go), and leaves a kind-first
    Kustomization at v1beta2, which v2.9.2 does not serve; ours moves it too."""
    for name, text in (("sources.yaml", LEGACY), ("apps.yaml", KIND_FIRST)):
        (tmp_path / "repo").mkdir(exist_ok=True)
        (tmp_path / "repo" / name).write_text(text)
    done = subprocess.run([str(flux_cli(LOCAL.flux.version)), "migrate", "-f", "repo", "--yes"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    apis = release_apis(install_yaml())
    assert migrate_text(LEGACY, apis) == (tmp_path / "repo" / "sources.yaml").read_text()
    assert (tmp_path / "repo" / "apps.yaml").read_text() == KIND_FIRST  # the real command leaves it
    assert migrate_text(KIND_FIRST, apis) == KIND_FIRST.replace("/v1beta2", "/v1")


@pytest.fixture(scope="module")
def env(built: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return fleet_with_cluster(tmp_path_factory.mktemp("upgrade-fleet"), CLUSTER)


def papermill(env: dict[str, str], runbook: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_runbook(env, CLUSTER, runbook, out, *args)


def test_a_cluster_at_v2_5_1_is_upgraded_to_v2_9_2_through_v2_6_4(env: dict[str, str], tmp_path: Path) -> None:
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub

    done = papermill(env, "bootstrap", tmp_path / "bootstrap.ipynb")
    assert done.returncode == 0, done.stderr[-3000:]
    home = Path(env["FLEET_HOME"])
    assert main(["oci", "push", str(REPO / "charts" / "hello"), "--chart", "--repository", "charts/hello"]) == 0
    repo = Hub(sandbox_root(home) / "github", token=github_token(home)).bare("JiwooL0920", CLUSTER)
    sources = "clusters/stages/dev/clusters/upgrade-me/sources.yaml"
    repo.commit_files("main", {sources: LEGACY.encode()}, message="legacy sources", author=("ops", "ops@x.org"))

    def run(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        out = tmp_path / f"upgrade-{len(list(tmp_path.iterdir()))}.ipynb"
        done = papermill(env, "upgrade", out, *args)
        return done, (read_records(out).get("upgrade") or {}) if out.exists() else {}

    shown, record = run()
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert {(r["object"], r["version"], r["state"]) for r in record["git"]} == {
        ("HelmRepository/flux-system/legacy-charts", "v1beta2", "removed in v2.9.2"),
        ("OCIRepository/flux-system/legacy-oci", "v1beta2", "removed in v2.9.2")}
    assert [(r["kind"], r["stored"], r["state"]) for r in record["storage"]] == [
        ("OCIRepository", "v1beta2", "removed in v2.9.2")]

    unserved, _ = run("-p", "to_version", "v2.7.0")  # a real release the stand-ins do not serve
    assert unserved.returncode != 0
    text = " ".join(unserved.stdout.split() + unserved.stderr.split())
    assert "downloading the Flux v2.7.0 release manifests" in text and "the stand-ins serve Flux v2.5.1, v2.6.4" in text

    refused, _ = run("-p", "apply", "commit")
    assert refused.returncode != 0
    text = " ".join(refused.stdout.split() + refused.stderr.split())
    assert ('OCIRepository v1beta2 stays stored, and Flux v2.9.2\'s CRDs do not serve it: Kubernetes refuses them '
            '(status.storedVersions[0]: Invalid value: "v1beta2": must appear in spec.versions)') in text
    assert "-y 'via: [v2.6.4]'" in text

    upgraded, record = run("-y", "via: [v2.6.4]", "-p", "apply", "commit")
    assert upgraded.returncode == 0, upgraded.stderr[-4000:]
    assert record["status"] == "upgraded" and [d["version"] for d in record["done"]] == ["v2.6.4", "v2.9.2"]
    assert record["git"] == [] and record["storage"] == []  # no deprecated version left in Git or in storage
    assert "every Flux object is Ready at its generation" in " ".join((upgraded.stdout + upgraded.stderr).split())
    assert any("not back to v2.5.1" in line for line in record["rollback"])
    head = repo.branch_sha("main") or "main"
    entry = repo.entry(head, sources)
    assert entry is not None
    assert [line for line in repo.blob(entry.sha).decode().splitlines() if line.startswith("apiVersion:")] == [
        "apiVersion: source.toolkit.fluxcd.io/v1", "apiVersion: v1",
        "apiVersion: source.toolkit.fluxcd.io/v1  # the chart as an OCI artifact"]

    again, record = run("-p", "apply", "commit")
    assert again.returncode == 0 and record["status"] == "up to date"
