"""The `fleet` CLI: listing, parameters, scaffolding, repo checks, and bad input (exit 2, one line,
nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fleetlib.cli import main, papermill_value

from .conftest import REPO, tree_state


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clusters_lists_the_four_shipped_clusters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "clusters")
    lines = out.strip().splitlines()
    assert code == 0
    assert lines[0].split() == ["STAGE", "CLUSTER", "TARGET", "CONTEXT", "REPOSITORY", "PATH", "FLUX"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("dev", "other-dev-cluster"), ("dev", "services-amer"), ("prod", "services-amer"), ("staging", "services-amer")]
    amer = rows[1]
    # the context every tool uses on the sandbox (the parameters' kind-services-amer is the one a live run would use)
    assert amer == ["dev", "services-amer", "sandbox", "sandbox-dev-services-amer", "JiwooL0920/fleet-infra@main",
                    "./clusters/stages/dev/clusters/services-amer", "v2.5.1"]


def test_clusters_by_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "clusters", "--stage", "prod")
    assert code == 0 and len(out.strip().splitlines()) == 2 and "prod" in out


def test_params_prints_resolved_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "params", "services-amer")
    data = yaml.safe_load(out)
    assert code == 0
    assert data["context"] == "kind-services-amer" and data["owner"] == "JiwooL0920"
    assert data["path"] == "./clusters/stages/dev/clusters/services-amer"
    assert data["resources"]["source-controller"]["requests"] == {"cpu": "50m", "memory": "64Mi"}


def test_params_overrides_merge_in_papermill_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "o.yaml"
    f.write_text("branch: from-file\nprune: false\n")
    code, out, _ = run(capsys, "params", "services-amer", "--stage", "staging",
                       "-f", str(f), "-y", "branch: from-yaml", "-p", "branch", "from-p")
    data = yaml.safe_load(out)
    assert code == 0 and data["stage"] == "staging"
    assert data["branch"] == "from-p" and data["prune"] is False


@pytest.mark.parametrize(
    ("text", "value"), [("True", True), ("False", False), ("None", None), ("3", 3), ("1.5", 1.5), ("main", "main")])
def test_p_values_resolve_like_papermill(text: str, value: object) -> None:
    assert papermill_value(text) == value


def _break(root: Path, rel: str, text: str | None) -> None:
    path = root / "parameters" / rel
    if text is None:
        path.unlink()
    else:
        path.write_text(text)


BAD_INPUTS = [
    # (argv, file to break, its new text, what the one-line error must contain)
    (["params", "services-amer", "-p", "brnach", "x"], None, None, "-p: key 'brnach': unknown key"),
    (["params", "services-amer", "-p", "prune", "7"], None, None, "-p: key 'prune': must be true or false, not int"),
    (["params", "Services_Amer"], None, None, "cluster name 'Services_Amer' is not a DNS-1123 label"),
    (["params", "../services-amer"], None, None, "cluster name '../services-amer' is not a DNS-1123 label"),
    (["params", "services-amer", "--stage", "../dev"], None, None, "stage name '../dev' is not a DNS-1123 label"),
    (["params", "nowhere"], None, None, "unknown cluster 'nowhere'; known clusters: dev/other-dev-cluster"),
    (["params", "edge"], "staging/edge.yaml", "target: sandbox\n", "cluster 'edge' exists in stages prod, staging"),
    (["params", "services-amer"], "dev/services-amer.yaml", "target: [sandbox\n",
     "parameters/dev/services-amer.yaml: malformed YAML at line"),
    (["params", "services-amer", "-f", "missing.yaml"], None, None, "-f missing.yaml: no such file"),
    (["params", "services-amer"], "dev/services-amer.yaml", "", "parameters/dev/services-amer.yaml: is empty"),
    (["params", "services-amer", "-p", "token", "abc"], None, None, "-p: key 'token': secrets are never parameter values"),
    (["params", "services-amer"], "dev/services-amer.yaml", "target: live\ncontext: null\n",
     "parameters/dev/services-amer.yaml: target 'live' needs a kube context"),
    (["params", "services-amer"], "defaults.yaml", None, "parameters/defaults.yaml: no such file"),
    (["params", "services-amer", "-y", "interval: [1m"], None, None, "-y: malformed YAML"),
    (["scaffold", "--stage", "dev", "--cluster", "services-amer"], None, None, "already exists"),
    (["scaffold", "--stage", "dev", "--cluster", "x/../../etc"], None, None, "not a DNS-1123 label"),
    (["scaffold", "--stage", "dev", "--cluster", "new-one", "--like", "dev/nowhere"], None, None, "unknown cluster"),
]


@pytest.mark.parametrize(("argv", "rel", "text", "message"), BAD_INPUTS, ids=[m[:40] for *_, m in BAD_INPUTS])
def test_bad_input_one_line_exit_2_nothing_written(
    capsys: pytest.CaptureFixture[str], fleet_copy: Path, home: Path, argv: list[str], rel: str | None,
    text: str | None, message: str,
) -> None:
    if rel is not None:
        if rel == "staging/edge.yaml":
            _break(fleet_copy, "prod/edge.yaml", text)
        _break(fleet_copy, rel, text)
    before = tree_state(fleet_copy, home)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("fleet: error: ")
    assert message in err
    assert tree_state(fleet_copy, home) == before


def test_console_script_exit_code_and_debug_traceback(fleet_copy: Path) -> None:
    env = {**os.environ, "FLEET_ROOT": str(fleet_copy)}
    done = subprocess.run([sys.executable, "-m", "fleetlib", "params", "nowhere"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "fleetlib", "--debug", "params", "nowhere"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_scaffold_creates_a_cluster_that_resolves(capsys: pytest.CaptureFixture[str], fleet_copy: Path) -> None:
    code, out, _ = run(capsys, "scaffold", "--stage", "qa", "--cluster", "edge-1", "--like", "dev/services-amer")
    assert code == 0
    assert "add stage 'qa'" in out
    assert "then the bootstrap runbook (-p cluster edge-1 -p stage qa) writes in the fleet repository:\n" in out
    assert "\n  clusters/stages/qa/clusters/edge-1/flux-system/gotk-sync.yaml\n" in out
    created = fleet_copy / "parameters" / "qa" / "edge-1.yaml"
    assert created.is_file()
    code, out, _ = run(capsys, "params", "edge-1")
    data = yaml.safe_load(out)
    assert code == 0 and data["stage"] == "qa" and data["context"] == "kind-edge-1"
    assert data["path"] == "./clusters/stages/qa/clusters/edge-1"


def test_scaffold_dry_run_writes_nothing(capsys: pytest.CaptureFixture[str], fleet_copy: Path) -> None:
    before = tree_state(fleet_copy)
    code, out, _ = run(capsys, "scaffold", "--stage", "dev", "--cluster", "edge-2", "--dry-run")
    assert code == 0 and out.startswith("would create")
    assert "would fleet repo" not in out and all(line.startswith(("would ", "then ", "  ")) for line in out.splitlines())
    assert tree_state(fleet_copy) == before


def test_scaffold_refuses_a_like_that_would_not_validate(capsys: pytest.CaptureFixture[str], fleet_copy: Path) -> None:
    (fleet_copy / "parameters" / "dev" / "odd.yaml").write_text("target: sandbox\nbogus: 1\n")
    before = tree_state(fleet_copy)
    code, _, err = run(capsys, "scaffold", "--stage", "dev", "--cluster", "edge-3", "--like", "dev/odd")
    assert code == 2 and "key 'bogus': unknown key" in err
    assert tree_state(fleet_copy) == before


def test_repo_check_reports_folders_and_drift(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from .test_fleetrepo import make_checkout

    checkout = make_checkout(tmp_path)
    code, out, _ = run(capsys, "repo", str(checkout))
    assert "dev/services-amer" in out and "v2.5.1" in out
    assert "in parameters but not in the repository: prod/services-amer" in out
    assert "in the repository but not in parameters: ./clusters/stages/dev/clusters/legacy" in out
    assert code == 1  # the legacy folder's gotk-sync path does not match its folder


def test_python_dash_m_is_the_fleet_command() -> None:
    done = subprocess.run([sys.executable, "-m", "fleetlib", "clusters"], cwd=REPO, capture_output=True, text=True,
                          check=True)
    assert "services-amer" in done.stdout


def test_piping_fleet_into_head_ends_quietly() -> None:
    """`fleet clusters | head -1` (and a reader that closes at once): no BrokenPipeError, exit 0."""
    for reader in ("head -1", "head -0", "true"):
        done = subprocess.run(f"{sys.executable} -m fleetlib clusters | {reader}; echo \"rc=${{PIPESTATUS[0]}}\"",
                              shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
                              check=False)
        assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.stdout.strip().endswith("rc=0"), (reader, done.stdout)


def test_params_show_origin_names_the_layer_of_each_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "params", "services-amer", "--show-origin", "-p", "branch", "dev")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line and not line.startswith(" ")}
    assert rows["branch"][1:] == ["dev", "-p"]
    assert rows["owner"][-1] == "parameters/defaults.yaml" and rows["target"][-1] == "parameters/dev/services-amer.yaml"
    assert rows["stage"][-2:] == ["(file", "location)"]
    assert all(len(line) <= 100 for line in out.splitlines())  # long values wrap within their column
