"""Deterministic synthetic usage of the Flux controllers of one sandbox cluster, over up to 30 days.

Load follows the number of objects each controller reconciles, a daily cycle (peak at 14:00 UTC) and
bursts at deploy times (weekdays 10:00 and 15:00 UTC, 20 minutes). The number of objects is a timeline: a
sample takes the counts in force at its time (before the first change, the first counts), so history that
was served once never changes, and new load (`fleet sandbox seed`) shows from its time on. The sandbox's
kubelet OOM-kills a controller whose working set passes its memory limit, and its history keeps the working
set it had. Values are pure functions of (cluster, controller, time, timeline), sampled every 30 s like a
kubelet scrape, so Prometheus queries, PodMetrics and a hand computation in a test all see the same numbers.

    model = UsageModel("dev/services-amer", objects={"kustomize-controller": 40})
    cpu = model.cpu_rate("kustomize-controller", timestamps)        # cores
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

SCRAPE = 30.0
HISTORY_DAYS = 30
MiB = float(2**20)

CONTROLLER_KINDS = {
    "source-controller": ("GitRepository", "HelmRepository", "HelmChart", "OCIRepository", "Bucket"),
    "kustomize-controller": ("Kustomization",),
    "helm-controller": ("HelmRelease",),
    "notification-controller": ("Provider", "Alert", "Receiver"),
}
# per controller: idle cores, cores per object, idle memory (MiB), MiB per object
_PROFILE = {
    "source-controller": (0.004, 0.0009, 38.0, 0.35),
    "kustomize-controller": (0.006, 0.0030, 42.0, 1.10),
    "helm-controller": (0.005, 0.0045, 46.0, 1.60),
    "notification-controller": (0.002, 0.0002, 24.0, 0.05),
    "image-reflector-controller": (0.002, 0.0005, 30.0, 0.2),
    "image-automation-controller": (0.002, 0.0005, 30.0, 0.2),
}


def start_memory(controller: str) -> float | None:
    """Bytes a Flux controller needs to start (its idle working set); None for anything else. A memory limit
    below it gets the container OOMKilled at start, in the sandbox as on a real node."""
    profile = _PROFILE.get(controller)
    return profile[2] * MiB if profile else None


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "little")


def _noise(seed: int, index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) from a splitmix64 hash of (seed, sample index): deterministic and vectorised."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def grid(start: float, end: float, step: float = SCRAPE) -> np.ndarray:
    """Scrape timestamps (multiples of `step`) in (start, end]."""
    first = np.floor(start / step) * step + step
    return np.arange(first, end + step / 2, step)


@dataclass(frozen=True)
class UsageModel:
    cluster: str
    objects: Mapping[str, int] = field(default_factory=dict)
    """Objects each controller reconciles, over the whole history (when there is no `timeline`)."""
    oom: frozenset[str] = frozenset()
    """Controllers whose container last terminated OOMKilled."""
    timeline: tuple[tuple[float, Mapping[str, int]], ...] = ()
    """(unix time, objects per controller) at each change of the counts, oldest first."""

    def _count(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """Objects the controller reconciled at each timestamp."""
        if not self.timeline:
            return np.full(ts.shape, float(self.objects.get(controller, 0)))
        times = np.array([t for t, _ in self.timeline])
        counts = np.array([float(c.get(controller, 0)) for _, c in self.timeline])
        return counts[np.clip(np.searchsorted(times, ts, side="right") - 1, 0, times.size - 1)]

    def _load(self, controller: str, ts: np.ndarray) -> np.ndarray:
        day = (ts % 86400.0) / 86400.0
        daily = 1.0 + 0.35 * np.sin(2 * np.pi * (day - 14 / 24 + 0.25))
        weekday = ((ts // 86400.0 + 3) % 7) < 5  # 1970-01-01 was a Thursday
        minute = ts % 86400.0
        burst = weekday & (((minute >= 36000) & (minute < 37200)) | ((minute >= 54000) & (minute < 55200)))
        return daily * np.where(burst, 2.6, 1.0)

    def cpu_rate(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """CPU in cores at each scrape timestamp."""
        idle, per, _, _ = _PROFILE.get(controller, (0.003, 0.001, 30.0, 0.2))
        n = self._count(controller, ts)
        noise = _noise(_seed(self.cluster, controller, "cpu"), np.floor(ts / SCRAPE))
        return (idle + per * n) * self._load(controller, ts) * (0.75 + 0.5 * noise)

    def cpu_total(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """container_cpu_usage_seconds_total: the integral of cpu_rate since the history began."""
        if ts.size == 0:
            return ts.astype(float)
        origin = np.floor(float(ts.max()) / 86400.0) * 86400.0 - HISTORY_DAYS * 86400.0
        lo = min(origin, float(ts.min()) - SCRAPE)
        full = np.arange(lo + SCRAPE, float(ts.max()) + SCRAPE / 2, SCRAPE)
        cum = np.cumsum(self.cpu_rate(controller, full) * SCRAPE)
        idx = np.clip(np.searchsorted(full, ts, side="right") - 1, 0, full.size - 1)
        return cum[idx]

    def memory(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """container_memory_working_set_bytes at each scrape timestamp."""
        _, _, idle, per = _PROFILE.get(controller, (0.003, 0.001, 30.0, 0.2))
        n = self._count(controller, ts)
        noise = _noise(_seed(self.cluster, controller, "mem"), np.floor(ts / SCRAPE))
        load = self._load(controller, ts)
        return (idle + per * n) * MiB * (0.85 + 0.15 * load) * (0.95 + 0.1 * noise)

    def oom_killed(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}: 1 for a controller whose container
        last terminated OOMKilled. Its working-set history stays what it needed, which is what lets krr's peak x
        1.15 recommend a limit it can live with."""
        return np.full(ts.shape, 1.0 if controller in self.oom else 0.0)

    def reconcile_seconds(self, controller: str, ts: np.ndarray) -> np.ndarray:
        """Mean reconcile duration of the controller's objects (for gotk_reconcile_duration_seconds)."""
        n = self._count(controller, ts)
        base = {"kustomize-controller": 0.8, "helm-controller": 2.5, "source-controller": 0.4}.get(controller, 0.05)
        noise = _noise(_seed(self.cluster, controller, "dur"), np.floor(ts / SCRAPE))
        return base * (1 + n / 200.0) * self._load(controller, ts) * (0.8 + 0.4 * noise)

    def queue_depth(self, controller: str, ts: np.ndarray) -> np.ndarray:
        n = self._count(controller, ts)
        noise = _noise(_seed(self.cluster, controller, "queue"), np.floor(ts / SCRAPE))
        return np.floor(n / 40.0 * self._load(controller, ts) * noise)
