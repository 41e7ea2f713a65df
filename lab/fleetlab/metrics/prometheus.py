"""Controller usage of a sandbox cluster, served two ways from one model (fleetlab.metrics.usage):
a Prometheus-compatible HTTP API (`/api/v1/query`, `/query_range`, `/series`) and the
`metrics.k8s.io` PodMetrics/NodeMetrics that metrics-server would compute on each read.

Series (labels as cAdvisor, kube-state-metrics and the controllers export them):
container_cpu_usage_seconds_total, container_memory_working_set_bytes,
kube_pod_container_resource_requests, kube_pod_container_resource_limits,
kube_pod_container_status_last_terminated_reason, gotk_reconcile_duration_seconds_{sum,count},
workqueue_depth.

    server = PromServer(("127.0.0.1", 0), {("dev", "services-amer"): ClusterMetrics(api, "dev/services-amer")})
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from fleetlab.httpbase import LocalServer, VerbHandler
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.metrics.promql import Matcher, PromQLError, Series, evaluate, fmt, parse
from fleetlab.metrics.usage import CONTROLLER_KINDS, SCRAPE, UsageModel
from fleetlib.objects import spec_of, status_of
from fleetlib.quantity import parse_quantity

log = logging.getLogger(__name__)
REFRESH = 5.0
LOAD_KEY = "usage-load"
TIMELINE_KEPT = 200
"""Changes of the object counts kept (a seeded cluster changes a few times)."""


class ClusterMetrics:
    """The series of one cluster, rebuilt from its pods, objects and faults every few seconds."""

    def __init__(self, api: ClusterApi, cluster: str) -> None:
        self.api = api
        self.cluster = cluster
        self._built = 0.0
        self._modelled = 0.0
        self._series: list[Series] = []
        self._pods: list[dict[str, Any]] = []
        self.model = UsageModel(cluster)

    def _refresh(self) -> None:
        if time.monotonic() - self._built < REFRESH:
            return
        counts = self.api.store.counts()
        self._model(counts)
        pods_type = self.api.registry().lookup("", "v1", "pods")
        assert pods_type is not None
        pods = json.loads(self.api.list_raw(pods_type, None))["items"]
        limits, requests, controllers = {}, {}, []
        for pod in pods:
            app = ((pod["metadata"].get("labels") or {}).get("app")) or ""
            if app not in CONTROLLER_KINDS and not app.startswith("image-"):
                continue
            manager = next((c for c in spec_of(pod).get("containers") or [] if c["name"] == "manager"), None)
            if manager is None:
                continue
            res = manager.get("resources") or {}
            limits[app] = {k: parse_quantity(v) for k, v in (res.get("limits") or {}).items()}
            requests[app] = {k: parse_quantity(v) for k, v in (res.get("requests") or {}).items()}
            controllers.append((app, pod))
        oom = frozenset(app for app, pod in controllers if any(
            ((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
            for s in status_of(pod).get("containerStatuses") or [] if s.get("name") == "manager"))
        self.model = replace(self.model, oom=oom)
        series: list[Series] = []
        for app, pod in controllers:
            meta = pod["metadata"]
            base = {"namespace": meta["namespace"], "pod": meta["name"], "container": "manager"}
            cad = {**base, "job": "kubelet", "metrics_path": "/metrics/cadvisor",
                   "node": spec_of(pod).get("nodeName", ""), "image": _image(pod)}
            ksm = {**base, "job": "kube-state-metrics", "node": spec_of(pod).get("nodeName", ""),
                   "uid": meta["uid"]}
            series.append(Series({"__name__": "container_cpu_usage_seconds_total", **cad},
                                 partial(self.model.cpu_total, app)))
            series.append(Series({"__name__": "container_memory_working_set_bytes", **cad},
                                 partial(self.model.memory, app)))
            for metric, values in (("kube_pod_container_resource_requests", requests[app]),
                                   ("kube_pod_container_resource_limits", limits[app])):
                for resource, value in values.items():
                    unit = "core" if resource == "cpu" else "byte"
                    series.append(Series({"__name__": metric, **ksm, "resource": resource, "unit": unit},
                                         _constant(value)))
            if app in oom:
                series.append(Series({"__name__": "kube_pod_container_status_last_terminated_reason", **ksm,
                                      "reason": "OOMKilled"}, partial(self.model.oom_killed, app)))
            for kind in CONTROLLER_KINDS.get(app, ()):
                series.append(Series({"__name__": "workqueue_depth", "name": kind.lower(), "controller": kind.lower(),
                                      "namespace": meta["namespace"], "pod": meta["name"], "job": app},
                                     partial(self.model.queue_depth, app)))
            series.extend(self._reconcile_series(app, meta, counts))
        self._series, self._pods, self._built = series, pods, time.monotonic()

    def _model(self, counts: dict[str, int] | None = None) -> None:
        """The usage model's object counts and their timeline, again at most every REFRESH seconds (`counts`: the
        store's objects per resource when the caller has just read them)."""
        if time.monotonic() - self._modelled >= REFRESH:
            counts = self.api.store.counts() if counts is None else counts
            objects = {app: sum(counts.get(self._key(kind), 0) for kind in kinds)
                       for app, kinds in CONTROLLER_KINDS.items()}
            self.model = UsageModel(self.cluster, objects=objects, oom=self.model.oom, timeline=self._timeline(objects))
            self._modelled = time.monotonic()

    def _timeline(self, objects: dict[str, int]) -> tuple[tuple[float, Mapping[str, int]], ...]:
        """The cluster's object counts over time (the store's meta key `usage-load`), with `objects` appended when
        they changed: the past keeps the counts it was served with."""
        stored = self.api.store.meta(LOAD_KEY)
        timeline: list[tuple[float, dict[str, int]]] = [(float(t), dict(c)) for t, c in json.loads(stored or "[]")]
        if objects and (not timeline or timeline[-1][1] != objects):
            timeline.append((time.time(), dict(objects)))
            with self.api.store.write() as tx:
                tx.set_meta(LOAD_KEY, json.dumps(timeline[-TIMELINE_KEPT:]))
        return tuple(timeline[-TIMELINE_KEPT:])

    def working_set(self, controller: str) -> float | None:
        """A controller's working set now (bytes), what the kubelet compares with its memory limit; None for a
        container the model does not know."""
        if controller not in CONTROLLER_KINDS:
            return None
        self._model()
        return float(self.model.memory(controller, np.array([time.time()]))[0])

    def _key(self, kind: str) -> str:
        for t in self.api.registry().types:
            if t.kind == kind and t.group.endswith("toolkit.fluxcd.io"):
                return t.key
        return ""

    def _reconcile_series(self, app: str, meta: dict[str, Any], counts: dict[str, int]) -> list[Series]:
        """gotk_reconcile_duration_seconds_{sum,count}, summed over the controller's objects per kind."""
        out = []
        day = np.arange(time.time() - 86400, time.time(), SCRAPE)
        mean = float(np.mean(self.model.reconcile_seconds(app, day)))
        for kind in CONTROLLER_KINDS.get(app, ()):
            n = counts.get(self._key(kind), 0)
            if not n:
                continue
            labels = {"kind": kind, "namespace": meta["namespace"], "pod": meta["name"], "job": app}
            per_second = n / 600.0  # each object about once per 10m interval
            out.append(Series({"__name__": "gotk_reconcile_duration_seconds_count", **labels},
                              _linear(per_second)))
            out.append(Series({"__name__": "gotk_reconcile_duration_seconds_sum", **labels},
                              _linear(per_second * mean)))
        return out

    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[Series]:
        self._refresh()
        return [s for s in self._series if (name is None or s.labels["__name__"] == name)
                and all(m(s.labels) for m in matchers)]

    # --- metrics.k8s.io, computed on read ---------------------------------------------------------

    def pod_metrics(self, namespace: str | None) -> list[dict[str, Any]]:
        self._refresh()
        now = time.time()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ts = np.array([np.floor(now / SCRAPE) * SCRAPE])
        out = []
        for pod in self._pods:
            meta = pod["metadata"]
            if namespace and meta["namespace"] != namespace or status_of(pod).get("phase") != "Running":
                continue
            app = (meta.get("labels") or {}).get("app", "")
            containers = []
            for c in spec_of(pod).get("containers") or []:
                cpu = float(self.model.cpu_rate(app, ts)[0]) if app in CONTROLLER_KINDS else 0.001
                mem = float(self.model.memory(app, ts)[0]) if app in CONTROLLER_KINDS else 8 * 2.0**20
                containers.append({"name": c["name"], "usage": {"cpu": f"{max(1, round(cpu * 1e9))}n",
                                                               "memory": f"{round(mem / 1024)}Ki"}})
            out.append({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": stamp,
                                     "labels": meta.get("labels") or {}},
                        "timestamp": stamp, "window": "15s", "containers": containers})
        return out

    def node_metrics(self) -> list[dict[str, Any]]:
        pods = self.pod_metrics(None)
        cpu = sum(parse_quantity(c["usage"]["cpu"].removesuffix("n")) / 1e9 for p in pods for c in p["containers"])
        mem = sum(parse_quantity(c["usage"]["memory"]) for p in pods for c in p["containers"])
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [{"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                 "metadata": {"name": self.api.node, "creationTimestamp": stamp}, "timestamp": stamp, "window": "20s",
                 "usage": {"cpu": f"{round((cpu + 0.15) * 1e9)}n", "memory": f"{round((mem + 2**29) / 1024)}Ki"}}]


