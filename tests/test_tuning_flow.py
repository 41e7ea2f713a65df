"""The tune-resources acceptance on the sandbox: recommendations equal a hand computation from the
same Prometheus data; the patch keeps the file's comments and patches, builds, and once merged the
controllers run with it; a second run proposes nothing; short history says "not enough data"."""

from __future__ import annotations

import json
import math
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import papermill
import pytest
import yaml

from fleetlab.metrics.prometheus import REFRESH
from fleetlab.sandbox import Sandbox
from fleetlib import github as gh
from fleetlib import kube as kube_adapter
from fleetlib.bootstrap import Bootstrap
from fleetlib.errors import ClusterError, ParameterError
from fleetlib.metrics import MetricsServerSource, Prometheus
from fleetlib.model import ClusterId
from fleetlib.options import TuneResourcesOptions
from fleetlib.parameters import Catalog, Layer, merge_and_validate
from fleetlib.quantity import parse_quantity
from fleetlib.record import read_records
from fleetlib.troubleshoot.operate import request_reconcile
from fleetlib.tuning import Tuning, tune_options

from .conftest import REPO, _kubectl
from .fluxenv import wait_for
from .test_sandbox_github import gh as pygithub

UNTIL = "2026-11-20T12:00:00Z"
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
MiB = 2**20


def params_for(name: str, **extra: Any):  # type: ignore[no-untyped-def]
    cid = ClusterId("tune", name)
    values = {"target": "sandbox", "repository": f"fleet-{name}", "path": f"./clusters/stages/tune/clusters/{name}",
              **extra}
    return merge_and_validate(cid, [*Catalog.load(REPO).base_layers("dev"), Layer("test", values)])


def bootstrap(sandbox: Sandbox, params: Any) -> None:
    Bootstrap.connect(params, home=sandbox.home, echo=False, timeout="60s").run()


def tuning(sandbox: Sandbox, params: Any, **options: Any) -> Tuning:
    t = Tuning(params, kube_adapter.connect(params, home=sandbox.home), gh.connect(params, home=sandbox.home),
               tune_options(**options), home=sandbox.home, echo=False)
    t.gather()
    return t


