"""Resource recommendations for the Flux controllers: pure functions from usage samples to values.

Strategies are registered by name with `@strategy` and take `Usage` (per-pod CPU rates in cores and
memory working sets in bytes, optional OOM-kill limits) plus `Settings`, returning a `Recommendation`:
- `krr-simple` (robusta krr's default): CPU request = max over pods of each pod's p95; no CPU limit;
  memory request = limit = max over pods of the peak x 1.15;
- `vpa` (the Kubernetes VPA recommender): target = p90 + 15% margin, lower/upper bounds (p50/p95) widened
  by the confidence multiplier, with the per-pod minimums;
- `flux` (the default): krr-simple, never below the observed OOM-kill limit x 1.25, floors of 10m CPU
  and 100Mi memory, rounded up, with krr's severity per change and "not enough data" when history is
  short.

    rec = STRATEGIES["flux"](usage, Settings())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

MiB = float(2**20)


@dataclass(frozen=True)
class Settings:
    cpu_percentile: float = 95.0
    """Percentile of per-pod CPU samples for the request (krr's --cpu_percentile)."""
    memory_buffer: float = 0.15
    """Headroom over the memory peak (krr's memory_buffer_percentage / 100)."""
    oom_buffer: float = 0.25
    """Headroom over the limit a container was OOMKilled at."""
    points_required: int = 100
    """Fewer samples than this, summed over pods: not enough data."""
    cpu_min: float = 0.010
    memory_min: float = 100 * MiB


@dataclass(frozen=True)
class Usage:
    cpu: Sequence[np.ndarray]
    """Per pod: CPU rate samples in cores."""
    memory: Sequence[np.ndarray]
    """Per pod: memory working-set samples in bytes."""
    oom_limits: Sequence[float] = ()
    """Memory limits (bytes) at which containers were OOMKilled in the window."""
    days: float = 14.0
    """History covered, in days (VPA's confidence)."""


@dataclass(frozen=True)
class Recommendation:
    cpu_request: float | None
    cpu_limit: float | None
    memory_request: float | None
    memory_limit: float | None
    info: tuple[str, ...] = field(default=())

    @property
    def enough_data(self) -> bool:
        return "not enough data" not in self.info


Strategy = Callable[[Usage, Settings], Recommendation]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn

    return register


def _points(usage: Usage) -> int:
    return int(sum(len(a) for a in usage.cpu))


def round_cpu(cores: float) -> float:
    """Up to the next millicore."""
    return math.ceil(round(cores * 1000, 6)) / 1000


def round_memory(value: float) -> float:
    """Up to the next MiB."""
    return math.ceil(round(value / MiB, 6)) * MiB


@strategy("krr-simple")
def krr_simple(usage: Usage, settings: Settings) -> Recommendation:
    if _points(usage) < settings.points_required or not any(len(a) for a in usage.memory):
        return Recommendation(None, None, None, None, ("not enough data",))
    cpu = max(float(np.percentile(a, settings.cpu_percentile)) for a in usage.cpu if len(a))
    memory = max(float(np.max(a)) for a in usage.memory if len(a)) * (1 + settings.memory_buffer)
    cpu, memory = max(round_cpu(cpu), settings.cpu_min), max(round_memory(memory), settings.memory_min)
    return Recommendation(cpu, None, memory, memory)


@strategy("vpa")
def vpa(usage: Usage, settings: Settings) -> Recommendation:
    """Target p90, lower p50, upper p95 of CPU samples and of daily memory peaks, +15% margin, with
    the confidence multipliers (upper x (1 + 1/conf), lower x (1 + 0.001/conf)^-2)."""
    samples = np.concatenate([a for a in usage.cpu if len(a)]) if _points(usage) else np.array([])
    if samples.size < settings.points_required:
        return Recommendation(None, None, None, None, ("not enough data",))
    confidence = min(usage.days, samples.size / 1440.0)
    margin = 1.15
    cpu_target = float(np.percentile(samples, 90)) * margin
    cpu_upper = float(np.percentile(samples, 95)) * margin * (1 + 1 / confidence)
    memory_all = np.concatenate([a for a in usage.memory if len(a)])
    per_day = max(1, int(round(usage.days)))
    peaks = np.array([chunk.max() for chunk in np.array_split(memory_all, per_day) if chunk.size])
    memory_target = float(np.percentile(peaks, 90)) * margin
    memory_upper = float(np.percentile(peaks, 95)) * margin * (1 + 1 / confidence)
    cpu_target, memory_target = max(cpu_target, 0.025), max(memory_target, 250e6)
    return Recommendation(round_cpu(cpu_target), round_cpu(max(cpu_upper, cpu_target)), round_memory(memory_target),
                          round_memory(max(memory_upper, memory_target)), (f"confidence {confidence:.2f} days",))


@strategy("flux")
def flux(usage: Usage, settings: Settings) -> Recommendation:
    base = krr_simple(usage, settings)
    if not base.enough_data:
        return base
    assert base.memory_request is not None
    memory = base.memory_request
    info: list[str] = []
    if usage.oom_limits:
        floor = max(usage.oom_limits) * (1 + settings.oom_buffer)
        if floor > memory:
            memory = round_memory(floor)
            info.append("OOMKill detected: kept above the killed limit x 1.25")
    return Recommendation(base.cpu_request, None, memory, memory, tuple(info))


def severity(resource: str, current: float | None, recommended: float | None) -> str:
    """krr's severity of a change: CPU by cores (0.5 / 0.25 / 0.1), memory by MiB (500 / 250 / 100)."""
    if current is None and recommended is None:
        return "GOOD"
    if current is None or recommended is None:
        return "WARNING"
    diff = abs(current - recommended) if resource == "cpu" else abs(current - recommended) / MiB
    critical, warning, ok = (0.5, 0.25, 0.1) if resource == "cpu" else (500, 250, 100)
    return "CRITICAL" if diff >= critical else "WARNING" if diff >= warning else "OK" if diff >= ok else "GOOD"
