"""The local stack's figures: build time (cold with --cold: a fresh build folder and Go build cache; the module
cache is kept, downloads are the network's), warm build time, `fleet local up` to a ready API, a bootstrap of
real Flux to Ready, and the resident memory of one cluster's processes.

    python bench/local_stack.py            # warm build, up, bootstrap, memory
    python bench/local_stack.py --cold     # also a cold build (15-30 min on two cores)

Goals (issue 14): warm build 0 s, API ready <= 30 s, bootstrap Ready <= 120 s, <= 1.2 GB per cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
        except (OSError, IndexError):
            pass
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also measure a cold build")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from fleetlab.local.build import build, cache_dir
    from fleetlab.local.cluster import LocalCluster
    from fleetlab.versions import LOCAL
    from fleetlib.model import ClusterId

    home = Path(tempfile.mkdtemp(prefix="fleet-bench-local-"))
    os.environ["FLEET_HOME"] = str(home)
    rows: list[tuple[str, str]] = []
    if args.cold:
        cold_cache = Path(tempfile.mkdtemp(prefix="fleet-bench-cold-"))
        os.environ["GOCACHE"] = str(cold_cache / "go-build")
        started = time.monotonic()
        result = build(cold_cache, LOCAL, say=lambda s: print(" ", s, flush=True))
        rows.append(("cold build", f"{time.monotonic() - started:.0f} s ({result['disk_bytes'] / 2**30:.2f} GiB)"))
        os.environ.pop("GOCACHE")
        shutil.rmtree(cold_cache, ignore_errors=True)
    started = time.monotonic()
    result = build(cache_dir(), LOCAL, say=lambda s: print(" ", s, flush=True))
    rows.append(("build (warm when already built)", f"{time.monotonic() - started:.1f} s, {len(result['built'])} built"))
    rows.append(("disk", f"{result['disk_bytes'] / 2**30:.2f} GiB in {cache_dir() / LOCAL.key}"))
    cluster = LocalCluster(home, ClusterId("dev", "services-amer"))
    try:
        seconds = cluster.up(say=lambda s: print(" ", s, flush=True))
        rows.append(("fleet local up -> API ready", f"{seconds:.1f} s"))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "papermill", "--no-progress-bar", str(REPO / "runbooks/bootstrap.ipynb"),
                               str(home / "bootstrap.ipynb"), "-p", "cluster", "services-amer", "-p", "target", "local"],
                              cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
        rows.append(("bootstrap runbook -> Ready", f"{time.monotonic() - started:.1f} s (rc {done.returncode})"))
        time.sleep(10)
        record = cluster.record() or {}
        pids = [int(record.get("pid", 0)), *[int(p) for p in (record.get("children") or {}).values()]]
        rows.append(("resident memory, one cluster", f"{rss_mib(pids):.0f} MiB over {len(pids)} processes "
                                                     "(supervisor, control plane, kwok, 4 Flux controllers)"))
    finally:
        cluster.down(say=lambda s: None)
        shutil.rmtree(home, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print()
    for what, figure in rows:
        print(f"{what:<{width}}  {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