@pytest.fixture(scope="module")
def booted(sandbox: Sandbox) -> Iterator[Any]:
    params = params_for(f"r{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    yield params
    sandbox.forget_cluster(params.id)


# --- the same Prometheus data, by hand --------------------------------------------------------------


def prom_range(url: str, query: str, start: float, end: float, step: float) -> dict[str, list[float]]:
    """Values per pod from a plain HTTP range query, at most 11,000 points per request."""
    out: dict[str, list[float]] = {}
    t = start
    while t <= end:
        stop = min(end, t + 10_999 * step)
        body = urllib.parse.urlencode({"query": query, "start": t, "end": stop, "step": step}).encode()
        doc = json.loads(urllib.request.urlopen(f"{url}/api/v1/query_range", body, timeout=60).read())
        for series in doc["data"]["result"]:
            out.setdefault(series["metric"]["pod"], []).extend(float(v) for _, v in series["values"])
        t = stop + step
    return out


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), written out."""
    s = sorted(values)
    rank = (len(s) - 1) * q / 100
    lo = math.floor(rank)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (rank - lo)


def up_to_milli(cores: float) -> float:
    return math.ceil(round(cores * 1000, 6)) / 1000


def up_to_mib(value: float) -> float:
    return math.ceil(round(value / MiB, 6)) * MiB


def hand_data(sandbox: Sandbox, params: Any, controller: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    url = sandbox.prometheus_url(params.id)
    end = TuneResourcesOptions(until=UNTIL).end()
    assert end is not None
    start = end - 14 * 86400 + 30
    sel = f'namespace="flux-system",pod=~"{controller}-.*",container="manager"'
    cpu = prom_range(url, f"max(rate(container_cpu_usage_seconds_total{{{sel}}}[2m])) by (container, pod)", start, end, 30)
    mem = prom_range(url, f"max(container_memory_working_set_bytes{{{sel}}}) by (container, pod)", start, end, 30)
    return cpu, mem


@pytest.mark.parametrize("strategy", ["krr-simple", "vpa", "flux"])
def test_recommendations_equal_a_hand_computation(sandbox: Sandbox, booted: Any, strategy: str) -> None:
    t = tuning(sandbox, booted, strategy=strategy, until=UNTIL)
    assert t.source_name == "prometheus"
    for controller in ("kustomize-controller", "notification-controller"):
        cpu, mem = hand_data(sandbox, booted, controller)
        assert sum(len(v) for v in cpu.values()) == 14 * 2880  # one pod, every 30 s for 14 days
        rec = t.results[controller]
        if strategy in ("krr-simple", "flux"):
            cpu_request = max(up_to_milli(max(percentile(v, 95) for v in cpu.values())), 0.010)
            memory = max(up_to_mib(max(max(v) for v in mem.values()) * 1.15), 100 * MiB)
            assert (rec.cpu_request, rec.cpu_limit, rec.memory_request, rec.memory_limit) == (
                cpu_request, None, memory, memory)
        else:
            samples = [x for v in cpu.values() for x in v]
            confidence = min(14.0, len(samples) / 1440)
            target = max(percentile(samples, 90) * 1.15, 0.025)
            upper = percentile(samples, 95) * 1.15 * (1 + 1 / confidence)
            memory_all = [x for v in mem.values() for x in v]
            day = len(memory_all) // 14
            peaks = [max(memory_all[i * day:(i + 1) * day]) for i in range(14)]
            memory_target = max(percentile(peaks, 90) * 1.15, 250e6)
            assert rec.cpu_request == up_to_milli(target)
            assert rec.cpu_limit == up_to_milli(max(upper, target))
            assert rec.memory_request == up_to_mib(memory_target)
    rows = t.records()
    assert {(r["resource"], r["kind"]) for r in rows} == {("cpu", "request"), ("cpu", "limit"), ("memory", "request"),
                                                          ("memory", "limit")}
    assert set(rows[0]) == {"cluster", "controller", "container", "resource", "kind", "current", "recommended",
                            "severity", "reason"}


def test_range_queries_are_cut_at_prometheus_limit(sandbox: Sandbox, booted: Any) -> None:
    url = sandbox.prometheus_url(booted.id)
    query = 'max(container_memory_working_set_bytes{namespace="flux-system",container="manager"}) by (pod)'
    whole, chunked = Prometheus(url, max_points=50_000), Prometheus(url, max_points=1_000)
    end = 1_763_640_000.0
    a = {labels["pod"]: (ts, v) for labels, ts, v in whole.query_range(query, end - 86400, end, 30)}
    b = {labels["pod"]: (ts, v) for labels, ts, v in chunked.query_range(query, end - 86400, end, 30)}
    assert whole.requests == 1 and chunked.requests == 3  # 2,881 points in chunks of 1,000
    assert a.keys() == b.keys() and len(a) == 4
    for pod, (ts, v) in a.items():
        assert list(ts) == list(b[pod][0]) and list(v) == list(b[pod][1])


def test_short_history_says_not_enough_data_per_controller(sandbox: Sandbox, booted: Any) -> None:
    t = tuning(sandbox, booted, history="30m", until=UNTIL)  # 60 samples; 100 required
    assert t.not_enough_data() == [f"{c}: not enough data (60 samples, 100 required)" for c in CONTROLLERS]
    assert all(r["recommended"] is None and r["severity"] == "UNKNOWN" for r in t.records())
    assert not t.proposal().changed


def test_metrics_server_sampling(sandbox: Sandbox, booted: Any) -> None:
    kube = kube_adapter.connect(booted, home=sandbox.home)
    naps: list[float] = []
    source = MetricsServerSource(kube, window=4, interval=1, sleep=naps.append)
    usage = source.usage("flux-system", list(CONTROLLERS))
    assert naps == [1, 1, 1]
    for c in CONTROLLERS:
        assert len(usage[c].cpu) == 1 and len(usage[c].cpu[0].values) == 4
        assert 0 < usage[c].cpu[0].values[0] < 1 and 10 * MiB < usage[c].memory[0].values[0] < 1024 * MiB
    t = Tuning(booted, kube, gh.connect(booted, home=sandbox.home),
               tune_options(usage_source="metrics-server", sample_window="2s", sample_interval="1s"),
               home=sandbox.home, echo=False)
    t.gather()
    assert t.source_name == "metrics-server" and len(t.not_enough_data()) == 4


def test_drift_between_live_and_repository(sandbox: Sandbox, booted: Any, tmp_path: Path) -> None:
    sandbox.write_kubeconfig(tmp_path / "kubeconfig", current=booted.id)
    import subprocess

    def kubectl(*args: str) -> None:
        subprocess.run([_kubectl(), "--kubeconfig", str(tmp_path / "kubeconfig"), "-n", "flux-system", *args],
                       check=True, capture_output=True)

    # Flux would put the repository's value back at its next reconciliation: hold it while the drift is read
    kubectl("patch", "kustomization", "flux-system", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    try:
        kubectl("patch", "deployment", "helm-controller", "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "250m"}]))
        t = tuning(sandbox, booted, until=UNTIL)
        drift = t.drift()
    finally:
        kubectl("patch", "kustomization", "flux-system", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    assert drift.to_dict("records") == [{"controller": "helm-controller", "field": "cpu request", "live": "250m",
                                         "repository": "100m"}]


def test_bad_options_name_the_parameter() -> None:
    for key, value in (("strategy", "magic"), ("history", "two weeks"), ("apply", "push"), ("cpu_percentile", 120),
                       ("until", "yesterday"), ("usage_source", "grafana"), ("base", "flux")):
        with pytest.raises(ParameterError) as e:
            tune_options(**{key: value})
        assert key in str(e.value)


# --- the change, end to end ---------------------------------------------------------------------------

CUSTOM = """# flux-system of this cluster, customised by the platform team
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml   # generated by flux bootstrap
  - gotk-sync.yaml
