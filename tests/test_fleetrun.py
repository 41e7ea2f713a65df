"""Fleet runs on the sandbox: every shipped cluster in worker processes, an immutable run folder and its
index, a faulted cluster failing alone with its cell and error named, the HTML report rendered in headless
Chromium, and the Dask executor producing the same folder as the local pool."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetlab.sandbox import Sandbox
from fleetlib.cli import main
from fleetlib.model import ClusterId
from fleetlib.runindex import read_index

from .conftest import REPO

SHIPPED = ["dev/other-dev-cluster", "dev/services-amer", "prod/services-amer", "staging/services-amer"]
FAULTED = ClusterId("dev", "other-dev-cluster")
BOOTSTRAP_RUN: list[Path] = []


def fleet(*args: str) -> int:
    return main(list(args))


def newest_run(home: Path, before: set[Path]) -> Path:
    runs = set((home / "runs").iterdir()) - before
    assert len(runs) == 1, runs
    return runs.pop()


def runs_now(home: Path) -> set[Path]:
    return set((home / "runs").iterdir()) if (home / "runs").is_dir() else set()


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def fleet_home(sandbox: Sandbox) -> Iterator[Path]:
    """The session's FLEET_HOME with the four shipped clusters bootstrapped by a fleet run."""
    home = Path(os.environ["FLEET_HOME"])
    os.environ["FLEET_ROOT"] = str(REPO)
    before = runs_now(home)
    assert fleet("run", "bootstrap", "--all", "--parallel", "2", "-q") == 0
    index = read_index(newest_run(home, before))
    assert [f"{c['stage']}/{c['cluster']}" for c in index["clusters"]] == SHIPPED
    assert all(c["records"]["bootstrap"]["status"] in ("changed", "up to date") for c in index["clusters"])
    BOOTSTRAP_RUN.append(newest_run(home, before))
    yield home
    os.environ.pop("FLEET_ROOT", None)


@pytest.fixture(scope="module")
def healthy_run(fleet_home: Path) -> Path:
    before = runs_now(fleet_home)
    assert fleet("run", "troubleshoot", "--all", "--parallel", "2", "-q") == 0
    return newest_run(fleet_home, before)


def test_troubleshoot_on_every_cluster(healthy_run: Path) -> None:
    assert tree(healthy_run) == sorted(["index.json", *[f"{c}/troubleshoot.ipynb" for c in SHIPPED],
                                        *[f"{c}/troubleshoot.log" for c in SHIPPED]])
    index = read_index(healthy_run)
    assert index["runbook"] == "troubleshoot" and index["ok"] == 4 and index["failed"] == 0
    for c in index["clusters"]:
        assert c["status"] == "ok" and c["error"] is None and c["attempts"] == 1 and c["seconds"] > 0
        # right after the fleet's bootstrap, clusters sharing a branch are behind each other's newest commit by
        # less than their interval: normal lag, not a warning
        above = [(f["id"], f["severity"]) for f in c["records"]["findings"] if f["severity"] != "info"]
        assert above == [], (c["cluster"], above)
    for path in healthy_run.rglob("*"):  # immutable: every file read-only once written
        if path.is_file():
            assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path


