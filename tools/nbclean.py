"""Strip outputs and execution counts from notebooks and give cells stable ids.

    python tools/nbclean.py runbooks/*.ipynb notebooks/*.ipynb
"""

from __future__ import annotations

import sys

import nbformat


def clean(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        clean(arg)
