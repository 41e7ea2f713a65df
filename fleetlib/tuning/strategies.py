"""Resource recommendations for the Flux controllers: pure functions from usage samples to values.

Strategies are registered by name with `@strategy` and take `Usage` (per-pod CPU rates in cores and
memory working sets in bytes, optional OOM-kill limits) plus `Settings`, returning a `Recommendation`:
- `krr-simple` (robusta krr's default): CPU request = max over pods of each pod's p95; no CPU limit;
  memory request = limit = max over pods of the peak x 1.15;
- `vpa` (the Kubernetes VPA recommender): target = p90 + 15% margin, lower/upper bounds (p50/p95) widened
  by the confidence multiplier, with the per-pod minimums;
- `flux` (the default): starts from `Settings.base` (krr-simple or vpa), never below the observed
  OOM-kill limit x 1.25, floors of 10m CPU and 100Mi memory, rounded up, "not enough data" when
  history is short.

Around the math, also pure: the controllers' current state read from Deployment objects (live or as
the fleet repository builds them) and the drift between the two; the table rows of a recommendation
with krr's severity; and `--concurrent` / `--requeue-dependency` suggestions from the controllers'
load, following Flux's vertical-scaling guide (Little's law: busy workers = reconciles/s x seconds
per reconcile, doubled for peaks, at least the p95 queue depth, at most 20; the dependency requeue
drops from 30s to 5s when a busy controller reconciles in under 5 s).

    rec = STRATEGIES["flux"](usage, Settings())
    rows = recommendation_rows(cid, state, rec, Settings())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetlib.model import Duration, window_seconds
from fleetlib.objects import spec_of
from fleetlib.quantity import format_cpu, format_memory, parse_quantity

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
    base: str = "krr-simple"
    """The strategy `flux` starts from."""
    min_change: float = 0.10
    """A value is proposed only when it moves by more than this fraction (or is set or unset)."""


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
    why: Mapping[str, str] = field(default_factory=dict)
    """What set each value ("cpu_request" -> "p95 of CPU usage", "VPA's floor (25m)", "OOM bump ..."): the rows'
    reasons say exactly this."""
    peak: Mapping[str, float] = field(default_factory=dict)
    """The highest usage observed ("cpu" in cores, "memory" in bytes): a limit below it is the most severe row."""

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
    cpu_why = (f"floor ({format_cpu(settings.cpu_min)})" if round_cpu(cpu) < settings.cpu_min
               else f"p{settings.cpu_percentile:g} of CPU usage")
    memory_why = (f"floor ({format_memory(settings.memory_min)})" if round_memory(memory) < settings.memory_min
                  else f"peak memory + {settings.memory_buffer:.0%}")
    cpu, memory = max(round_cpu(cpu), settings.cpu_min), max(round_memory(memory), settings.memory_min)
    return Recommendation(cpu, None, memory, memory, why={"cpu_request": cpu_why, "memory_request": memory_why,
                                                          "memory_limit": memory_why}, peak=_peak(usage))


def _peak(usage: Usage) -> dict[str, float]:
    return {"cpu": max(float(np.max(a)) for a in usage.cpu if len(a)),
            "memory": max(float(np.max(a)) for a in usage.memory if len(a))}


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
    why = {"cpu_request": "VPA's floor (25m)" if cpu_target < 0.025 else "p90 of CPU usage + 15% margin",
           "cpu_limit": "VPA's upper bound: p95 of CPU usage + 15% margin, widened by confidence",
           "memory_request": "VPA's floor (250MB)" if memory_target < 250e6 else "p90 of daily memory peaks + 15% margin",
           "memory_limit": "VPA's upper bound: p95 of daily memory peaks + 15% margin, widened by confidence"}
    if max(cpu_upper, cpu_target) == max(cpu_target, 0.025) and cpu_target < 0.025:
        why["cpu_limit"] = "VPA's floor (25m)"
    if max(memory_upper, memory_target) <= 250e6 and memory_target < 250e6:
        why["memory_limit"] = "VPA's floor (250MB)"
    cpu_target, memory_target = max(cpu_target, 0.025), max(memory_target, 250e6)
    return Recommendation(round_cpu(cpu_target), round_cpu(max(cpu_upper, cpu_target)), round_memory(memory_target),
                          round_memory(max(memory_upper, memory_target)), (f"confidence {confidence:.2f} days",),
                          why=why, peak=_peak(usage))


@strategy("flux")
def flux(usage: Usage, settings: Settings) -> Recommendation:
    if settings.base == "flux" or settings.base not in STRATEGIES:
        raise ValueError(f"base strategy {settings.base!r} is not one of {', '.join(n for n in STRATEGIES if n != 'flux')}")
    base = STRATEGIES[settings.base](usage, settings)
    if not base.enough_data:
        return base
    assert base.memory_request is not None and base.cpu_request is not None
    why = dict(base.why)
    memory_request = max(base.memory_request, settings.memory_min)
    if base.memory_request < settings.memory_min:
        why["memory_request"] = f"floor ({format_memory(settings.memory_min)})"
    memory_limit = max(base.memory_limit or memory_request, memory_request)
    if memory_limit != base.memory_limit:
        why["memory_limit"] = why["memory_request"]
    info = list(base.info)
    if usage.oom_limits:
        floor = round_memory(max(usage.oom_limits) * (1 + settings.oom_buffer))
        if floor > memory_limit:
            bump = f"OOM bump: the limit it was OOMKilled at ({format_memory(max(usage.oom_limits))}) x " \
                   f"{1 + settings.oom_buffer:g}"
            if floor > memory_request:
                why["memory_request"] = bump
            memory_request, memory_limit = max(memory_request, floor), floor
            why["memory_limit"] = bump
            info.append(f"OOMKill detected: kept above the killed limit x {1 + settings.oom_buffer:g}")
        else:
            info.append(f"OOMKill detected at {format_memory(max(usage.oom_limits))}: the peak already keeps it above")
    cpu_request = max(round_cpu(base.cpu_request), settings.cpu_min)
    if round_cpu(base.cpu_request) < settings.cpu_min:
        why["cpu_request"] = f"floor ({format_cpu(settings.cpu_min)})"
    cpu_limit = None if base.cpu_limit is None else max(round_cpu(base.cpu_limit), cpu_request)
    return Recommendation(cpu_request, cpu_limit, round_memory(memory_request), round_memory(memory_limit), tuple(info),
                          why=why, peak=base.peak)


SEVERITIES = ("GOOD", "OK", "WARNING", "CRITICAL")


def severity(resource: str, current: float | None, recommended: float | None, *, kind: str = "request",
             peak: float | None = None) -> str:
    """krr's severity of a change (CPU by cores 0.5 / 0.25 / 0.1, memory by MiB 500 / 250 / 100), but a cut is
    at most WARNING (it frees resources, it breaks nothing) and a limit below the observed peak is CRITICAL for
    memory (the container is OOMKilled) and at least WARNING for CPU (it is throttled)."""
    if kind == "limit" and current is not None and peak is not None and current < peak:
        return "CRITICAL" if resource == "memory" else "WARNING" if recommended is None or recommended > current \
            else "GOOD"
    if current is None and recommended is None:
        return "GOOD"
    if current is None or recommended is None:
        return "WARNING"
    diff = abs(current - recommended) if resource == "cpu" else abs(current - recommended) / MiB
    critical, warning, ok = (0.5, 0.25, 0.1) if resource == "cpu" else (500, 250, 100)
    found = "CRITICAL" if diff >= critical else "WARNING" if diff >= warning else "OK" if diff >= ok else "GOOD"
    return "WARNING" if recommended < current and found == "CRITICAL" else found


# --- settings from runbook parameters --------------------------------------------------------------

parse_window = window_seconds
"""Seconds of a Prometheus-style duration such as `14d`, `336h`, `1h30m` or `30s` (fleetlib.model)."""


# --- current state ---------------------------------------------------------------------------------

VALUES: tuple[tuple[str, str], ...] = (("cpu", "request"), ("cpu", "limit"), ("memory", "request"), ("memory", "limit"))
FLAGS = ("concurrent", "requeue-dependency")
DEFAULT_FLAGS: dict[str, dict[str, str]] = {
    "source-controller": {"concurrent": "2", "requeue-dependency": "30s"},
    "kustomize-controller": {"concurrent": "4", "requeue-dependency": "30s"},
    "helm-controller": {"concurrent": "4", "requeue-dependency": "30s"},
    "notification-controller": {"concurrent": "4"},
}
"""What each v2.5 controller runs with when its Deployment passes no flag (main.go at each tag)."""


@dataclass(frozen=True)
class ContainerState:
    """A controller container's requests, limits (cores and bytes; None when unset) and flags."""

    controller: str
    container: str
    values: Mapping[tuple[str, str], float | None]
    """(resource, kind) -> value, e.g. ("cpu", "request") -> 0.05."""
    flags: Mapping[str, str] = field(default_factory=dict)
    """`--concurrent`-style flags as given (the last occurrence wins, as Go's flag package does)."""

    def flag(self, name: str) -> str | None:
        return self.flags.get(name, DEFAULT_FLAGS.get(self.controller, {}).get(name))

    def text(self, resource: str, kind: str) -> str | None:
        return quantity_text(resource, self.values.get((resource, kind)))


