"""The import contracts (tests/contracts.py) hold on the package and the notebooks, and nothing but
fleetlib.targets asks which target a cluster has."""

from __future__ import annotations

from .conftest import REPO
from .contracts import modules, notebook_violations, violations

PACKAGE = REPO / "fleetlib"


def test_the_package_keeps_its_import_contracts() -> None:
    assert violations(PACKAGE) == []


def test_notebooks_import_the_runbook_layer_and_the_domain_only() -> None:
    assert notebook_violations([REPO / "runbooks", REPO / "notebooks"]) == []


def test_nothing_but_targets_compares_the_target() -> None:
    for path in modules(PACKAGE):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ("targets.py", "parameters.py") or rel.startswith(("sandbox/", "local/", "cli/", "fidelity/")):
            continue
        text = path.read_text()
        for needle in ('target == "', "target != \"", "target in (\"", ".target == '", ".target != '"):
            assert needle not in text, f"{rel} compares the target ({needle}); ask fleetlib.targets instead"
