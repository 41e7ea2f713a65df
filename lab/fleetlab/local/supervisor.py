"""The supervisor of one local cluster: the long-lived process `fleet local up` starts and `fleet local down`
stops. It starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (each killed by the
kernel if the supervisor dies), registers the fake node kwok manages, serves the SSH git endpoint, the
SOCKS proxy, the kubelet log endpoint and the Prometheus-compatible API, and then runs the Flux controllers
the way a kubelet would run their Deployments: a controller process runs while its Deployment exists with
replicas, with the Deployment's own flags (host addresses and storage substituted), GOMEMLIMIT and
GOMAXPROCS from its limits, restarted with a back-off when it exits and when its pod template changes.

    python -m fleetlab.local.supervisor FLEET_HOME STAGE CLUSTER     (started by LocalCluster.up)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from fleetlab.charts.artifacts import ArtifactStore
from fleetlab.charts.server import ChartServer
from fleetlab.github.enterprise import HOST as ENTERPRISE_HOST
from fleetlab.github.home import github_token, sandbox_root
from fleetlab.github.hub import Hub
from fleetlab.github.sshgit import SshGitServer
from fleetlab.kubernetes.defaulting import image_tag
from fleetlab.local.cluster import LocalCluster, wait_http
from fleetlab.local.components import commands as control_plane_commands
from fleetlab.local.components import node_object
from fleetlab.local.endpoints import (
    FlakyApiProxy,
    LogServer,
    SocksProxy,
    serve_in_thread,
)
from fleetlab.local.processes import BACKOFF_MAX, Child
from fleetlab.metrics.prometheus import PromServer
from fleetlab.metrics.scrape import ScrapeStore, Target, pod_samples, scrape
from fleetlib.files import private_files, write_atomic
from fleetlib.model import ClusterId, go_duration
from fleetlib.quantity import parse_quantity

log = logging.getLogger("fleetlab.local.supervisor")
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
LOOP = 2.0
WATCH = 0.5
"""Seconds between looks at the control plane's processes."""
API_TIMEOUT = 10.0
"""Seconds the kubelet's API calls may take (the API server may be restarting)."""
SCRAPE_INTERVAL = float(os.environ.get("FLEET_LOCAL_SCRAPE", "15"))
"""Seconds between scrapes of the controllers' metrics (the tests use 2)."""
_REPLACED = ("--events-addr", "--enable-leader-election", "--storage-path", "--storage-adv-addr", "--storage-addr",
             "--metrics-addr", "--health-addr", "--receiverAddr", "--receiver-addr", "--leader-election-release-on-cancel")


def host_args(controller: str, args: list[str], ports: dict[str, Any], storage: Path) -> list[str]:
    """The Deployment's flags for a host process: in-cluster addresses and paths replaced by loopback ones."""
    own = ports["flux"][controller]
    events = f"http://127.0.0.1:{ports['flux']['notification-controller']['events']}/"
    kept = [a for a in args if a.split("=", 1)[0] not in _REPLACED]
    extra = [f"--metrics-addr=127.0.0.1:{own['metrics']}", f"--health-addr=127.0.0.1:{own['health']}",
             "--enable-leader-election=false"]
    if controller == "notification-controller":
        extra += [f"--events-addr=127.0.0.1:{own['events']}", f"--receiverAddr=127.0.0.1:{own['receiver']}"]
    else:
        extra.append(f"--events-addr={events}")
    if controller == "source-controller":
        extra += [f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{own['storage']}",
                  f"--storage-adv-addr=127.0.0.1:{own['storage']}"]
    return kept + extra


def rss_bytes(pid: int) -> float:
    """The resident memory of a process (what a cgroup's memory limit counts, near enough), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class Shown:
    """What a pod's status says of its manager container."""

    state: str | None = None
    """running, waiting or terminated; None: no status yet."""
    last: bool = False
    """It shows a last termination."""
    ready: bool = False


def _container_state(pod: Any) -> Shown:
    for status in (pod.status.container_statuses or []) if pod.status else []:
        if status.name == "manager" and status.state is not None:
            state = next((s for s in ("running", "waiting", "terminated") if getattr(status.state, s, None)), None)
            return Shown(state, status.last_state is not None and status.last_state.terminated is not None,
                         bool(status.ready))
    return Shown()


def limits_env(container: dict[str, Any]) -> dict[str, str]:
    limits = ((container.get("resources") or {}).get("limits")) or {}
    env = {}
    if limits.get("memory"):
        env["GOMEMLIMIT"] = str(int(parse_quantity(str(limits["memory"]))))
    if limits.get("cpu"):
        env["GOMAXPROCS"] = str(max(1, math.ceil(parse_quantity(str(limits["cpu"])))))
    return env


