"""Sandbox state lives in SQLite under FLEET_HOME: it survives the serving process, and two
processes writing one object never lose an update silently."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kubernetes import client, config

from fleetlab.sandbox import Sandbox
from fleetlib.model import ClusterId

from .conftest import REPO


def worker(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.sandbox_worker", str(home), "dev", "services-amer", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def read_counter(home: Path) -> dict[str, str]:
    sandbox = Sandbox.start(home)
    try:
        cid = ClusterId("dev", "services-amer")
        sandbox.add_cluster(cid)
        path = sandbox.write_kubeconfig(home / "kc.yaml")
        v1 = client.CoreV1Api(config.new_client_from_config(str(path)))
        return v1.read_namespaced_config_map("counter", "default").data
    finally:
        sandbox.stop()


def test_state_survives_a_restart_of_the_serving_process(tmp_path: Path) -> None:
    finish(worker(tmp_path, "create", "counter"))
    assert read_counter(tmp_path) == {"count": "0"}


def test_two_processes_never_lose_an_update(tmp_path: Path) -> None:
    finish(worker(tmp_path, "create", "counter"))
    procs = [worker(tmp_path, "increment", "counter", "25", str(n)) for n in (1, 2)]
    results = [json.loads(finish(p)) for p in procs]
    data = read_counter(tmp_path)
    assert data["count"] == "50", results
    assert len([k for k in data if k.startswith("p")]) == 50
