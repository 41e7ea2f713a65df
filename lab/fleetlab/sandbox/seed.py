"""Seed a bootstrapped sandbox cluster with N realistic applications, the GitOps way.

Each app gets its manifests folder in the fleet repository (`seed/<stage>-<cluster>/app-NNNN/`) and,
under the cluster's path (`apps/seed-NNNN.yaml`, applied by the flux-system Kustomization), three
GitRepositories (its config, charts and manifests sources), a Kustomization that depends on the
previous app in its group of five, and a HelmRelease of fleetlib's demo chart `hello` from the fleet's Helm
repository (charts.fleet.internal, published on first use). Everything is also
applied to the cluster at once, as `kubectl apply` would, so it appears before the next sync.

    seed(api, hub, apps=50)
"""

from __future__ import annotations

from typing import Any

import yaml

from fleetlab.charts.artifacts import CHARTS_URL, ArtifactStore, publish_demo_chart
from fleetlab.faults.cluster import AUTHOR, NAMESPACE, ClusterOps, InProcess
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlib.errors import InputError

GROUP = 5


def _objects(i: int, repo_url: str, folder: str) -> list[dict[str, Any]]:
    name = f"app-{i:04d}"
    sources = [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": f"{name}-{role}", "namespace": NAMESPACE, "labels": {"app.fleetlib.io/name": name}},
                "spec": {"interval": "5m0s", "ref": {"branch": "main"}, "secretRef": {"name": "flux-system"},
                         "url": repo_url}} for role in ("config", "charts", "manifests")]
    ks: dict[str, Any] = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                          "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.fleetlib.io/name": name}},
                          "spec": {"interval": "10m0s", "path": f"./{folder}/{name}", "prune": True,
                                   "targetNamespace": "default",
                                   "sourceRef": {"kind": "GitRepository", "name": f"{name}-manifests"}}}
    if i % GROUP:
        ks["spec"]["dependsOn"] = [{"name": f"app-{i - 1:04d}"}]
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.fleetlib.io/name": name}},
               "spec": {"interval": "10m0s", "releaseName": name, "targetNamespace": "default",
                        "chart": {"spec": {"chart": "hello", "version": "1.0.x",
                                           "sourceRef": {"kind": "HelmRepository", "name": "seed-charts"}}},
                        "values": {"replicaCount": 1 + i % 3}}}
    return [*sources, ks, release]


MAX_APPS = 20_000


def check_count(apps: int) -> int:
    """The number of applications to seed, or an InputError (before anything is created)."""
    if isinstance(apps, bool) or not isinstance(apps, int) or not 1 <= apps <= MAX_APPS:
        raise InputError(f"--apps {apps} is out of range", hint=f"seed between 1 and {MAX_APPS} applications")
    return apps


def seed(api: ClusterApi, hub: Hub, *, apps: int) -> dict[str, int]:
    """Add `apps` applications after the ones already seeded; returns what was added per kind."""
    check_count(apps)
    c = ClusterOps(InProcess(api), hub)
    owner, name, _ = c.source_repo()
    sync = c.get("Kustomization", "flux-system")
    if sync is None:
        raise InputError("the cluster has no flux-system Kustomization", hint="bootstrap the cluster first")
    cluster_path = str(sync["spec"]["path"]).removeprefix("./").rstrip("/")
    first = int(api.store.meta("seeded") or 0)
    folder = f"seed/{cluster_path.replace('/', '-')}"
    repo_url = f"ssh://git@github.com/{owner}/{name}"
    publish_demo_chart(ArtifactStore.beside(hub.root))
    charts = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
              "metadata": {"name": "seed-charts", "namespace": NAMESPACE},
              "spec": {"interval": "1h0m0s", "url": CHARTS_URL}}
    files: dict[str, bytes | None] = {f"{cluster_path}/apps/seed-charts.yaml": yaml.safe_dump(charts).encode()}
    objects: list[dict[str, Any]] = [charts]
    for i in range(first, first + apps):
        app = f"app-{i:04d}"
        docs = _objects(i, repo_url, folder)
        objects += docs
        files[f"{cluster_path}/apps/seed-{i:04d}.yaml"] = "".join("---\n" + yaml.safe_dump(d) for d in docs).encode()
        files[f"{folder}/{app}/configmap.yaml"] = yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{app}-settings"},
             "data": {"app": app, "replicas": str(1 + i % 3)}}).encode()
    hub.bare(owner, name).commit_files("main", files, message=f"Seed {apps} applications", author=AUTHOR)
    added: dict[str, int] = {}
    for obj in objects:
        c.apply(obj)
        added[obj["kind"]] = added.get(obj["kind"], 0) + 1
    with api.store.write() as tx:
        tx.set_meta("seeded", str(first + apps))
    c.reconcile("GitRepository", "flux-system")
    return added


def describe(added: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(added.items()))
