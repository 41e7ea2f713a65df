"""Every command in the README runs as written. The commands of its `sh` blocks run in order in bash, in a
folder that looks like a fresh checkout (runbooks/, notebooks/ and bench/ linked, parameters/ copied), with
a fresh HOME (so `~/.fleet` is FLEET_HOME's default) and the project's .venv first on PATH. Each command is
listed below with how it is checked, or why it is not run here; a README command missing from the table,
or a table entry missing from the README, fails the test."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetlib.record import read_records

from .conftest import REPO

RUN = "run"
SKIP = "skip"

# command (as written, without its comment) -> (RUN, expected exit code) or (SKIP, why)
COMMANDS: dict[str, tuple[str, int | str]] = {
    "./dev run": (SKIP, "the main job itself: CI's fresh clone runs it through ./dev test's papermill bootstrap "
                        "runs below, and the closing note times it"),
    "./dev test": (SKIP, "this test suite"),
    "source .venv/bin/activate": (SKIP, "the test's PATH starts with .venv/bin already"),
    "fleet clusters": (RUN, 0),
    "fleet params services-amer": (RUN, 0),
    "fleet params services-amer --stage prod -p branch hotfix": (RUN, 0),
    "fleet params services-amer --show-origin": (RUN, 0),
    "fleet scaffold --stage dev --cluster edge-1 --like dev/services-amer --dry-run": (RUN, 0),
    "papermill --log-output runbooks/bootstrap.ipynb out.ipynb -p cluster services-amer": (RUN, 0),
    "papermill --log-output runbooks/bootstrap.ipynb out.ipynb -p cluster services-amer -p dry_run True": (RUN, 0),
    "fleet results out.ipynb": (RUN, 0),
    "papermill runbooks/inspect.ipynb out.ipynb -p cluster services-amer": (RUN, 0),
    "papermill --help-notebook runbooks/bootstrap.ipynb": (RUN, 0),
    "git clone ~/.fleet/sandbox/github/JiwooL0920/fleet-infra.git ../fleet-infra": (RUN, 0),
    "fleet repo ../fleet-infra": (RUN, 0),
    "papermill --log-output runbooks/troubleshoot.ipynb out.ipynb -p cluster services-amer": (RUN, 0),
    "fleet sandbox fault --cluster services-amer deploy-key-revoked": (RUN, 0),
    "papermill --log-output runbooks/troubleshoot.ipynb out.ipynb -p cluster services-amer -p fail_on none": (RUN, 0),
    "fleet sandbox fault --cluster services-amer --clear deploy-key-revoked": (RUN, 0),
    "papermill --log-output runbooks/tune-resources.ipynb out.ipynb -p cluster services-amer": (RUN, 0),
    "papermill --log-output runbooks/tune-resources.ipynb out.ipynb -p cluster services-amer -p apply pr": (RUN, 0),
    "papermill --log-output runbooks/tune-resources.ipynb out.ipynb -p strategy vpa -p history 7d -p cpu_percentile 90":
        (RUN, 0),
    "papermill --log-output runbooks/add-app.ipynb out.ipynb -p cluster services-amer -p chart hello": (RUN, 0),
    "papermill --log-output runbooks/add-app.ipynb out.ipynb -p cluster services-amer -p chart hello -p apply commit":
        (RUN, 0),
    "papermill --log-output runbooks/add-app.ipynb out.ipynb -p cluster services-amer -p chart hello -p apply commit "
    "-p remove True": (RUN, 0),
    "fleet run add-app --stage dev --all -p app greeter -p chart hello -p version 1.x -p apply commit": (RUN, 0),
    "papermill --log-output runbooks/tenants.ipynb out.ipynb -p cluster services-amer -p tenant dev-team": (RUN, 0),
    "papermill --log-output runbooks/tenants.ipynb out.ipynb -p cluster services-amer -p tenant dev-team -p apply "
    "commit": (SKIP, "needs the team's repository on the GitHub; tests/test_conformance.py onboards a team on both "
                     "targets"),
    "papermill --log-output runbooks/tenants.ipynb out.ipynb -p cluster services-amer -p tenant dev-team -p apply "
    "commit -p remove True": (SKIP, "follows the onboarding; tests/test_conformance.py removes the team on both "
                                    "targets"),
    "FLEET_ALERT_ADDRESS=https://hooks.example.com/flux papermill --log-output runbooks/alerts.ipynb out.ipynb "
    "-p cluster services-amer": (RUN, 0),
    "fleet run bootstrap --all --parallel 2": (RUN, 0),
    "fleet run troubleshoot --all --parallel 2": (RUN, 0),
    "fleet run tune-resources --stage prod --all -p history 7d": (RUN, 0),
    "printf 'dry_run: true\\ntimeout: 2m\\n' > params.yaml": (RUN, 0),
    "fleet run bootstrap --cluster services-amer --stage dev -f params.yaml": (RUN, 0),
    "fleet runs": (RUN, 0),
    "fleet report <run-id> [<run-id> ...]": (RUN, 0),  # <run-id>s: the ids `fleet runs` printed
    "fleet report": (RUN, 0),
    "papermill --log-output runbooks/promote.ipynb out.ipynb -p cluster services-amer -p to_stage staging": (RUN, 0),
    "papermill --log-output runbooks/promote.ipynb out.ipynb -p cluster services-amer -p to_stage staging -y "
    "'apps: [greeter]'": (RUN, 0),
    "papermill --log-output runbooks/promote.ipynb out.ipynb -p cluster services-amer -p to_stage staging -y "
    "'apps: [greeter]' -p apply pr": (RUN, 0),
    "fleet run promote --stage dev --all -p to_stage staging": (RUN, 0),
    "papermill --log-output runbooks/upgrade.ipynb out.ipynb -p cluster services-amer": (RUN, 0),
    "papermill --log-output runbooks/upgrade.ipynb out.ipynb -p cluster services-amer -y 'via: [v2.6.4]'": (RUN, 0),
    "papermill --log-output runbooks/upgrade.ipynb out.ipynb -p cluster services-amer -y 'via: [v2.6.4]' -p apply "
    "commit": (SKIP, "would leave the README's cluster at v2.9.2 for the commands after it; tests/test_upgrade.py "
                     "takes a v2.5.1 cluster through v2.6.4 to v2.9.2"),
    "fleet run upgrade --stage dev --all -y 'via: [v2.6.4]'": (RUN, 0),
    "fleet run troubleshoot --all --executor dask --scheduler tcp://scheduler:8786":
        (SKIP, "needs a Dask scheduler; tests/test_fleetrun.py runs the Dask executor on a LocalCluster"),
    "fleet sandbox serve --all": (RUN, 0),  # in the background until the kubectl line has run
    "KUBECONFIG=$(fleet sandbox kubeconfig) kubectl --context sandbox-dev-services-amer get ns": (RUN, 0),
    "fleet sandbox status": (RUN, 0),
    "fleet sandbox fault --list": (RUN, 0),
    "fleet sandbox fault --cluster services-amer stale-revision": (RUN, 0),
    "fleet sandbox fault --cluster services-amer --clear stale-revision": (RUN, 0),
    "fleet sandbox seed --cluster services-amer --apps 50": (RUN, 0),
    "fleet sandbox pr list": (RUN, 0),
    "fleet sandbox pr show 1": (SKIP, "needs a pull request to exist; tests/test_tuning_flow.py reviews and merges one"),
    "fleet sandbox pr merge 1": (SKIP, "needs a pull request to exist; tests/test_tuning_flow.py reviews and merges one"),
    "fleet sandbox reset --stage dev --cluster services-amer": (RUN, 0),
    "fleet charts publish charts/hello": (RUN, 0),
    "fleet charts list": (RUN, 0),
    "fleet oci push charts/hello --chart --repository charts/hello": (RUN, 0),
    "python bench/fidelity.py": (SKIP, "the differential suite (minutes); tests/test_fidelity.py runs it"),
    "python bench/sandbox_api.py": (SKIP, "a benchmark (minutes); benchmarks are run by hand, figures in the notes"),
    "python bench/sandbox_flux.py --apps 1000": (SKIP, "a benchmark (minutes)"),
    "python bench/troubleshoot.py": (SKIP, "a benchmark (minutes)"),
    "python bench/tenants.py": (SKIP, "a benchmark on both targets (minutes); tests/test_bench.py runs it small"),
    "fleet local build": (RUN, 0),  # built once per checkout ($FLEET_LOCAL_CACHE); here it checks the stamps
    "fleet local up --cluster services-amer": (RUN, 0),
    "papermill --log-output runbooks/bootstrap.ipynb out.ipynb -p cluster services-amer -p target local": (RUN, 0),
    "KUBECONFIG=$(fleet local kubeconfig) kubectl --context local-dev-services-amer get kustomizations -A": (RUN, 0),
    "fleet local flux --cluster services-amer -- get all": (RUN, 0),
    "fleet local flux --cluster services-amer -- reconcile kustomization flux-system": (RUN, 0),
    "fleet local flux --which": (RUN, 0),
    "fleet sandbox flux --cluster services-amer -- get all": (
        SKIP, "needs `fleet sandbox serve` in another terminal; tests/test_conformance.py runs 25 flux commands "
              "through `fleet sandbox flux` against a served, bootstrapped sandbox cluster"),
    "fleet sandbox flux --cluster services-amer -- reconcile kustomization flux-system --with-source": (
        SKIP, "as above (test_the_real_flux_cli_runs_every_everyday_command)"),
    'export PATH="$(dirname "$(fleet local flux --which)"):$PATH"': (
        SKIP, "changes the user's shell; `fleet local flux --which` above runs"),
    "KUBECONFIG=$(fleet sandbox kubeconfig) flux-v2.5.1 --context sandbox-dev-services-amer get kustomizations": (
        SKIP, "needs the PATH above and a serving sandbox; the conformance test runs the same binary the same way"),
    "fleet local status": (RUN, 0),
    "fleet local logs --cluster services-amer kube-apiserver --tail 20": (RUN, 0),
    "fleet local fault --cluster services-amer controller-oomkilled": (RUN, 0),
    "fleet local fault --cluster services-amer --clear controller-oomkilled": (RUN, 0),
    "fleet local down --all": (RUN, 0),
    "fleet scaffold --stage staging --cluster edge-1 --like dev/services-amer": (RUN, 0),
    "fleet params edge-1 --stage staging": (RUN, 0),
}


def readme_commands() -> list[str]:
    """The command lines of the README's sh blocks, in order, without trailing comments."""
    text = (REPO / "README.md").read_text()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = re.sub(r"\s{2,}#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


def test_every_readme_command_is_in_the_table() -> None:
    commands = readme_commands()
    assert sorted(set(commands) - set(COMMANDS)) == [], "decide how the test runs each new README command"
    assert sorted(set(COMMANDS) - set(commands)) == [], "the README no longer has these"


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A folder that looks like a fresh checkout of the project, beside nothing."""
    work = tmp_path / "fleetlib"
    work.mkdir()
    for name in ("runbooks", "notebooks", "bench", "charts"):
        (work / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "parameters", work / "parameters")
    return work


def shell(work: Path, env: dict[str, str], command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def assert_reads_like_a_terminal(command: str, text: str) -> None:
    """A runbook's `--log-output` on a normal run: every line within 100 columns, tables as aligned text and
    charts described in words (no pandas or matplotlib repr), no traceback, no kernel warning (./dev quiets it)."""
    lines = text.splitlines()
    long = [line for line in lines if len(line) > 100]
    assert not long, f"{command}: {len(long)} lines over 100 columns, first: {long[0]!r}"
    for noise in ("DataFrame", "Figure size", "Traceback", "Columns: [", "without encryption"):
        assert noise not in text, f"{command}: {noise!r} in its output"


def test_readme_commands_run_as_written(checkout: Path, tmp_path: Path) -> None:
    home = tmp_path / "user-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("FLEET_HOME", "FLEET_ROOT", "KUBECONFIG")}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:{env['PATH']}", FLEET_SANDBOX_SPEED="30")
    serving: subprocess.Popen[str] | None = None
    ran = []
    try:
        for command in readme_commands():
            how, expected = COMMANDS[command]
            if how == SKIP:
                continue
            if command == "fleet sandbox serve --all":
                serving = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=checkout, env=env, text=True,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                assert serving.stdout is not None
                deadline = time.monotonic() + 60
                while "press Ctrl-C to stop" not in serving.stdout.readline():
                    assert time.monotonic() < deadline and serving.poll() is None, "serve did not start"
                ran.append(command)
                continue
            line = command
            if "<run-id>" in command:
                ids = re.findall(r"^(\d{8}T\d{6}Z-\S+)", shell(checkout, env, "fleet runs").stdout, flags=re.M)
                line = "fleet report " + " ".join(ids[:3])
            if command == "fleet sandbox status" and serving is not None:
                assert "serving: process" in shell(checkout, env, line).stdout
            if command.startswith("fleet sandbox reset") and serving is not None:
                serving.send_signal(signal.SIGTERM)  # reset refuses while a sandbox is serving, as it should
                serving.wait(timeout=30)
                serving = None
            done = shell(checkout, env, line)
            assert done.returncode == expected, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            assert "Traceback" not in done.stderr, command
            if command.startswith("papermill --log-output") and expected == 0:
                assert_reads_like_a_terminal(command, done.stdout + done.stderr)
            if command.endswith("-p fail_on none"):  # right after `fleet sandbox fault ... deploy-key-revoked`
                first = read_records(checkout / "out.ipynb")["findings"][0]
                assert (first["id"], first["object"]) == ("source-auth-failed", "GitRepository/flux-system/flux-system")
            ran.append(command)
    finally:
        if serving is not None:
            serving.send_signal(signal.SIGTERM)
            serving.wait(timeout=30)
        shell(checkout, env, "fleet local down --all")  # nothing outlives the test, even when it failed
    assert ran == [c for c in readme_commands() if COMMANDS[c][0] == RUN]


def test_dev_run_fails_with_one_line_and_keeps_the_last_good_notebook(tmp_path: Path) -> None:
    """`./dev run` with a value the runbook refuses: exit 1, the refusal in one line, the good notebook kept."""
    good = tmp_path / "bootstrap-dev-services-amer.ipynb"
    good.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    before = good.read_bytes()
    done = subprocess.run([str(REPO / "dev"), "run", "-p", "dry_run", "maybe"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "FLEET_OUT": str(tmp_path)}, check=False)
    assert done.returncode == 1, (done.stdout, done.stderr)
    said = [line for line in done.stderr.splitlines() if line.startswith("dev: the bootstrap failed")]
    assert said == ["dev: the bootstrap failed: ParameterError: runbook parameters: key 'dry_run': must be True or "
                    "False (true/false also), not 'maybe'"], done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "KeyError" not in done.stderr
    assert good.read_bytes() == before and (tmp_path / "bootstrap-dev-services-amer.failed.ipynb").is_file()
