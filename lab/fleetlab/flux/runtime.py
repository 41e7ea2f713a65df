"""What the mini-Flux controllers of one sandbox cluster share: the API, a scaled clock, events as
the Kubernetes event recorder writes them, controller logs in Flux's JSON format (served through the
controller pods' logs), the cluster's faults, and the lease that lets one controller set run.

    rt = Runtime(api, hub, settings, artifacts=path)
    rt.event(obj, "Normal", "NewArtifact", "stored artifact for commit 'Add Flux sync manifests'", "source-controller")
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetlab.flux.conditions import set_condition
from fleetlab.flux.flags import Flags, of_container
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError, now_rfc3339
from fleetlab.kubernetes.registry import ResourceType
from fleetlib.kubectl import kubectl_path
from fleetlib.objects import meta_of, spec_of, status_of

EVENT_AGGREGATE_MAX = 10
EVENT_AGGREGATE_WINDOW = 600.0
EVENT_SPAM_BURST = 25
EVENT_SPAM_QPS = 1.0 / 300.0
"""client-go's EventCorrelator defaults (tools/record/events_cache.go), in simulated seconds."""
CLOCK_KEY = "flux-clock"
"""The store's meta key holding the cluster clock's anchor: {"wall": unix time, "sim": seconds, "speed": factor}."""
LEASE_NAME = "fleetlib-sandbox-controllers"
LEASE_NAMESPACE = "kube-system"

GROUPS = {
    "GitRepository": "source.toolkit.fluxcd.io", "HelmRepository": "source.toolkit.fluxcd.io",
    "HelmChart": "source.toolkit.fluxcd.io", "OCIRepository": "source.toolkit.fluxcd.io",
    "Bucket": "source.toolkit.fluxcd.io", "Kustomization": "kustomize.toolkit.fluxcd.io",
    "HelmRelease": "helm.toolkit.fluxcd.io", "Provider": "notification.toolkit.fluxcd.io",
    "Alert": "notification.toolkit.fluxcd.io", "Receiver": "notification.toolkit.fluxcd.io",
    "Deployment": "apps", "ReplicaSet": "apps", "Pod": "", "Event": "", "Secret": "", "Lease": "coordination.k8s.io",
    "PodMetrics": "metrics.k8s.io", "Namespace": "",
}


@dataclass(frozen=True)
class FluxSettings:
    """How fast simulated time runs, and the controllers' own timings (in simulated seconds)."""

    speed: float = 1.0
    """1.0 is real time; tests use more so that 1m intervals pass in a second."""
    tick: float = 0.2
    """Wall-clock seconds between controller passes."""
    pod_ready_after: float = 3.0
    lease_duration: float = 15.0
    """Wall-clock seconds a controller set's lease lasts without renewal."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FluxSettings:
        """FLEET_SANDBOX_SPEED (a number) speeds up the sandbox's clock, e.g. for demos and tests."""
        speed = env.get("FLEET_SANDBOX_SPEED")
        return cls(speed=float(speed)) if speed else cls()


