"""`target: local`: upstream Kubernetes (kube-apiserver, controller-manager, scheduler, etcd), kwok for the
node and pods, and the real Flux controllers, built from the Go module proxy on first use (cached in
$FLEET_LOCAL_CACHE after) and run as host processes. The bootstrap runbook installs Flux for real, the real
source-controller fetches over SSH with the deploy key, and `fleet local down` leaves nothing behind. The
runbooks' acceptance on this target (and every fault scenario) is in test_conformance.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetlab.local.build import build, cache_dir
from fleetlab.local.cluster import LocalCluster, context_name, fleet_kubeconfig
from fleetlab.pids import pid_alive
from fleetlab.versions import LOCAL
from fleetlib.model import ClusterId
from fleetlib.record import read_records

from .conftest import REPO, _kubectl

CLUSTER = "local-amer"
STAGE = "dev"


def _say(text: str) -> None:
    print(text, flush=True)


@pytest.fixture(scope="module")
def built() -> Path:
    """The binaries, built on first use (20-30 min cold on two cores), cached after."""
    build(cache_dir(), LOCAL, say=_say)
    return cache_dir()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fleet root with one cluster whose target is local (its own repository in the sandbox GitHub)."""
    root = tmp_path_factory.mktemp("local-fleet")
    subprocess.run(["cp", "-r", str(REPO / "parameters"), str(root / "parameters")], check=True)
    (root / "parameters" / STAGE / f"{CLUSTER}.yaml").write_text(
        f"target: local\ncontext: {context_name(ClusterId(STAGE, CLUSTER))}\nrepository: fleet-local\n")
    return root


@pytest.fixture(scope="module")
def env(fleet: Path) -> dict[str, str]:
    out = {**os.environ, "FLEET_ROOT": str(fleet), "FLEET_LOCAL_SCRAPE": "2"}
    return out


@pytest.fixture(scope="module")
def cluster(built: Path, env: dict[str, str]) -> Iterator[LocalCluster]:
    home = Path(env["FLEET_HOME"])
    local = LocalCluster(home, ClusterId(STAGE, CLUSTER))
    os.environ["FLEET_LOCAL_SCRAPE"] = "2"  # the supervisor scrapes the controllers every 2 s
    try:
        seconds = local.up(say=_say)
    finally:
        os.environ.pop("FLEET_LOCAL_SCRAPE", None)
    print(f"local cluster API ready in {seconds:.1f} s")
    try:
        yield local
    finally:
        local.down(say=_say)


def kubectl(cluster: LocalCluster, *args: str, check: bool = True, input: str | None = None) -> str:
    done = subprocess.run([_kubectl(), "--kubeconfig", str(fleet_kubeconfig(cluster.home)), "--context",
                           context_name(cluster.cid), *args], capture_output=True, text=True, timeout=120,
                          check=False, input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout + (done.stderr if not check else "")


def papermill(env: dict[str, str], runbook: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-output",
                           str(REPO / "runbooks" / f"{runbook}.ipynb"), str(out), "-p", "cluster", CLUSTER,
                           "-p", "stage", STAGE, *args], env=env, capture_output=True, text=True, timeout=900,
                          check=False)


def test_the_server_is_real_kubernetes(cluster: LocalCluster) -> None:
    out = json.loads(kubectl(cluster, "version", "-o", "json"))
    assert out["serverVersion"]["gitVersion"] == LOCAL.kubernetes
    assert "Ready" in kubectl(cluster, "get", "nodes")


