"""The recommendation math against hand computations (tables, seeded data)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetlib.tuning.strategies import (
    STRATEGIES,
    MiB,
    Settings,
    Usage,
    round_cpu,
    round_memory,
    severity,
)

RNG = np.random.default_rng(7)
CPU = [RNG.uniform(0.01, 0.2, 500), RNG.uniform(0.02, 0.3, 500)]
MEM = [RNG.uniform(40, 90, 500) * MiB, RNG.uniform(50, 120, 500) * MiB]


def test_krr_simple_is_p95_per_pod_and_peak_plus_15_percent() -> None:
    rec = STRATEGIES["krr-simple"](Usage(CPU, MEM), Settings())
    hand_cpu = max(np.percentile(CPU[0], 95), np.percentile(CPU[1], 95))
    hand_mem = max(MEM[0].max(), MEM[1].max()) * 1.15
    assert rec.cpu_request == round_cpu(hand_cpu) and rec.cpu_limit is None
    assert rec.memory_request == rec.memory_limit == max(round_memory(hand_mem), 100 * MiB)


def test_vpa_target_and_bounds() -> None:
    usage = Usage(CPU, MEM, days=14)
    rec = STRATEGIES["vpa"](usage, Settings())
    samples = np.concatenate(CPU)
    confidence = min(14, samples.size / 1440)
    assert rec.cpu_request == round_cpu(max(np.percentile(samples, 90) * 1.15, 0.025))
    assert rec.cpu_limit == round_cpu(max(np.percentile(samples, 95) * 1.15 * (1 + 1 / confidence),
                                          np.percentile(samples, 90) * 1.15))


def test_flux_keeps_memory_above_an_oom_kill() -> None:
    rec = STRATEGIES["flux"](Usage(CPU, MEM, oom_limits=[256 * MiB]), Settings())
    assert rec.memory_request == round_memory(256 * MiB * 1.25) and "OOMKill detected" in rec.info[0]


def test_floors_apply() -> None:
    rec = STRATEGIES["flux"](Usage([np.full(200, 0.001)], [np.full(200, 10 * MiB)]), Settings())
    assert rec.cpu_request == 0.010 and rec.memory_request == 100 * MiB


@pytest.mark.parametrize("name", ["krr-simple", "vpa", "flux"])
def test_not_enough_data(name: str) -> None:
    rec = STRATEGIES[name](Usage([np.full(20, 0.1)], [np.full(20, 50 * MiB)]), Settings())
    assert not rec.enough_data and rec.cpu_request is None


@pytest.mark.parametrize(("resource", "current", "recommended", "expected"), [
    ("cpu", 0.4, 1.0, "CRITICAL"), ("cpu", 1.0, 0.4, "WARNING"), ("cpu", 0.5, 0.2, "WARNING"), ("cpu", 0.2, 0.05, "OK"),
    ("cpu", 0.1, 0.05, "GOOD"), ("memory", 100 * MiB, 1024 * MiB, "CRITICAL"), ("memory", 1024 * MiB, 100 * MiB, "WARNING"),
    ("memory", 400 * MiB, 100 * MiB, "WARNING"), ("memory", 64 * MiB, 200 * MiB, "OK"), ("memory", None, 100 * MiB, "WARNING"),
    ("cpu", None, None, "GOOD")])
def test_severity_uses_krr_thresholds_and_a_cut_is_never_critical(
        resource: str, current: float | None, recommended: float | None, expected: str) -> None:
    assert severity(resource, current, recommended) == expected


# --- state, rows and flag suggestions ------------------------------------------------------------------

from fleetlib.tuning.strategies import (  # noqa: E402
    ContainerState,
    container_state,
    drift,
    recommendation_rows,
    suggest_flags,
)


def deployment(name: str, resources: dict, args: list[str]) -> dict:
    return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
        {"name": "manager", "resources": resources, "args": args}]}}}}


def test_container_state_reads_resources_and_the_last_flag() -> None:
    d = deployment("kustomize-controller", {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
                   ["--watch-all-namespaces", "--concurrent=10", "--concurrent=20"])
    state = container_state(d)
    assert state is not None
    assert state.values == {("cpu", "request"): 0.1, ("cpu", "limit"): None, ("memory", "request"): 64 * MiB,
                            ("memory", "limit"): 1024 * MiB}
    assert state.flag("concurrent") == "20" and state.flag("requeue-dependency") == "30s"  # the v2.5 default
    other = container_state(deployment("kustomize-controller", {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                "limits": {"memory": "1Gi"}}, []))
    assert other is not None
    assert drift({"kustomize-controller": state}, {"kustomize-controller": other}) == [
        {"controller": "kustomize-controller", "field": "--concurrent", "live": "20", "repository": "4"}]


def test_rows_keep_a_value_the_strategy_would_unset_and_ignore_small_moves() -> None:
    state = ContainerState("helm-controller", "manager", {("cpu", "request"): 0.1, ("cpu", "limit"): 1.0,
                                                          ("memory", "request"): 100 * MiB, ("memory", "limit"): 105 * MiB})
    rec = STRATEGIES["krr-simple"](Usage([np.full(200, 0.02)], [np.full(200, 90 * MiB)]), Settings())
    rows = {(r["resource"], r["kind"]): r for r in recommendation_rows("dev/x", state, rec, Settings())}
    assert rows[("cpu", "request")]["recommended"] == "20m" and rows[("cpu", "request")]["change"]
    assert rows[("cpu", "limit")]["recommended"] == "1000m" and not rows[("cpu", "limit")]["change"]
    assert "kept" in rows[("cpu", "limit")]["reason"]
    assert rows[("memory", "limit")]["recommended"] == "105Mi" and not rows[("memory", "limit")]["change"]  # 104Mi: < 10%


@pytest.mark.parametrize(("rate", "seconds", "queue", "current", "expected"), [
    (0.0, None, 0.0, {}, []),
    (1.0, 5.0, 0.0, {}, [("concurrent", "10")]),                       # 5 busy workers, doubled
    (1.0, 2.0, 0.0, {}, []),                                            # 4 needed, 4 by default: nothing
    (2.0, 2.0, 0.0, {}, [("concurrent", "8"), ("requeue-dependency", "5s")]),
    (3.0, 10.0, 50.0, {}, [("concurrent", "20")]),                      # capped at the guide's 20; slow: keep 30s
    (2.0, 2.0, 0.0, {"concurrent": "8", "requeue-dependency": "5s"}, []),  # after the change: nothing new
])
def test_flag_suggestions_follow_the_vertical_scaling_guide(rate: float, seconds: float | None, queue: float,
                                                            current: dict, expected: list) -> None:
    state = ContainerState("kustomize-controller", "manager", {}, current)
    got = [(s.flag, s.suggested) for s in suggest_flags(state, rate, seconds, queue)]
    assert got == expected


def test_a_memory_limit_below_the_observed_peak_is_the_most_severe_row() -> None:
    state = ContainerState("kustomize-controller", "manager", {("cpu", "request"): 0.1, ("cpu", "limit"): 1.0,
                                                               ("memory", "request"): 64 * MiB,
                                                               ("memory", "limit"): 100 * MiB})
    usage = Usage([np.full(300, 0.05)], [np.full(300, 139 * MiB)])
    rows = {(r["resource"], r["kind"]): r for r in recommendation_rows("dev/x", state, STRATEGIES["flux"](
        usage, Settings()), Settings())}
    limit = rows[("memory", "limit")]
    assert limit["severity"] == "CRITICAL" and limit["reason"].startswith("usage peaked at 139Mi, above the current limit")
    assert severity("memory", 1024 * MiB, 100 * MiB) != "CRITICAL"  # cutting an oversized limit is not


def test_reasons_name_what_set_the_value() -> None:
    quiet = Usage([np.full(300, 0.001)], [np.full(300, 10 * MiB)])
    vpa_rec = STRATEGIES["vpa"](quiet, Settings())
    assert vpa_rec.why["cpu_request"] == "VPA's floor (25m)" and vpa_rec.why["memory_request"] == "VPA's floor (250MB)"
    busy = Usage([np.full(300, 0.5)], [np.full(300, 600 * MiB)])
    assert STRATEGIES["vpa"](busy, Settings()).why["cpu_request"] == "p90 of CPU usage + 15% margin"
    flux_rec = STRATEGIES["flux"](quiet, Settings())
    assert flux_rec.why["cpu_request"] == "floor (10m)" and flux_rec.why["memory_request"] == "floor (100Mi)"
    bumped = STRATEGIES["flux"](Usage(CPU, MEM, oom_limits=[256 * MiB]), Settings())
    assert bumped.why["memory_limit"].startswith("OOM bump: the limit it was OOMKilled at (256Mi)")


@pytest.mark.parametrize(("flag", "value"), [("concurrent", "four"), ("concurrent", "0"), ("requeue-dependency", "soon")])
def test_a_flag_the_controller_refuses_is_a_suggestion_not_a_crash(flag: str, value: str) -> None:
    state = ContainerState("kustomize-controller", "manager", {}, {flag: value})
    found = suggest_flags(state, 0.0, None, 0.0)
    assert [(s.flag, s.current) for s in found] == [(flag, value)]
    assert f'invalid argument {value!r} for "--{flag}" flag' in found[0].reason
