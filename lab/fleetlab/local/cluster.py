"""One local cluster: its state folder `FLEET_HOME/local/<stage>/<cluster>/`, the ports it runs on, the
command line of each process, its kubeconfig context `local-<stage>-<cluster>` (in the fleet kubeconfig
`FLEET_HOME/local/kubeconfig`), and up/down/status of its supervisor (fleetlab.local.supervisor), the one
long-lived process that owns every other: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
kwok, the Flux controllers, and the endpoints beside them (the SSH git endpoint and the SOCKS proxy that
leads source-controller to it, the kubelet log endpoint, the Prometheus scraper).

Why our own orchestration rather than kwokctl's binary runtime: the Flux controllers, the SSH endpoint and
the log endpoint must run beside the control plane with ports we choose and follow the cluster's own
Deployments; one supervisor that starts everything (and whose death takes everything with it) is simpler
than driving kwokctl and a second process manager.

    cluster = LocalCluster(fleet_home(), ClusterId("dev", "services-amer"))
    cluster.up(say=print)            # returns when the API server is ready
    cluster.down()
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleetlab.local.components import write_kwok_config
from fleetlab.local.pki import LocalPki
from fleetlab.pids import pid_alive
from fleetlab.versions import LOCAL, LocalVersions, bin_dir
from fleetlib.errors import ClusterError, InputError
from fleetlib.files import make_private_dir, write_atomic
from fleetlib.model import ClusterId

Say = Callable[[str], None]
READY_TIMEOUT = 120.0
FLUX_ROLES = {"source-controller": ("metrics", "health", "storage"),
              "kustomize-controller": ("metrics", "health"),
              "helm-controller": ("metrics", "health"),
              "notification-controller": ("metrics", "health", "events", "receiver")}
PORT_ROLES = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kubelet", "ssh", "socks",
              "prometheus", "kwok-metrics", "charts", "apiproxy")
def local_root(home: Path) -> Path:
    return home / "local"


def context_name(cid: ClusterId) -> str:
    return f"local-{cid.stage}-{cid.cluster}"


def fleet_kubeconfig(home: Path) -> Path:
    return local_root(home) / "kubeconfig"


def _listen_range() -> tuple[int, int] | None:
    """Where the stack's listening ports are chosen: below the kernel's ephemeral range, which it hands to
    outgoing connections. A port taken from that range (bind to 0) is free when chosen but may be a client
    connection's own port by the time a controller starts minutes later; its bind then fails and the controller
    crash-loops. (With an ephemeral range that starts low, the ports above it; None: no room outside it.)"""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low >= 20000:
        return 10000, low
    return (high + 1, 65536) if high < 60000 else None


LISTEN_RANGE = _listen_range()


def _bound(port: int) -> socket.socket | None:
    """A socket bound to 127.0.0.1:`port` (0: any free one), or None when that port is in use."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return sock


def _ports_of_other_clusters(root: Path, own: Path) -> set[int]:
    """The ports every other cluster under `root` has chosen (its ports.json), running or not."""
    taken: set[int] = set()
    for path in root.glob("*/*/ports.json"):
        if path.parent == own:
            continue
        try:
            ports = dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        taken.update(p for p in ports.values() if isinstance(p, int))
        taken.update(p for roles in (ports.get("flux") or {}).values() for p in roles.values())
    return taken


