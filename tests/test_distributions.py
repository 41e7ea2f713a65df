"""Two distributions: fleetlib (the runbooks' library, what a platform engineer installs next to a real cluster)
and fleetlab (lab/: the stand-ins). fleetlib's wheel holds no stand-in and does not need paramiko; importing the
runbook layer loads no stand-in; without fleetlab, `fleet` works for live fleets and says in one line what to
install for the sandbox and the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from .conftest import REPO


def test_fleetlibs_wheel_holds_no_stand_in_and_needs_no_paramiko(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                           str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next(tmp_path.glob("fleetlib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("fleetlib/runbook.py") for n in names)
    assert not [n for n in names if n.startswith(("fleetlab/", "fleetlib/sandbox/", "fleetlib/local/",
                                                  "fleetlib/fidelity/"))]
    metadata = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("METADATA"))
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not [r for r in requires if "paramiko" in r]


def test_the_runbook_layer_imports_no_stand_in() -> None:
    code = ("import sys, fleetlib.runbook, fleetlib.cli; "
            "print([m for m in sys.modules if m.split('.')[0] in ('fleetlab', 'paramiko')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_without_fleetlab_fleet_works_and_a_stand_in_target_says_what_to_install(tmp_path: Path) -> None:
    """A clean venv with fleetlib's wheel installed and fleetlib's dependencies taken from this one (but not
    fleetlab, whose entry points are what the stand-ins are found by)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    site = next((env_dir / "lib").glob("python3.*/site-packages"))
    ours = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "papermill").is_dir())
    # this venv's packages, without the stand-ins' and fleetlib's own (installed from the wheel below)
    visible = tmp_path / "deps"
    visible.mkdir()
    for entry in ours.iterdir():
        if entry.name.startswith(("fleetlab", "fleetlib", "__editable__", "paramiko", "_fleetlab", "_fleetlib")):
            continue
        (visible / entry.name).symlink_to(entry)
    (site / "deps.pth").write_text(str(visible) + "\n")
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheel_dir),
                    str(REPO)], capture_output=True, text=True, timeout=300, check=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                           str(next(wheel_dir.glob("*.whl")))], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    env = {**os.environ, "FLEET_ROOT": str(REPO), "PYTHONPATH": ""}
    fleet = [str(python), "-m", "fleetlib"]
    clusters = subprocess.run([*fleet, "clusters"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert clusters.returncode == 0 and "services-amer" in clusters.stdout, clusters.stderr
    serve = subprocess.run([*fleet, "sandbox", "serve"], capture_output=True, text=True, env=env, timeout=120,
                           check=False)
    assert serve.returncode == 2 and serve.stderr.count("\n") == 1, serve.stderr
    assert "fleetlab" in serve.stderr and "pip install -e ./lab" in serve.stderr
    code = ("from fleetlib.runbook import start\n"
            "try:\n    start('troubleshoot', {'cluster': 'services-amer'})\n"
            "except Exception as e:\n    print(json.dumps(str(e)))\n")
    started = subprocess.run([str(python), "-c", "import json\n" + code], capture_output=True, text=True, env=env,
                             timeout=120, check=False)
    said = json.loads(started.stdout)
    assert "key 'target'" in said and "fleetlab" in said and "pip install -e ./lab" in said and "\n" not in said
    assert subprocess.run([str(python), "-c", "import paramiko"], capture_output=True, env=env,
                          check=False).returncode != 0
