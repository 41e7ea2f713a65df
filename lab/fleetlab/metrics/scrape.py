"""Usage of a local cluster's Flux controllers, scraped from their own `/metrics` into a store that the
sandbox's Prometheus-compatible API serves (fleetlab.metrics.prometheus), so history grows while the cluster
runs. The controllers run as host processes, so what cAdvisor would report for their container is what the
process reports of itself: `process_cpu_seconds_total` becomes `container_cpu_usage_seconds_total` and
`process_resident_memory_bytes` `container_memory_working_set_bytes`, labelled with the pod that stands for
the process; the controllers' own series (`gotk_reconcile_duration_seconds`, `workqueue_depth`...) keep
their labels plus namespace and pod; the pods' requests and limits become kube-state-metrics' series.

    store = ScrapeStore(state / "metrics.db", interval=15.0)
    store.add(time.time(), samples)        # [(name, labels, value), ...]
    store.select("container_memory_working_set_bytes", matchers)
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetlab.metrics.promql import Matcher, Series
from fleetlib.objects import spec_of, status_of
from fleetlib.quantity import parse_quantity

STALE = 300.0
"""A series with no sample for five minutes is absent, as in Prometheus."""
KEPT = ("gotk_", "workqueue_", "controller_runtime_reconcile")
_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


def parse_metrics(text: str) -> list[Sample]:
    """Prometheus text exposition format: (name, labels, value) per sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line.strip())
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, value))
    return out


@dataclass(frozen=True)
class Target:
    """One controller process to scrape, and the pod it stands for."""

    url: str
    namespace: str
    pod: str
    node: str
    image: str


def container_samples(target: Target, samples: Iterable[Sample]) -> list[Sample]:
    base = {"namespace": target.namespace, "pod": target.pod, "container": "manager"}
    cad = {**base, "job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": target.node, "image": target.image}
    out: list[Sample] = []
    for name, labels, value in samples:
        if name == "process_cpu_seconds_total":
            out.append(("container_cpu_usage_seconds_total", cad, value))
        elif name == "process_resident_memory_bytes":
            out.append(("container_memory_working_set_bytes", cad, value))
        elif name.startswith(KEPT):
            out.append((name, {**labels, "namespace": target.namespace, "pod": target.pod}, value))
    return out


def pod_samples(pods: Iterable[dict[str, Any]]) -> list[Sample]:
    """kube-state-metrics' requests, limits and last-terminated reasons of the pods' manager containers."""
    out: list[Sample] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        base = {"namespace": str(meta.get("namespace")), "pod": str(meta.get("name")), "container": "manager",
                "job": "kube-state-metrics", "uid": str(meta.get("uid")),
                "node": str(spec_of(pod).get("nodeName", ""))}
        manager = next((c for c in spec_of(pod).get("containers") or [] if c.get("name") == "manager"), None)
        if manager is None:
            continue
        resources = manager.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource, quantity in (resources.get(kind) or {}).items():
                unit = "core" if resource == "cpu" else "byte"
                out.append((f"kube_pod_container_resource_{kind}", {**base, "resource": resource, "unit": unit},
                            parse_quantity(str(quantity))))
        for status in status_of(pod).get("containerStatuses") or []:
            reason = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
            if reason and status.get("name") == "manager":
                out.append(("kube_pod_container_status_last_terminated_reason", {**base, "reason": reason}, 1.0))
    return out


class ScrapeStore:
    """Scraped samples in SQLite (kept while the cluster's state is), served as promql Series."""

    def __init__(self, path: Any, *, interval: float) -> None:
        self.path = path
        self.scrape_interval = interval
        self._lock = threading.Lock()
        self._local = threading.local()
        db = self._db()
        db.executescript("CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "labels TEXT NOT NULL, UNIQUE (name, labels));"
                         "CREATE TABLE IF NOT EXISTS samples (series INTEGER NOT NULL, ts REAL NOT NULL, "
                         "value REAL NOT NULL);"
                         "CREATE INDEX IF NOT EXISTS samples_by_series ON samples (series, ts);")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def add(self, ts: float, samples: Sequence[Sample]) -> None:
        db = self._db()
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for name, labels, value in samples:
                    text = json.dumps(labels, sort_keys=True)
                    db.execute("INSERT OR IGNORE INTO series (name, labels) VALUES (?, ?)", (name, text))
                    sid = db.execute("SELECT id FROM series WHERE name=? AND labels=?", (name, text)).fetchone()[0]
                    db.execute("INSERT INTO samples (series, ts, value) VALUES (?, ?, ?)", (sid, ts, value))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[Series]:
        rows = self._db().execute("SELECT id, name, labels FROM series" + (" WHERE name=?" if name else ""),
                                  (name,) if name else ()).fetchall()
        out = []
        for sid, series_name, text in rows:
            labels = {"__name__": series_name, **json.loads(text)}
            if all(m(labels) for m in matchers):
                out.append(Series({k: v for k, v in labels.items() if k != "__name__" or name is None},
                                  self._sampler(int(sid))))
        return out

    def _sampler(self, sid: int) -> Callable[[np.ndarray], np.ndarray]:
        def sample(grid: np.ndarray) -> np.ndarray:
            lo, hi = float(grid.min()) - STALE, float(grid.max())
            points = self._db().execute("SELECT ts, value FROM samples WHERE series=? AND ts BETWEEN ? AND ? "
                                        "ORDER BY ts", (sid, lo, hi)).fetchall()
            if not points:
                return np.full(grid.shape, np.nan)
            ts = np.array([p[0] for p in points])
            values = np.array([p[1] for p in points])
            index = np.searchsorted(ts, grid + 1e-9, side="right") - 1
            out = np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)
            age = grid - ts[np.clip(index, 0, None)]
            return np.where((index >= 0) & (age <= STALE), out, np.nan)
        return sample


def scrape(target: Target, *, timeout: float = 5.0) -> list[Sample]:
    with urllib.request.urlopen(target.url, timeout=timeout) as resp:  # a loopback URL
        return container_samples(target, parse_metrics(resp.read().decode(errors="replace")))
