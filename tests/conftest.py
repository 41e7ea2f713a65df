"""Shared fixtures. FLEET_HOME points at a temporary folder for the whole session (nbmake kernels
inherit it), so tests never touch ~/.fleet."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_SESSION_HOME = tempfile.mkdtemp(prefix="fleet-home-")
os.environ["FLEET_HOME"] = _SESSION_HOME
os.environ.pop("FLEET_ROOT", None)


@pytest.fixture()
def fleet_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped parameters/ as the fleet root (FLEET_ROOT)."""
    root = tmp_path / "fleet"
    shutil.copytree(REPO / "parameters", root / "parameters")
    monkeypatch.setenv("FLEET_ROOT", str(root))
    return root


def tree_state(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under `roots` with its size and mtime, to prove nothing was written."""
    state: dict[str, tuple[int, int]] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                st = path.stat()
                state[str(path)] = (st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("FLEET_HOME", str(path))
    yield path
