"""Starting, finding and resetting the sandbox: the Kubernetes API (HTTPS) and GitHub (HTTP) servers.

Each process that needs the sandbox runs its own pair of servers on free ports of 127.0.0.1, in
daemon threads that die with the process (no daemon to remember, no stale server). State is shared
through FLEET_HOME: one SQLite database per cluster, the bare repositories, the CA and tokens, so a
bootstrap in one kernel and a troubleshooting run in another see the same cluster.

    sandbox = Sandbox.running(fleet_home())
    sandbox.add_cluster(ClusterId("dev", "services-amer"))
    kubeconfig = sandbox.write_kubeconfig()
"""

from __future__ import annotations

import atexit
import base64
import hmac
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from fleetlab.charts.artifacts import ArtifactStore, publish_demo_chart
from fleetlab.charts.server import ChartServer
from fleetlab.faults import scenarios as faults
from fleetlab.faults.cluster import InProcess
from fleetlab.flux import ControllerSet, FluxSettings, remote
from fleetlab.github.home import github_token, sandbox_root
from fleetlab.github.hub import Hub, HubServer
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.kubehttp import FlakyApi, KubeServer
from fleetlab.kubernetes.store import DamagedState, Store, check_database
from fleetlab.metrics.prometheus import ClusterMetrics, PromServer
from fleetlab.pids import pid_alive
from fleetlab.pki import Pki
from fleetlab.release.manifests import release_asset
from fleetlib.files import private_files, write_atomic
from fleetlib.model import ClusterId


def cluster_db(home: Path, cid: ClusterId) -> Path:
    return sandbox_root(home) / "clusters" / cid.stage / cid.cluster / "state.db"


def context_name(cid: ClusterId) -> str:
    return f"sandbox-{cid.stage}-{cid.cluster}"


