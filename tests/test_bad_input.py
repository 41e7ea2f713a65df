"""Bad input at the runbook boundary: every case is refused with one line naming the parameter (or the
file and key), exit 2 from the CLI or a ParameterError from `runbook.start`, before any effect: the test
snapshots FLEET_HOME (files and folders) and the fleet root before and after, so a run folder, a sandbox
database or a written file would fail it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetlab.sandbox import Sandbox
from fleetlib.bootstrap import Bootstrap
from fleetlib.cli import main
from fleetlib.errors import InputError, ParameterError
from fleetlib.parameters import Catalog
from fleetlib.runbook import start

from .conftest import REPO

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)])
DEEP = "a: " + "{b: " * 80 + "1" + "}" * 80

# (runbook, injected values, parameter the refusal must name)
RUNBOOK_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("bootstrap", {"dry_run": "maybe"}, "dry_run"),
    ("bootstrap", {"rotate_key": "no"}, "rotate_key"),
    ("bootstrap", {"force": 1}, "force"),
    ("bootstrap", {"dry_run": "yes"}, "dry_run"),
    ("bootstrap", {"timeout": "-5m"}, "timeout"),
    ("bootstrap", {"timeout": "0s"}, "timeout"),
    ("bootstrap", {"timeout": "1x"}, "timeout"),
    ("bootstrap", {"timeout": "2h"}, "timeout"),
    ("bootstrap", {"stage": ""}, "stage"),
    ("bootstrap", {"cluster": ""}, "cluster"),
    ("bootstrap", {"cluster": "../etc"}, "cluster"),
    ("bootstrap", {"stage": "Dev"}, "stage"),
    ("bootstrap", {"personal": "maybe"}, "personal"),
    ("bootstrap", {"ssh_key_algorithm": "dsa"}, "ssh_key_algorithm"),
    ("bootstrap", {"ssh_rsa_bits": 1000}, "ssh_rsa_bits"),
    ("bootstrap", {"branch": "a..b"}, "branch"),
    ("bootstrap", {"branch": "feature/x.lock"}, "branch"),
    ("bootstrap", {"branch": "x\ny"}, "branch"),
    ("bootstrap", {"registry": "ghcr.io/fluxcd\nevil"}, "registry"),
    ("bootstrap", {"author_email": "flux@example.com\nX-Injected: 1"}, "author_email"),
    ("bootstrap", {"author_name": ""}, "author_name"),
    ("bootstrap", {"components": "source-controller"}, "components"),
    ("bootstrap", {"components": ["source-controller", "kustomize-controller", "nope-controller"]}, "components"),
    ("bootstrap", {"version": "2.5.1"}, "version"),
    ("bootstrap", {"interval": "1x"}, "interval"),
    ("bootstrap", {"namespace": "Flux_System"}, "namespace"),
    ("bootstrap", {"path": "../../etc"}, "path"),
    ("bootstrap", {"registry": TOKEN}, "registry"),
    ("troubleshoot", {"fail_on": "bogus"}, "fail_on"),
    ("troubleshoot", {"reconcile_failed": "yes"}, "reconcile_failed"),
    ("troubleshoot", {"resume_suspended": "maybe", "fail_on": "none"}, "resume_suspended"),
    ("troubleshoot", {"target": "live", "context": ""}, "context"),
    ("troubleshoot", {"context": "   "}, "context"),
    ("tune-resources", {"history": "100000d"}, "history"),
    ("tune-resources", {"step": "1ms"}, "step"),
    ("tune-resources", {"history": "14d", "step": "1s"}, "step"),
    ("tune-resources", {"sample_window": "99999d"}, "sample_window"),
    ("tune-resources", {"sample_window": "1m", "sample_interval": "5m"}, "sample_interval"),
    ("tune-resources", {"cpu_percentile": 200}, "cpu_percentile"),
    ("tune-resources", {"cpu_percentile": True}, "cpu_percentile"),
    ("tune-resources", {"memory_buffer": -1}, "memory_buffer"),
    ("tune-resources", {"min_change": 2}, "min_change"),
    ("tune-resources", {"strategy": "magic"}, "strategy"),
    ("tune-resources", {"base": "flux"}, "base"),
    ("tune-resources", {"usage_source": "grafana"}, "usage_source"),
    ("tune-resources", {"apply": "push"}, "apply"),
    ("tune-resources", {"until": "yesterday"}, "until"),
    ("tune-resources", {"out_dir": ""}, "out_dir"),
    ("tune-resources", {"prometheus_url": "https://admin:s3cr3t@prometheus:9090"}, "prometheus_url"),
    ("tune-resources", {"prometheus_url": "ftp://prometheus"}, "prometheus_url"),
    ("tune-resources", {"out_dir": "/proc/nope"}, "out_dir"),
    ("bootstrap", {"interval": "99999999999999999999999h"}, "interval"),
    ("bootstrap", {"hostname": "evil.example.com/../"}, "hostname"),
    ("bootstrap", {"hostname": "github.com:99999"}, "hostname"),
    ("bootstrap", {"toleration_keys": ["not a key"]}, "toleration_keys.0"),
    ("add-app", {"app_namespace": "kube-system"}, "app_namespace"),
    ("add-app", {"app": "default"}, "app"),
    ("add-app", {"app": "hello", "depends_on": ["hello"]}, "depends_on"),
    ("add-app", {"app": "hello", "depends_on": ["flux-system/hello"]}, "depends_on"),
    ("add-app", {"source": "git", "url": "ssh://git@evil.example.com/x/y", "chart": None}, "url"),
    ("add-app", {"interval": "99999999999999999999999h"}, "interval"),
    ("alerts", {"event_sources": ["Kustomization/../x"]}, "event_sources"),
    ("alerts", {"event_sources": ["Kustomization/"]}, "event_sources"),
    ("inspect", {"target": "prod"}, "target"),
    ("inspect", {"brnach": "main"}, "brnach"),
    ("controller-usage", {"days": 0}, "days"),
    ("controller-usage", {"controller": "flux-controller"}, "controller"),
]


def snapshot(*roots: Path) -> dict[str, tuple[int, int] | str]:
    """Every file (size, mtime) and folder under `roots`."""
    state: dict[str, tuple[int, int] | str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_dir():
                state[str(path)] = "dir"
            elif path.is_file():
                st = path.stat()
                state[str(path)] = (st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture()
def fleet(fleet_copy: Path, home: Path) -> tuple[Path, Path]:
    return fleet_copy, home


@pytest.mark.parametrize(("runbook", "values", "key"), RUNBOOK_CASES,
                         ids=[f"{r}-{'-'.join(v)}-{i}" for i, (r, v, _) in enumerate(RUNBOOK_CASES)])
def test_runbook_refuses_before_any_effect(fleet: tuple[Path, Path], runbook: str, values: dict[str, Any],
                                           key: str) -> None:
    root, home = fleet
    before = snapshot(root, home)
    with pytest.raises(ParameterError) as info:
        start(runbook, {"cluster": "services-amer", "stage": "dev", **values}, catalog=Catalog.load(root))
    message = str(info.value)
    assert (f"key '{key}" if "unknown" not in message else key) in message, message
    assert "\n" not in message and TOKEN not in message and "s3cr3t" not in message
    assert snapshot(root, home) == before


def test_there_are_at_least_forty_cases() -> None:
    assert len(RUNBOOK_CASES) + len(CLI_CASES) >= 40 + 20


# (argv, text the one line must hold); FLEET_HOME and FLEET_ROOT are the test's
CLI_CASES: list[tuple[list[str], str]] = [
    (["run", "troubleshoot", "--all", "-p", "fail_on", "bogus"], "key 'fail_on'"),
    (["run", "bootstrap", "--all", "-p", "dry_run", "maybe"], "key 'dry_run'"),
    (["run", "bootstrap", "--all", "-p", "rotate_key", "no"], "key 'rotate_key'"),
    (["run", "tune-resources", "--all", "-p", "history", "100000d"], "key 'history'"),
    (["run", "tune-resources", "--stage", "dev", "--all", "-p", "step", "1ms"], "key 'step'"),
    (["run", "troubleshoot", "--all", "--out", "/proc/nope"], "--out /proc/nope"),
    (["run", "troubleshoot", "--all", "-p", "stage", "prod"], "does not take stage"),
    (["run", "troubleshoot", "--all", "-p", "registry", "x"], "does not take registry"),
    (["run", "nope", "--all"], "unknown runbook 'nope'"),
    (["run", "add-app", "--all", "-p", "source", "git", "-p", "url", "ssh://git@evil.example.com/x/y"], "key 'url'"),
    (["run", "add-app", "--all", "-p", "app_namespace", "kube-system"], "key 'app_namespace'"),
    (["repo", "/etc"], "is not a fleet repository"),
    (["run", "troubleshoot", "--all", "-p", "context", TOKEN], "key 'context'"),
    (["run", "troubleshoot", "--all", "--parallel", "0"], "--parallel 0"),
    (["run", "troubleshoot"], "say which clusters"),
    (["run", "troubleshoot", "--cluster", "../x"], "not a DNS-1123 label"),
    (["params", "services-amer", "-f", "/dev/zero"], "-f /dev/zero"),
    (["params", "services-amer", "-f", "/nonexistent.yaml"], "no such file"),
    (["params", "services-amer", "-y", BOMB], "expands to more than"),
    (["params", "services-amer", "-y", DEEP], "nested deeper than"),
    (["params", "services-amer", "-y", "? [a, b]\n: c\n"], "mapping key must be plain text"),
    (["params", "services-amer", "-y", "branch: x\nbranch: y"], "duplicate key"),
    (["params", "services-amer", "-p", "branch", "a..b"], "key 'branch'"),
    (["params", "services-amer", "-p", "branch", "release/"], "key 'branch'"),
    (["params", "services-amer", "-p", "registry", "ghcr.io\nevil"], "key 'registry'"),
    (["params", "services-amer", "-p", "author_name", "Flux\r\nX"], "key 'author_name'"),
    (["params", "services-amer", "-p", "prometheus_url", "https://admin:s3cr3t@prometheus:9090"], "credentials"),
    (["params", "services-amer", "--stage", ""], "not a DNS-1123 label"),
    (["results", "/dev/zero"], "not a regular file"),
    (["results", "README.md"], "not a Jupyter notebook"),
    (["results", "parameters"], "not a regular file"),
    (["sandbox", "seed", "--cluster", "services-amer", "--apps", "0"], "--apps 0"),
    (["sandbox", "seed", "--cluster", "services-amer", "--apps", "999999"], "--apps 999999"),
    (["sandbox", "seed", "--cluster", "services-amer", "--apps", "5"], "has no state yet"),
    (["sandbox", "fault", "--cluster", "services-amer", "bogus"], "unknown fault scenario"),
    (["sandbox", "fault", "--cluster", "services-amer", "deploy-key-revoked"], "has no state yet"),
    (["sandbox", "fault", "--cluster", "services-amer", "--timeout", "-1", "stale-revision"], "--timeout"),
]


@pytest.fixture(scope="module")
def bootstrapped_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FLEET_HOME where dev/services-amer is bootstrapped on the sandbox, its servers stopped (so nothing
    writes there unless a command does)."""
    home = tmp_path_factory.mktemp("booted") / "home"
    sandbox = Sandbox.running(home)
    try:
        params = Catalog.load(REPO).resolve("services-amer", stage="dev")
        Bootstrap.connect(params, home=home, echo=False, timeout="120s").run()
    finally:
        sandbox.stop()
    return home


