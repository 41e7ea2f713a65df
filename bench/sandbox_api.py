"""Benchmark of the sandbox Kubernetes API with the official client.

Starts `fleet sandbox serve` in its own process (as a user would; the client gets the other core),
seeds objects straight into the cluster's store, then prints GET/s, LIST/s of 100 objects and the
time of a 5,000-object list (raw JSON and deserialised models). Targets on 2 cores: >= 500 GET/s,
>= 100 LIST/s, a 5,000-object list under 1 s.

    python bench/sandbox_api.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from fleetlib.model import ClusterId
from fleetlib.sandbox.apiserver import ClusterApi
from fleetlib.sandbox.server import cluster_db
from fleetlib.sandbox.store import Store

CID = ClusterId("dev", "services-amer")


def seed(home: Path) -> None:
    api = ClusterApi(Store(cluster_db(home, CID)), node="bench")
    ns = api.registry().lookup("", "v1", "namespaces")
    cms = api.registry().lookup("", "v1", "configmaps")
    assert ns and cms
    for name in ("hundred", "five-thousand"):
        api.create(ns, None, {"metadata": {"name": name}}, manager="bench")
    for i in range(100):
        api.create(cms, "hundred", {"metadata": {"name": f"cm-{i:03d}", "labels": {"app": "bench"}},
                                    "data": {"key": "value" * 10}}, manager="bench")
    for i in range(5000):
        api.create(cms, "five-thousand", {"metadata": {"name": f"cm-{i:04d}", "labels": {"app": "bench"}},
                                          "data": {"key": "value" * 10}}, manager="bench")
    api.store.close()


def rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    env = {**os.environ, "FLEET_HOME": str(home)}
    t0 = time.perf_counter()
    seed(home)
    print(f"seeded 5,100 ConfigMaps in {time.perf_counter() - t0:.1f} s (direct to the store)")
    server = subprocess.Popen([sys.executable, "-m", "fleetlib", "sandbox", "serve", "--stage", "dev", "--cluster",
                               "services-amer"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        while "press Ctrl-C" not in (server.stdout.readline() or "press Ctrl-C"):  # type: ignore[union-attr]
            pass
        record = json.loads((home / "sandbox" / "serve.json").read_text())
        api = config.new_client_from_config(record["kubeconfig"], context="sandbox-dev-services-amer")
        v1 = client.CoreV1Api(api)
        get_rate = rate(1000, lambda: v1.read_namespaced_config_map("cm-042", "hundred"))
        list_rate = rate(200, lambda: v1.list_namespaced_config_map("hundred"))
        raw_rate = rate(200, lambda: json.loads(v1.list_namespaced_config_map("hundred", _preload_content=False).data))

        def big_raw() -> int:
            return len(json.loads(v1.list_namespaced_config_map("five-thousand", _preload_content=False).data)["items"])

        def big_models() -> int:
            return len(v1.list_namespaced_config_map("five-thousand").items)

        timings = {}
        for label, fn in (("raw JSON", big_raw), ("models", big_models)):
            assert fn() == 5000
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - start)
            timings[label] = min(runs)
        print(f"{'measure':<44}{'value':>10}  target")
        print(f"{'GET/s (one ConfigMap, models)':<44}{get_rate:>10.0f}  >= 500")
        print(f"{'LIST/s (100 ConfigMaps, models)':<44}{list_rate:>10.0f}  >= 100")
        print(f"{'LIST/s (100 ConfigMaps, raw JSON)':<44}{raw_rate:>10.0f}")
        print(f"{'5,000-object list, raw JSON (s)':<44}{timings['raw JSON']:>10.3f}  < 1 s")
        print(f"{'5,000-object list, client models (s)':<44}{timings['models']:>10.3f}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
