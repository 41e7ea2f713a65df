"""Benchmark of the recommendation math: 50 clusters x 4 controllers x 14 days at 30 s (40,320 samples
per series, 8 million CPU and 8 million memory samples), the same synthetic usage the sandbox's
Prometheus serves. Times, per strategy, what the runbook computes after the queries: the arrays handed
to the strategy, the recommendation and krr's table rows with severity (target: under 2 s for the
math). Generating the samples is not timed.

    python bench/tuning.py [--clusters 50] [--days 14]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetlab.metrics.usage import SCRAPE, UsageModel, grid
from fleetlib.metrics import ControllerUsage, PodSeries
from fleetlib.tuning import to_usage
from fleetlib.tuning.strategies import STRATEGIES, ContainerState, Settings, recommendation_rows

CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
CURRENT = {("cpu", "request"): 0.1, ("cpu", "limit"): 1.0, ("memory", "request"): 64 * 2.0**20,
           ("memory", "limit"): 2.0**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--days", type=float, default=14.0)
    args = parser.parse_args()
    end = 1_763_640_000.0
    ts = grid(end - args.days * 86400, end)
    started = time.perf_counter()
    fleet: list[tuple[str, dict[str, ControllerUsage]]] = []
    for i in range(args.clusters):
        cluster = f"dev/cluster-{i:02d}"
        model = UsageModel(cluster, objects={c: 20 + 7 * i for c in CONTROLLERS})
        fleet.append((cluster, {c: ControllerUsage(c, "manager", (PodSeries(f"{c}-0", ts, model.cpu_rate(c, ts)),),
                                                   (PodSeries(f"{c}-0", ts, model.memory(c, ts)),), (),
                                                   args.days * 86400, "bench") for c in CONTROLLERS}))
    samples = args.clusters * len(CONTROLLERS) * ts.size
    print(f"data: {args.clusters} clusters x {len(CONTROLLERS)} controllers x {ts.size:,} samples "
          f"({args.days:g} days at {SCRAPE:g} s) = {samples:,} CPU + {samples:,} memory samples, "
          f"generated in {time.perf_counter() - started:.1f} s (not timed below)")
    settings = Settings()
    for name, strategy in STRATEGIES.items():
        tracemalloc.start()
        t0 = time.perf_counter()
        rows = 0
        for cluster, usage in fleet:
            for c, u in usage.items():
                rec = strategy(to_usage(u), settings)
                rows += len(recommendation_rows(cluster, ContainerState(c, "manager", CURRENT), rec, settings,
                                                samples=int(np.isfinite(u.cpu[0].values).sum())))
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name:<11} {seconds:6.3f} s for {args.clusters * len(CONTROLLERS)} recommendations ({rows} rows), "
              f"{samples * 2 / seconds / 1e6:6.1f} M samples/s, peak extra memory {peak / 2**20:.0f} MiB "
              f"(target < 2 s: {'met' if seconds < 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
