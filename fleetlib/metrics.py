"""Where controller usage comes from: one interface, two sources.

- `PrometheusSource`: krr-style range queries over `container_cpu_usage_seconds_total` (as a rate),
  `container_memory_working_set_bytes`, and the OOM-kill history from kube-state-metrics, plus the Flux
  load (`gotk_reconcile_duration_seconds`, `workqueue_depth`). Range queries are cut into chunks of at
  most 11,000 points, Prometheus' own limit. An optional bearer token comes from an environment variable.
- `MetricsServerSource`: samples `metrics.k8s.io` PodMetrics every `interval` for `window`, when there is
  no Prometheus; OOM kills come from the pods' last terminated state. It knows no Flux load.

Both answer `usage(namespace, controllers)` with one `ControllerUsage` per controller (per-pod arrays)
and `flux_load(namespace, controllers)`. Pods belong to the controller whose name prefixes theirs.

    source = PrometheusSource(Prometheus(url), history=14 * 86400, step=30)
    usage = source.usage("flux-system", ["source-controller", "kustomize-controller"])
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import numpy as np
import urllib3

from fleetlib.errors import ClusterError, InputError, clip
from fleetlib.kube import Kube
from fleetlib.objects import spec_of, status_of
from fleetlib.quantity import parse_quantity

MAX_POINTS = 11_000
"""Points per series a Prometheus range query may return (Prometheus' limit)."""


@dataclass(frozen=True)
class PodSeries:
    pod: str
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class ControllerUsage:
    """Samples of one controller's container, per pod, over the window the source covered."""

    controller: str
    container: str
    cpu: tuple[PodSeries, ...] = ()
    """CPU in cores."""
    memory: tuple[PodSeries, ...] = ()
    """Working set in bytes."""
    oom_limits: tuple[float, ...] = ()
    """Memory limits (bytes) at which the container was OOMKilled in the window."""
    seconds: float = 0.0
    """Length of the window asked for."""
    source: str = ""


@dataclass(frozen=True)
class FluxLoad:
    """How busy a controller's work queues were (from the controllers' own metrics)."""

    controller: str
    reconciles_per_second: float
    mean_reconcile_seconds: float | None
    queue_depth_p95: float
    queue_depth_max: float


class UsageSource(Protocol):
    name: str

    def usage(self, namespace: str, controllers: Sequence[str], container: str = "manager") -> dict[str, ControllerUsage]: ...

    def flux_load(self, namespace: str, controllers: Sequence[str]) -> dict[str, FluxLoad]: ...


def controller_of(pod: str, controllers: Sequence[str]) -> str | None:
    """The controller a pod belongs to: the longest name followed by '-' that prefixes the pod's."""
    found = [c for c in controllers if pod.startswith(c + "-")]
    return max(found, key=len) if found else None


# --- Prometheus -----------------------------------------------------------------------------------


class Prometheus:
    """A small client of the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 120.0,
                 max_points: int = MAX_POINTS) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"prometheus_url {url!r} is not an http(s) URL",
                             hint="set prometheus_url to the server's base URL, e.g. http://prometheus:9090")
        self.url = url.rstrip("/")
        self.max_points = max_points
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=urllib3.Retry(2))
        self.requests = 0

    def __repr__(self) -> str:
        return f"Prometheus({self.url})"

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        self.requests += 1
        try:
            response = self._http.request("POST", f"{self.url}/api/v1/{path}", body=urlencode(params),
                                          headers={**self._headers, "Content-Type": "application/x-www-form-urlencoded"})
        except urllib3.exceptions.HTTPError as e:
            raise ClusterError(f"Prometheus at {self.url} cannot be reached: {clip(str(e), 200)}",
                               hint="check prometheus_url, or use usage_source='metrics-server'") from None
        try:
            doc = json.loads(response.data)
        except ValueError:
            doc = {}
        if response.status != 200 or doc.get("status") != "success":
            raise ClusterError(f"Prometheus at {self.url} answered {response.status} to {params.get('query', '')!r}: "
                               f"{clip(str(doc.get('error') or response.data[:200]), 300)}",
                               hint="it needs a bearer token: export it in the variable named by prometheus_token_env"
                               if response.status in (401, 403) else "check the query against the Prometheus version")
        return doc["data"]

    def query(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        data = self._get("query", {"query": expr, "time": f"{at:.3f}"})
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float,
                    step: float) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
        """A range query cut into chunks of at most `max_points` steps, joined per series."""
        per_chunk = (self.max_points - 1) * step
        parts: dict[str, tuple[dict[str, str], list[np.ndarray], list[np.ndarray]]] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + per_chunk)
            data = self._get("query_range", {"query": expr, "start": f"{chunk_start:.3f}", "end": f"{chunk_end:.3f}",
                                             "step": f"{step:g}"})
            for r in data["result"]:
                key = json.dumps(r["metric"], sort_keys=True)
                values = np.asarray(r["values"], dtype=object)
                if not len(values):
                    continue
                entry = parts.setdefault(key, (r["metric"], [], []))
                entry[1].append(values[:, 0].astype(float))
                entry[2].append(values[:, 1].astype(float))
            chunk_start = chunk_end + step
        return [(labels, np.concatenate(ts), np.concatenate(vs)) for labels, ts, vs in parts.values()]


def prom_duration(seconds: float) -> str:
    """A PromQL duration: whole seconds, or milliseconds when needed (`1209600s`, `1500ms`)."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _selector(namespace: str, controllers: Sequence[str], container: str | None = None) -> str:
    pods = "|".join(controllers)
    extra = f',container="{container}"' if container else ""
    return f'namespace="{namespace}",pod=~"({pods})-.*"{extra}'


@dataclass
class PrometheusSource:
    """Usage over `history` seconds ending at `end` (default: now), one point per `step` seconds."""

    prometheus: Prometheus
    history: float = 14 * 86400.0
    step: float = 30.0
    rate_window: float = 120.0
    """The rate() window: at least four scrape intervals, as Prometheus advises."""
    end: float | None = None
    name: str = "prometheus"

    def _end(self) -> float:
        return math.floor((self.end if self.end is not None else time.time()) / self.step) * self.step

    def cpu_query(self, namespace: str, controllers: Sequence[str], container: str = "manager") -> str:
        return (f"max(rate(container_cpu_usage_seconds_total{{{_selector(namespace, controllers, container)}}}"
                f"[{prom_duration(self.rate_window)}])) by (container, pod)")

    def memory_query(self, namespace: str, controllers: Sequence[str], container: str = "manager") -> str:
        return f"max(container_memory_working_set_bytes{{{_selector(namespace, controllers, container)}}}) by (container, pod)"

    def usage(self, namespace: str, controllers: Sequence[str], container: str = "manager") -> dict[str, ControllerUsage]:
        end = self._end()
        start = end - self.history + self.step
        cpu = self._per_controller(self.cpu_query(namespace, controllers, container), start, end, controllers)
        memory = self._per_controller(self.memory_query(namespace, controllers, container), start, end, controllers)
        window = prom_duration(self.history)
        sel = _selector(namespace, controllers, container)
        killed = {labels.get("pod", ""): value for labels, value in self.prometheus.query(
            f'max(max_over_time(kube_pod_container_status_last_terminated_reason{{{sel},reason="OOMKilled"}}[{window}]))'
            ' by (pod)', end)}
        limits = {labels.get("pod", ""): value for labels, value in self.prometheus.query(
            f'max(max_over_time(kube_pod_container_resource_limits{{{sel},resource="memory"}}[{window}])) by (pod)', end)}
        oom: dict[str, list[float]] = {}
        for pod, flag in killed.items():
            owner = controller_of(pod, controllers)
            if flag > 0 and owner and pod in limits:
                oom.setdefault(owner, []).append(limits[pod])
        return {c: ControllerUsage(c, container, tuple(cpu.get(c, ())), tuple(memory.get(c, ())), tuple(oom.get(c, ())),
                                   self.history, self.name) for c in controllers}

    def _per_controller(self, expr: str, start: float, end: float, controllers: Sequence[str]) -> dict[str, list[PodSeries]]:
        out: dict[str, list[PodSeries]] = {}
        for labels, ts, values in self.prometheus.query_range(expr, start, end, self.step):
            owner = controller_of(labels.get("pod", ""), controllers)
            if owner:
                out.setdefault(owner, []).append(PodSeries(labels["pod"], ts, values))
        return out

    def flux_load(self, namespace: str, controllers: Sequence[str]) -> dict[str, FluxLoad]:
        end, window = self._end(), prom_duration(self.history)
        sel = f'namespace="{namespace}",pod=~"({"|".join(controllers)})-.*"'

        def by_controller(expr: str, combine: Callable[[list[float]], float]) -> dict[str, float]:
            found: dict[str, list[float]] = {}
            for labels, value in self.prometheus.query(expr, end):
                owner = controller_of(labels.get("pod", ""), controllers)
                if owner and math.isfinite(value):
                    found.setdefault(owner, []).append(value)
            return {c: combine(v) for c, v in found.items()}

        count = by_controller(f"sum(rate(gotk_reconcile_duration_seconds_count{{{sel}}}[{window}])) by (pod)", sum)
        total = by_controller(f"sum(rate(gotk_reconcile_duration_seconds_sum{{{sel}}}[{window}])) by (pod)", sum)
        p95 = by_controller(f"max(quantile_over_time(0.95, workqueue_depth{{{sel}}}[{window}])) by (pod)", max)
        peak = by_controller(f"max(max_over_time(workqueue_depth{{{sel}}}[{window}])) by (pod)", max)
        return {c: FluxLoad(c, count.get(c, 0.0), total[c] / count[c] if count.get(c) and c in total else None,
                            p95.get(c, 0.0), peak.get(c, 0.0)) for c in controllers}


# --- metrics.k8s.io -------------------------------------------------------------------------------


@dataclass
class MetricsServerSource:
    """Samples PodMetrics every `interval` seconds for `window` seconds (what `kubectl top` reads)."""

    kube: Kube
    window: float = 1800.0
    interval: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    name: str = "metrics-server"

    def usage(self, namespace: str, controllers: Sequence[str], container: str = "manager") -> dict[str, ControllerUsage]:
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        rounds = max(1, int(self.window // self.interval))
        for i in range(rounds):
            now = time.time()
            for pm in self.kube.list("metrics.k8s.io/v1beta1", "PodMetrics", namespace):
                pod = pm["metadata"]["name"]
                owner = controller_of(pod, controllers)
                for c in pm.get("containers") or []:
                    if owner and c["name"] == container:
                        samples.setdefault((owner, pod), []).append(
                            (now, parse_quantity(c["usage"]["cpu"]), parse_quantity(c["usage"]["memory"])))
            if i < rounds - 1:
                self.sleep(self.interval)
        oom = self._oom_limits(namespace, controllers, container)
        out = {}
        for c in controllers:
            cpu, memory = [], []
            for (owner, pod), rows in samples.items():
                if owner == c:
                    arr = np.array(rows)
                    cpu.append(PodSeries(pod, arr[:, 0], arr[:, 1]))
                    memory.append(PodSeries(pod, arr[:, 0], arr[:, 2]))
            out[c] = ControllerUsage(c, container, tuple(cpu), tuple(memory), tuple(oom.get(c, ())), self.window, self.name)
        return out

    def _oom_limits(self, namespace: str, controllers: Sequence[str], container: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for pod in self.kube.list("v1", "Pod", namespace):
            owner = controller_of(pod["metadata"]["name"], controllers)
            spec = next((c for c in spec_of(pod).get("containers") or [] if c["name"] == container), None)
            status: dict[str, Any] = next((c for c in status_of(pod).get("containerStatuses") or []
                                           if c["name"] == container), {})
            reason = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
            limit = ((spec or {}).get("resources") or {}).get("limits", {}).get("memory")
            if owner and reason == "OOMKilled" and limit:
                out.setdefault(owner, []).append(parse_quantity(limit))
        return out

    def flux_load(self, namespace: str, controllers: Sequence[str]) -> dict[str, FluxLoad]:
        return {}
