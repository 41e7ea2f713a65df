"""The notebook contract, for every notebook in runbooks/ and notebooks/: a `parameters` cell of
typed, documented literals first; no outputs committed; no def/class; short cells; and for a
notebook, parameters equal to its options model in fleetlib.options (names, types, defaults, help)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from fleetlib import options

from .conftest import REPO

NOTEBOOKS = sorted([*REPO.glob("runbooks/*.ipynb"), *REPO.glob("notebooks/*.ipynb")])
RUNBOOKS = sorted(REPO.glob("runbooks/*.ipynb"))
MAX_CELL_LINES = 12


def ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(REPO).as_posix() for p in paths]


def test_there_are_runbooks() -> None:
    assert RUNBOOKS, "runbooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_contract(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown", "the first cell says what the notebook does, touches and how to undo"
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "commit notebooks without outputs"
        tree = ast.parse(cell.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defs, f"no def/class in notebooks, found {[d.name for d in defs]}"
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))], "no loops in notebooks"
        if cell is not code[0]:  # the parameters cell is literals only, one per runbook option
            assert len(cell.source.splitlines()) <= MAX_CELL_LINES, f"cell too long:\n{cell.source}"
    for stmt in ast.parse(code[0].source).body:
        assert isinstance(stmt, ast.AnnAssign), "the parameters cell holds annotated assignments only"
        literal = isinstance(stmt.value, ast.Constant) or (
            isinstance(stmt.value, ast.List) and all(isinstance(e, ast.Constant) for e in stmt.value.elts))
        assert literal, f"parameter {ast.unparse(stmt.target)} must be a literal"
    for name, spec in papermill.inspect_notebook(str(path)).items():
        assert spec["inferred_type_name"] not in ("None", "Unknown type"), f"parameter {name} has no type"
        assert spec["help"], f"parameter {name} has no '# help' comment"


def test_every_notebook_has_an_options_model() -> None:
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(options.MODELS)
    assert sorted(p.stem for p in RUNBOOKS) == sorted(options.RUNBOOKS)
    for name, model in options.MODELS.items():
        assert (REPO / model.notebook).is_file(), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_parameters_cell_equals_the_options_model(path: Path) -> None:
    """Names, types, defaults and help of the parameters cell are the model's (tools/nbclean.py writes them)."""
    model = options.MODELS[path.stem]
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source == options.parameters_cell(path.stem), "run `python tools/nbclean.py` to regenerate it"
    declared = papermill.inspect_notebook(str(path))
    assert list(declared) == list(model.model_fields)
    for name, field in model.model_fields.items():
        assert declared[name]["inferred_type_name"] == options.notebook_type(model, name).strip('"')
        assert ast.literal_eval(declared[name]["default"]) == field.default
        assert declared[name]["help"] == field.description


@pytest.mark.parametrize("path", RUNBOOKS, ids=ids(RUNBOOKS))
def test_help_notebook_lists_every_parameter(path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                          capture_output=True, text=True, check=True)
    for name, spec in papermill.inspect_notebook(str(path)).items():
        assert f"{name}: {spec['inferred_type_name']} (default" in done.stdout
        assert spec["help"].split()[0] in done.stdout