def quantity_text(resource: str, value: float | None) -> str | None:
    if value is None:
        return None
    return format_cpu(value) if resource == "cpu" else format_memory(value)


def container_state(deployment: Mapping[str, Any], container: str = "manager") -> ContainerState | None:
    """The state of one container of a Deployment object (as the API or a kustomize build has it)."""
    spec = (spec_of(deployment).get("template") or {}).get("spec") or {}
    found = next((c for c in spec.get("containers") or [] if c.get("name") == container), None)
    if found is None:
        return None
    res = found.get("resources") or {}
    values: dict[tuple[str, str], float | None] = {}
    for resource, kind in VALUES:
        raw = (res.get(kind + "s") or {}).get(resource)
        values[(resource, kind)] = None if raw is None else parse_quantity(str(raw))
    flags: dict[str, str] = {}
    for arg in found.get("args") or []:
        name, _, value = str(arg).removeprefix("--").partition("=")
        if name in FLAGS and str(arg).startswith("--"):
            flags[name] = value
    return ContainerState(deployment["metadata"]["name"], container, values, flags)


def states(objects: Iterable[Mapping[str, Any]], controllers: Sequence[str],
           container: str = "manager") -> dict[str, ContainerState]:
    """The controllers' states from a list of objects (Deployments among them)."""
    out = {}
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj.get("metadata", {}).get("name") in controllers:
            state = container_state(obj, container)
            if state is not None:
                out[state.controller] = state
    return out


