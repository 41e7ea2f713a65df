"""Structured results of a runbook run, kept in the executed notebook and read back by `fleet results`.

`record(name, value)` displays a JSON payload under fleetlib's own mimetype (nbformat stores it as a
JSON object), with a short text/plain line for people; `read_records` walks an executed notebook.

    record("bootstrap", boot.result())
    read_records(Path("out.ipynb"))      # {"bootstrap": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MIMETYPE = "application/vnd.fleetlib.record+json"
MAX_NOTEBOOK_BYTES = 200 << 20
"""An executed notebook larger than this (200 MiB) is refused rather than read."""


def record(name: str, value: Any) -> None:
    """Record a JSON-serialisable value in the notebook output."""
    from IPython.display import display

    payload = {"name": name, "data": json.loads(json.dumps(value, default=str))}
    display({MIMETYPE: payload, "text/plain": f"recorded {name!r}"}, raw=True, metadata={"fleetlib": {"name": name}})


def read_records(path: Path) -> dict[str, Any]:
    """Every recorded value of an executed notebook, by name (a later record of a name wins)."""
    import nbformat

    from fleetlib.errors import InputError
    from fleetlib.files import read_text

    text = read_text(path, shown=str(path), limit=MAX_NOTEBOOK_BYTES, what="an executed notebook (papermill's output)")
    try:
        nb = nbformat.reads(text, as_version=4)
        cells = list(nb.cells)
    except Exception as e:  # noqa: BLE001 - nbformat raises JSON, schema and attribute errors alike
        why = "not JSON" if type(e).__name__ == "NotJSONError" else "JSON, but not in the notebook format"
        raise InputError(f"{path}: not a Jupyter notebook ({why})",  # never its content: it may hold anything
                         hint="pass an executed .ipynb, e.g. papermill's output") from None
    out: dict[str, Any] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if output.get("output_type") in ("display_data", "execute_result") and MIMETYPE in data:
                out[data[MIMETYPE]["name"]] = data[MIMETYPE]["data"]
    return out