class FluxKubelet:
    """What a kubelet does for the Flux controllers, which run here as host processes: follow their Deployments
    (start, restart on a changed spec, stop), kill one over its memory limit (OOMKilled), count restarts, and
    put the container's state in its pod's status once it has died (kwok reports the rest)."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.children: dict[str, Child] = {}
        self.specs: dict[str, str] = {}
        self.pods: dict[tuple[str, str], str] = {}
        """(namespace, pod) -> the controller that pod stands for."""
        self.images: dict[str, str] = {}
        self.limits: dict[str, float | None] = {}
        """controller -> its memory limit in bytes: exceeded, the process is killed as the kernel would (OOM)."""
        self.life: dict[str, dict[str, Any]] = {}
        """controller -> restarts, last termination, and what its pod's status last said."""
        self.refused: dict[str, str] = {}
        """controller -> the image its Deployment names that no built binary is (its pods get ImagePullBackOff)."""
        self.pod_states: dict[tuple[str, str], Shown] = {}
        """(namespace, pod) -> what its status shows of the manager container."""

    def follow(self) -> None:
        apps = self.sup.apps()
        core = self.sup.core()
        try:
            deployments = apps.list_deployment_for_all_namespaces(label_selector="app.kubernetes.io/part-of=flux",
                                                                  _request_timeout=API_TIMEOUT).items
            pods = core.list_pod_for_all_namespaces(label_selector=self.pod_selector(),
                                                    _request_timeout=API_TIMEOUT).items
        except (ApiException, OSError) as e:
            log.warning("listing Flux deployments: %s", e)
            return
        wanted: dict[str, tuple[Any, Any]] = {}
        for d in deployments:
            name = d.metadata.name
            if name in self.sup.ports["flux"] and (d.spec.replicas is None or d.spec.replicas > 0):
                container = next((c for c in d.spec.template.spec.containers if c.name == "manager"), None)
                if container is not None:
                    wanted[name] = (d, container)
        self.pods = {(p.metadata.namespace, p.metadata.name): (p.metadata.labels or {}).get("app", "")
                     for p in pods if (p.metadata.labels or {}).get("app") in wanted}
        self.pod_states = {(p.metadata.namespace, p.metadata.name): _container_state(p) for p in pods}
        for name, (_, container) in list(wanted.items()):
            image = str(container.image or "")
            if (image_tag(image) or "latest") != self.sup.cluster.versions.flux.controllers.get(name):
                self.refused[name] = image
                del wanted[name]
            else:
                self.refused.pop(name, None)
        for name in list(self.children):
            if name not in wanted:
                self.children.pop(name).stop()
                self.specs.pop(name, None)
        for name, (deployment, container) in wanted.items():
            self.run_controller(name, deployment, self.sup.api.sanitize_for_serialization(container))
        for name, image in self.refused.items():
            self.report_unpullable(name, image)

    def pod_selector(self) -> str:
        """The controllers' pods carry `app: <controller>` (the release's labels are on the Deployments only)."""
        return f"app in ({','.join(sorted(self.sup.ports['flux']))})"

    def run_controller(self, name: str, deployment: Any, container: dict[str, Any]) -> None:
        namespace = deployment.metadata.namespace
        storage = self.sup.state / "flux" / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        argv = [str(self.sup.cluster.bins / name), *host_args(name, list(container.get("args") or []), self.sup.ports, storage)]
        env = {"KUBECONFIG": str(self.sup.state / "admin.kubeconfig"), "RUNTIME_NAMESPACE": namespace,
               "SOURCE_CONTROLLER_LOCALHOST": f"127.0.0.1:{self.sup.ports['flux']['source-controller']['storage']}",
               **limits_env(container)}
        if name == "source-controller":
            # git over SSH to github.com through SOCKS; Helm repositories and OCI registries over HTTP through the
            # chart server, which serves charts.fleet.internal and registry.fleet.internal and refuses the rest
            env["ALL_PROXY"] = f"socks5://127.0.0.1:{self.sup.ports['socks']}"
            env["HTTP_PROXY"] = env["HTTPS_PROXY"] = f"http://127.0.0.1:{self.sup.ports['charts']}"
            env["NO_PROXY"] = "127.0.0.1,localhost"
        self.images[name] = str(container.get("image") or "")
        spec = hashlib.sha256(json.dumps([argv, env], sort_keys=True).encode()).hexdigest()
        current = self.children.get(name)
        if current is not None and self.specs.get(name) != spec:
            current.stop()
            current = None
        if current is None:
            child = Child(name, argv, self.sup.state / "logs" / f"{name}.log", env=env)
            child.start()
            self.children[name], self.specs[name] = child, spec
            self.life[name] = {"restarts": 0, "last": None, "dead": False, "reported": None}
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            self.limits[name] = parse_quantity(str(limit)) if limit else None
            log.info("started %s (pid %s)", name, child.pid)
        else:
            current.keep_running()

    def watch(self) -> None:
        """What a kubelet does for the controllers' containers: kill one over its memory limit (OOMKilled), count
        restarts, and put the container's state in its pod's status once it has died (kwok reports the rest)."""
        for name, child in list(self.children.items()):
            life = self.life.setdefault(name, {"restarts": 0, "last": None, "dead": False, "reported": None})
            limit = self.limits.get(name)
            if child.alive() and limit and child.pid and rss_bytes(child.pid) > limit:
                log.warning("%s uses more than its memory limit; killed (OOMKilled)", name)
                life["oom"] = True
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.process.wait(5)  # type: ignore[union-attr]
                except (ProcessLookupError, OSError):
                    pass
            if child.process is not None and not child.alive() and not life["dead"]:
                code = child.process.returncode
                oom = bool(life.pop("oom", False))
                life["last"] = {"exitCode": 137 if oom else abs(code or 0),
                                "reason": "OOMKilled" if oom else ("Error" if code else "Completed"),
                                "startedAt": _stamp(time.time() - (time.monotonic() - child.started_at)),
                                "finishedAt": _stamp(time.time())}
                life["restarts"] += 1
                life["dead"] = True
            elif child.alive():
                life["dead"] = False
            if self.untrue(name, child):
                life["reported"] = None  # whatever was reported last, the pod does not say it now
                self.report_container(name, child, life)
            elif life["restarts"]:
                self.report_container(name, child, life)

    def untrue(self, name: str, child: Child) -> bool:
        """A pod of the controller whose status says other than its process does (a status from before this
        supervisor started, when the process crash-looped then; a pod reported not ready in the process's first
        seconds, or one the rollout made while the old pod still showed its last termination): the kubelet
        reports the truth."""
        life = self.life.get(name) or {}
        for key, shown in self.pod_states.items():
            if self.pods.get(key) != name:
                continue
            if shown.state not in (None, "running" if child.alive() else "waiting") or \
                    (shown.last and not life.get("last")) or \
                    (shown.state is not None and shown.ready != self.ready(child)):
                return True
        return False

    @staticmethod
    def ready(child: Child) -> bool:
        """Ready once the process has run 2 s (the controllers' readiness probe passes about then)."""
        return child.alive() and time.monotonic() - child.started_at > 2

    def report_unpullable(self, name: str, image: str) -> None:
        """A Deployment naming a controller version this stack did not build: its pods say what a kubelet says of
        an image it cannot pull, naming the versions it can run (never a pod claiming one version while another
        runs)."""
        built = self.sup.cluster.versions
        message = (f'Back-off pulling image "{image}": the local stack runs {name} '
                   f"{built.flux.controllers.get(name, '(not built)')} only (Flux {built.flux.version}); "
                   f"install Flux {built.flux.version}, or rehearse other releases on the sandbox")
        status = {"name": "manager", "ready": False, "started": False, "restartCount": 0, "image": image,
                  "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}}
        self._patch_pods(name, lambda _namespace, _pod: status, ready=False)

    def _patch_pods(self, name: str, status_of: Callable[[str, str], dict[str, Any]], *, ready: bool) -> None:
        """Put the manager container's status (per namespace and pod) in each pod of the controller, once."""
        core = self.sup.core()
        life = self.life.setdefault(name, {"restarts": 0, "last": None, "dead": False, "reported": None})
        for (namespace, pod), app in list(self.pods.items()):
            if app != name:
                continue
            status = status_of(namespace, pod)
            key = json.dumps([pod, status], sort_keys=True)
            if life.get("reported") == key:
                continue
            conds = [{"type": t, "status": "True" if ready else "False", "lastTransitionTime": _stamp(time.time())}
                     for t in ("Ready", "ContainersReady")]
            try:
                core.patch_namespaced_pod_status(pod, namespace, {"status": {"containerStatuses": [status],
                                                                             "conditions": conds}},
                                                 _request_timeout=API_TIMEOUT)
                life["reported"] = key
            except (ApiException, OSError) as e:
                log.debug("reporting %s: %s", pod, e)

    def report_container(self, name: str, child: Child, life: dict[str, Any]) -> None:
        ready = self.ready(child)

        def status(namespace: str, pod: str) -> dict[str, Any]:
            if child.alive():
                state: dict[str, Any] = {"running": {"startedAt": _stamp(time.time() - (time.monotonic()
                                                                                          - child.started_at))}}
            else:
                backoff = min(BACKOFF_MAX, 10.0 * 2 ** max(0, child.restarts - 1))
                state = {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {go_duration(backoff)} "
                                     f"restarting failed container=manager pod={pod}_{namespace}"}}
            return {"name": "manager", "ready": ready, "started": child.alive(), "restartCount": life["restarts"],
                    "state": state, "lastState": {"terminated": life["last"]} if life["last"] else None,
                    "image": self.images.get(name, ""), "imageID": ""}

        self._patch_pods(name, status, ready=ready)