def test_a_faulted_cluster_fails_alone_and_is_named(fleet_home: Path, sandbox: Sandbox,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.inject_fault(FAULTED, "deploy-key-revoked")
    try:
        before = runs_now(fleet_home)
        assert fleet("run", "troubleshoot", "--all", "--parallel", "2", "-q") == 1
        run = newest_run(fleet_home, before)
    finally:
        sandbox.clear_fault(FAULTED, "deploy-key-revoked")
    index = read_index(run)
    assert index["ok"] == 3 and index["failed"] == 1
    failed = [c for c in index["clusters"] if c["status"] != "ok"]
    assert [(c["stage"], c["cluster"]) for c in failed] == [("dev", "other-dev-cluster")]
    cell, error = failed[0]["cell"], failed[0]["error"]
    assert "troubleshoot.conclude(findings" in cell["source"] and cell["index"] > 0
    assert error.startswith("ClusterError: 1 finding(s) at error or above; first: source-auth-failed on "
                            "GitRepository/flux-system/flux-system")
    assert failed[0]["records"]["findings"][0]["id"] == "source-auth-failed"  # recorded before the verdict
    out = capsys.readouterr().out
    assert "3 ok, 1 failed" in out and f"dev/other-dev-cluster: cell {cell['index']}: ClusterError" in out


def test_report_renders_in_headless_chromium(fleet_home: Path, healthy_run: Path, tmp_path: Path) -> None:
    before = runs_now(fleet_home)
    assert fleet("run", "tune-resources", "--stage", "dev", "--all", "-q", "-p", "until", "2026-11-20T12:00:00Z") == 0
    tune_run = newest_run(fleet_home, before)
    runs = [BOOTSTRAP_RUN[0], healthy_run, tune_run]
    assert fleet("report", *map(str, runs), "--out", str(tmp_path / "report")) == 0
    assert fleet("report", "--out", str(tmp_path / "latest")) == 0  # no run named: the latest finished one
    assert tune_run.name in (tmp_path / "latest" / "runs.csv").read_text()
    page_file = tmp_path / "report" / "report.html"
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "report.html", "runs.csv", "bootstrap.csv", "findings.csv", "severity.csv", "recommendations.csv",
        "usage.csv"}
    chromium = os.environ.get("FLEET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed: ./dev test installs Debian's chromium, or set FLEET_CHROMIUM"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            assert page.title() == "Fleet report"
            assert page.locator("h2").all_inner_texts() == [
                "Runs per cluster", "Bootstrap state", "Findings per cluster and severity",
                "Tuning recommendations across the fleet", "Controller usage across the fleet"]
            images = page.evaluate("[...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            assert images == [["run status per cluster", True], ["bootstrap state per cluster", True],
                              ["findings per cluster", True], ["memory requests", True], ["CPU requests", True],
                              ["memory usage per controller", True], ["CPU usage per controller", True]]
            first_table = page.locator("table").first.inner_text()
            for cluster in SHIPPED:
                assert cluster in first_table
            assert "10 ok, 0 failed" in page.locator(".meta").inner_text()  # 4 bootstraps, 4 checks, 2 tunings
            tuning = page.locator("table").nth(4).inner_text()
            assert "dev/services-amer\tkustomize-controller\tmemory\trequest" in tuning
            usage = page.locator("table").last.inner_text()  # what each controller used, beside its request
            assert "dev/services-amer\tkustomize-controller\tmemory\t" in usage
            # each cluster's executed notebook, linked relative to the page, resolves
            links = page.evaluate("[...document.querySelectorAll('table a')].map(a => a.getAttribute('href'))")
            assert len(links) == 10 and all((page_file.parent / link).resolve().is_file() for link in links)
            headers = page.locator("table").nth(3).locator("th").all_inner_texts()  # findings: one row per run
            assert headers[:3] == ["cluster", "run", "id"]
            # whole words: a short word (a severity, a status) is never broken over two lines of its cell
            broken = page.evaluate("""[...document.querySelectorAll('td')].filter(td => {
                const text = td.innerText.trim();
                if (!text || /\\s/.test(text) || text.length > 20) return false;
                const range = document.createRange(); range.selectNodeContents(td);
                return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
            }).map(td => td.innerText)""")
            assert broken == []
            # kept with the run's outputs: the report as a person sees it
            page.screenshot(path=str(page_file.with_name("report.png")), full_page=True)
        finally:
            browser.close()
    assert page_file.with_name("report.png").stat().st_size > 10_000
    from fleetlib.report import FleetReport, run_label

    report = FleetReport.load(runs)
    labels = [run_label(r.cluster, r.run) + r.runbook for r in report.tables["runs"].itertuples()]
    assert len(set(labels)) == len(labels)  # runs of one cluster never share a bar
    assert report.tables["runs"]["failing cell"].map(lambda v: v in ("", None) or str(v).isdigit()).all()


def test_dask_executor_produces_the_same_run_folder(healthy_run: Path, fleet_home: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        before = runs_now(fleet_home)
        assert fleet("run", "troubleshoot", "--all", "-q", "--executor", "dask", "--scheduler",
                     cluster.scheduler_address) == 0
    run = newest_run(fleet_home, before)
    assert tree(run) == tree(healthy_run)
    local, dask = read_index(healthy_run), read_index(run)
    assert dask["executor"] == "dask" and local["executor"] == "local"

    def shape(index: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(c["stage"], c["cluster"], c["status"], c["notebook"], sorted(c["records"])) for c in index["clusters"]]
    assert shape(dask) == shape(local)


def test_add_app_over_the_dev_stage_and_its_report(fleet_home: Path, tmp_path: Path) -> None:
    """`fleet run add-app --stage dev --all`: each cluster of the stage gets the app (its own file in its own
    folder, several clusters sharing one repository), a second run is up to date, the report lists them."""
    from fleetlib.report import FleetReport

    before = runs_now(fleet_home)
    assert fleet("run", "add-app", "--stage", "dev", "--all", "--parallel", "2", "-q", "-p", "app", "greeter",
                 "-p", "chart", "hello", "-p", "apply", "commit") == 0
    first = newest_run(fleet_home, before)
    index = read_index(first)
    assert [(c["cluster"], c["records"]["app"]["status"]) for c in index["clusters"]] == [
        ("other-dev-cluster", "committed"), ("services-amer", "committed")]
    before = runs_now(fleet_home)
    assert fleet("run", "add-app", "--stage", "dev", "--all", "-q", "-p", "app", "greeter", "-p", "chart", "hello",
                 "-p", "apply", "commit") == 0
    again = read_index(newest_run(fleet_home, before))
    assert {c["records"]["app"]["status"] for c in again["clusters"]} == {"up to date"}
    changes = FleetReport.load([first]).tables["changes"]
    assert changes[["cluster", "change", "status"]].to_dict("records") == [
        {"cluster": "dev/other-dev-cluster", "change": "add greeter", "status": "committed"},
        {"cluster": "dev/services-amer", "change": "add greeter", "status": "committed"}]
    assert fleet("run", "add-app", "--stage", "dev", "--all", "-q", "-p", "app", "greeter", "-p", "chart", "hello",
                 "-p", "apply", "commit", "-p", "remove", "True") == 0


def test_tenants_over_the_dev_stage_and_its_report(fleet_home: Path) -> None:
    """`fleet run tenants --stage dev --all`: each cluster of the stage onboards the team from one repository (a
    deploy key per cluster), proves its fence, is up to date on a second run, and the report lists it."""
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub
    from fleetlib.report import FleetReport

    hub = Hub(sandbox_root(fleet_home) / "github", token=github_token(fleet_home))
    if not hub.repo_path("JiwooL0920", "platform-team").exists():
        hub.create_repo("JiwooL0920", "platform-team", private=True)
        hub.bare("JiwooL0920", "platform-team").commit_files(
            "main", {"deploy/settings.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                                             b"  namespace: platform-team\ndata:\n  a: b\n"},
            message="settings", author=("dev", "dev@example.com"))
    args = ("-p", "tenant", "platform-team", "-p", "path", "./deploy", "-p", "apply", "commit")
    before = runs_now(fleet_home)
    assert fleet("run", "tenants", "--stage", "dev", "--all", "--parallel", "2", "-q", *args) == 0
    first = newest_run(fleet_home, before)
    records = [c["records"]["tenant"] for c in read_index(first)["clusters"]]
    assert [r["status"] for r in records] == ["committed", "committed"]
    assert all(r["fence"] and all(c["allowed"] == c["expected"] for c in r["fence"]) for r in records)
    assert sorted(k["title"] for k in hub.keys("JiwooL0920", "platform-team")) == [
        "platform-team-other-dev-cluster-platform-team", "platform-team-services-amer-platform-team"]
    changes = FleetReport.load([first]).tables["changes"]
    assert changes[["cluster", "change", "status"]].to_dict("records") == [
        {"cluster": "dev/other-dev-cluster", "change": "add platform-team", "status": "committed"},
        {"cluster": "dev/services-amer", "change": "add platform-team", "status": "committed"}]
    before = runs_now(fleet_home)
    assert fleet("run", "tenants", "--stage", "dev", "--all", "-q", *args) == 0
    again = read_index(newest_run(fleet_home, before))
    assert {c["records"]["tenant"]["status"] for c in again["clusters"]} == {"up to date"}
    assert fleet("run", "tenants", "--stage", "dev", "--all", "-q", *args, "-p", "remove", "True") == 0
    assert hub.keys("JiwooL0920", "platform-team") == []


def test_promote_from_dev_to_staging_over_the_dev_stage_and_its_report(fleet_home: Path) -> None:
    """An app added to dev: `fleet run promote --stage dev --all` shows it as the difference and its effect on the
    staging cluster before anything is pushed (other-dev-cluster has no staging counterpart and says so); a pull
    request that builds; after merging it the stages agree. A later change in dev moves to staging as a commit,
    staging keeping its own chart values, and the cluster applies it."""
    from fleetlab.github.home import github_token, sandbox_root
    from fleetlab.github.hub import Hub
    from fleetlib.report import FleetReport

    hub = Hub(sandbox_root(fleet_home) / "github", token=github_token(fleet_home))
    app = ("-p", "app", "catalog", "-p", "chart", "hello", "-p", "apply", "commit")
    assert fleet("run", "add-app", "--stage", "dev", "--cluster", "services-amer", "-q", *app,
                 "-p", "values", "replicas: 2") == 0
    promote = ("-p", "to_stage", "staging", "-y", "apps: [catalog]")

    def promoted(*more: str) -> list[dict[str, Any]]:
        before = runs_now(fleet_home)
        assert fleet("run", "promote", "--stage", "dev", "--all", "-q", *promote, *more) == 0
        return [c["records"]["promote"] for c in read_index(newest_run(fleet_home, before))["clusters"]]

    other, shown = promoted()
    assert other["status"] == "no counterpart"
    assert shown["status"] == "proposed"
    assert {"file": "apps/catalog.yaml", "state": "only in dev"} in shown["files"]
    assert {"object": "HelmRelease/flux-system/catalog", "state": "only in dev"} in shown["objects"]
    assert {"object": "HelmRelease/flux-system/catalog", "action": "created"} in shown["changes"]
    assert {"object": "HelmRelease/flux-system/catalog: Deployment/catalog/catalog-catalog",  # the chart, rendered
            "action": "created"} in shown["changes"]
    staging = "clusters/stages/staging/clusters/services-amer/apps/catalog.yaml"
    fleet_repo = hub.bare("JiwooL0920", "fleet-infra")

    def read(path: str) -> str | None:
        entry = fleet_repo.entry(fleet_repo.branch_sha("main") or "main", path)
        return None if entry is None else fleet_repo.blob(entry.sha).decode()

    assert read(staging) is None  # nothing pushed

    _, proposed = promoted("-p", "apply", "pr")
    assert proposed["status"] == "pull request opened"
    assert fleet("sandbox", "pr", "merge", str(proposed["pull_request"]), "--repo", "JiwooL0920/fleet-infra") == 0
    _, merged = promoted()
    assert merged["status"] == "up to date" and merged["detail"] == "stages agree for app catalog"
    assert {"file": "apps/catalog.yaml", "state": "agree"} in merged["files"]

    text = read(staging) or ""
    fleet_repo.commit_files(  # staging's own values
        "main", {staging: text.replace("replicas: 2", "replicas: 3").encode()}, message="staging: 3 replicas",
        author=("ops", "ops@example.com"))
    assert fleet("run", "add-app", "--stage", "dev", "--cluster", "services-amer", "-q", *app,
                 "-p", "values", "replicas: 2", "-p", "interval", "5m") == 0
    _, committed = promoted("-p", "apply", "commit")
    assert committed["status"] == "committed"
    assert {"object": "HelmRelease/flux-system/catalog", "action": "drifted"} in committed["changes"]
    text = read(staging) or ""
    assert "interval: 5m" in text and "replicas: 3" in text and "replicas: 2" not in text
    _, again = promoted()
    assert again["status"] == "up to date"

    drift = FleetReport.load([run for run in sorted(runs_now(fleet_home))[-1:]]).tables["drift"]
    assert drift[["cluster", "state"]].to_dict("records") == [
        {"cluster": "dev/other-dev-cluster", "state": "no counterpart"},
        {"cluster": "dev/services-amer", "state": "agree"}]
    assert fleet("run", "add-app", "--stage", "dev", "--cluster", "services-amer", "-q", *app,
                 "-p", "remove", "True") == 0
    _, removed = promoted("-p", "apply", "commit")
    assert removed["status"] == "committed" and read(staging) is None


def test_upgrade_over_the_dev_stage_and_its_report(fleet_home: Path) -> None:
    """`fleet run upgrade --stage dev --all` as a dry run: each dev cluster (Flux v2.5.1) is shown the way to v2.9.2,
    refused straight (its OCIRepository CRD stores v1beta2) and proposed through v2.6.4; the report lists both."""
    from fleetlib.report import FleetReport

    def upgrade(*more: str) -> tuple[Path, list[dict[str, Any]]]:
        before = runs_now(fleet_home)
        assert fleet("run", "upgrade", "--stage", "dev", "--all", "-q", *more) == 0
        folder = newest_run(fleet_home, before)
        return folder, [c["records"]["upgrade"] for c in read_index(folder)["clusters"]]

    _, straight = upgrade()
    assert [r["status"] for r in straight] == ["refused", "refused"]
    assert all("-y 'via: [v2.6.4]'" in r["preflight"][0] for r in straight)
    folder, stepped = upgrade("-y", "via: [v2.6.4]")
    assert [(r["from"], r["steps"], r["status"]) for r in stepped] == [("v2.5.1", ["v2.6.4", "v2.9.2"], "proposed")] * 2
    table = FleetReport.load([folder]).tables["upgrades"]
    assert table[["cluster", "from", "to", "steps", "status"]].to_dict("records") == [
        {"cluster": f"dev/{c}", "from": "v2.5.1", "to": "v2.9.2", "steps": "v2.6.4 -> v2.9.2", "status": "proposed"}
        for c in ("other-dev-cluster", "services-amer")]


def test_runs_lists_past_runs(healthy_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet("runs") == 0
    out = capsys.readouterr().out
    assert healthy_run.name in out and "troubleshoot" in out


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nosuch", "--all"], "unknown runbook 'nosuch'"),
    (["run", "troubleshoot"], "say which clusters"),
    (["run", "troubleshoot", "--all", "-p", "dry_run", "True"], "does not take dry_run"),
    (["run", "troubleshoot", "--all", "-p", "cluster", "x"], "does not take cluster"),
    (["run", "troubleshoot", "--all", "-p", "target", "moon"], "target"),
    (["run", "troubleshoot", "--cluster", "nosuch"], "unknown cluster 'nosuch'"),
    (["run", "troubleshoot", "--all", "--stage", "../etc"], "stage"),
    (["run", "troubleshoot", "--all", "--executor", "dask"], "--executor dask needs --scheduler"),
    (["run", "troubleshoot", "--all", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "no Dask scheduler"),
    (["report", "/nonexistent/run"], "neither a run folder nor a run id"),
    (["report"], "no finished run under"),
])
def test_bad_input_is_named_and_starts_nothing(args: list[str], message: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLEET_HOME", str(tmp_path))
    monkeypatch.setenv("FLEET_ROOT", str(REPO))
    assert fleet(*args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder was made


def test_a_run_folder_is_never_reused(tmp_path: Path) -> None:
    from fleetlib import fleetrun
    from fleetlib.parameters import Catalog

    plan = fleetrun.plan_run(Catalog.load(REPO), "inspect", cluster="services-amer", home=tmp_path)
    plan.folder.mkdir(parents=True)
    with pytest.raises(Exception) as e:
        fleetrun.run(plan)
    assert "already exists" in str(e.value)
    assert json.dumps(fleetrun.past_runs(tmp_path))  # a folder without index is listed, not an error


def test_a_kernel_that_does_not_start_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    import papermill

    from fleetlib import fleetrun

    calls: list[str] = []
    real = papermill.execute_notebook

    def flaky(*args: Any, **kwargs: Any) -> Any:  # papermill's own error when a kernel misses its start timeout
        calls.append("try")
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x: int = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("assert x == 2, 'x is not 2'")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(source))
    job = fleetrun.Job("inspect", str(source), "dev", "x", {"x": 3}, str(tmp_path / "out" / "nb.ipynb"))
    outcome = fleetrun.execute(job)
    assert calls == ["try", "try"] and outcome["attempts"] == 2
    assert outcome["status"] == "failed" and outcome["error"] == "AssertionError: x is not 2"
    executed = nbformat.read(str(tmp_path / "out" / "nb.ipynb"), as_version=4)  # indexes count papermill's cells
    assert executed.cells[outcome["cell"]["index"]].source == outcome["cell"]["source"] == "assert x == 2, 'x is not 2'"
