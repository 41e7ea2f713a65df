"""The troubleshooting runbook as papermill runs it, on what a user sees: a seeded cluster (50 apps) with
one bad commit shows the root cause in its first row, whole, with one row per finding id and cause; a
sandbox cluster where Flux was never installed fails its verdict with `flux-not-installed`."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from fleetlab.sandbox import Sandbox, seed
from fleetlib.bootstrap import Bootstrap
from fleetlib.parameters import Catalog
from fleetlib.record import read_records
from fleetlib.troubleshoot.diagnose import grouped

from .conftest import REPO


def run_troubleshoot(root: Path, home: Path, out: Path, cluster: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEET_ROOT": str(root), "FLEET_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", str(REPO / "runbooks/troubleshoot.ipynb"),
                           str(out), "-p", "cluster", cluster, "-p", "stage", "dev", *extra],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


def findings_output(notebook: Path) -> str:
    """The HTML of the diagnosis cell's table (the cell that calls findings_table)."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "findings_table(findings)" in c.source)
    return str(next(o for o in cell.outputs if o.get("output_type") == "execute_result")["data"]["text/html"])


def condition(obj: dict[str, Any] | None) -> dict[str, Any]:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def wait(what: str, test: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_seeded_cluster_with_one_bad_commit(sandbox: Sandbox, fleet_copy: Path, tmp_path: Path) -> None:
    (fleet_copy / "parameters/dev/seeded.yaml").write_text(
        "target: sandbox\ncontext: kind-seeded\nrepository: fleet-seeded\n")
    params = Catalog.load(fleet_copy).resolve("seeded", stage="dev")
    Bootstrap.connect(params, home=sandbox.home, echo=False, timeout="120s").run()
    api = sandbox.add_cluster(params.id)
    seed.seed(api, sandbox.hub, apps=50)
    ks_type = api.registry().by_kind("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert ks_type is not None
    bare = sandbox.hub.bare(params.owner, params.repository)
    folder = "seed/clusters-stages-dev-clusters-seeded/app-0007"
    bad = bare.commit_files("main", {f"{folder}/kustomization.yaml": b"resources:\n- deployment.yaml\n"},
                            message="Add app-0007 deployment", author=("t", "t@x"))
    wait("app-0007 to fail its build at the bad commit", lambda: (
        condition(api.get(ks_type, "flux-system", "app-0007")).get("reason") == "BuildFailed"
        and str(api.get(ks_type, "flux-system", "app-0007")["status"].get("lastAttemptedRevision", "")).endswith(bad)),
        timeout=180)

    out = tmp_path / "troubleshoot.ipynb"
    done = run_troubleshoot(fleet_copy, sandbox.home, out, "seeded", "-p", "fail_on", "none")
    assert done.returncode == 0, done.stderr[-3000:]
    findings = read_records(out)["findings"]
    assert findings[0]["id"] == "kustomize-build-failed" and findings[0]["object"] == "Kustomization/flux-system/app-0007"
    table = findings_output(out)
    rows = grouped(findings)
    body = table.split("<tbody>")[1]
    assert body.count("<tr>") == len(rows)  # one row per id and cause
    assert len({(r["id"], r["cause"]) for r in rows}) == len(rows)
    first_row = html.unescape(body.split("<tr>")[1])
    assert "kustomize-build-failed" in first_row and findings[0]["evidence"] in first_row
    assert findings[0]["remediation"] in first_row
    assert "..." not in table and "…" not in table


def test_cluster_without_flux_fails_its_verdict(sandbox: Sandbox, fleet_copy: Path, tmp_path: Path) -> None:
    (fleet_copy / "parameters/dev/bare-cluster.yaml").write_text("target: sandbox\ncontext: kind-bare\n")
    out = tmp_path / "troubleshoot.ipynb"
    done = run_troubleshoot(fleet_copy, sandbox.home, out, "bare-cluster")
    assert done.returncode != 0
    assert "ClusterError: 1 finding(s) at error or above; first: flux-not-installed on cluster dev/bare-cluster" \
        in done.stderr
    records = read_records(out)
    assert [f["id"] for f in records["findings"]] == ["flux-not-installed"]
    assert json.dumps(records).count("bare-cluster") >= 2  # the remediation names the real cluster