def _image(pod: dict[str, Any]) -> str:
    containers = spec_of(pod).get("containers") or [{}]
    return str(containers[0].get("image", ""))


class RawJson(str):
    """A JSON document already rendered (range queries build theirs with numpy)."""


def _points(ts: np.ndarray, values: np.ndarray) -> str:
    """`[t,"v"],...` for a matrix: Python's float repr is the shortest round-trip form, as Go prints it."""
    stamps = [repr(t) if t % 1 else str(int(t)) for t in np.round(ts, 3).tolist()]
    text = list(map(repr, values.tolist()))
    if not np.isfinite(values).all() or (values % 1 == 0).any():
        text = [fmt(v) for v in values.tolist()]
    return ",".join([f'[{t},"{v}"]' for t, v in zip(stamps, text, strict=True)])


# --- the Prometheus HTTP API ---------------------------------------------------------------------


def _time(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _step(value: str | None) -> float:
    if not value:
        raise PromQLError("missing step")
    try:
        return float(value)
    except ValueError:
        from fleetlab.metrics.promql import duration

        return duration(value)


MAX_POINTS = 50_000
"""Points per series in a range query. Real Prometheus stops at 11,000; the sandbox allows a 14-day range at
30 s steps (40,320 points) so it can be measured, and clients should still chunk for live servers."""


def answer(source: ClusterMetrics, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
    def one(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    try:
        if path == "query":
            t = _time(one("time"), time.time())
            results = evaluate(parse(one("query") or ""), source, np.array([t]))
            vector = [{"metric": r.labels, "value": [t, fmt(float(r.values[0]))]} for r in results
                      if not np.isnan(r.values[0])]
            if len(results) == 1 and results[0].scalar:
                return 200, {"status": "success", "data": {"resultType": "scalar",
                                                           "result": [t, fmt(float(results[0].values[0]))]}}
            return 200, {"status": "success", "data": {"resultType": "vector", "result": vector}}
        if path == "query_range":
            start, end, step = _time(one("start"), 0), _time(one("end"), 0), _step(one("step"))
            if end < start or step <= 0:
                raise PromQLError("end timestamp must not be before start time, and step must be positive")
            if (end - start) / step > MAX_POINTS:
                raise PromQLError(
                    f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries. Try decreasing the "
                    "query resolution (?step=XX)"
                )
            ts = np.arange(start, end + step / 2, step)
            parts = []
            for r in evaluate(parse(one("query") or ""), source, ts):
                keep = ~np.isnan(r.values)
                if keep.any():
                    parts.append(f'{{"metric":{json.dumps(r.labels)},"values":[{_points(ts[keep], r.values[keep])}]}}')
            return 200, RawJson(
                '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(parts) + "]}}"
            )
        if path == "series":
            found: list[dict[str, str]] = []
            for text in query.get("match[]") or []:
                node = parse(text)
                selector = getattr(node, "inner", node)
                for s in source.select(getattr(selector, "name", None), getattr(selector, "matchers", ())):
                    if s.labels not in found:
                        found.append(s.labels)
            return 200, {"status": "success", "data": found}
        if path == "labels":
            names = sorted({k for s in source.select(None, ()) for k in s.labels})
            return 200, {"status": "success", "data": names}
        if path == "status/buildinfo":
            return 200, {"status": "success", "data": {"version": "2.53.0", "revision": "sandbox"}}
    except PromQLError as e:
        return 400, {"status": "error", "errorType": "bad_data", "error": str(e)}
    return 404, {"status": "error", "errorType": "not_found", "error": f"unknown API endpoint {path}"}


class PromServer(LocalServer):
    def __init__(self, address: tuple[str, int], sources: dict[tuple[str, str], ClusterMetrics]) -> None:
        super().__init__(address, PromHandler)
        self.sources = sources


class PromHandler(VerbHandler):
    server: PromServer

    def _dispatch(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if body:
            for k, v in parse_qs(body.decode()).items():
                query.setdefault(k, []).extend(v)
        source = self.server.sources.get((parts[1], parts[2])) if len(parts) >= 5 and parts[0] == "clusters" else None
        if source is None or parts[3:5] != ["api", "v1"]:
            code, doc = 404, {"status": "error", "errorType": "not_found", "error": "no such cluster or endpoint"}
        else:
            code, doc = answer(source, "/".join(parts[5:]), query)
        data = (doc if isinstance(doc, RawJson) else json.dumps(doc)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _constant(value: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda ts: np.full(ts.shape, value)


def _linear(rate: float) -> Callable[[np.ndarray], np.ndarray]:
    """A counter growing at `rate` per second since the epoch (what rate() and increase() read)."""
    return lambda ts: ts * rate