# every case on an empty FLEET_HOME and on a bootstrapped one, but "has no state yet", which only the empty one is
STATED_CASES = [pytest.param(state, argv, says, id=f"{state}-{i}-{' '.join(argv[:2])}")
                for state in ("empty", "bootstrapped") for i, (argv, says) in enumerate(CLI_CASES)
                if not (state == "bootstrapped" and says == "has no state yet")]


@pytest.mark.parametrize(("state", "argv", "says"), STATED_CASES)
def test_cli_refuses_with_one_line_and_exit_2(fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str,
                                              state: str, request: pytest.FixtureRequest) -> None:
    root, home = fleet
    if state == "bootstrapped":
        home = request.getfixturevalue("bootstrapped_home")
        monkeypatch.setenv("FLEET_HOME", str(home))
    monkeypatch.chdir(REPO)
    before = snapshot(root, home)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("fleet: error: ") and err.count("\n") == 1, err
    assert says in err, err
    assert TOKEN not in err + out and "s3cr3t" not in err + out
    assert snapshot(root, home) == before


def test_fleet_home_that_is_a_file(fleet_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    not_a_folder = tmp_path / "home-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("FLEET_HOME", str(not_a_folder))
    code = main(["run", "troubleshoot", "--all"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"FLEET_HOME={not_a_folder} is a file" in err
    assert not_a_folder.read_text() == "x"


def test_secret_looking_value_is_never_echoed() -> None:
    with pytest.raises(InputError) as info:
        start("bootstrap", {"cluster": "services-amer", "author_name": TOKEN})
    assert TOKEN not in str(info.value) and "key 'author_name'" in str(info.value)
