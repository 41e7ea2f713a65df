"""The runbook boundary as papermill crosses it: values arrive as strings (`-p rotate_key false`), a bad one
stops the run in its first cell before anything connects, and progress lines say what is really talked to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from fleetlab.sandbox import Sandbox
from fleetlib.bootstrap import Bootstrap
from fleetlib.parameters import Catalog

from .conftest import REPO
from .test_bad_input import snapshot


def papermill(home: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_HOME": str(home)}
    env.pop("FLEET_ROOT", None)
    return subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-output",
                           str(REPO / "runbooks/bootstrap.ipynb"), str(out), "-p", "cluster", "services-amer", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_a_bad_value_stops_the_run_in_its_first_cell(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(home, REPO / "parameters")
    done = papermill(home, tmp_path / "out.ipynb", "-p", "dry_run", "maybe")
    assert done.returncode != 0
    assert "ParameterError: runbook parameters: key 'dry_run': must be True or False (true/false also), not 'maybe'" \
        in done.stderr
    assert "runbook.start" in done.stderr  # the cell that failed is the one that checks the parameters
    assert snapshot(home, REPO / "parameters") == before  # nothing connected: no sandbox state, no key


def test_false_spelled_as_yaml_spells_it_plans_no_key_rotation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sandbox = Sandbox.running(home)
    try:
        params = Catalog.load(REPO).resolve("services-amer", stage="dev")
        Bootstrap.connect(params, home=home, echo=False, timeout="120s").run()
        done = papermill(home, tmp_path / "out.ipynb", "-p", "rotate_key", "false", "-p", "dry_run", "True")
        assert done.returncode == 0, done.stderr[-2000:]
        said = done.stderr.replace("\n  ", " ")  # progress lines wrap at 100 columns, continued two spaces in
        assert "✔ source secret up to date" in said
        assert "would generate" not in said and "/keys" not in said
        # say what is real: the sandbox GitHub, by its address, and no claim that a token was validated
        assert re.search(r"► connecting to the sandbox GitHub at http://127\.0\.0\.1:\d+ \(as github\.com\)", said)
        assert "no real token is used" in said and "token valid" not in said
        assert "► connecting to the sandbox API server at https://127.0.0.1:" in said
    finally:
        sandbox.stop()


def test_a_refused_token_is_removed_from_the_output_notebook(tmp_path: Path) -> None:
    token = "ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt" * 2
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "out.ipynb"
    done = papermill(home, out, "-p", "author_name", token)
    assert done.returncode != 0 and token not in done.stderr
    assert "papermill wrote the value into out.ipynb's parameters cell" in done.stderr
    deadline = time.monotonic() + 15
    while token in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert token not in out.read_text() and "<redacted>" in out.read_text()
