"""Both targets load the same repository, laid out as fluxcd/flux2-multi-tenancy lays it out (a platform
Kustomization applying each tenant's namespace, service account and RoleBinding, and the tenants' app
Kustomizations acting as their service accounts) with generated apps (a ConfigMap and a Deployment each; one app
per tenant reaches outside its namespace), and prints the seconds each target takes from the push to steady state
(every Kustomization Ready or failed at its generation), side by side, and whether both tell the same story (which
Kustomizations are Ready, and the failures' messages).

    python bench/tenants.py                    # 4 tenants, 100 apps
    python bench/tenants.py --apps 40 --keep --home /tmp/bt

A rehearsal is worth having when it is at least twice as fast as the real stack and tells the same story. Figures,
not assertions: tests/test_bench.py runs this with a few apps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def layout(ns: str, tenants: list[str], apps: int) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The repository's files, and (namespace, name) of every app Kustomization."""
    files: dict[str, str] = {}
    kustomizations = []
    for i in range(apps):
        tenant = tenants[i % len(tenants)]
        namespace = f"{ns}-{tenant}"
        escape = i < len(tenants)  # the first app of each tenant writes into the platform's namespace
        target = ns if escape else namespace
        name = f"app-{i:03d}"
        files[f"apps/{tenant}/{name}/app.yaml"] = yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": target},
             "data": {"tenant": tenant}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                      "template": {"metadata": {"labels": {"app": name}},
                                   "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}}])
        files[f"tenants/{tenant}/{name}.yaml"] = yaml.safe_dump(
            {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": {"name": name, "namespace": namespace},
             "spec": {"serviceAccountName": tenant, "interval": "10m", "prune": True,
                      "path": f"./apps/{tenant}/{name}",
                      "sourceRef": {"kind": "GitRepository", "name": "src", "namespace": ns}}})
        kustomizations.append((namespace, name))
    for tenant in tenants:
        namespace = f"{ns}-{tenant}"
        files[f"tenants/{tenant}/rbac.yaml"] = yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": namespace, "labels": {"toolkit.fluxcd.io/tenant": tenant}}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": tenant, "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "gotk-reconciler", "namespace": namespace},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
             "subjects": [{"kind": "ServiceAccount", "name": tenant, "namespace": namespace}]}])
    return files, kustomizations


def settled(side: Any, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]] | None:
    """(namespace, name) -> (Ready status, message) once every wanted Kustomization has a verdict, else None."""
    done = side.kubectl("get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A", "-o", "json")
    if done.code != 0:
        return None
    seen = {}
    for ks in json.loads(done.out)["items"]:
        meta, status = ks["metadata"], ks.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
        if ready and ready["status"] in ("True", "False") and \
                (ready["status"] == "False" or status.get("observedGeneration") == meta.get("generation")):
            seen[(meta["namespace"], meta["name"])] = (ready["status"], ready["message"].split("\n")[0])
    return {k: seen[k] for k in wanted} if all(k in seen for k in wanted) else None


def run_side(side: Any, apps: int, tenants: list[str], timeout: float) -> dict[str, Any]:
    case = side.case("bench-tenants")
    files, wanted = layout(case.ns, tenants, apps)
    for tenant in tenants:
        side.kubectl("delete", "namespace", f"{case.ns}-{tenant}", "--ignore-not-found", "--wait=true")
    case.commit(files, "tenants and apps")
    case.git_source()
    case.wait_ready("GitRepository", "src")
    started = time.monotonic()
    case.kustomization("tenants", "./tenants")
    verdicts = case.wait("steady state", lambda: settled(side, wanted), timeout=timeout, every=1.0)
    seconds = time.monotonic() - started
    side.kubectl("delete", "kustomization", "tenants", "-n", case.ns, "--wait=false")
    story = {f"{ns.rsplit('-', 1)[-1]}/{name}": (status, re.sub(r"sha1:[0-9a-f]{40}", "sha1:<sha>",
                                                                 message.replace(case.ns, "<ns>")))
             for (ns, name), (status, message) in verdicts.items()}
    return {"seconds": seconds, "ready": sum(s == "True" for s, _ in verdicts.values()),
            "failed": sum(s == "False" for s, _ in verdicts.values()), "story": story}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--keep", action="store_true", help="leave the local cluster running")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from fleetlab.fidelity.harness import Sides

    home = (args.home or Path(tempfile.mkdtemp(prefix="fleet-bench-tenants-"))).resolve()
    os.environ["FLEET_HOME"] = str(home)
    tenants = [f"team{i}" for i in range(args.tenants)]
    results = {}
    with Sides(home, keep=args.keep) as sides:
        for target in ("sandbox", "local"):  # one after the other: each has both cores
            results[target] = run_side(sides[target], args.apps, tenants, args.timeout)
    print(f"{args.tenants} tenants, {args.apps} apps ({args.tenants} of them reach outside their namespace)")
    print(f"{'target':<8} {'kustomizations':>14} {'ready':>6} {'failed':>6} {'to steady state':>16}")
    for target, r in results.items():
        print(f"{target:<8} {args.apps:>14} {r['ready']:>6} {r['failed']:>6} {r['seconds']:>14.1f} s")
    sandbox, local = results["sandbox"], results["local"]
    print(f"the sandbox is {local['seconds'] / max(sandbox['seconds'], 0.001):.1f}x as fast as the local stack")
    differing = sorted(k for k in sandbox["story"] if sandbox["story"][k] != local["story"].get(k))
    print("same story: yes" if not differing else f"same story: no, {len(differing)} differ, first {differing[0]}: "
          f"sandbox {sandbox['story'][differing[0]]} local {local['story'].get(differing[0])}")
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main())
