"""The import contracts of fleetlib and fleetlab, as functions over a package folder (tests/test_layers.py checks
the real packages; tests/test_gates.py proves each contract fails on an injected violation).

fleetlib: imports go one way: cli and runbooks -> domain -> adapters -> model. A lower layer never imports a
higher one (kopf keeps the same rule with import-linter; this reads the imports itself). The outside clients
(PyGithub, the Kubernetes client) are imported by their adapter only, and fleetlib never imports fleetlab: the
stand-ins plug in through entry points (fleetlib.targets, fleetlib.cli).

fleetlab: its folders are layered too (the CLI and the differential suite; the two stand-ins; the Flux controllers
and the faults; the systems they play; the shared base); the sandbox and the local stack never import each other,
no two folders import each other in a cycle, and fleetlab uses fleetlib only through fleetlib's public lower
modules (adapters, parameters and files, model; the differential suite also drives fleetlib's flows).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

LAYERS: list[set[str]] = [
    # what people and notebooks call (cli.* too)
    {"cli", "__main__", "runbook", "widgets", "fleetrun", "redact", "textview"},
    # the domain
    {"scaffold", "fleetrepo", "bootstrap", "troubleshoot", "tuning", "manifests", "charts", "report",
     "sshkeys", "record", "kustomization", "tour", "runcontext", "apps", "repochange", "alerts", "ownership",
     "deploykeys", "tenants", "promote", "upgrade"},
    # adapters: I/O
    {"kube", "github", "git", "metrics", "targets", "releases", "helmrepo", "receiver"},
    # parameters and files
    {"parameters", "options", "files", "locations", "plan", "runindex", "runbooks", "gitcli", "kubectl", "steplog",
     "resourcelist", "texttable", "helmchart"},
    # the model: pure
    {"model", "names", "quantity", "errors", "objects", "waiting", "semver", "postbuild", "__init__"},
]
CLIENTS = {"kubernetes": {"kube"}, "github": {"github"}, "paramiko": set()}
"""Which top-level modules of fleetlib may import each outside client (fleetlab's may import any)."""
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
        for module in outside_imports(tree):
            root = module.split(".")[0]
            if root == "fleetlab":
                out.append(f"{rel} imports {module}: fleetlib never imports the stand-ins; reach them through "
                           "fleetlib.targets (entry points)")
            elif root in CLIENTS and top not in CLIENTS[root]:
                out.append(f"{rel} imports {module}; only {sorted(CLIENTS[root]) or 'no module of fleetlib'} may")
    return out


LAB_LAYERS: list[set[str]] = [
    {"cli", "fidelity", "plugin"},                              # what people and fleetlib call
    {"sandbox", "local"},                                       # the two stand-ins, each assembled from below
    {"flux", "faults"},                                         # the Flux controllers; the fault scenarios
    {"kubernetes", "github", "charts", "metrics", "release"},   # the systems they play
    {"httpbase", "pids", "pki", "versions", "sqlitepool", "__init__"},  # shared base
]
INDEPENDENT = [("sandbox", "local")]
"""Folders that never import each other."""
FLEETLIB_FOR_LAB = {2, 3, 4}
"""The layers of fleetlib fleetlab may use (adapters, parameters and files (texttable too), the model)."""


def lab_layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    return next((i for i, names in enumerate(LAB_LAYERS) if top in names), None)


def lab_imports(tree: ast.AST, prefix: str) -> set[str]:
    """Modules of the package `prefix` a module imports (absolute imports), without the prefix."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(prefix + "."):
                found.add(node.module.removeprefix(prefix + "."))
            elif node.module == prefix:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix(prefix + ".") for a in node.names if a.name.startswith(prefix + "."))
    return found


def lab_violations(package: Path) -> list[str]:
    """Every broken contract in a fleetlab package folder."""
    out: list[str] = []
    edges: set[tuple[str, str]] = set()
    for path in modules(package):
        rel = path.relative_to(package)
        name = rel.with_suffix("").as_posix().replace("/", ".")
        top = rel.parts[0].removesuffix(".py")
        own = lab_layer_of(name)
        if own is None:
            out.append(f"fleetlab.{name} is in no layer; add it to tests/contracts.py")
            continue
        tree = ast.parse(path.read_text())
        for module in sorted(lab_imports(tree, "fleetlab")):
            theirs, their_top = lab_layer_of(module), module.split(".")[0]
            if theirs is None:
                out.append(f"{rel} imports fleetlab.{module}, which is in no layer")
            elif theirs < own:
                out.append(f"{rel} (layer {own}) imports fleetlab.{module} (layer {theirs}): imports point down")
            if any({top, their_top} == set(pair) for pair in INDEPENDENT):
                out.append(f"{rel} imports fleetlab.{module}: the sandbox and the local stack never import each "
                           "other; what both use lives beside them")
            if their_top != top:
                edges.add((top, their_top))
        for module in sorted(lab_imports(tree, "fleetlib")):
            if layer_of(module) in FLEETLIB_FOR_LAB or (
                    top == "fidelity" and layer_of(module) == 1):
                continue
            out.append(f"{rel} imports fleetlib.{module}: the stand-ins use fleetlib's adapters, parameters, files "
                       "and model only")
    out += [f"fleetlab.{a} and fleetlab.{b} import each other" for a, b in sorted(edges) if a < b and (b, a) in edges]
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
