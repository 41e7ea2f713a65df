"""The import contracts of fleetlib, as a function over a package folder (tests/test_layers.py checks the
real package; tests/test_gates.py proves each contract fails on an injected violation).

Imports go one way: cli and runbooks -> domain -> adapters -> model. A lower layer never imports a higher
one (kopf keeps the same rule with import-linter; this reads the imports itself). The outside clients
(PyGithub, the Kubernetes client, paramiko) are imported by their adapter only, and the stand-ins (the
sandbox and the local stack) are reached through fleetlib.targets only.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

LAYERS: list[set[str]] = [
    # what people and notebooks call (cli.* too)
    {"cli", "__main__", "runbook", "widgets", "fleetrun", "redact", "fidelity"},
    # the domain
    {"scaffold", "fleetrepo", "bootstrap", "diagnose", "tuning", "manifests", "charts", "report",
     "sshkeys", "record", "facts", "fluxview", "troubleshoot", "operate", "kustomization", "rightsize", "tour",
     "runcontext", "apps", "repochange", "alerts", "ownership"},
    # adapters: I/O (sandbox.*, local.* too)
    {"kube", "github", "git", "metrics", "targets", "sandbox", "local", "releases", "helmrepo", "receiver"},
    # parameters and files
    {"parameters", "options", "files", "locations", "plan", "runindex", "runbooks", "gitcli", "kubectl", "steplog",
     "resourcelist"},
    # the model: pure
    {"model", "names", "quantity", "errors", "objects", "waiting", "semver", "__init__"},
]
CLIENTS = {"kubernetes": {"kube", "sandbox", "local", "fidelity"}, "github": {"github"}, "paramiko": {"local"}}
"""Which top-level modules may import each outside client."""
STAND_INS = ("sandbox", "local")
"""Reached through fleetlib.targets only (and their own CLI verbs, and the differential suite that compares them)."""
STAND_IN_USERS = {"targets", "sandbox", "local", "cli", "fidelity"}
NOTEBOOK_LAYERS = (0, 1)
"""Notebooks call the top layer and the domain, never an adapter or a stand-in."""


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def modules(package: Path) -> list[Path]:
    return sorted(package.rglob("*.py"))


def fleetlib_imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fleetlib."):
            found.add(node.module.removeprefix("fleetlib."))
        elif isinstance(node, ast.ImportFrom) and node.module == "fleetlib":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("fleetlib.") for a in node.names if a.name.startswith("fleetlib."))
    return found


def outside_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def violations(package: Path) -> list[str]:
    """Every broken contract in a fleetlib package folder, as a sentence naming the file and the import."""
    out: list[str] = []
    for path in modules(package):
        rel = path.relative_to(package)
        name = rel.with_suffix("").as_posix().replace("/", ".")
        top = rel.parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        own = layer_of(name)
        if own is None:
            out.append(f"fleetlib.{name} is in no layer; add it to tests/contracts.py")
            continue
        for module in sorted(fleetlib_imports(tree)):
            theirs = layer_of(module)
            if theirs is None:
                out.append(f"{rel} imports fleetlib.{module}, which is in no layer")
            elif theirs < own:
                out.append(f"{rel} (layer {own}) imports fleetlib.{module} (layer {theirs}): imports point down")
            if top not in STAND_IN_USERS and module.split(".")[0] in STAND_INS:
                out.append(f"{rel} imports fleetlib.{module}; reach the stand-ins through fleetlib.targets")
        for module in outside_imports(tree):
            root = module.split(".")[0]
            if root in CLIENTS and top not in CLIENTS[root]:
                out.append(f"{rel} imports {module}; only {sorted(CLIENTS[root])} may")
    return out


def notebook_violations(folders: list[Path]) -> list[str]:
    out = []
    for notebook in sorted(p for folder in folders for p in folder.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for module in sorted(fleetlib_imports(ast.parse(source))):
            if layer_of(module) not in NOTEBOOK_LAYERS:
                out.append(f"{notebook.name} imports fleetlib.{module}; notebooks call the runbook layer and the domain")
    return out


MAX_CLASS_LINES = 250
"""A class longer than this holds more than one concern: split it (issue 16)."""


def long_classes(package: Path) -> list[str]:
    out = []
    for path in modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    out.append(f"{path.relative_to(package)}: class {node.name} has {lines} lines "
                               f"(at most {MAX_CLASS_LINES})")
    return out
