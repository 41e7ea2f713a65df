"""Benchmark of troubleshooting at scale: a sandbox cluster seeded with 5,000 Flux objects (a tenth of
them failing) and 20,000 events; times gather + get + events + diagnose end to end through the
official client (target: under 3 s), counts the API requests (one list per kind, never one per
object), and times `kubectl get ... -A -o json` of the same objects side by side.

    python bench/troubleshoot.py [--objects 5000] [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetlab.release.manifests import install_objects
from fleetlab.sandbox import Sandbox
from fleetlib.kube import connect
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, merge_and_validate
from fleetlib.troubleshoot import fluxview
from fleetlib.troubleshoot.diagnose import diagnose
from fleetlib.troubleshoot.facts import gather

KINDS = (("GitRepository", "source.toolkit.fluxcd.io/v1", 0.4), ("Kustomization", "kustomize.toolkit.fluxcd.io/v1", 0.4),
         ("HelmRelease", "helm.toolkit.fluxcd.io/v2", 0.2))
SPECS = {  # the least each kind's schema requires
    "GitRepository": {"interval": "10m0s", "url": "ssh://git@github.com/JiwooL0920/fleet-infra", "ref": {"branch": "main"}},
    "Kustomization": {"interval": "10m0s", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
    "HelmRelease": {"interval": "10m0s", "chart": {"spec": {"chart": "hello", "sourceRef": {
        "kind": "HelmRepository", "name": "charts"}}}},
}


def seed(api, objects: int, events: int) -> None:  # type: ignore[no-untyped-def]
    reg = api.registry()
    ns = reg.lookup("", "v1", "namespaces")
    api.create(ns, None, {"metadata": {"name": "flux-system"}}, manager="bench")
    crds = reg.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    for crd in (o for o in install_objects("v2.5.1") if o["kind"] == "CustomResourceDefinition"):
        api.create(crds, None, crd, manager="bench")
    reg = api.registry()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    n = 0
    for kind, api_version, share in KINDS:
        t = reg.by_kind(api_version, kind)
        for i in range(int(objects * share)):
            failing = n % 10 == 0
            body = {"metadata": {"name": f"{kind.lower()}-{i:05d}"}, "spec": SPECS[kind]}
            made = api.create(t, "flux-system", body, manager="bench")
            ready = {"type": "Ready", "status": "False" if failing else "True",
                     "reason": "BuildFailed" if failing else "Succeeded",
                     "message": "kustomize build failed: missing file" if failing else "ok", "lastTransitionTime": now}
            api.patch(t, "flux-system", made["metadata"]["name"], "application/merge-patch+json",
                      json.dumps({"status": {"conditions": [ready], "observedGeneration": 1}}).encode(),
                      manager="bench", subresource="status")
            n += 1
    ev = reg.lookup("", "v1", "events")
    for i in range(events):
        kind = KINDS[i % 3][0]
        api.create(ev, "flux-system", {"metadata": {"name": f"ev-{i:06d}"}, "type": "Warning" if i % 7 == 0 else "Normal",
                                       "reason": "Progressing", "message": f"event {i}", "lastTimestamp": now,
                                       "involvedObject": {"kind": kind, "name": f"{kind.lower()}-{i % 1000:05d}",
                                                          "namespace": "flux-system"}}, manager="bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fleet-bench-ts-"))
    sandbox = Sandbox.start(home, controllers=False)
    cid = ClusterId("bench", "services-amer")
    api = sandbox.add_cluster(cid)
    t0 = time.perf_counter()
    seed(api, args.objects, args.events)
    print(f"seeded {args.objects:,} Flux objects and {args.events:,} events in {time.perf_counter() - t0:.1f} s")
    Sandbox._running[home.resolve()] = sandbox  # the adapters find this process's sandbox
    params = merge_and_validate(cid, [*Catalog.load(Path(__file__).resolve().parent.parent).base_layers("dev"),
                                      Layer("bench", {"target": "sandbox", "path": "./clusters/bench"})])
    kube = connect(params, home=home)
    kube.version()
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        facts = gather(kube)
        table = fluxview.get(facts)
        timeline = fluxview.events(facts)
        found = diagnose(facts)
        runs.append(time.perf_counter() - start)
    kubeconfig = sandbox.write_kubeconfig(home / "kubeconfig", current=cid)
    kubectl = Path(sys.executable).parent / "kubectl"
    k_runs = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([str(kubectl) if kubectl.exists() else "kubectl", "--kubeconfig", str(kubeconfig),
                               "get", "gitrepositories,kustomizations,helmreleases", "-A", "-o", "json"],
                              capture_output=True, text=True, check=True)
        k_runs.append(time.perf_counter() - start)
    listed = len(json.loads(done.stdout)["items"])
    print(f"{'measure':<62}{'value':>10}  target")
    print(f"{'gather + get + events + diagnose, s (best of 3)':<62}{min(runs):>10.2f}  < 3 s")
    print(f"{'API requests for it (lists per kind)':<62}{facts.requests:>10}")
    print(f"{'objects / events / findings':<62}{len(table):>6} / {len(timeline)} / {len(found)}")
    print(f"{'kubectl get gitrepositories,kustomizations,helmreleases -A -o json, s':<62}{min(k_runs):>10.2f}"
          f"  ({listed:,} objects)")
    sandbox.stop()


if __name__ == "__main__":
    main()
