"""Imports go one way: cli/runbook -> domain -> adapters -> model. A lower layer never imports a
higher one (kopf keeps the same rule with import-linter; this test reads the imports itself)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

LAYERS: list[set[str]] = [
    {"cli", "__main__", "runbook", "widgets", "fleetrun", "redact"},  # cli.* too                      # what people and notebooks call
    {"scaffold", "fleetrepo", "bootstrap", "diagnose", "tuning", "manifests", "charts", "report",
     "sshkeys", "record", "facts", "fluxview", "troubleshoot", "operate", "kustomization", "rightsize", "tour"},
    {"kube", "github", "git", "metrics", "sandbox"},  # sandbox.* too                 # adapters: the only modules doing I/O
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
    clients = {"kubernetes": {"kube", "sandbox"}, "github": {"github", "sandbox"}}
    for path in modules():
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                root = name.split(".")[0]
                if root in clients:
                    assert top in clients[root], f"{path.name} imports {name}; only {clients[root]} may"
