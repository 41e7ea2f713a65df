"""Every benchmark in bench/ runs: each at a small size, as a user would start it (figures are printed, never
asserted: speed and memory are measured in bench/, not in tests). A benchmark that no longer runs fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

SMALL: dict[str, list[str]] = {
    "tuning.py": ["--clusters", "1", "--days", "1"],
    "troubleshoot.py": ["--objects", "50", "--events", "100"],
    "sandbox_api.py": ["--objects", "200", "--connections", "200"],
    "sandbox_flux.py": ["--apps", "3", "--speed", "30"],
    "fleet_run.py": ["--clusters", "2", "--parallel", "2"],
    "local_stack.py": [],
    "fidelity.py": ["client-get"],
    "tenants.py": ["--apps", "4", "--tenants", "2"],
}
"""Each script of bench/ with the arguments of its smallest useful run."""


def test_every_benchmark_has_a_small_run() -> None:
    assert sorted(SMALL) == sorted(p.name for p in (REPO / "bench").glob("*.py"))


@pytest.mark.parametrize("script", sorted(SMALL))
def test_the_benchmark_runs(script: str, tmp_path: Path) -> None:
    if script in ("local_stack.py", "fidelity.py", "tenants.py"):
        from fleetlab.local.build import build, cache_dir
        from fleetlab.versions import LOCAL

        build(cache_dir(), LOCAL, say=print)  # cached: the local stack's tests build it once
    env = {**os.environ, "FLEET_HOME": str(tmp_path / "home")}
    env.pop("FLEET_SANDBOX_SPEED", None)  # each benchmark sets its own pace
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *SMALL[script]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert done.stdout.strip(), "a benchmark prints its figures"
    print(done.stdout)
