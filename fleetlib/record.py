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


def record(name: str, value: Any) -> None:
    """Record a JSON-serialisable value in the notebook output."""
    from IPython.display import display

    payload = {"name": name, "data": json.loads(json.dumps(value, default=str))}
    display({MIMETYPE: payload, "text/plain": f"recorded {name!r}"}, raw=True, metadata={"fleetlib": {"name": name}})


def read_records(path: Path) -> dict[str, Any]:
    """Every recorded value of an executed notebook, by name (a later record of a name wins)."""
    import nbformat

    from fleetlib.errors import InputError

    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the notebook: {str(e)[:200]}", hint="pass an executed .ipynb") from e
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if output.get("output_type") in ("display_data", "execute_result") and MIMETYPE in data:
                out[data[MIMETYPE]["name"]] = data[MIMETYPE]["data"]
    return out
