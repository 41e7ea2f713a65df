"""The archive of fleet runs: where run folders live, the `index.json` each one ends with, and how a
person names a run (its folder, or its id from `fleet runs`).

    folder = run_folder("20261125T101500Z-troubleshoot-1a2b3c", home=fleet_home())
    index = read_index(folder)       # {"run_id": ..., "clusters": [...], "ok": 3, "failed": 1}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fleetlib.errors import InputError, clip

RUNS_DIR = "runs"
"""Run folders live in FLEET_HOME/runs/<run-id>/."""
INDEX = "index.json"
"""Written last, all at once, by the fleet runner: a run folder without one is running or was interrupted."""
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9-]+-[0-9a-f]{6}$")


def read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    if not path.is_file():
        raise InputError(f"{folder}: no {INDEX} here",
                         hint="pass a run folder or id (see `fleet runs`); a run still going has none yet")
    try:
        return dict(json.loads(path.read_text()))
    except ValueError as e:
        raise InputError(f"{path}: not valid JSON: {clip(str(e), 200)}") from None


def run_folder(ref: str, *, home: Path) -> Path:
    """A run named by its folder or by its id (`fleet runs` lists them)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if _RUN_ID.match(ref):
        folder = home / RUNS_DIR / ref
        if folder.is_dir():
            return folder
        raise InputError(f"no run {ref} under {home / RUNS_DIR}", hint="`fleet runs` lists the runs there")
    raise InputError(f"{ref}: neither a run folder nor a run id", hint="`fleet runs` lists run ids")