patches:
  # more workers for the monorepo (Flux vertical-scaling guide)
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --concurrent=10
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller)"
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: all
        annotations:
          team: platform  # who to call
    target:
      labelSelector: app.kubernetes.io/part-of=flux
"""


def resources_of(sandbox: Sandbox, params: Any, tmp: Path) -> dict[str, dict[str, Any]]:
    """The controllers' manager resources as kubectl reads them."""
    sandbox.write_kubeconfig(tmp / "kubeconfig", current=params.id)
    import subprocess

    out = subprocess.run([_kubectl(), "--kubeconfig", str(tmp / "kubeconfig"), "-n", "flux-system", "get",
                          "deployments", "-o", "json"], check=True, capture_output=True, text=True).stdout
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0] for d in json.loads(out)["items"]}


def test_merged_pull_request_reaches_the_controllers_and_a_second_run_proposes_nothing(sandbox: Sandbox,
                                                                                        tmp_path: Path) -> None:
    params = params_for(f"p{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    first = tuning(sandbox, params, apply="pr")
    proposal = first.proposal()
    assert proposal.changed and set(proposal.controllers) == set(CONTROLLERS)
    outcome = first.apply(proposal)
    assert outcome["status"] == "pull request opened" and outcome["branch"].startswith(f"tune/tune-{params.cluster}-")
    repo = pygithub(sandbox).get_repo(params.repo_slug)  # what a reviewer sees, through PyGithub itself
    pr = repo.get_pull(outcome["pull_request"])
    assert "| kustomize-controller | memory | limit | 1Gi |" in pr.body and "daily peaks" in pr.body
    # the link works after the run: a fleet command (the sandbox GitHub lives only as long as a process)
    assert outcome["url"] == f"`fleet sandbox pr show {pr.number} --repo {params.repo_slug}` (then merge)"
    again = tuning(sandbox, params, apply="pr")  # the PR is still open: nothing new
    assert again.apply()["status"] == "up to date" and len(list(repo.get_pulls(state="open"))) == 1

    def fleet(*args: str) -> str:  # the review, as a person does it from a terminal
        import subprocess
        import sys

        done = subprocess.run([sys.executable, "-m", "fleetlib", "sandbox", "pr", *args, "--repo", params.repo_slug],
                              env={**os.environ, "FLEET_HOME": str(sandbox.home)}, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done.stdout

    listed = fleet("list")
    assert f"#{pr.number}" in listed and outcome["branch"] in listed and all(len(x) <= 100 for x in listed.splitlines())
    shown = fleet("show", str(pr.number))
    assert "flux-system/kustomization.yaml" in shown and "+" in shown and "| kustomize-controller | memory |" in shown
    assert f"merged #{pr.number} into main" in fleet("merge", str(pr.number))
    assert "merged" in fleet("list", "--state", "all") and "no open pull request" in fleet("list")
    kube = kube_adapter.connect(params, home=sandbox.home)
    request_reconcile(kube, "GitRepository", "flux-system", "flux-system")
    want = {r["controller"]: r for r in first.records() if r["resource"] == "memory" and r["kind"] == "limit"}
    def amounts(limits: dict[str, str]) -> dict[str, float]:  # the API server keeps quantities canonical ("1")
        return {k: parse_quantity(v) for k, v in limits.items()}

    wait_for("controllers carry the new resources", lambda: all(
        amounts(c["resources"]["limits"]) == amounts({"cpu": "1000m", "memory": want[name]["recommended"]})
        for name, c in resources_of(sandbox, params, tmp_path).items() if name in CONTROLLERS), timeout=90)
    second = tuning(sandbox, params, apply="pr")
    assert not second.proposal().changed and not any(r["change"] for r in second.rows())
    assert second.apply()["status"] == "up to date"
    assert second.drift().empty


def test_existing_patches_and_comments_survive_and_the_file_builds(sandbox: Sandbox, tmp_path: Path) -> None:
    params = params_for(f"k{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    bare = sandbox.hub.bare(params.owner, params.repository)
    path = params.path.removeprefix("./") + "/flux-system/kustomization.yaml"
    bare.commit_files("main", {path: CUSTOM.encode()}, message="customise", author=("t", "t@x"))
    t = tuning(sandbox, params, apply="commit")
    assert t.repo["kustomize-controller"].flags == {"concurrent": "10"}  # the user's patch, built
    assert t.apply()["status"] == "committed"
    head = bare.branch_sha("main")
    assert head
    written = bare.entry(head, path)
    assert written is not None
    text = bare.blob(written.sha).decode()
    original = CUSTOM.splitlines()
    assert text.splitlines()[:len(original)] == original  # every line kept, in order; fleetlib's patches follow
    doc = yaml.safe_load(text)
    assert [p["target"].get("name") for p in doc["patches"]][:2] == ["(kustomize-controller|helm-controller)", None]
    assert [p["target"].get("name") for p in doc["patches"]][2:] == list(CONTROLLERS)
    again = tuning(sandbox, params, apply="commit")
    assert again.apply()["status"] == "up to date" and bare.branch_sha("main") == head


def test_runbook_records_recommendations_and_says_not_enough_data(sandbox: Sandbox, tmp_path: Path) -> None:
    catalog = Catalog.load(REPO)
    params = catalog.resolve("services-amer", stage="dev")
    bootstrap(sandbox, params)
    out = tmp_path / "tune.ipynb"
    papermill.execute_notebook(str(REPO / "runbooks/tune-resources.ipynb"), str(out), kernel_name="python3",
                               parameters={"history": "30m", "out_dir": str(tmp_path / "exports")}, progress_bar=False)
    records = read_records(out)
    assert {r["controller"] for r in records["recommendations"]} == set(CONTROLLERS)
    assert records["tuning"]["not_enough_data"] == list(CONTROLLERS) and records["tuning"]["status"] == "up to date"
    text = out.read_text()
    for c in CONTROLLERS:
        assert f"{c}: not enough data (60 samples, 100 required)" in text
    assert (tmp_path / "exports" / "dev-services-amer.csv").exists()
    exported = json.loads((tmp_path / "exports" / "dev-services-amer.json").read_text())
    assert [s["object"]["name"] for s in exported["scans"]] == list(CONTROLLERS)
    assert not list((tmp_path / "exports").glob(".*.tmp"))


def test_flux_load_from_the_controllers_metrics(sandbox: Sandbox, booted: Any) -> None:
    t = tuning(sandbox, booted, until=UNTIL)
    ks = t.load["kustomize-controller"]  # one Kustomization, reconciled about every 10 minutes
    assert ks.reconciles_per_second == pytest.approx(1 / 600, rel=0.01) and ks.mean_reconcile_seconds
    assert t.load["helm-controller"].reconciles_per_second == 0 and t.load["helm-controller"].mean_reconcile_seconds is None
    assert t.flags().empty  # an idle cluster needs no more workers


def test_an_oom_killed_controller_keeps_memory_above_the_killed_limit(sandbox: Sandbox) -> None:
    params = params_for(f"o{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    sandbox.inject_fault(params.id, "controller-oomkilled")  # kustomize-controller's limit lowered to 20Mi
    kube = kube_adapter.connect(params, home=sandbox.home)
    wait_for("kustomize-controller OOMKilled", lambda: any(
        ((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
        for p in kube.list("v1", "Pod", "flux-system") if p["metadata"]["name"].startswith("kustomize-controller-")
        for s in (p.get("status") or {}).get("containerStatuses") or []), timeout=30)
    time.sleep(REFRESH + 0.5)  # Prometheus sees the kill at its next scrape
    t = tuning(sandbox, params, until=UNTIL)
    usage = t.usage["kustomize-controller"]
    assert usage.oom_limits == (20 * 2.0**20,)
    rec = t.results["kustomize-controller"]
    peak = max(float(p.values.max()) for p in usage.memory)  # the working set before the limit was lowered
    expected = max(peak * 1.15, 20 * 2.0**20 * 1.25, 100 * 2.0**20)  # krr: max(peak x 1.15, OOM x 1.25), 100Mi floor
    assert rec.memory_limit == up_to_mib(expected) and rec.memory_request == rec.memory_limit
    assert any("OOMKill detected" in i for i in rec.info)
    assert t.usage["helm-controller"].oom_limits == ()


def test_a_prometheus_token_is_sent_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = b'{"status":"error","errorType":"unauthorized","error":"bad token"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "prom-" + uuid.uuid4().hex
    prom = Prometheus(f"http://127.0.0.1:{server.server_address[1]}", token=secret)
    with pytest.raises(Exception) as e:
        prom.query("up", 0)
    server.shutdown()
    assert seen == [f"Bearer {secret}"]
    assert secret not in str(e.value) and secret not in repr(prom) and "prometheus_token_env" in str(e.value.hint)


def test_commit_when_the_branch_moved_meanwhile_proposes_again_from_a_fresh_clone(sandbox: Sandbox) -> None:
    params = params_for(f"m{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    t = tuning(sandbox, params, apply="commit")
    proposal = t.proposal()
    bare = sandbox.hub.bare(params.owner, params.repository)
    bare.commit_files("main", {"README.md": b"someone else\n"}, message="Add README", author=("s", "s@x"))
    assert t.apply(proposal)["status"] == "committed"
    log = bare.git("log", "--format=%s", "main").splitlines()
    assert log[0].startswith("Tune Flux controller resources") and log[1] == "Add README"


def busy_for_weeks(api: Any) -> None:
    """The cluster has had today's objects for the whole history: the usage model's load timeline (which keeps
    what was served, new load from its time on) starts with today's counts three weeks before UNTIL."""
    from fleetlab.metrics.prometheus import LOAD_KEY

    now = json.loads(api.store.meta(LOAD_KEY))[-1][1]
    since = datetime.fromisoformat(UNTIL.replace("Z", "+00:00")).timestamp() - 21 * 86400
    with api.store.write() as tx:
        tx.set_meta(LOAD_KEY, json.dumps([[since, now]]))
    time.sleep(5.5)  # and the model reads it again


def test_a_busy_cluster_gets_more_workers_and_memory_through_git(sandbox: Sandbox, tmp_path: Path) -> None:
    """400 Kustomizations (suspended, so the mini-Flux leaves them be; the controllers' metrics count them):
    kustomize-controller needs more memory and, by Flux's vertical-scaling guide, more workers and a shorter
    dependency requeue. The change goes through Git, Flux applies it, and a second run has nothing to add."""
    params = params_for(f"b{uuid.uuid4().hex[:5]}")
    bootstrap(sandbox, params)
    api = sandbox.add_cluster(params.id)
    ks_type = api.registry().by_kind("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    for i in range(400):
        api.create(ks_type, "flux-system", {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                            "metadata": {"name": f"app-{i:03d}", "namespace": "flux-system"},
                                            "spec": {"suspend": True, "interval": "10m", "path": "./apps", "prune": True,
                                                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
                   manager="test")
    time.sleep(5.5)  # the sandbox Prometheus re-reads object counts every 5 s
    busy_for_weeks(api)
    t = tuning(sandbox, params, apply="commit", until=UNTIL)
    flags = {(s["controller"], s["flag"]): s for s in t.flags().to_dict("records")}
    concurrent = flags[("kustomize-controller", "--concurrent")]
    assert concurrent["current"] == "4" and int(concurrent["suggested"]) > 4
    assert flags[("kustomize-controller", "--requeue-dependency")]["suggested"] == "5s"
    memory = {r["kind"]: r for r in t.rows() if r["controller"] == "kustomize-controller" and r["resource"] == "memory"}
    assert memory["request"]["recommended_value"] > 400 * MiB and memory["request"]["change"]
    assert t.apply()["status"] == "committed"
    request_reconcile(kube_adapter.connect(params, home=sandbox.home), "GitRepository", "flux-system", "flux-system")
    wanted = f"--concurrent={concurrent['suggested']}"
    wait_for("kustomize-controller runs with the new flags", lambda: {wanted, "--requeue-dependency=5s"} <= set(
        resources_of(sandbox, params, tmp_path)["kustomize-controller"]["args"]), timeout=90)
    again = tuning(sandbox, params, apply="commit", until=UNTIL)
    assert again.flags().empty and not again.proposal().changed and again.drift().empty


def test_a_cluster_never_bootstrapped_says_so(sandbox: Sandbox) -> None:
    params = params_for("never-booted")
    t = Tuning(params, kube_adapter.connect(params, home=sandbox.home), gh.connect(params, home=sandbox.home),
               tune_options(), home=sandbox.home, echo=False)
    with pytest.raises(ClusterError, match="tune/never-booted was never bootstrapped: no Flux controller runs"):
        t.gather()