@dataclass
class Sandbox:
    """A running sandbox in this process."""

    home: Path
    pki: Pki
    kube: KubeServer
    hub: Hub
    hub_server: HubServer
    prom: PromServer
    _threads: list[threading.Thread]
    settings: FluxSettings = field(default_factory=FluxSettings)
    controllers_enabled: bool = True
    flux: dict[tuple[str, str], ControllerSet] = field(default_factory=dict)
    charts: ChartServer | None = None
    """The Helm repository and OCI registry (charts.fleet.internal, registry.fleet.internal) as an HTTP proxy."""

    _running: ClassVar[dict[Path, Sandbox]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def running(cls, home: Path, *, settings: FluxSettings | None = None) -> Sandbox:
        """The sandbox servers of this process for `home`, started on first use."""
        key = home.resolve()
        with cls._lock:
            if key not in cls._running:
                cls._running[key] = cls.start(key, settings=settings)
            return cls._running[key]

    @classmethod
    def start(cls, home: Path, *, settings: FluxSettings | None = None, controllers: bool = True) -> Sandbox:
        private_files()
        root = sandbox_root(home)
        remove_stale_kubeconfigs(root / "run")
        pki = Pki.ensure(root / "pki")
        kube = KubeServer(("127.0.0.1", 0), {}, token_for=pki.cluster_token, tls=pki.server_context())
        kube.hooks.append(FlakyApi())
        hub = Hub(root / "github", token=github_token(home), releases=release_asset)
        hub_server = HubServer(("127.0.0.1", 0), hub)
        prom = PromServer(("127.0.0.1", 0), {})
        store = ArtifactStore(home)
        publish_demo_chart(store)  # the fleet's Helm repository always offers fleetlib's demo chart, hello 1.0.0
        charts = ChartServer(("127.0.0.1", 0), store)
        threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{n}",
                                    daemon=True)
                   for n, s in (("kube", kube), ("github", hub_server), ("prometheus", prom), ("charts", charts))]
        for t in threads:
            t.start()
        sandbox = cls(home, pki, kube, hub, hub_server, prom, threads, settings or FluxSettings.from_env(),
                      controllers, charts=charts)
        atexit.register(sandbox.stop)
        remote.RESOLVERS.append(sandbox.remote_cluster)
        return sandbox

    def stop(self) -> None:
        if self.remote_cluster in remote.RESOLVERS:
            remote.RESOLVERS.remove(self.remote_cluster)
        for flux in list(self.flux.values()):
            flux.stop()
        self.flux.clear()
        for server in (self.kube, self.hub_server, self.prom, *([self.charts] if self.charts else [])):
            server.shutdown()
            server.server_close()
        with self._lock:
            self._running.pop(self.home.resolve(), None)

    # --- clusters -------------------------------------------------------------------------------

    def add_cluster(self, cid: ClusterId) -> ClusterApi:
        """Serve a cluster and run its controllers (while this process holds the cluster's lease)."""
        key = (cid.stage, cid.cluster)
        with self._lock:
            if key not in self.kube.clusters:
                api = ClusterApi(open_store(self.home, cid), node=f"{cid.cluster}-control-plane",
                                 root_ca=self.pki.ca_pem().decode())
                metrics = ClusterMetrics(api, str(cid))
                api.virtual.update({"metrics.k8s.io/pods": metrics.pod_metrics,
                                    "metrics.k8s.io/nodes": lambda _ns: metrics.node_metrics()})
                self.prom.sources[key] = metrics
                self.kube.clusters[key] = api
                if self.controllers_enabled:
                    self.flux[key] = ControllerSet.start(
                        api, self.hub, self.settings, artifacts=cluster_db(self.home, cid).parent / "artifacts",
                        proxy=self.charts.proxy_url if self.charts else None, working_set=metrics.working_set)
        return self.kube.clusters[key]

    def remote_cluster(self, server: str, token: str | None) -> ClusterApi | None:
        """The cluster of this sandbox a kubeconfig names (a Kustomization's spec.kubeConfig): its URL's
        /clusters/<stage>/<cluster> on the loopback and that cluster's own token; None for anything else."""
        m = re.fullmatch(r"https://127\.0\.0\.1:\d+/clusters/([^/]+)/([^/]+)/?", server)
        if m is None or not token:
            return None
        cid = ClusterId(m.group(1), m.group(2))
        if not hmac.compare_digest(token, self.pki.cluster_token(cid.stage, cid.cluster)):
            return None
        if (cid.stage, cid.cluster) not in self.kube.clusters and not cluster_db(self.home, cid).exists():
            return None
        return self.add_cluster(cid)

    def cluster(self, cid: ClusterId) -> ClusterApi:
        return self.add_cluster(cid)

    def forget_cluster(self, cid: ClusterId) -> None:
        flux = self.flux.pop((cid.stage, cid.cluster), None)
        if flux is not None:
            flux.stop()
        api = self.kube.clusters.pop((cid.stage, cid.cluster), None)
        if api is not None:
            api.store.close()

    def inject_fault(self, cid: ClusterId, scenario: str, *, target: str | None = None, wait: bool = False,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Start a fault scenario on a cluster (see fleetlab.faults.scenarios.SCENARIOS); with `wait`, return
        once the cluster shows it in its Flux conditions."""
        return self.rehearsal(cid).inject(scenario, target=target, wait=wait, progress=progress)

    def clear_fault(self, cid: ClusterId, scenario: str | None = None, *, wait: bool = False,
                    progress: Callable[[str], None] | None = None) -> list[str]:
        """Clear a scenario (or all); with `wait`, return once the cluster shows the recovery."""
        return self.rehearsal(cid).clear(scenario, wait=wait, progress=progress)

    def rehearsal(self, cid: ClusterId) -> faults.Rehearsal:
        return faults.Rehearsal(InProcess(self.add_cluster(cid)), self.hub, f"sandbox cluster {cid}")

    @property
    def kube_port(self) -> int:
        return int(self.kube.server_address[1])

    def server_url(self, cid: ClusterId) -> str:
        return f"https://127.0.0.1:{self.kube_port}/clusters/{cid.stage}/{cid.cluster}"

    def prometheus_url(self, cid: ClusterId) -> str:
        """The cluster's Prometheus (no auth), e.g. http://127.0.0.1:PORT/clusters/dev/services-amer."""
        return f"http://127.0.0.1:{self.prom.server_address[1]}/clusters/{cid.stage}/{cid.cluster}"

    @property
    def github_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_server.server_address[1]}"

    @property
    def github_api_url(self) -> str:
        return self.github_url + "/api/v3"

    def kubeconfig(self, cids: Iterable[ClusterId], *, current: ClusterId | None = None) -> dict[str, Any]:
        cids = list(cids)
        ca = base64.b64encode(self.pki.ca_pem()).decode()
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context_name(c), "cluster": {"server": self.server_url(c),
                                                               "certificate-authority-data": ca}} for c in cids],
            "users": [{"name": context_name(c), "user": {"token": self.pki.cluster_token(c.stage, c.cluster)}}
                      for c in cids],
            "contexts": [{"name": context_name(c), "context": {"cluster": context_name(c), "user": context_name(c),
                                                               "namespace": "default"}} for c in cids],
            "current-context": context_name(current or cids[0]) if cids else "",
        }

    def write_kubeconfig(self, path: Path | None = None, *, current: ClusterId | None = None) -> Path:
        """A kubeconfig with one context per cluster served, `sandbox-<stage>-<cluster>` (mode 0600)."""
        cids = [ClusterId(s, c) for s, c in sorted(self.kube.clusters)]
        if path is None:
            path = sandbox_root(self.home) / "run" / f"kubeconfig-{os.getpid()}.yaml"
            atexit.register(path.unlink, missing_ok=True)
        write_atomic(path, yaml.safe_dump(self.kubeconfig(cids, current=current), sort_keys=False))
        os.chmod(path, 0o600)
        return path


