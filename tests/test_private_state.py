"""What the sandbox keeps on disk stays private and sound: after a fleet run of the bootstrap and tuning
runbooks started with a permissive umask, nothing under FLEET_HOME is readable by group or other and the
deploy key's private key is only in the cluster's database; stale per-process kubeconfigs are removed;
damaged databases are reported with their path while the other clusters keep working."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fleetlab.sandbox import Sandbox
from fleetlab.sandbox.server import cluster_db, remove_stale_kubeconfigs, status
from fleetlib.errors import SandboxError
from fleetlib.model import ClusterId

from .conftest import REPO


def fleet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_HOME": str(home)}
    env.pop("FLEET_ROOT", None)
    return subprocess.run([sys.executable, "-m", "fleetlib", *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=900, check=False, umask=0o022)


def private_key(home: Path) -> str:
    db = sqlite3.connect(f"file:{cluster_db(home, ClusterId('dev', 'services-amer'))}?mode=ro", uri=True)
    body = db.execute("SELECT body FROM objects WHERE resource='/secrets' AND namespace='flux-system' "
                      "AND name='flux-system'").fetchone()[0]
    db.close()
    return base64.b64decode(json.loads(body)["data"]["identity"]).decode()


def test_everything_under_fleet_home_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for runbook in ("bootstrap", "tune-resources"):
        done = fleet(home, "run", runbook, "--cluster", "services-amer", "-q")
        assert done.returncode == 0, done.stdout + done.stderr
    readable = [f"{oct(p.stat().st_mode & 0o777)} {p.relative_to(home)}" for p in [home, *home.rglob("*")]
                if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert readable == []
    key = private_key(home)
    assert key.startswith("-----BEGIN") and "PRIVATE KEY" in key
    needles = (key.split("\n")[1].encode(), base64.b64encode(key.encode())[:60])
    holders = [p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()
               and any(n in p.read_bytes() for n in needles)]
    assert holders and all(h.startswith("sandbox/clusters/dev/services-amer/state.db") for h in holders), holders
    leftovers = [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("fleet-bootstrap-*")
                 if p.stat().st_mtime > home.stat().st_ctime and any(n in f.read_bytes() for f in p.rglob("*")
                                                                     if f.is_file() for n in needles)]
    assert leftovers == []


def test_stale_kubeconfigs_of_dead_processes_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    dead = subprocess.run(["true"], check=True)  # noqa: F841 - a pid that has exited
    stale = folder / "kubeconfig-999999999.yaml"
    stale.write_text("token: x")
    mine = folder / f"kubeconfig-{os.getpid()}.yaml"
    mine.write_text("token: y")
    assert remove_stale_kubeconfigs(folder) == [stale]
    assert mine.exists() and not stale.exists()


@pytest.mark.parametrize("damage", ["zero-byte", "truncated", "garbage", "other-sqlite"])
def test_a_damaged_database_is_named_and_the_others_keep_working(tmp_path: Path, damage: str) -> None:
    home = tmp_path / "home"
    sandbox = Sandbox.running(home)
    good, bad = ClusterId("dev", "good"), ClusterId("dev", "bad")
    try:
        sandbox.add_cluster(good)
        sandbox.add_cluster(bad)
        sandbox.forget_cluster(bad)
        path = cluster_db(home, bad)
        for extra in ("-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
        if damage == "zero-byte":
            path.write_bytes(b"")
        elif damage == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 3])
        elif damage == "garbage":
            path.write_bytes(os.urandom(8192))
        else:
            path.unlink()
            sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
        with pytest.raises(SandboxError) as info:
            sandbox.add_cluster(bad)
        message = str(info.value)
        assert str(path) in message and "fleet sandbox reset --stage dev --cluster bad" in message
        assert "\n" not in message
        rows = {row["cluster"]: row for row in status(home)}
        assert rows["good"]["state"] == "ok" and rows["bad"]["state"].startswith("damaged: ")
        assert sandbox.cluster(good).store.rv() > 0  # the other cluster is served as before
        assert path.stat().st_size == (0 if damage == "zero-byte" else path.stat().st_size)  # never re-created
    finally:
        sandbox.stop()
    shutil.rmtree(home)