@dataclass
class Runtime:
    api: ClusterApi
    hub: Hub
    settings: FluxSettings
    artifacts: Path
    proxy: str | None = None
    """The chart server as an HTTP proxy: how source-controller reaches charts.fleet.internal and
    registry.fleet.internal (every other host is offline)."""
    working_set: Callable[[str], float | None] = field(default=lambda _controller: None)
    """A Flux controller's working set now (bytes; the cluster's usage model), for the kubelet's OOM kills."""
    kubectl: str = field(default_factory=kubectl_path)
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")
    _wall_anchor: float = field(default_factory=time.time)
    _sim_anchor: float = 0.0
    lease_epoch: int = 0
    """Counts the times this process took the cluster's controller lease: state kept in memory (schedules) is read
    again from the store each time, since another process may have led in between."""
    _events: dict[tuple[str, ...], str] = field(default_factory=dict)
    _aggregates: dict[tuple[str, ...], tuple[set[str], float]] = field(default_factory=dict)
    _spam: dict[tuple[str, ...], tuple[float, float]] = field(default_factory=dict)
    _event_lock: threading.Lock = field(default_factory=threading.Lock)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    """Events as Flux's event recorder posts them to notification-controller (every one, before client-go's
    correlation), for the sandbox's notification-controller to dispatch to Alerts."""

    # --- clock ----------------------------------------------------------------------------------

    def now(self) -> float:
        """The cluster's simulated seconds (scaled by speed). The clock is the cluster's, kept in its store across
        processes: a process that takes the controller lease goes on from where the last holder's clock is, so
        intervals and timeouts keep running as a real controller's requeues do."""
        return self._sim_anchor + (time.time() - self._wall_anchor) * self.settings.speed

    def took_lease(self) -> None:
        """This process now runs the controllers: continue the cluster's clock at this process's speed."""
        wall = time.time()
        stored = self.api.store.meta(CLOCK_KEY)
        if stored:
            last = json.loads(stored)
            sim = float(last["sim"]) + (wall - float(last["wall"])) * float(last["speed"])
        else:
            sim = 0.0
        self._wall_anchor, self._sim_anchor = wall, sim
        with self.api.store.write() as tx:
            tx.set_meta(CLOCK_KEY, json.dumps({"wall": wall, "sim": sim, "speed": self.settings.speed}))
        self.lease_epoch += 1

    def stamp(self) -> str:
        return now_rfc3339()

    # --- API helpers ----------------------------------------------------------------------------

    def type(self, kind: str) -> ResourceType | None:
        group = GROUPS.get(kind)
        for t in self.api.registry().types:
            if t.kind == kind and (group is None or t.group == group):
                return t
        return None

    def resource(self, kind: str) -> ResourceType:
        """The served type of a kind the controllers own or always find (Flux kinds, Secret, Pod...)."""
        t = self.type(kind)
        if t is None:
            raise LookupError(f"the API server does not serve {kind}")
        return t

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        t = self.type(kind)
        if t is None:
            return []
        return json.loads(self.api.list_raw(t, namespace))["items"]

    def valid(self, kind: str, component: str) -> builtins.list[dict[str, Any]]:
        """The objects of `kind` whose spec the controller can read; any other is marked Stalled (InvalidSpec) once,
        with an event and an error log, and skipped, so one bad object never stops the others."""
        out = []
        for obj in self.list(kind):
            spec = obj.get("spec")
            if isinstance(spec, dict):
                out.append(obj)
                continue
            self.stall(obj, component, "InvalidSpec", f"spec must be an object, not {type(spec).__name__}")
        return out

    def stall(self, obj: dict[str, Any], component: str, reason: str, message: str) -> None:
        """Ready=False and Stalled=True with `reason`: the controller will not retry until the object changes."""
        generation = meta_of(obj).get("generation")
        current = [c for c in status_of(obj).get("conditions") or [] if isinstance(c, dict)]
        if any(c.get("type") == "Stalled" and c.get("reason") == reason and c.get("message") == message
               and c.get("observedGeneration") == generation for c in current):
            return
        stamp = self.stamp()
        conds = set_condition(current, "Ready", "False", reason, message, now=stamp, generation=generation)
        conds = set_condition(conds, "Stalled", "True", reason, message, now=stamp, generation=generation)
        self.patch_status(obj, {"conditions": conds, "observedGeneration": generation}, component)
        self.event(obj, "Warning", reason, message, component)
        self.log(component, "error", "Reconciler error", obj, error=message)

    def guarded(self, component: str, reconcile: Any) -> Any:
        """`reconcile(obj)` that never raises: an unexpected failure stalls that object and the pass goes on."""
        def run(obj: dict[str, Any], *args: Any) -> None:
            try:
                reconcile(obj, *args)
            except ApiError:
                raise
            except InterruptedError:  # a tool killed under us (this process shutting down): no verdict, retried
                logging.getLogger(__name__).debug("reconcile of %s interrupted", obj.get("metadata"), exc_info=True)
            except Exception as e:  # one object's surprise must not jam the controller
                logging.getLogger(__name__).debug("reconcile of %s failed", obj.get("metadata"), exc_info=True)
                self.stall(obj, component, "ReconciliationFailed", f"{type(e).__name__}: {str(e)[:300]}")
        return run

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        t = self.type(kind)
        if t is None:
            return None
        try:
            return self.api.get(t, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any], manager: str) -> dict[str, Any] | None:
        t = self.type(obj["kind"])
        assert t is not None
        meta = obj["metadata"]
        try:
            _, out = self.api.patch(t, meta.get("namespace"), meta["name"], "application/merge-patch+json",
                                    json.dumps({"status": status}).encode(), manager=manager,
                                    subresource="status" if t.has_status else None)
            return out
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    # --- events and logs ------------------------------------------------------------------------

    def event(self, obj: dict[str, Any], kind: str, reason: str, message: str, component: str,
              *, annotations: dict[str, str] | None = None, notify: bool = True) -> None:
        """A core/v1 Event, as client-go's recorder makes it (record_event), and Flux's post to
        notification-controller (the outbox), which a trace event (`notify=False`) does not get."""
        record_event(self, obj, kind, reason, message, component, annotations=annotations, notify=notify)

    def trace(self, obj: dict[str, Any], reason: str, message: str, component: str) -> None:
        """A Flux trace event (fluxcd/pkg/runtime events): logged, recorded as a Normal Kubernetes event, never
        forwarded to notification-controller."""
        self.log(component, "info", message, obj)
        self.event(obj, "Normal", reason, message, component, notify=False)

    def log(self, component: str, level: str, msg: str, obj: dict[str, Any] | None = None, **fields: Any) -> None:
        """One JSON line in the controller pod's log, as Flux's zap logger writes it."""
        pod = self.controller_pod(component)
        if pod is None:
            return
        entry: dict[str, Any] = {"level": level, "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                                 "msg": msg}
        if obj is not None:
            kind, meta = obj["kind"], obj["metadata"]
            entry.update({"controller": kind.lower(), "controllerGroup": GROUPS.get(kind, ""), "controllerKind": kind,
                          kind: {"name": meta["name"], "namespace": meta.get("namespace")},
                          "namespace": meta.get("namespace"), "name": meta["name"],
                          "reconcileID": str(uuid.uuid4())})
        entry.update({k: v for k, v in fields.items() if v is not None})
        namespace, name = pod.split("/", 1)
        self.api.store.append_logs(namespace, name, "manager", [(time.time(), json.dumps(entry, separators=(",", ":")))])

    def controller_pod(self, component: str) -> str | None:
        """`namespace/pod` of the component's running, ready pod, or None when it is not running."""
        for pod in self._pods_by_app().get(component, []):
            status = pod.get("status") or {}
            statuses = status.get("containerStatuses") or []
            if status.get("phase") == "Running" and statuses and all(s.get("ready") for s in statuses):
                return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        return None

    def controller_container(self, component: str) -> dict[str, Any] | None:
        """The `manager` container of the component's pod (its image and flags, as its Deployment gave them)."""
        for pod in self._pods_by_app().get(component, []):
            containers = (pod.get("spec") or {}).get("containers") or []
            found = next((c for c in containers if c.get("name") == "manager"), None)
            if found is not None:
                return dict(found)
        return None

    def flags(self, component: str) -> Flags:
        """The flags the component's running container gives it (fleetlab.flux.flags.of_container)."""
        return of_container(component, self.controller_container(component))

    _pod_cache: tuple[float, dict[str, builtins.list[dict[str, Any]]]] | None = None

    def _pods_by_app(self) -> dict[str, builtins.list[dict[str, Any]]]:
        now = time.monotonic()
        if self._pod_cache is None or now - self._pod_cache[0] > 0.1:
            pods: dict[str, builtins.list[dict[str, Any]]] = {}
            for pod in self.list("Pod"):
                app = (meta_of(pod).get("labels") or {}).get("app")
                if app:
                    pods.setdefault(app, []).append(pod)
            self._pod_cache = (now, pods)
        return self._pod_cache[1]

    def forget_pods(self) -> None:
        self._pod_cache = None

    # --- faults ---------------------------------------------------------------------------------

    # --- lease ----------------------------------------------------------------------------------

    def hold_lease(self) -> bool:
        """Take or renew the controller-set lease; False while another live process holds it."""
        leases = self.type("Lease")
        assert leases is not None
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.settings.lease_duration),
                "renewTime": stamp}
        current = self.get("Lease", LEASE_NAMESPACE, LEASE_NAME)
        try:
            if current is None:
                self.api.create(leases, LEASE_NAMESPACE, {"metadata": {"name": LEASE_NAME},
                                                          "spec": {**spec, "acquireTime": stamp}}, manager="sandbox")
                return True
            held = current.get("spec") or {}
            if held.get("holderIdentity") != self.identity:
                renewed = datetime.strptime(held.get("renewTime", "1970-01-01T00:00:00.000000Z"),
                                            "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                if (now - renewed).total_seconds() < float(held.get("leaseDurationSeconds", 15)):
                    return False
                spec["acquireTime"] = stamp
            body = {**current, "spec": {**held, **spec}}
            self.api.replace(leases, LEASE_NAMESPACE, LEASE_NAME, body, manager="sandbox")
            return True
        except ApiError as e:
            if e.code in (409, 404):
                return False
            raise

    def release_lease(self) -> None:
        current = self.get("Lease", LEASE_NAMESPACE, LEASE_NAME)
        if current and spec_of(current).get("holderIdentity") == self.identity:
            leases = self.type("Lease")
            assert leases is not None
            try:
                self.api.delete(leases, LEASE_NAMESPACE, LEASE_NAME)
            except ApiError:
                pass


class Loop:
    """Runs each controller's passes in its own daemon thread, as the real controllers run side by side,
    while a lease thread keeps (or waits for) the cluster's controller-set lease."""

    def __init__(self, runtime: Runtime, steps: list[Any]) -> None:
        self.runtime = runtime
        self.steps = steps
        self._stop = threading.Event()
        self._leader = threading.Event()
        self._threads = [threading.Thread(target=self._lease, name="sandbox-flux-lease", daemon=True)]
        self._threads += [threading.Thread(target=self._run, args=(step,), name=f"sandbox-flux-{i}", daemon=True)
                          for i, step in enumerate(steps)]
        self.errors = 0

    @property
    def leader(self) -> bool:
        return self._leader.is_set()

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        if self.leader:
            self.runtime.release_lease()

    def _lease(self) -> None:
        import logging

        trimmed = time.monotonic()
        while not self._stop.is_set():
            try:
                if self.runtime.hold_lease():
                    if not self.leader:
                        self.runtime.took_lease()
                    self._leader.set()
                    if time.monotonic() - trimmed > 30:  # keep the watch history bounded (CHANGES_KEPT)
                        self.runtime.api.store.trim_changes()
                        trimmed = time.monotonic()
                else:
                    self._leader.clear()
            except Exception:
                logging.getLogger(__name__).exception("sandbox controllers: lease renewal failed")
                self._leader.clear()
            self._stop.wait(self.runtime.settings.lease_duration / 3 if self.leader else 1.0)

    def _run(self, step: Any) -> None:
        import logging

        log = logging.getLogger(__name__)
        while not self._stop.is_set():
            if self._leader.wait(timeout=0.5):
                try:
                    step()
                except RuntimeError as e:
                    if "shutdown" in str(e) or sys.is_finalizing():  # the interpreter is exiting: pools are closed
                        return
                    self.errors += 1
                    log.exception("sandbox controllers: pass failed")
                except Exception:  # a controller bug must not kill the loop; it is logged and retried
                    self.errors += 1
                    log.exception("sandbox controllers: pass failed")
            self._stop.wait(self.runtime.settings.tick)


def record_event(rt: Runtime, obj: dict[str, Any], kind: str, reason: str, message: str, component: str,
                 *, annotations: dict[str, str] | None = None, notify: bool = True) -> None:
    """A core/v1 Event through client-go's EventCorrelator: the same event again is counted up; more than
    ten different messages with one reason within ten minutes become one "(combined from similar events)"
    event; and each source and object gets a burst of 25 events, then one every five minutes."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    uid = str(meta.get("uid", ""))
    now = rt.now()
    with rt._event_lock:
        if notify:  # Flux's post to notification-controller; trace and Kubernetes controllers' events are not
            rt.outbox.append({"object": {"kind": obj.get("kind"), "namespace": meta.get("namespace"),
                                           "name": meta.get("name"), "uid": meta.get("uid"),
                                           "apiVersion": obj.get("apiVersion"),
                                           "resourceVersion": meta.get("resourceVersion")},
                                "type": kind, "reason": reason, "message": message, "component": component,
                                "annotations": dict(annotations or {}), "timestamp": rt.stamp()})
            del rt.outbox[:-1000]
        aggregate = (component, uid, kind, reason)
        local, last = rt._aggregates.get(aggregate, (set(), -1e18))
        if now - last > EVENT_AGGREGATE_WINDOW:
            local = set()
        local.add(message)
        rt._aggregates[aggregate] = (local, now)
        key: tuple[str, ...] = (component, uid, kind, reason, message)
        if len(local) >= EVENT_AGGREGATE_MAX:
            local.pop()
            message = "(combined from similar events): " + message
            key = aggregate
        tokens, seen = rt._spam.get((component, uid, kind), (float(EVENT_SPAM_BURST), now))
        tokens = min(float(EVENT_SPAM_BURST), tokens + (now - seen) * EVENT_SPAM_QPS)
        if tokens < 1.0:
            rt._spam[(component, uid, kind)] = (tokens, now)
            return
        rt._spam[(component, uid, kind)] = (tokens - 1.0, now)
        name = rt._events.get(key)
    events = rt.type("Event")
    assert events is not None
    stamp = rt.stamp()
    if name is not None:
        current = rt.get("Event", namespace, name)
        if current is not None:
            rt.api.patch(events, namespace, name, "application/merge-patch+json", json.dumps(
                {"count": int(current.get("count", 1)) + 1, "lastTimestamp": stamp, "message": message}).encode(),
                manager=component)
            return
    name = f"{meta['name']}.{time.time_ns():x}"
    with rt._event_lock:
        rt._events[key] = name
    body = {"metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "involvedObject": {"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                               "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": kind, "count": 1, "firstTimestamp": stamp,
            "lastTimestamp": stamp, "source": {"component": component}, "reportingComponent": component,
            "reportingInstance": ""}  # client-go's legacy recorder leaves it empty, as the real controllers' events show
    try:
        rt.api.create(events, namespace, body, manager=component)
    except ApiError:
        pass  # a namespace being deleted takes no new events; the recorder drops them too
