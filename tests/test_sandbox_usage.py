"""Controller usage on a sandbox cluster: metrics.k8s.io (kubectl top) and the Prometheus API,
both from one deterministic model, checked against hand computations on the raw samples."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np
import pytest

from .conftest import SandboxCluster
from .fluxenv import FluxCluster, bootstrapped, wait_for

CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


@pytest.fixture()
def flux(cluster: SandboxCluster) -> FluxCluster:
    fc = bootstrapped(cluster)
    for name in CONTROLLERS:
        wait_for(f"{name} running", lambda n=name: ((fc.get("Deployment", n) or {}).get("status") or {})
                 .get("readyReplicas") == 1)
    return fc


def prom(fc: FluxCluster, endpoint: str, **params: Any) -> dict[str, Any]:
    url = f"{fc.c.sandbox.prometheus_url(fc.c.id)}/api/v1/{endpoint}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        return json.loads(urllib.request.urlopen(url).read())  # a local URL
    except urllib.error.HTTPError as e:
        return {"code": e.code, **json.loads(e.read())}


def test_kubectl_top_pods(flux: FluxCluster) -> None:
    out = flux.c.kubectl("top", "pods", "-n", "flux-system", "--no-headers")
    rows = {line.split()[0].rsplit("-", 2)[0]: line.split()[1:] for line in out.splitlines()}
    assert set(rows) == set(CONTROLLERS)
    for cpu, memory in rows.values():
        assert cpu.endswith("m") and memory.endswith("Mi") and int(memory[:-2]) > 10
    nodes = flux.c.kubectl("top", "nodes", "--no-headers")
    assert flux.c.id.cluster + "-control-plane" in nodes


def test_series_and_labels(flux: FluxCluster) -> None:
    found = prom(flux, "series", **{"match[]": 'container_memory_working_set_bytes{namespace="flux-system"}'})["data"]
    pods = sorted(s["pod"].rsplit("-", 2)[0] for s in found)
    assert pods == sorted(CONTROLLERS) and all(s["container"] == "manager" for s in found)
    limits = prom(flux, "query", query='kube_pod_container_resource_requests{resource="cpu"}')["data"]["result"]
    by_pod = {r["metric"]["pod"].rsplit("-", 2)[0]: float(r["value"][1]) for r in limits}
    assert by_pod == {"source-controller": 0.05, "kustomize-controller": 0.1, "helm-controller": 0.1,
                      "notification-controller": 0.1}


def test_rate_matches_a_hand_computation_on_the_raw_counter(flux: FluxCluster) -> None:
    t = float(np.floor(time.time() / 30) * 30) - 3600
    sel = 'container_cpu_usage_seconds_total{pod=~"kustomize-controller-.*"}'
    raw = prom(flux, "query_range", query=sel, start=t - 300, end=t, step=30)["data"]["result"][0]["values"]
    samples = [float(v) for _, v in raw[1:]]  # the window (t-5m, t] holds the last ten samples
    hand = (samples[-1] - samples[0]) / 270  # Prometheus extrapolates the 270 s sampled to the 300 s window
    got = float(prom(flux, "query", query=f"rate({sel}[5m])", time=t)["data"]["result"][0]["value"][1])
    assert got == pytest.approx(hand, rel=1e-9)
    again = float(prom(flux, "query", query=f"rate({sel}[5m])", time=t)["data"]["result"][0]["value"][1])
    assert again == got  # deterministic


def test_krr_style_queries(flux: FluxCluster) -> None:
    pods = "|".join(f"{c}-.*" for c in CONTROLLERS)
    p95 = prom(flux, "query", query=f'quantile_over_time(0.95, max(rate(container_cpu_usage_seconds_total{{namespace='
               f'"flux-system",pod=~"{pods}",container="manager"}}[5m])) by (container, pod, job)[14d:30s])')
    assert len(p95["data"]["result"]) == 4
    mem = prom(flux, "query", query='max_over_time(max(container_memory_working_set_bytes{namespace="flux-system"}) '
               'by (container, pod, job)[14d:30s])')["data"]["result"]
    count = prom(flux, "query", query='count_over_time(max(container_cpu_usage_seconds_total{namespace="flux-system"})'
                 ' by (container, pod, job)[14d:30s])')["data"]["result"]
    assert all(float(r["value"][1]) == 14 * 86400 / 30 for r in count)
    assert all(20 * 2**20 < float(r["value"][1]) < 2**30 for r in mem)
    for q in ('rate(gotk_reconcile_duration_seconds_sum{kind="Kustomization"}[5m]) / '
              'rate(gotk_reconcile_duration_seconds_count{kind="Kustomization"}[5m])',
              'max_over_time(workqueue_depth{name="kustomization"}[1h])'):
        assert prom(flux, "query", query=q)["data"]["result"], q


def test_fourteen_day_range_at_30s(flux: FluxCluster) -> None:
    end = time.time()
    doc = prom(flux, "query_range", query='rate(container_cpu_usage_seconds_total{namespace="flux-system"}[5m])',
               start=end - 14 * 86400, end=end, step=30)
    result = doc["data"]["result"]
    assert len(result) == 4 and all(len(r["values"]) == 40321 for r in result)
    values = np.array([float(v) for _, v in result[0]["values"]])
    assert values.min() > 0 and values.max() > 1.5 * np.median(values)  # daily cycle and deploy bursts


def test_oom_history(flux: FluxCluster) -> None:
    flux.c.sandbox.inject_fault(flux.c.id, "controller-oomkilled")
    time.sleep(5.5)  # the series are rebuilt every five seconds
    result = prom(flux, "query", query='max_over_time(kube_pod_container_status_last_terminated_reason'
                  '{reason="OOMKilled"}[14d])')["data"]["result"]
    assert [r["metric"]["pod"].rsplit("-", 2)[0] for r in result] == ["kustomize-controller"]
    peak = prom(flux, "query", query='max_over_time(container_memory_working_set_bytes{pod=~"kustomize-controller-.*"}'
                '[1d])')["data"]["result"][0]["value"][1]
    assert float(peak) > 20 * 2**20  # the history before the limit was lowered to 20Mi keeps its working set
    flux.c.sandbox.clear_fault(flux.c.id, "controller-oomkilled")


@pytest.mark.parametrize("query", ["rate(x[5m]", "foo{bar}", "max_over_time(x)", "nosuch(x[5m])"])
def test_bad_queries_are_400(flux: FluxCluster, query: str) -> None:
    doc = prom(flux, "query", query=query)
    assert doc["code"] == 400 and doc["status"] == "error" and doc["errorType"] == "bad_data"


def test_served_history_does_not_change_when_load_grows() -> None:
    from fleetlab.metrics.usage import UsageModel, grid

    ts = grid(1_796_000_000.0, 1_796_000_000.0 + 86_400)
    before = UsageModel("dev/x", timeline=((1_795_000_000.0, {"kustomize-controller": 3}),))
    change = 1_796_000_000.0 + 43_200
    after = UsageModel("dev/x", timeline=((1_795_000_000.0, {"kustomize-controller": 3}),
                                         (change, {"kustomize-controller": 150})))
    old, new = before.memory("kustomize-controller", ts), after.memory("kustomize-controller", ts)
    assert np.array_equal(old[ts < change], new[ts < change])  # what was served stays as it was
    assert (new[ts >= change] > old[ts >= change] * 2).all()  # the new load shows from its time on
    alone = UsageModel("dev/x", objects={"kustomize-controller": 3})
    assert np.array_equal(alone.memory("kustomize-controller", ts), old)


def test_the_kubelet_oom_kills_a_controller_whose_working_set_passes_its_limit(flux: FluxCluster) -> None:
    from fleetlab.sandbox.seed import seed

    c = flux.c
    seed(c.sandbox.cluster(c.id), c.sandbox.hub, apps=50)  # about 100Mi for kustomize-controller from now on
    metrics = c.sandbox.prom.sources[(c.id.stage, c.id.cluster)]
    time.sleep(5.5)
    working = metrics.working_set("kustomize-controller")
    assert working is not None and working > 70 * 2**20
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "manager", "resources": {
        "limits": {"memory": "60Mi"}}}]}}}}  # above what it needs to start (42Mi), below what it uses now
    c.kubectl("patch", "deployment", "kustomize-controller", "-n", "flux-system", "--type", "strategic", "-p",
              json.dumps(patch))

    def killed() -> bool:
        pods = json.loads(c.kubectl("get", "pods", "-n", "flux-system", "-o", "json"))["items"]
        return any(((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
                   for p in pods if p["metadata"]["name"].startswith("kustomize-controller-")
                   for s in (p.get("status") or {}).get("containerStatuses") or [])

    wait_for("kustomize-controller OOMKilled", killed, timeout=60)