def wait(what: str, test: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def bootstrapped(cluster: LocalCluster, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("local-boot") / "bootstrap.ipynb"
    started = time.monotonic()
    done = papermill(env, "bootstrap", out, "-p", "timeout", "5m")
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"bootstrap on local: {time.monotonic() - started:.1f} s")
    return dict(read_records(out)["bootstrap"])


def test_bootstrap_installs_real_flux_and_syncs_over_ssh(cluster: LocalCluster, bootstrapped: dict[str, Any]) -> None:
    assert bootstrapped["status"] == "changed" and bootstrapped["flux_version"] == LOCAL.flux.version
    revision = bootstrapped["revision"]
    repo = json.loads(kubectl(cluster, "-n", "flux-system", "get", "gitrepository", "flux-system", "-o", "json"))
    assert repo["status"]["artifact"]["revision"] == revision and repo["spec"]["url"].startswith("ssh://git@github.com/")
    ks = json.loads(kubectl(cluster, "-n", "flux-system", "get", "kustomization", "flux-system", "-o", "json"))
    ready = next(c for c in ks["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ks["status"]["lastAppliedRevision"] == revision
    table = kubectl(cluster, "get", "kustomizations", "-A")
    assert table.splitlines()[0].split()[:5] == ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"]
    assert "Applied revision" in table
    assert "interval <string>" in kubectl(cluster, "explain", "kustomization.spec.interval")
    refused = kubectl(cluster, "apply", "-f", "-", check=False, input=(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: bad, namespace: "
        "flux-system}\nspec: {interval: 1x, prune: true}\n"))
    assert "is invalid" in refused and "spec.interval" in refused
    logs = kubectl(cluster, "-n", "flux-system", "logs", "deploy/source-controller", "--tail", "5")
    assert '"level"' in logs  # the real controller's JSON log, served for its kwok pod


def _pid_of(cluster: LocalCluster, name: str) -> int:
    record = cluster.record()
    assert record is not None and name in record["children"], record
    return int(record["children"][name])


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_supervisor_outlives_a_killed_control_plane_process(cluster: LocalCluster, bootstrapped: dict[str, Any],
                                                                component: str) -> None:
    import signal

    supervisor = int((cluster.record() or {})["pid"])
    victim = _pid_of(cluster, component)
    os.kill(victim, signal.SIGKILL)
    wait(f"{component} restarted", lambda: pid_alive(supervisor) and ((cluster.record() or {}).get("children") or {})
         .get(component) not in (None, victim), timeout=60)
    wait("the API server answering again", cluster.api_ready, timeout=90)
    assert pid_alive(supervisor)
    assert "Ready" in kubectl(cluster, "get", "nodes")
    wait("the Flux controllers running", lambda: "source-controller" in ((cluster.record() or {}).get("flux") or []),
         timeout=60)


def test_a_pod_status_from_an_earlier_life_is_corrected(cluster: LocalCluster, bootstrapped: dict[str, Any]) -> None:
    """A status saying CrashLoopBackOff (as left by a supervisor that died while the controller crash-looped)
    while the controller's process runs: the kubelet reports the truth."""
    pod = json.loads(kubectl(cluster, "-n", "flux-system", "get", "pods", "-l", "app=helm-controller", "-o", "json"))[
        "items"][0]["metadata"]["name"]
    stale = {"status": {"containerStatuses": [{"name": "manager", "ready": False, "restartCount": 4, "image": "x",
                                               "imageID": "", "started": False, "state": {"waiting": {
                                                   "reason": "CrashLoopBackOff", "message": "back-off 40s"}}}]}}
    kubectl(cluster, "-n", "flux-system", "patch", "pod", pod, "--subresource", "status", "--type", "merge", "-p",
            json.dumps(stale))

    def running() -> bool:
        status = json.loads(kubectl(cluster, "-n", "flux-system", "get", "pod", pod, "-o", "json"))["status"]
        return any("running" in (c.get("state") or {}) for c in status.get("containerStatuses") or [])

    wait("the pod's status to say running", running, timeout=30)


def test_ports_are_distinct_and_a_shared_pair_is_never_kept(tmp_path: Path) -> None:
    local = LocalCluster(tmp_path, ClusterId(STAGE, "ports"))
    local.state.mkdir(parents=True)
    first = local.allocate_ports()
    first["flux"]["kustomize-controller"]["health"] = first["flux"]["kustomize-controller"]["metrics"]  # as once seen
    busy = socket.socket()
    busy.bind(("127.0.0.1", first["apiserver"]))  # and one taken by another program meanwhile
    (local.state / "ports.json").write_text(json.dumps(first))
    try:
        again = local.allocate_ports()
    finally:
        busy.close()
    flat = [p for k, p in again.items() if isinstance(p, int)] + [p for c in again["flux"].values() for p in c.values()]
    assert len(flat) == len(set(flat))
    assert again["apiserver"] != first["apiserver"] and again["etcd"] == first["etcd"]
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    outgoing = [p for p in flat if low <= p <= high]  # a client connection may hold such a port when it is bound
    assert not outgoing, f"ports in the kernel's ephemeral range {low}-{high}: {outgoing}"
    neighbour = LocalCluster(tmp_path, ClusterId(STAGE, "neighbour"))
    neighbour.state.mkdir(parents=True)
    (neighbour.state / "ports.json").write_text(json.dumps(again))  # as if it had been handed the same ports
    theirs = neighbour.allocate_ports()
    shared = set(flat) & ({p for p in theirs.values() if isinstance(p, int)}
                          | {p for c in theirs["flux"].values() for p in c.values()})
    assert not shared, f"two clusters of one home were given the same ports (their controllers bind late): {shared}"


def test_up_heals_a_cluster_whose_processes_are_gone(built: Path, env: dict[str, str]) -> None:
    import signal

    home = Path(env["FLEET_HOME"])
    local = LocalCluster(home, ClusterId(STAGE, "local-heal"))
    local.up(say=_say)
    try:
        record = local.record()
        assert record is not None
        os.kill(int(record["pid"]), signal.SIGKILL)  # the supervisor, and with it every process of the cluster
        wait("the cluster to be down", lambda: not local.running(), timeout=30)
        said: list[str] = []
        assert local.up(say=said.append) > 0 and local.api_ready(), said  # what `fleet local up` runs
        assert not any("already running" in line for line in said)
    finally:
        local.down(say=_say)


def test_a_crashed_supervisor_leaves_no_orphan(built: Path, env: dict[str, str]) -> None:
    import signal

    home = Path(env["FLEET_HOME"])
    local = LocalCluster(home, ClusterId(STAGE, "local-crash"))
    local.up(say=_say)
    record = local.record()
    assert record is not None
    children = [int(p) for p in record["children"].values()]
    assert children
    os.kill(int(record["pid"]), signal.SIGKILL)  # the kernel kills every child with it (PR_SET_PDEATHSIG)
    wait("the children to die with their supervisor", lambda: not any(pid_alive(p) for p in children), timeout=30)
    local.down(say=_say)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_down_leaves_no_process_and_no_port(built: Path, env: dict[str, str]) -> None:
    home = Path(env["FLEET_HOME"])
    local = LocalCluster(home, ClusterId(STAGE, "local-down"))
    local.up(say=_say)
    ports = local.ports()
    record = local.record()
    assert record is not None
    pids = [int(record["pid"]), *[int(p) for p in record["children"].values()]]
    flat = [p for k, p in ports.items() if isinstance(p, int)] + [p for c in ports["flux"].values() for p in c.values()]
    done = subprocess.run([sys.executable, "-m", "fleetlib", "local", "down", "--all"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [p for p in pids if pid_alive(p)] == []
    assert [p for p in flat if listening(p)] == []
