"""The test session's environment, for tests/ and for the nbmake runs of runbooks/ and notebooks/:
FLEET_HOME is a fresh temporary folder (kernels inherit it), so a run never touches ~/.fleet, and
the sandbox clock runs 30 times faster (1m intervals pass in 2 s)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ["FLEET_HOME"] = tempfile.mkdtemp(prefix="fleet-home-")
os.environ.setdefault("FLEET_SANDBOX_SPEED", "30")
os.environ.pop("FLEET_ROOT", None)

REPO = Path(__file__).resolve().parent
NEEDS_BOOTSTRAP = {"runbooks/tune-resources.ipynb", "runbooks/tenants.ipynb", "runbooks/upgrade.ipynb",
                   "runbooks/promote.ipynb", "notebooks/fleet-overview.ipynb",
                   "notebooks/controller-usage.ipynb"}
"""Notebooks that act on a bootstrapped cluster: dev/services-amer is bootstrapped before nbmake runs them."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.path.resolve().relative_to(REPO).as_posix() in NEEDS_BOOTSTRAP:
        from fleetlib.bootstrap import Bootstrap
        from fleetlib.parameters import Catalog

        params = Catalog.load(REPO).resolve("services-amer", stage="dev")
        home = Path(os.environ["FLEET_HOME"])
        Bootstrap.connect(params, home=home, echo=False).run()
