"""Finding the fleet root and FLEET_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetlib.errors import InputError
from fleetlib.locations import fleet_home, fleet_root

from .conftest import REPO


def test_fleet_root_from_env(tmp_path: Path) -> None:
    (tmp_path / "parameters").mkdir()
    assert fleet_root(env={"FLEET_ROOT": str(tmp_path)}) == tmp_path.resolve()


def test_bad_fleet_root_env_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no parameters/ folder"):
        fleet_root(env={"FLEET_ROOT": str(tmp_path)})


def test_nearest_ancestor_with_parameters(tmp_path: Path) -> None:
    (tmp_path / "parameters").mkdir()
    deep = tmp_path / "runbooks" / "sub"
    deep.mkdir(parents=True)
    assert fleet_root(cwd=deep, env={}) == tmp_path.resolve()


def test_falls_back_to_the_checkout_fleetlib_runs_from(tmp_path: Path) -> None:
    assert fleet_root(cwd=tmp_path, env={}) == REPO


def test_fleet_home(tmp_path: Path) -> None:
    assert fleet_home(env={"FLEET_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    assert (tmp_path / "h").is_dir()
