"""The gates `./dev test` runs: ruff (configured in pyproject.toml), mypy on the package with no error, and
the import contracts (tests/contracts.py). Each is also shown to fail on a copy of the package with one
violation injected, so a gate that silently passes everything cannot hide here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .contracts import lab_violations, long_classes, violations

BIN = Path(sys.executable).parent


def ruff(*paths: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ruff"), "check", "--no-cache", *map(str, paths)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def mypy(cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "mypy"), "--no-incremental", "--cache-dir", "/dev/null"], cwd=cwd,
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's package and configuration in a scratch folder, to break on purpose."""
    root = tmp_path_factory.mktemp("gates")
    shutil.copytree(REPO / "fleetlib", root / "fleetlib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "lab" / "fleetlab", root / "lab" / "fleetlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_ruff_passes() -> None:
    done = ruff(REPO / "fleetlib", REPO / "lab", REPO / "tests", REPO / "bench", REPO / "tools", REPO / "conftest.py")
    assert done.returncode == 0, done.stdout[-3000:]


def test_mypy_passes_with_no_error() -> None:
    done = mypy()
    assert done.returncode == 0 and "Success: no issues found" in done.stdout, done.stdout[-3000:]


def test_ruff_fails_on_an_unused_import(copy: Path) -> None:
    target = copy / "fleetlib" / "quantity.py"
    original = target.read_text()
    target.write_text("import os\n" + original)
    try:
        done = ruff(copy / "fleetlib", cwd=copy)
    finally:
        target.write_text(original)
    assert done.returncode == 1 and "F401" in done.stdout


def test_mypy_fails_on_a_type_error(copy: Path) -> None:
    target = copy / "fleetlib" / "quantity.py"
    original = target.read_text()
    target.write_text(original + "\n\nWRONG: int = 'not a number'\n")
    try:
        done = mypy(cwd=copy)
    finally:
        target.write_text(original)
    assert done.returncode == 1 and "quantity.py" in done.stdout and "[assignment]" in done.stdout


@pytest.mark.parametrize(("module", "line", "says"), [
    ("model.py", "from fleetlib.cli import main", "imports point down"),
    ("troubleshoot/diagnose.py", "from fleetlab.sandbox import Sandbox", "through fleetlib.targets"),
    ("tuning/flow.py", "import github", "only ['github'] may"),
    ("newthing.py", "X = 1", "is in no layer"),
])
def test_the_contracts_fail_on_a_violation(copy: Path, module: str, line: str, says: str) -> None:
    target = copy / "fleetlib" / module
    original = target.read_text() if target.exists() else None
    target.write_text(line + "\n" + (original or ""))
    try:
        found = violations(copy / "fleetlib")
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original)
    assert any(says in v and module.removesuffix(".py").split("/")[-1] in v for v in found), found


@pytest.mark.parametrize(("module", "line", "says"), [
    ("local/cluster.py", "from fleetlab.sandbox import Sandbox", "never import each other"),
    ("kubernetes/store.py", "from fleetlab.flux import ControllerSet", "imports point down"),
    ("flux/helm.py", "from fleetlib.bootstrap import Bootstrap", "adapters, parameters, files and model only"),
    ("charts/artifacts.py", "from fleetlab.github import hub", "import each other"),
    ("newthing.py", "X = 1", "is in no layer"),
])
def test_the_stand_ins_contracts_fail_on_a_violation(copy: Path, module: str, line: str, says: str) -> None:
    target = copy / "lab" / "fleetlab" / module
    original = target.read_text() if target.exists() else None
    extra = copy / "lab" / "fleetlab" / "github" / "hub.py"
    extra_original = extra.read_text()
    if module == "charts/artifacts.py":  # and github's hub imports charts back: a cycle between two folders
        extra.write_text("from fleetlab.charts import artifacts\n" + extra_original)
    target.write_text(line + "\n" + (original or ""))
    try:
        found = lab_violations(copy / "lab" / "fleetlab")
    finally:
        extra.write_text(extra_original)
        if original is None:
            target.unlink()
        else:
            target.write_text(original)
    assert any(says in v for v in found), found


def test_the_class_size_gate_fails_on_a_long_class(copy: Path) -> None:
    target = copy / "fleetlib" / "toolong.py"
    target.write_text("class Long:\n" + "".join(f"    x{i} = {i}\n" for i in range(260)))
    try:
        found = long_classes(copy / "fleetlib")
    finally:
        target.unlink()
    assert found == ["toolong.py: class Long has 261 lines (at most 250)"]
