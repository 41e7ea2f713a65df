"""Imports go one way: cli/runbook -> domain -> adapters -> model. A lower layer never imports a
higher one (kopf keeps the same rule with import-linter; this test reads the imports itself)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

LAYERS: list[set[str]] = [
    # what people and notebooks call (cli.* too)
    {"cli", "__main__", "runbook", "widgets", "fleetrun", "redact", "fidelity"},
    {"scaffold", "fleetrepo", "bootstrap", "diagnose", "tuning", "manifests", "charts", "report",
     "sshkeys", "record", "facts", "fluxview", "troubleshoot", "operate", "kustomization", "rightsize", "tour"},
    {"kube", "github", "git", "metrics", "targets", "sandbox", "local"},  # sandbox.*, local.* too  # adapters: I/O
    {"parameters", "options", "files", "locations", "plan", "runindex"},
    {"model", "names", "quantity", "errors", "objects", "__init__"},
]
PACKAGE = REPO / "fleetlib"


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"fleetlib.{module} is in no layer; add it to tests/test_layers.py")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fleetlib."):
            found.add(node.module.removeprefix("fleetlib."))
        elif isinstance(node, ast.ImportFrom) and node.module == "fleetlib":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("fleetlib.") for a in node.names if a.name.startswith("fleetlib."))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_point_down(path: Path) -> None:
    own = layer_of(path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", "."))
    for module in imported(path):
        assert layer_of(module) >= own, f"{path.name} (layer {own}) imports fleetlib.{module} (layer {layer_of(module)})"


def test_only_the_adapters_import_the_outside_clients() -> None:
    clients = {"kubernetes": {"kube", "sandbox", "local", "fidelity"}, "github": {"github", "sandbox"},
               "paramiko": {"local"}}
    for path in modules():
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                root = name.split(".")[0]
                if root in clients:
                    assert top in clients[root], f"{path.name} imports {name}; only {clients[root]} may"


STAND_INS = ("sandbox", "local")
"""The stand-ins for a cluster and GitHub: reached through fleetlib.targets only (and their own CLI verbs, and
the differential suite that compares them)."""


def test_the_stand_ins_are_reached_through_targets_only() -> None:
    allowed = {"targets", "sandbox", "local", "cli", "fidelity"}
    for path in modules():
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top in allowed:
            continue
        for module in imported(path):
            assert module.split(".")[0] not in STAND_INS, f"{path.name} imports fleetlib.{module}; use fleetlib.targets"


def test_nothing_but_targets_compares_the_target() -> None:
    for path in modules():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ("targets.py", "parameters.py") or rel.startswith(("sandbox/", "local/", "cli/", "fidelity/")):
            continue
        text = path.read_text()
        for needle in ('target == "', "target != \"", "target in (\"", ".target == '", ".target != '"):
            assert needle not in text, f"{rel} compares the target ({needle}); ask fleetlib.targets instead"