def remove_stale_kubeconfigs(folder: Path) -> list[Path]:
    """Per-process kubeconfigs (they hold bearer tokens) of processes that are gone, e.g. killed kernels."""
    removed = []
    for path in folder.glob("kubeconfig-*.yaml") if folder.is_dir() else []:
        pid = path.stem.removeprefix("kubeconfig-")
        if pid.isdigit() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def reset(home: Path, cid: ClusterId | None = None) -> list[str]:
    """Forget a cluster's state (or, with no cluster, every cluster and the sandbox GitHub)."""
    root = sandbox_root(home)
    removed = []
    targets = [cluster_db(home, cid).parent] if cid else [root / "clusters", root / "github"]
    for target in targets:
        if target.exists():
            shutil.rmtree(target)
            removed.append(str(target))
    for sandbox in list(Sandbox._running.values()):
        if sandbox.home == home.resolve():
            for key in list(sandbox.kube.clusters):
                if cid is None or key == (cid.stage, cid.cluster):
                    sandbox.forget_cluster(ClusterId(*key))
    return removed


def open_store(home: Path, cid: ClusterId) -> Store:
    """A cluster's store; a damaged database file is reported with its path and how to start that cluster afresh."""
    try:
        return Store(cluster_db(home, cid))
    except DamagedState as e:
        raise DamagedState(e.message, hint=f"forget this cluster's state with `fleet sandbox reset --stage {cid.stage} "
                                           f"--cluster {cid.cluster}` (then bootstrap it again), or restore the file "
                                           "from a backup") from None


def status(home: Path) -> list[dict[str, Any]]:
    """One row per cluster folder with sandbox state: objects, resourceVersion, created, and whether it is damaged."""
    rows = []
    base = sandbox_root(home) / "clusters"
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir()) if base.exists() else []:
        row: dict[str, Any] = {"stage": folder.parent.name, "cluster": folder.name, "objects": "-",
                               "resourceVersion": "-", "created": "-", "state": "ok"}
        db = folder / "state.db"
        try:
            check_database(db)
            if not db.exists():
                raise DamagedState(f"{db}: is missing")
            store = Store(db)
            try:
                count = store._db().execute("SELECT COUNT(*) FROM objects").fetchone()[0]
                row.update(objects=int(count), resourceVersion=store.rv(), created=store.meta("initialized"))
            finally:
                store.close()
        except DamagedState as e:
            row["state"] = "damaged: " + e.message.removeprefix(f"{db}: ")
        rows.append(row)
    return rows


def serving_record_path(home: Path) -> Path:
    return sandbox_root(home) / "serve.json"


def stable_kubeconfig(home: Path) -> Path:
    return sandbox_root(home) / "kubeconfig"


def serving_record(home: Path) -> dict[str, Any] | None:
    """What `fleet sandbox serve` wrote, if that process is still alive."""
    path = serving_record_path(home)
    try:
        record = json.loads(path.read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return dict(record)


def write_serving_record(sandbox: Sandbox) -> Path:
    kubeconfig = sandbox.write_kubeconfig(stable_kubeconfig(sandbox.home))
    record = {"pid": os.getpid(), "kube_port": sandbox.kube_port, "github_api_url": sandbox.github_api_url,
              "kubeconfig": str(kubeconfig), "contexts": [f"sandbox-{s}-{c}" for s, c in sorted(sandbox.kube.clusters)]}
    write_atomic(serving_record_path(sandbox.home), json.dumps(record, indent=2))
    return kubeconfig


def clear_serving_record(home: Path) -> None:
    record = serving_record_path(home)
    try:
        if json.loads(record.read_text()).get("pid") == os.getpid():
            record.unlink()
            stable_kubeconfig(home).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def offline(home: Path, cid: ClusterId) -> tuple[ClusterApi, Hub]:
    """A cluster's API semantics and the sandbox GitHub without serving them (for the CLI's one-shot
    changes; the controllers of whichever process holds the cluster's lease act on them)."""
    return (ClusterApi(open_store(home, cid), node=f"{cid.cluster}-control-plane"),
            Hub(sandbox_root(home) / "github", token=github_token(home), releases=release_asset))
