"""The import contracts (tests/contracts.py) hold on the package and the notebooks, and nothing but
fleetlib.targets asks which target a cluster has."""

from __future__ import annotations

import re

from .conftest import REPO
from .contracts import lab_violations, long_classes, modules, notebook_violations, violations

PACKAGE = REPO / "fleetlib"
LAB = REPO / "lab" / "fleetlab"


def test_the_package_keeps_its_import_contracts() -> None:
    assert violations(PACKAGE) == []


def test_the_stand_ins_keep_their_import_contracts() -> None:
    assert lab_violations(LAB) == []


def test_no_class_is_longer_than_250_lines() -> None:
    assert long_classes(PACKAGE) == [] and long_classes(LAB) == []


def test_notebooks_import_the_runbook_layer_and_the_domain_only() -> None:
    assert notebook_violations([REPO / "runbooks", REPO / "notebooks"]) == []


def test_nothing_but_targets_compares_the_target() -> None:
    for path in modules(PACKAGE):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ("targets.py", "parameters.py") or rel.startswith("cli/"):
            continue
        text = path.read_text()
        for needle in ('target == "', "target != \"", "target in (\"", ".target == '", ".target != '"):
            assert needle not in text, f"{rel} compares the target ({needle}); ask fleetlib.targets instead"


HAND_BUILT = [
    (re.compile(r'replace\(":", "__"\)|replace\("__", ":"\)|split\("_", 3\)'), "an inventory id"),
    (re.compile(r'f"\{[^}]*kind[^}]*\}/\{[^}]*\}/\{[^}]*\}"'), "an object reference"),
    (re.compile(r'\.get\("(status|spec|metadata)"\) or \{\}\)\.get'), "an accessor chain"),
]
"""What fleetlib.objects builds (Ref, inventory_id, parse_inventory_id) or reads (spec_of, status_of, meta_of)."""


def test_object_references_and_inventory_ids_come_from_the_objects_module() -> None:
    for path in modules(PACKAGE):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "objects.py":
            continue
        for pattern, what in HAND_BUILT:
            found = pattern.search(path.read_text())
            assert found is None, f"{rel} builds {what} by hand ({found.group(0)}); use fleetlib.objects"