def drift(live: Mapping[str, ContainerState], repo: Mapping[str, ContainerState]) -> list[dict[str, Any]]:
    """Where the running Deployments differ from what the fleet repository builds."""
    rows: list[dict[str, Any]] = []
    for controller in sorted(set(live) | set(repo)):
        a, b = live.get(controller), repo.get(controller)
        if a is None or b is None:
            rows.append({"controller": controller, "field": "deployment", "live": "present" if a else "absent",
                         "repository": "present" if b else "absent"})
            continue
        for resource, kind in VALUES:
            if a.text(resource, kind) != b.text(resource, kind):
                rows.append({"controller": controller, "field": f"{resource} {kind}", "live": a.text(resource, kind),
                             "repository": b.text(resource, kind)})
        for name in FLAGS:
            if a.flag(name) != b.flag(name):
                rows.append({"controller": controller, "field": f"--{name}", "live": a.flag(name), "repository": b.flag(name)})
    return rows


# --- the rows of a recommendation ------------------------------------------------------------------


def recommended_value(rec: Recommendation, resource: str, kind: str) -> float | None:
    return getattr(rec, f"{resource}_{kind}")


def changed(current: float | None, recommended: float | None, settings: Settings) -> bool:
    if current is None or recommended is None:
        return current != recommended
    return abs(recommended - current) > settings.min_change * current


def recommendation_rows(cluster: str, state: ContainerState, rec: Recommendation, settings: Settings, *,
                        samples: int = 0) -> list[dict[str, Any]]:
    """Four rows (cpu and memory, request and limit) for a controller, with severity, reason and whether
    the value would change."""
    rows = []
    for resource, kind in VALUES:
        current = state.values.get((resource, kind))
        if not rec.enough_data:
            rows.append(_row(cluster, state, resource, kind, current, None, "UNKNOWN", False,
                             f"not enough data: {samples} samples, {settings.points_required} required"))
            continue
        value = recommended_value(rec, resource, kind)
        if value is None and current is not None:
            rows.append(_row(cluster, state, resource, kind, current, current, "GOOD", False, KEPT))
            continue
        change = changed(current, value, settings)
        if not change:
            value = current
        reason = _reason(resource, kind, current, rec) if change else "within tolerance of the current value"
        sev = severity(resource, current, value, kind=kind, peak=rec.peak.get(resource))
        rows.append(_row(cluster, state, resource, kind, current, value, sev, change, reason))
    return rows


