"""Benchmark of fleet runs: the troubleshooting runbook over 12 sandbox clusters with
`fleet run --parallel 2`, and side by side with one `papermill` CLI call per cluster, one after another.
Prints both wall times, their ratio (target: fleet run at least 1.7x faster on 2 cores), and the median
per-notebook overhead (a job's time minus the time its cells ran, from papermill's cell metadata).

The clusters live in a temporary fleet root (stage `bench`) and FLEET_HOME; they are bootstrapped first
with a fleet run, which is not timed.

    python bench/fleet_run.py [--clusters 12] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "fleet"), *args], env=env, cwd=REPO, capture_output=True, text=True, check=False)


def newest(runs: Path) -> Path:
    return max(runs.iterdir(), key=lambda p: p.stat().st_mtime)


def cell_seconds(notebook: Path) -> float:
    cells = json.loads(notebook.read_text())["cells"]
    return sum(float((c.get("metadata", {}).get("papermill") or {}).get("duration") or 0) for c in cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-run-"))
    root, home = work / "fleet", work / "home"
    (root / "parameters" / "bench").mkdir(parents=True)
    shutil.copy(REPO / "parameters" / "defaults.yaml", root / "parameters" / "defaults.yaml")
    names = [f"bench-{i:02d}" for i in range(args.clusters)]
    for name in names:
        (root / "parameters" / "bench" / f"{name}.yaml").write_text(f"description: benchmark cluster {name}\n")
    env = {**os.environ, "FLEET_ROOT": str(root), "FLEET_HOME": str(home),
           "FLEET_SANDBOX_SPEED": os.environ.get("FLEET_SANDBOX_SPEED", "30"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    t0 = time.perf_counter()
    boot = fleet("run", "bootstrap", "--stage", "bench", "--all", "--parallel", str(args.parallel), "-q", env=env)
    print(f"setup: bootstrapped {args.clusters} sandbox clusters in {time.perf_counter() - t0:.0f} s "
          f"(exit {boot.returncode}, not timed below)")
    if boot.returncode != 0:
        print(boot.stdout[-2000:], boot.stderr[-2000:])
        sys.exit(1)

    t0 = time.perf_counter()
    done = fleet("run", "troubleshoot", "--stage", "bench", "--all", "--parallel", str(args.parallel), "-q",
                 "-p", "fail_on", "none", env=env)
    parallel = time.perf_counter() - t0
    run = newest(home / "runs")
    index = json.loads((run / "index.json").read_text())
    overheads = [c["seconds"] - cell_seconds(run / c["notebook"]) for c in index["clusters"]]

    out = work / "sequential"
    out.mkdir()
    t0 = time.perf_counter()
    failures = 0
    for name in names:
        failures += subprocess.run([str(BIN / "papermill"), "--no-progress-bar", str(REPO / "runbooks/troubleshoot.ipynb"),
                                    str(out / f"{name}.ipynb"), "-p", "cluster", name, "-p", "stage", "bench",
                                    "-p", "fail_on", "none"], env=env, cwd=REPO, capture_output=True,
                                   check=False).returncode != 0
    sequential = time.perf_counter() - t0
    print(f"fleet run --parallel {args.parallel}: {parallel:6.1f} s for {args.clusters} notebooks "
          f"({index['ok']} ok, {index['failed']} failed, exit {done.returncode})")
    print(f"papermill CLI x {args.clusters}, one after another: {sequential:6.1f} s ({failures} failed)")
    print(f"ratio: {sequential / parallel:.2f}x (target >= 1.7x: {'met' if sequential / parallel >= 1.7 else 'MISSED'})")
    print(f"median per-notebook overhead in fleet run (job time minus cell time): {statistics.median(overheads):.2f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
