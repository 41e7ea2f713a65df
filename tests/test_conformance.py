"""Runbook conformance: the same acceptance tests on `target: sandbox` and on `target: local` (real Kubernetes,
the real Flux controllers): bootstrap (then "up to date"), an honest troubleshooting verdict on a healthy
cluster, resource tuning from the controllers' usage, and every fault scenario made the way it happens for real,
after which the troubleshooting runbook's first finding is the scenario's id on both targets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetlib import kube as kube_adapter
from fleetlib import targets
from fleetlib.diagnose import SEVERITY, diagnose
from fleetlib.local.build import build, cache_dir
from fleetlib.local.cluster import LocalCluster, context_name
from fleetlib.local.versions import LOCAL
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog
from fleetlib.record import read_records
from fleetlib.sandbox.flux.faults import DIAGNOSIS, SCENARIOS
from fleetlib.troubleshoot import gather_cluster

from .conftest import REPO

STAGE = "dev"
CLUSTERS = {"sandbox": "conf-sandbox", "local": "conf-local"}
TARGETS = list(CLUSTERS)


def _say(text: str) -> None:
    print(text, flush=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fleet root with one cluster per target, each syncing from its own repository in the sandbox GitHub."""
    root = tmp_path_factory.mktemp("conformance-fleet")
    shutil.copytree(REPO / "parameters", root / "parameters")
    for target, cluster in CLUSTERS.items():
        extra = f"context: {context_name(ClusterId(STAGE, cluster))}\n" if target == "local" else ""
        (root / "parameters" / STAGE / f"{cluster}.yaml").write_text(
            f"target: {target}\nrepository: {cluster}\n{extra}")
    return root


@pytest.fixture(scope="module")
def env(fleet: Path) -> dict[str, str]:
    return {**os.environ, "FLEET_ROOT": str(fleet), "FLEET_LOCAL_SCRAPE": "2"}


@pytest.fixture(scope="module")
def local_cluster(env: dict[str, str]) -> Iterator[LocalCluster]:
    build(cache_dir(), LOCAL, say=_say)
    cluster = LocalCluster(Path(env["FLEET_HOME"]), ClusterId(STAGE, CLUSTERS["local"]))
    os.environ["FLEET_LOCAL_SCRAPE"] = "2"
    try:
        cluster.up(say=_say)
    finally:
        os.environ.pop("FLEET_LOCAL_SCRAPE", None)
    yield cluster
    cluster.down(say=_say)


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        request.getfixturevalue("local_cluster")
    return str(request.param)


def papermill(env: dict[str, str], runbook: str, out: Path, cluster: str, *args: str
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-output",
                           str(REPO / "runbooks" / f"{runbook}.ipynb"), str(out), "-p", "cluster", cluster,
                           "-p", "stage", STAGE, *args], env=env, capture_output=True, text=True, timeout=900,
                          check=False)


def params_of(fleet: Path, target: str) -> Any:
    return Catalog.load(fleet).resolve(CLUSTERS[target], stage=STAGE)


_BOOTSTRAPPED: dict[str, dict[str, Any]] = {}


