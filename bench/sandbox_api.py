"""Benchmark of the sandbox Kubernetes API with the official client.

Starts `fleet sandbox serve` in its own process (as a user would; the client gets the other core),
seeds objects straight into the cluster's store, then prints GET/s, LIST/s of 100 objects and the
time of a 5,000-object list (raw JSON and deserialised models). Targets on 2 cores: >= 500 GET/s,
>= 100 LIST/s, a 5,000-object list under 1 s. Then 20,000 sequential connections (a new TLS connection per
request, as a script calling curl in a loop makes): the server's open descriptors and resident memory before,
during and after (target: flat), every request answered; and the time a YAML alias bomb takes to be refused
(target: a 400 in under a second).

    python bench/sandbox_api.py [--objects 5000] [--connections 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.store import Store
from fleetlab.sandbox.server import cluster_db
from fleetlib.model import ClusterId

CID = ClusterId("dev", "services-amer")


def seed(home: Path, big: int = 5000) -> None:
    api = ClusterApi(Store(cluster_db(home, CID)), node="bench")
    ns = api.registry().lookup("", "v1", "namespaces")
    cms = api.registry().lookup("", "v1", "configmaps")
    assert ns and cms
    for name in ("hundred", "five-thousand"):
        api.create(ns, None, {"metadata": {"name": name}}, manager="bench")
    for i in range(100):
        api.create(cms, "hundred", {"metadata": {"name": f"cm-{i:03d}", "labels": {"app": "bench"}},
                                    "data": {"key": "value" * 10}}, manager="bench")
    for i in range(big):
        api.create(cms, "five-thousand", {"metadata": {"name": f"cm-{i:04d}", "labels": {"app": "bench"}},
                                          "data": {"key": "value" * 10}}, manager="bench")
    api.store.close()


def rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def server_usage(pid: int) -> tuple[int, float]:
    """Open descriptors and resident MiB of a process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    return fds, rss


def connections(record: dict, n: int, pid: int) -> None:  # type: ignore[type-arg]
    """`n` requests, each on a new TLS connection; the server's descriptors and memory along the way."""
    api = config.new_client_from_config(record["kubeconfig"], context="sandbox-dev-services-amer")
    cfg = api.configuration
    host, port = cfg.host.removeprefix("https://").split("/")[0].split(":")
    path = "/" + cfg.host.split("/", 3)[3] + "/api/v1/namespaces/hundred/configmaps/cm-001"
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    headers = {"Authorization": str(cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix(
        "authorization"))}
    answered, rows = 0, [("before", *server_usage(pid))]
    started = time.perf_counter()
    for i in range(1, n + 1):
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        answered += resp.status == 200
        conn.close()
        if i % max(1, n // 4) == 0:
            rows.append((f"after {i:,}", *server_usage(pid)))
    seconds = time.perf_counter() - started
    time.sleep(1.0)
    rows.append(("1 s later", *server_usage(pid)))
    print(f"\n{n:,} sequential connections in {seconds:.1f} s ({n / seconds:.0f}/s), {answered:,} answered 200")
    print(f"{'server':<20}{'open fds':>10}{'RSS MiB':>10}")
    for label, fds, rss in rows:
        print(f"{label:<20}{fds:>10}{rss:>10.1f}")
    bomb = ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{m}: &{m} [{', '.join(['*' + p] * 9)}]\n" for p, m in zip("abcdefgh", "bcdefghi", strict=True))).encode()
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=120)
    started = time.perf_counter()
    conn.request("POST", path.rsplit("/", 1)[0], body=bomb, headers={**headers, "Content-Type": "application/yaml"})
    resp = conn.getresponse()
    resp.read()
    print(f"\nYAML alias bomb ({len(bomb)} bytes): {resp.status} in {time.perf_counter() - started:.3f} s (target: 400 "
          f"in under 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=5000, help="ConfigMaps in the big list")
    parser.add_argument("--connections", type=int, default=20000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    env = {**os.environ, "FLEET_HOME": str(home)}
    t0 = time.perf_counter()
    seed(home, args.objects)
    print(f"seeded {args.objects + 100:,} ConfigMaps in {time.perf_counter() - t0:.1f} s (direct to the store)")
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
            assert fn() == args.objects
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
        print(f"{f'{args.objects:,}-object list, raw JSON (s)':<44}{timings['raw JSON']:>10.3f}  < 1 s at 5,000")
        print(f"{f'{args.objects:,}-object list, client models (s)':<44}{timings['models']:>10.3f}")
        connections(record, args.connections, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
