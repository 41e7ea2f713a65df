"""Benchmark of the mini-Flux and the sandbox Prometheus.

Bootstraps a sandbox cluster the way `flux bootstrap` leaves one, seeds it with N applications
(N Kustomizations with dependsOn chains, N HelmReleases, 3N GitRepositories; default N = 1,000), and
reports the time until every object is Ready; then times a 14-day `query_range` at 30 s steps for the
four controllers (target: under 1 s). The clock runs at --speed (default 10: the 30 s dependency
requeue takes 3 s), printed with the results.

    python bench/sandbox_flux.py [--apps 1000] [--speed 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetlab.flux import FluxSettings
from fleetlab.sandbox import Sandbox
from fleetlab.sandbox.seed import seed
from fleetlib.model import ClusterId


def ready_counts(api, kinds: tuple[str, ...]) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    out = {}
    for kind in kinds:
        t = next(x for x in api.registry().types if x.kind == kind and x.group.endswith("fluxcd.io"))
        items = json.loads(api.list_raw(t, None))["items"]
        ok = sum(1 for i in items if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in (i.get("status") or {}).get("conditions") or [])
                 and (i.get("status") or {}).get("observedGeneration") == i["metadata"].get("generation"))
        out[kind] = (ok, len(items))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=10.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fleet-bench-flux-"))
    sandbox = Sandbox.running(home, settings=FluxSettings(speed=args.speed))
    cid = ClusterId("bench", "services-amer")
    api = sandbox.add_cluster(cid)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import (
        SandboxCluster,  # the same setup the tests use: what bootstrap leaves
    )
    from tests.fluxenv import bootstrapped, wait_for

    flux = bootstrapped(SandboxCluster(cid, api, home / "kubeconfig", None, sandbox))  # type: ignore[arg-type]
    wait_for("flux-system ready", lambda: ready_counts(api, ("Kustomization",))["Kustomization"][0] == 1, timeout=120)
    start = time.perf_counter()
    added = seed(api, sandbox.hub, apps=args.apps)
    seeded = time.perf_counter() - start
    kinds = ("Kustomization", "HelmRelease", "GitRepository")
    last = None
    while time.perf_counter() - start < 1800:
        counts = ready_counts(api, kinds)
        if counts != last:
            print(f"  {time.perf_counter() - start:7.1f} s  " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in counts.items()),
                  flush=True)
            last = counts
        if all(a == b for a, b in counts.values()):
            break
        time.sleep(1.0)
    steady = time.perf_counter() - start
    del flux
    url = sandbox.prometheus_url(cid) + "/api/v1/query_range?" + urllib.parse.urlencode({
        "query": 'rate(container_cpu_usage_seconds_total{namespace="flux-system",container="manager"}[5m])',
        "start": time.time() - 14 * 86400, "end": time.time(), "step": 30})
    runs, parses = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(url).read()  # a local URL
        runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        doc = json.loads(body)
        parses.append(time.perf_counter() - t0)
    series = doc["data"]["result"]
    print(f"\nclock speed x{args.speed:g}; seeded {', '.join(f'{n} {k}' for k, n in sorted(added.items()))} "
          f"in {seeded:.1f} s")
    print(f"{'measure':<58}{'value':>10}  target")
    print(f"{'time to steady state (every object Ready), wall s':<58}{steady:>10.1f}")
    print(f"{'14-day query_range at 30 s, 4 controllers, s (best of 3)':<58}{min(runs):>10.3f}  < 1 s")
    label = f"  then json.loads of the {len(body) / 2**20:.1f} MiB answer by the client, s"
    print(f"{label:<58}{min(parses):>10.3f}")
    print(f"{'  series x points':<58}{len(series):>5} x {len(series[0]['values']) if series else 0}")
    sandbox.stop()


if __name__ == "__main__":
    main()