class Supervisor:
    def __init__(self, home: Path, cid: ClusterId) -> None:
        self.cluster = LocalCluster(home, cid)
        self.home = home
        self.state = self.cluster.state
        self.ports = self.cluster.saved_ports()
        self.stop_event = threading.Event()
        self.children: dict[str, Child] = {}
        self.kubelet = FluxKubelet(self)
        self.api: Any = None
        """The official client's ApiClient once the API server answers."""
        self.metrics = ScrapeStore(self.state / "metrics.db", interval=SCRAPE_INTERVAL)
        self.servers: list[Any] = []

    # --- record -------------------------------------------------------------------------------------

    def write_record(self, *, ready: bool) -> None:
        children = {name: c.pid for name, c in {**self.children, **self.kubelet.children}.items() if c.alive()}
        write_atomic(self.state / "supervisor.json", json.dumps(
            {"pid": os.getpid(), "ready": ready, "children": children,
             "flux": sorted(n for n, c in self.kubelet.children.items() if c.alive())}))

    # --- control plane ------------------------------------------------------------------------------

    def start_control_plane(self) -> None:
        commands = control_plane_commands(self.cluster, self.ports)
        logs = self.state / "logs"
        for name in CONTROL_PLANE:
            self.children[name] = Child(name, commands[name], logs / f"{name}.log")
        self.children["etcd"].start()
        if not wait_http(f"http://127.0.0.1:{self.ports['etcd']}/health", timeout=60):
            raise RuntimeError("etcd did not become healthy in 60 s")
        self.children["kube-apiserver"].start()
        deadline = time.monotonic() + 90
        while True:
            try:
                if self.cluster.get("/readyz") == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or not self.children["kube-apiserver"].alive():
                raise RuntimeError("kube-apiserver did not become ready in 90 s")
            time.sleep(0.3)
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self.children[name].start()
        self.api = k8s_config.new_client_from_config(str(self.state / "admin.kubeconfig"))
        self.register_node()

    # The official client's APIs, typed Any: it takes plain dicts for bodies (its stubs want its models).
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api)

    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api)

    def register_node(self) -> None:
        core = self.core()
        node = node_object(self.cluster)
        try:
            core.create_node(node)
        except ApiException as e:
            if e.status != 409:
                raise
        endpoint = {"daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports["kubelet"]}},
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                  {"type": "Hostname", "address": self.cluster.node}]}
        core.patch_node_status(self.cluster.node, {"status": {**node["status"], **endpoint}})

    # --- endpoints ----------------------------------------------------------------------------------

    def start_endpoints(self) -> None:
        hub = Hub(sandbox_root(self.home) / "github", token=github_token(self.home))
        pki = self.cluster.pki()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki.path("kubelet.crt"), pki.path("kubelet.key"))
        ssh = SshGitServer(("127.0.0.1", self.ports["ssh"]), hub)
        ssh_hosts = ("github.com", ENTERPRISE_HOST)  # the sandbox GitHub, also as an Enterprise host (target live)
        socks = SocksProxy(("127.0.0.1", self.ports["socks"]),
                           {(host, 22): ("127.0.0.1", self.ports["ssh"]) for host in ssh_hosts})
        logs = LogServer(("127.0.0.1", self.ports["kubelet"]), resolve=self.log_file, tls=tls)
        prom = PromServer(("127.0.0.1", self.ports["prometheus"]),
                          {(self.cluster.cid.stage, self.cluster.cid.cluster): self.metrics})  # type: ignore[dict-item]
        charts = ChartServer(("127.0.0.1", self.ports["charts"]), ArtifactStore(self.home))
        serve = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serve.load_cert_chain(pki.path("apiserver.crt"), pki.path("apiserver.key"))
        serve.load_verify_locations(pki.path("ca.crt"))
        serve.verify_mode = ssl.CERT_REQUIRED  # only holders of the cluster's client certificates
        connect = ssl.create_default_context(cafile=str(pki.path("ca.crt")))
        connect.load_cert_chain(pki.path("admin.crt"), pki.path("admin.key"))
        proxy = FlakyApiProxy(("127.0.0.1", self.ports["apiproxy"]), upstream=("127.0.0.1", self.ports["apiserver"]),
                              serve=serve, connect=connect, flaky=self.cluster.flaky)
        for server, name in ((ssh, "ssh"), (socks, "socks"), (logs, "kubelet-logs"), (prom, "prometheus"),
                             (charts, "charts"), (proxy, "api-proxy")):
            serve_in_thread(server, name)
            self.servers.append(server)
        threading.Thread(target=self.scrape_loop, name="scrape", daemon=True).start()

    def log_file(self, namespace: str, pod: str, container: str) -> Path | None:
        controller = self.kubelet.pods.get((namespace, pod))
        if controller is None or container != "manager":
            return None
        return self.state / "logs" / f"{controller}.log"

    # --- the Flux controllers, following their Deployments -------------------------------------------

    # --- metrics ------------------------------------------------------------------------------------

    def scrape_loop(self) -> None:
        while not self.stop_event.wait(SCRAPE_INTERVAL):
            try:
                self.scrape_once()
            except Exception:  # a failed scrape is a gap in the graph, as in Prometheus
                log.debug("scrape failed", exc_info=True)

    def scrape_once(self) -> None:
        core = self.core()
        pods = self.api.sanitize_for_serialization(
            core.list_pod_for_all_namespaces(label_selector=self.kubelet.pod_selector()).items)
        now = time.time()
        samples = pod_samples(pods)
        for pod in pods:
            app = (pod["metadata"].get("labels") or {}).get("app", "")
            child = self.kubelet.children.get(app)
            if child is None or not child.alive():
                continue
            image = next((c.get("image", "") for c in pod["spec"].get("containers") or [] if c.get("name") == "manager"), "")
            target = Target(f"http://127.0.0.1:{self.ports['flux'][app]['metrics']}/metrics", pod["metadata"]["namespace"],
                            pod["metadata"]["name"], pod["spec"].get("nodeName", ""), image)
            try:
                samples += scrape(target)
            except OSError:
                continue
        self.metrics.add(now, samples)

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        self.write_record(ready=False)
        try:
            self.start_control_plane()
            self.start_endpoints()
            self.write_record(ready=True)
            log.info("local cluster %s ready", self.cluster.cid)
            threading.Thread(target=self.watch_control_plane, name="control-plane", daemon=True).start()
            while not self.stop_event.wait(LOOP):
                try:  # the API server may be restarting: this pass fails, the next one goes on
                    self.kubelet.follow()
                    self.kubelet.watch()
                except Exception:  # the supervisor outlives any one failure; its children depend on it
                    log.warning("a kubelet pass failed", exc_info=True)
                self.write_record(ready=True)
        finally:
            self.shutdown()

    def watch_control_plane(self) -> None:
        """Restart a control-plane process that died (kill -9 included) with the kubelet's back-off, in a loop of
        its own: the kubelet's pass may wait on an API server that is itself down."""
        while not self.stop_event.wait(WATCH):
            for child in self.children.values():
                try:
                    if child.keep_running():
                        log.warning("%s exited (%s); restarted", child.name, child.last_exit)
                except Exception:
                    log.warning("restarting %s failed", child.name, exc_info=True)

    def shutdown(self) -> None:
        for child in self.kubelet.children.values():
            child.stop()
        for name in reversed(CONTROL_PLANE):
            if name in self.children:
                self.children[name].stop()
        for server in self.servers:
            server.shutdown()
            server.server_close()
        (self.state / "supervisor.json").unlink(missing_ok=True)
        log.info("local cluster %s stopped", self.cluster.cid)


def main(argv: list[str]) -> int:
    private_files()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home, stage, cluster = Path(argv[0]), argv[1], argv[2]
    try:
        Supervisor(home, ClusterId(stage, cluster)).run()
    except Exception:
        log.exception("the supervisor failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
