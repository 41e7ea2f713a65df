"""Shared fixtures. FLEET_HOME points at a temporary folder for the whole session (nbmake kernels
inherit it), so tests never touch ~/.fleet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_SESSION_HOME = os.environ["FLEET_HOME"]  # the session's, set by the repository's root conftest.py


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


# --- the sandbox ---------------------------------------------------------------------------------

import itertools  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

from fleetlab.kubernetes.apiserver import ClusterApi  # noqa: E402
from fleetlab.sandbox import Sandbox  # noqa: E402
from fleetlib.model import ClusterId  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return Sandbox.running(Path(_SESSION_HOME))


@pytest.fixture(autouse=True)
def _stop_clusters_a_test_added(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each sandbox cluster runs controller threads; stop the ones a test added, or they pile up."""
    home = Path(_SESSION_HOME).resolve()
    before = set(Sandbox._running[home].kube.clusters) if home in Sandbox._running else set()
    yield
    if request.node.get_closest_marker("keep_clusters") is None and home in Sandbox._running:
        running = Sandbox._running[home]
        for key in set(running.kube.clusters) - before:
            running.forget_cluster(ClusterId(*key))


@dataclass
class SandboxCluster:
    id: ClusterId
    api: ClusterApi
    kubeconfig: Path
    client: k8s.ApiClient
    sandbox: Sandbox

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        import subprocess

        done = subprocess.run([_kubectl(), "--kubeconfig", str(self.kubeconfig), *args], input=input,
                              capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout


def _kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    return str(local) if local.exists() else "kubectl"


def new_cluster(sandbox: Sandbox, stage: str, folder: Path) -> SandboxCluster:
    """A fresh sandbox cluster with a kubeconfig (in `folder`) and an official client."""
    cid = ClusterId(stage, f"c{os.getpid()}-{next(_counter)}")
    api = sandbox.add_cluster(cid)
    path = folder / "kubeconfig"
    sandbox.write_kubeconfig(path, current=cid)
    api_client = k8s_config.new_client_from_config(str(path), context=f"sandbox-{cid.stage}-{cid.cluster}")
    return SandboxCluster(cid, api, path, api_client, sandbox)


@pytest.fixture()
def cluster(sandbox: Sandbox, tmp_path: Path) -> SandboxCluster:
    """A sandbox cluster of its own for one test."""
    return new_cluster(sandbox, "test", tmp_path)



def fleet_with_cluster(root: Path, cluster: str) -> dict[str, str]:
    """A fleet root at `root` (the shipped parameters and one sandbox cluster dev/<cluster> syncing from its own
    repository), as the environment a runbook run takes."""
    shutil.copytree(REPO / "parameters", root / "parameters")
    (root / "parameters" / "dev" / f"{cluster}.yaml").write_text(f"target: sandbox\nrepository: {cluster}\n")
    return {**os.environ, "FLEET_ROOT": str(root)}


def run_runbook(env: dict[str, str], cluster: str, runbook: str, out: Path, *args: str
                ) -> subprocess.CompletedProcess[str]:
    """papermill of a shipped runbook on dev/<cluster>, as a person runs it (`--log-output`)."""
    return subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-output",
                           str(REPO / "runbooks" / f"{runbook}.ipynb"), str(out), "-p", "cluster", cluster,
                           "-p", "stage", "dev", *args], env=env, capture_output=True, text=True, timeout=900,
                          check=False)