@dataclass(frozen=True)
class LocalCluster:
    home: Path
    cid: ClusterId
    versions: LocalVersions = LOCAL

    @property
    def state(self) -> Path:
        return local_root(self.home) / self.cid.stage / self.cid.cluster

    @property
    def bins(self) -> Path:
        return bin_dir(self.versions)

    @property
    def node(self) -> str:
        return f"{self.cid.cluster}-control-plane"

    def pki(self) -> LocalPki:
        return LocalPki.ensure(self.state / "pki")

    # --- ports and the supervisor's record --------------------------------------------------------

    def allocate_ports(self) -> dict[str, Any]:
        """The cluster's ports, all distinct and checked free together (each held bound until every one is chosen):
        the ones it used before where they still are (the node and the kubeconfig keep pointing at them), new ones
        otherwise, so a port two roles once shared is never handed out twice again. Ports another cluster of this
        home has chosen are never taken, bound yet or not (its controllers bind theirs when Flux is installed)."""
        try:
            old = dict(json.loads((self.state / "ports.json").read_text()))
        except (OSError, ValueError):
            old = {}
        others = _ports_of_other_clusters(local_root(self.home), self.state)
        held: dict[int, socket.socket] = {}

        def take(port: Any) -> int:
            if isinstance(port, int) and port not in held and port not in others:
                sock = _bound(port)
                if sock is not None:
                    held[port] = sock
                    return port
            while True:  # a port that is bound is never chosen twice, so these are distinct
                sock = _bound(random.randrange(*LISTEN_RANGE) if LISTEN_RANGE else 0)
                if sock is not None and int(sock.getsockname()[1]) in others:
                    sock.close()
                elif sock is not None:
                    got = int(sock.getsockname()[1])
                    held[got] = sock
                    return got

        try:
            ports: dict[str, Any] = {role: take(old.get(role)) for role in PORT_ROLES}
            ports["flux"] = {c: {r: take((old.get("flux") or {}).get(c, {}).get(r)) for r in roles}
                             for c, roles in FLUX_ROLES.items()}
        finally:
            for sock in held.values():
                sock.close()
        write_atomic(self.state / "ports.json", json.dumps(ports, indent=1))
        return ports

    def ports(self) -> dict[str, Any]:
        try:
            if not (self.state / "supervisor.json").exists():
                raise OSError("not running")
            return dict(json.loads((self.state / "ports.json").read_text()))
        except (OSError, ValueError):
            raise ClusterError(f"local cluster {self.cid} is not running", hint=f"start it: fleet local up --stage "
                               f"{self.cid.stage} --cluster {self.cid.cluster}") from None

    def saved_ports(self) -> dict[str, Any]:
        """The ports `up` chose (for the supervisor, which starts before it is recorded as running)."""
        return dict(json.loads((self.state / "ports.json").read_text()))

    def record(self) -> dict[str, Any] | None:
        """The supervisor's record (pid, children), if the supervisor is alive."""
        try:
            record = dict(json.loads((self.state / "supervisor.json").read_text()))
        except (OSError, ValueError):
            return None
        return record if pid_alive(int(record.get("pid", 0))) else None

    def running(self) -> bool:
        return self.record() is not None

    # --- kubeconfigs --------------------------------------------------------------------------------

    def server(self) -> str:
        return f"https://127.0.0.1:{self.saved_ports()['apiserver']}"

    @property
    def faults_file(self) -> Path:
        """The cluster's fault records (fleetlab.faults.scenarios), read by its supervisor."""
        return self.state / "faults.json"

    def flaky(self) -> bool:
        """Whether the api-flaky scenario is on: clients then talk through the flaky API proxy."""
        try:
            return "api-flaky" in json.loads(self.faults_file.read_text())
        except (OSError, ValueError):
            return False

    def fault_kube(self) -> Any:
        """The cluster for fault scenarios: the API server directly (never through the flaky proxy), records in
        faults.json; each change rewrites the fleet kubeconfig (api-flaky points it at the proxy)."""
        from kubernetes import config

        from fleetlab.faults.cluster import OverHttp

        client = config.new_client_from_config(str(self.state / "admin.kubeconfig"))
        return OverHttp(client, self.faults_file, on_change=lambda _records: update_fleet_kubeconfig(self.home))

    def _kubeconfig_entry(self, *, direct: bool = False) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pki = self.pki()

        def b64(name: str) -> str:
            return base64.b64encode(pki.path(name).read_bytes()).decode()

        name = context_name(self.cid)
        server = self.server()
        if not direct and self.flaky():
            server = f"https://127.0.0.1:{self.saved_ports()['apiproxy']}"
        return ({"name": name, "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}},
                {"name": name, "user": {"client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}},
                {"name": name, "context": {"cluster": name, "user": name}})

    def admin_kubeconfig(self) -> Path:
        """A kubeconfig of this cluster alone (current context set), for its own processes."""
        cluster, user, context = self._kubeconfig_entry(direct=True)
        path = self.state / "admin.kubeconfig"
        write_atomic(path, yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user],
                                           "contexts": [context], "current-context": context["name"]}))
        return path

    # --- lifecycle ---------------------------------------------------------------------------------

    def check_built(self) -> None:
        missing = [name for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                                     *self.versions.flux.controllers) if not (self.bins / name).exists()]
        if missing:
            raise InputError(f"the local stack is not built ({', '.join(missing)} missing in {self.bins})",
                             hint="build it once with `fleet local build` (20-30 min cold, cached after)")

    def up(self, *, say: Say = print, timeout: float = READY_TIMEOUT) -> float:
        """Start the supervisor (if not running) and wait until the API server answers; returns the seconds."""
        self.check_built()
        started = time.monotonic()
        if self.running():
            if self._heals(timeout):
                say(f"✔ local cluster {self.cid} is already running ({self.server()})")
                return 0.0
            say(f"► local cluster {self.cid} did not answer within {timeout:.0f} s: starting it again")
            self.down(say=lambda _: None)
        make_private_dir(self.state)
        self.pki()
        ports = self.allocate_ports()
        self.admin_kubeconfig()
        write_kwok_config(self)
        log = self.state / "logs" / "supervisor.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            supervisor = subprocess.Popen([sys.executable, "-m", "fleetlab.local.supervisor", str(self.home),
                                           self.cid.stage, self.cid.cluster], stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                          env={**os.environ, "FLEET_HOME": str(self.home)})
        say(f"► starting local cluster {self.cid}: etcd, kube-apiserver :{ports['apiserver']}, controller-manager, "
            "scheduler, kwok")
        deadline = time.monotonic() + timeout
        while not self.api_ready():
            if time.monotonic() > deadline or supervisor.poll() is not None:
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                self.down(say=lambda _: None)
                why = "its supervisor exited" if supervisor.poll() is not None else \
                    f"the API server was not ready within {timeout:.0f} s"
                raise ClusterError(f"local cluster {self.cid}: {why}",
                                   hint=f"see {self.state / 'logs'}; the supervisor's last words: "
                                        f"{' '.join(tail.split()[-40:])}")
            time.sleep(0.5)
        update_fleet_kubeconfig(self.home)
        seconds = time.monotonic() - started
        say(f"✔ local cluster {self.cid} API ready in {seconds:.1f} s (context {context_name(self.cid)})")
        return seconds

    def _heals(self, timeout: float) -> bool:
        """A running supervisor restarts what died; wait for its API server to answer again."""
        deadline = time.monotonic() + timeout
        while not self.api_ready():
            if time.monotonic() > deadline or not self.running():
                return False
            time.sleep(0.5)
        return True

    def api_ready(self) -> bool:
        record = self.record()
        if record is None or not record.get("ready"):
            return False
        try:
            return self.get("/readyz") == b"ok"
        except OSError:
            return False

    def get(self, path: str, *, timeout: float = 5.0) -> bytes:
        """A GET on the API server with the admin certificate (for readiness and small reads)."""
        pki = self.pki()
        ctx = ssl.create_default_context(cafile=str(pki.path("ca.crt")))
        ctx.load_cert_chain(pki.path("admin.crt"), pki.path("admin.key"))
        with urllib.request.urlopen(self.server() + path, context=ctx, timeout=timeout) as resp:
            return bytes(resp.read())

    def down(self, *, say: Say = print, timeout: float = 60.0) -> list[int]:
        """Stop the supervisor (it stops every child); kill any recorded child still alive. Returns leftover
        pids that had to be killed."""
        record = None
        try:
            record = json.loads((self.state / "supervisor.json").read_text())
        except (OSError, ValueError):
            pass
        pids = [int(record["pid"])] if record else []
        children = [int(p) for p in (record or {}).get("children", {}).values() if p]
        if pids and pid_alive(pids[0]):
            os.kill(pids[0], signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pids[0]) and time.monotonic() < deadline:
                time.sleep(0.2)
        killed = []
        for pid in [*pids, *children]:
            if pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                killed.append(pid)
        (self.state / "supervisor.json").unlink(missing_ok=True)
        update_fleet_kubeconfig(self.home)
        say(f"✔ local cluster {self.cid} stopped" + (f" (killed leftovers {killed})" if killed else ""))
        return killed

    def status(self) -> dict[str, Any]:
        record = self.record()
        row: dict[str, Any] = {"stage": self.cid.stage, "cluster": self.cid.cluster, "state": "stopped",
                               "api": "-", "flux": "-", "pid": "-"}
        if record is None:
            return row
        row.update(state="running", pid=record["pid"], api=self.server() if self.api_ready() else "not ready",
                   flux=", ".join(sorted(record.get("flux") or [])) or "none")
        return row


def all_clusters(home: Path) -> list[LocalCluster]:
    root = local_root(home)
    return [LocalCluster(home, ClusterId(p.parent.name, p.name)) for p in sorted(root.glob("*/*")) if p.is_dir()]


def update_fleet_kubeconfig(home: Path) -> Path:
    """The fleet kubeconfig: one context per running local cluster."""
    running = [c for c in all_clusters(home) if c.running()]
    entries = [c._kubeconfig_entry() for c in running]
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [e[0] for e in entries], "users": [e[1] for e in entries], "contexts": [e[2] for e in entries],
           "current-context": entries[0][2]["name"] if entries else ""}
    path = fleet_kubeconfig(home)
    write_atomic(path, yaml.safe_dump(doc, sort_keys=False))
    os.chmod(path, 0o600)
    return path


def wait_http(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # a loopback URL
                if resp.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.3)
    return False