KEPT = ("kept: the strategy sets no value, but Flux cannot unset it (the bootstrap's server-side apply, field "
        "manager flux, co-owns the field, so removing it from Git leaves it on the cluster)")


def _reason(resource: str, kind: str, current: float | None, rec: Recommendation) -> str:
    base = rec.why.get(f"{resource}_{kind}", "the strategy's value")
    peak = rec.peak.get(resource)
    if kind == "limit" and current is not None and peak is not None and current < peak:
        base = (f"usage peaked at {quantity_text(resource, peak)}, above the current limit "
                f"({'OOMKilled' if resource == 'memory' else 'throttled'} there); {base}")
    extra = "; ".join(rec.info)
    return f"{base}; {extra}" if extra else base


def _row(cluster: str, state: ContainerState, resource: str, kind: str, current: float | None,
         recommended: float | None, sev: str, change: bool, reason: str) -> dict[str, Any]:
    return {"cluster": cluster, "controller": state.controller, "container": state.container, "resource": resource,
            "kind": kind, "current": quantity_text(resource, current), "recommended": quantity_text(resource, recommended),
            "current_value": current, "recommended_value": recommended, "severity": sev, "change": change,
            "reason": reason}


# --- --concurrent and --requeue-dependency -----------------------------------------------------------

MAX_CONCURRENT = 20
"""The largest --concurrent in Flux's vertical-scaling guide (kustomize-controller on tmpfs)."""
FAST_REQUEUE = "5s"


@dataclass(frozen=True)
class FlagSuggestion:
    controller: str
    flag: str
    current: str | None
    suggested: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"controller": self.controller, "flag": f"--{self.flag}", "current": self.current,
                "suggested": self.suggested, "reason": self.reason}


def _is_window(text: str | None) -> bool:
    """A Go duration, as the controllers' flag parser takes it."""
    if text is None:
        return True
    try:
        Duration.parse(text)
    except ValueError:
        return False
    return True


def suggest_flags(state: ContainerState, reconciles_per_second: float, mean_seconds: float | None,
                  queue_p95: float) -> list[FlagSuggestion]:
    """Flux's vertical-scaling advice for one controller from its load (absolute, so a second run after
    the change suggests nothing)."""
    busy = reconciles_per_second * (mean_seconds or 0.0)
    needed = max(math.ceil(2 * busy), math.ceil(queue_p95))
    raw = state.flag("concurrent") or "1"
    broken = [FlagSuggestion(state.controller, name, value, fallback,
                             f"invalid argument {value!r} for \"--{name}\" flag: the controller exits at start "
                             f"(crash loop) until it is fixed")
              for name, value, fallback, ok in (
                  ("concurrent", raw, str(max(needed, int(DEFAULT_FLAGS.get(state.controller, {}).get("concurrent", "4")))),
                   raw.isdigit() and int(raw) > 0),
                  ("requeue-dependency", state.flag("requeue-dependency"), "30s", _is_window(state.flag("requeue-dependency"))))
              if not ok]
    if broken:
        return broken
    current = int(raw)
    out = []
    if needed > current and current < MAX_CONCURRENT:
        suggested = min(needed, MAX_CONCURRENT)
        out.append(FlagSuggestion(state.controller, "concurrent", str(current), str(suggested),
                                  f"{busy:.1f} workers busy on average ({reconciles_per_second:.2f} reconciles/s x "
                                  f"{mean_seconds or 0:.1f} s), p95 queue depth {queue_p95:g}"))
    requeue = state.flag("requeue-dependency")
    if (out and requeue is not None and mean_seconds is not None and mean_seconds < parse_window(FAST_REQUEUE)
            and parse_window(requeue) > parse_window(FAST_REQUEUE)):
        out.append(FlagSuggestion(state.controller, "requeue-dependency", requeue, FAST_REQUEUE,
                                  f"a reconcile takes {mean_seconds:.1f} s: objects waiting on dependsOn need not wait "
                                  f"{requeue}"))
    return out

