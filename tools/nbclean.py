"""Strip outputs and execution counts from notebooks, give cells stable ids, and write each notebook's
`parameters` cell from its options model (fleetlib.options), the single source of names, types,
defaults and help.

    python tools/nbclean.py runbooks/*.ipynb notebooks/*.ipynb
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from fleetlib import options


def clean(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    name = Path(path).stem
    if name in options.MODELS:
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = options.parameters_cell(name)
    nb.metadata.pop("papermill", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        clean(arg)