@pytest.fixture()
def bootstrapped(target: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bootstrap runbook's record (run once per target)."""
    if target not in _BOOTSTRAPPED:
        out = tmp_path_factory.mktemp(f"boot-{target}") / "bootstrap.ipynb"
        done = papermill(env, "bootstrap", out, CLUSTERS[target], "-p", "timeout", "5m")
        assert done.returncode == 0, done.stderr[-4000:]
        _BOOTSTRAPPED[target] = dict(read_records(out)["bootstrap"])
    return _BOOTSTRAPPED[target]


def test_bootstrap_installs_flux_then_is_up_to_date(target: str, bootstrapped: dict[str, Any], env: dict[str, str],
                                                   tmp_path: Path) -> None:
    assert bootstrapped["status"] == "changed" and bootstrapped["target"] == target
    assert bootstrapped["revision"] and bootstrapped["deploy_key_fingerprint"]
    again = tmp_path / "again.ipynb"
    done = papermill(env, "bootstrap", again, CLUSTERS[target])
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_records(again)["bootstrap"]["status"] == "up to date"


def test_troubleshooting_a_healthy_cluster_finds_nothing_above_info(target: str, bootstrapped: dict[str, Any],
                                                                    env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "troubleshoot.ipynb"
    done = papermill(env, "troubleshoot", out, CLUSTERS[target])
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_records(out)
    assert [f for f in records["findings"] if SEVERITY[f["severity"]] > SEVERITY["info"]] == []
    kinds = records["summary"]["kinds"]  # an honest "nothing found": the Flux objects were there to judge
    assert kinds["Kustomization"]["objects"] >= 1 and kinds["GitRepository"]["objects"] >= 1


def test_tuning_recommends_for_every_controller(target: str, bootstrapped: dict[str, Any], env: dict[str, str],
                                               tmp_path: Path) -> None:
    out = tmp_path / "tune.ipynb"
    args = ("-p", "history", "10m", "-p", "step", "2s") if target == "local" else ()
    if target == "local":
        from fleetlib.local.scrape import ScrapeStore

        from .test_local import wait

        cluster = LocalCluster(Path(env["FLEET_HOME"]), ClusterId(STAGE, CLUSTERS["local"]))
        store = ScrapeStore(cluster.state / "metrics.db", interval=2.0)
        wait("a few scrapes of the controllers' metrics",
             lambda: len(store.select("container_memory_working_set_bytes", ())) >= 4, timeout=120)
    done = papermill(env, "tune-resources", out, CLUSTERS[target], *args)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_records(out)["recommendations"]
    assert {r["controller"] for r in rows} == {"source-controller", "kustomize-controller", "helm-controller",
                                               "notification-controller"}


def findings_of(fleet: Path, target: str, env: dict[str, str]) -> list[Any]:
    """The troubleshooting runbook's verdict (its gather and diagnose), highest first."""
    params = params_of(fleet, target)
    return diagnose(gather_cluster(params, kube_adapter.connect(params, home=Path(env["FLEET_HOME"]))))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_fault_is_the_first_finding(target: str, scenario: str, bootstrapped: dict[str, Any], fleet: Path,
                                         env: dict[str, str]) -> None:
    params = params_of(fleet, target)
    rehearsal = targets.rehearsal(params, home=Path(env["FLEET_HOME"]))
    old_root = os.environ.get("FLEET_ROOT")
    os.environ["FLEET_ROOT"] = str(fleet)
    finding, obj = DIAGNOSIS[scenario]
    try:
        rehearsal.inject(scenario, wait=True, timeout=240, progress=_say)
        found = findings_of(fleet, target, env)  # once: the fault has happened, so the diagnosis must see it now
        assert found and found[0].id == finding, [(f.id, f.object, f.evidence[:120]) for f in found[:3]]
        assert obj is None or found[0].object == obj
        assert found[0].evidence and found[0].remediation
    finally:
        rehearsal.clear(scenario, wait=True, timeout=240, progress=_say)
        if old_root is None:
            os.environ.pop("FLEET_ROOT", None)
        else:
            os.environ["FLEET_ROOT"] = old_root
    left = [(f.id, f.object) for f in findings_of(fleet, target, env) if SEVERITY[f.severity] > SEVERITY["info"]]
    assert left == []


# --- target live, for real: a local cluster's kube context and the sandbox GitHub as a GitHub Enterprise host ---


@pytest.fixture(scope="module")
def live(fleet: Path, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A second local cluster and the Enterprise front; the environment a corporate machine would give the
    runbooks (KUBECONFIG, HTTPS_PROXY, the CA bundle, the token in the variable the parameters name)."""
    from fleetlib.local.cluster import fleet_kubeconfig
    from fleetlib.sandbox import Sandbox
    from fleetlib.sandbox.enterprise import HOST, EnterpriseGitHub

    build(cache_dir(), LOCAL, say=_say)
    home = Path(env["FLEET_HOME"])
    cluster = LocalCluster(home, ClusterId(STAGE, "conf-live"))
    cluster.up(say=_say)
    (fleet / "parameters" / STAGE / "conf-live.yaml").write_text(
        f"target: live\ncontext: {context_name(cluster.cid)}\nhostname: {HOST}\nrepository: conf-live\n"
        f"version: {LOCAL.flux.version}\ntoken_env: FLEET_GHE_TOKEN\n")
    Sandbox.running(home).hub.ensure_account("JiwooL0920", personal=True)  # as the Enterprise admin made it
    ghe = EnterpriseGitHub.start(home)
    try:
        yield {**env, **ghe.env("FLEET_GHE_TOKEN"), "KUBECONFIG": str(fleet_kubeconfig(home))}
    finally:
        ghe.stop()
        cluster.down(say=_say)


def test_live_bootstrap_and_troubleshoot_against_a_local_cluster_and_an_enterprise_github(
        live: dict[str, str], tmp_path: Path) -> None:
    from fleetlib.sandbox.enterprise import HOST

    out = tmp_path / "bootstrap.ipynb"
    done = papermill(live, "bootstrap", out, "conf-live", "-p", "timeout", "5m")
    assert done.returncode == 0, done.stderr[-4000:]
    record = read_records(out)["bootstrap"]
    assert record["target"] == "live" and record["status"] == "changed"
    assert "sandbox" not in done.stderr  # the live path: nothing says a stand-in was used
    kubectl = [str(Path(sys.executable).parent / "kubectl"), "--context", "local-dev-conf-live", "-n", "flux-system"]
    url = subprocess.run([*kubectl, "get", "gitrepository", "flux-system", "-o", "jsonpath={.spec.url}"], env=live,
                         capture_output=True, text=True, check=True).stdout
    assert url == f"ssh://git@{HOST}/JiwooL0920/conf-live"
    out = tmp_path / "troubleshoot.ipynb"
    done = papermill(live, "troubleshoot", out, "conf-live")
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_records(out)
    assert [f for f in records["findings"] if SEVERITY[f["severity"]] > SEVERITY["info"]] == []
    again = tmp_path / "again.ipynb"
    done = papermill(live, "bootstrap", again, "conf-live")
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_records(again)["bootstrap"]["status"] == "up to date"
    assert live["FLEET_GHE_TOKEN"] not in out.read_text() + again.read_text()  # the token never reaches outputs
