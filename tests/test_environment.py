"""environment.yml describes the same packages as pyproject.toml (runtime plus the test extra)."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import REPO


def normalise(spec: str) -> str:
    name, rest = re.match(r"^([A-Za-z0-9._-]+)(.*)$", spec.strip()).groups()  # type: ignore[union-attr]
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lab = tomllib.loads((REPO / "lab" / "pyproject.toml").read_text())["project"]
    wanted = {normalise(s) for s in [*project["dependencies"], *project["optional-dependencies"]["test"],
                                     *(d for d in lab["dependencies"] if normalise(d) != "fleetlib"),
                                     *lab["optional-dependencies"]["test"]]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {normalise(s) for s in pip if not s.startswith("-e")}
    assert listed == wanted, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    assert "-e ." in pip and any(s.split("#")[0].strip() == "-e ./lab" for s in pip)


def test_required_packages_are_declared() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {normalise(s).split(">")[0].split("=")[0] for s in project["dependencies"]}
    assert {"jupyterlab", "papermill", "nbclient", "kubernetes", "pygithub", "pandas", "matplotlib", "ipywidgets"} <= names
    tests = {normalise(s).split(">")[0] for s in project["optional-dependencies"]["test"]}
    assert {"pytest", "nbmake"} <= tests
