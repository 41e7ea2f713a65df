"""Multi-tenancy on the sandbox, laid out as fluxcd/flux2-multi-tenancy lays it out (a tenant namespace, its
service account bound to cluster-admin there only, a GitRepository and a Kustomization with serviceAccountName,
the platform's Kustomizations acting as kustomize-controller, and the lockdown patches on the controllers'
flags): inside its namespace the tenant applies; an escape fails with the API server's refusal in the
controller's words; under the lockdown a Kustomization without a service account and one that reaches across
namespaces fail as kustomize-controller fails them."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import SandboxCluster
from .fluxenv import FluxCluster, bootstrapped, wait_for

TENANT_RBAC = """---
apiVersion: v1
kind: Namespace
metadata:
  labels: {toolkit.fluxcd.io/tenant: dev-team}
  name: apps
---
apiVersion: v1
kind: ServiceAccount
metadata:
  labels: {toolkit.fluxcd.io/tenant: dev-team}
  name: dev-team
  namespace: apps
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  labels: {toolkit.fluxcd.io/tenant: dev-team}
  name: gotk-reconciler
  namespace: apps
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: User, name: "gotk:apps:reconciler"}
- {kind: ServiceAccount, name: dev-team, namespace: apps}
"""


def tenant_sync(url: str) -> str:
    return f"""---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: dev-team, namespace: apps}}
spec:
  interval: 1m
  url: {url}
  ref: {{branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: dev-team, namespace: apps}}
spec:
  serviceAccountName: dev-team
  interval: 5m
  path: ./staging
  sourceRef: {{kind: GitRepository, name: dev-team}}
  prune: true
"""


def configmap(name: str, namespace: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                           "data": {"owner": "dev-team"}})


def platform_ks(flux: FluxCluster) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "tenants", "namespace": "flux-system"},
            "spec": {"interval": "5m", "serviceAccountName": "kustomize-controller", "path": "./tenants/staging",
                     "prune": True, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}


LOCKDOWN = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- gotk-components.yaml
- gotk-sync.yaml
patches:
- patch: |
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --no-cross-namespace-refs=true
  target: {kind: Deployment, name: "(kustomize-controller|helm-controller|notification-controller)"}
- patch: |
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --default-service-account=default
  target: {kind: Deployment, name: "(kustomize-controller|helm-controller)"}
- patch: |
    - op: add
      path: /spec/serviceAccountName
      value: kustomize-controller
  target: {kind: Kustomization, name: "flux-system"}
"""


def ready_condition(flux: FluxCluster, name: str, namespace: str) -> dict[str, Any] | None:
    ks = flux.get("Kustomization", name, namespace) or {}
    return next((c for c in (ks.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def test_a_tenant_applies_in_its_namespace_and_cannot_escape_it(cluster: SandboxCluster) -> None:
    from .fluxenv import apply

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: (ready_condition(flux, "flux-system", "flux-system") or {}).get("status")
             == "True", timeout=60)
    hub = cluster.sandbox.hub
    hub.create_repo("JiwooL0920", "dev-team", private=False)
    tenant = hub.bare("JiwooL0920", "dev-team")
    tenant.commit_files("main", {"staging/app.yaml": configmap("app", "apps").encode()}, message="app",
                        author=("t", "t@x"))
    flux.commit({"tenants/staging/rbac.yaml": TENANT_RBAC,
                 "tenants/staging/sync.yaml": tenant_sync("https://github.com/JiwooL0920/dev-team")}, "Add dev-team")
    flux.request_reconcile("GitRepository", "flux-system")
    apply(cluster, [platform_ks(flux)])
    wait_for("the tenant applied", lambda: flux.get("ConfigMap", "app", "apps"), timeout=90)
    assert (ready_condition(flux, "dev-team", "apps") or {}).get("status") == "True"

    # the tenant tries to write outside its namespace: the whole stage's dry-run is refused, nothing applied
    tenant.commit_files("main", {"staging/escape.yaml": configmap("escape", "kube-system").encode(),
                                 "staging/more.yaml": configmap("more", "apps").encode()},
                        message="escape", author=("t", "t@x"))
    flux.request_reconcile("GitRepository", "dev-team", "apps")
    failed = wait_for("the escape refused", lambda: (c := ready_condition(flux, "dev-team", "apps")) and
                      c["status"] == "False" and "dry-run failed" in c["message"] and c, timeout=90)
    assert failed["reason"] == "ReconciliationFailed"
    assert failed["message"].startswith(
        'ConfigMap/kube-system/escape dry-run failed (Forbidden): configmaps "escape" is forbidden: User '
        '"system:serviceaccount:apps:dev-team" cannot patch resource "configmaps" in API group "" in the namespace '
        '"kube-system"'), failed["message"]
    assert flux.get("ConfigMap", "escape", "kube-system") is None and flux.get("ConfigMap", "more", "apps") is None


def test_the_lockdown_flags_refuse_what_kustomize_controller_refuses(cluster: SandboxCluster) -> None:
    from .fluxenv import apply

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: (ready_condition(flux, "flux-system", "flux-system") or {}).get("status")
             == "True", timeout=60)
    base = flux.path.removeprefix("./") + "/flux-system"
    flux.commit({f"{base}/kustomization.yaml": LOCKDOWN, "tenants/staging/rbac.yaml": TENANT_RBAC}, "Lock down")
    flux.request_reconcile("GitRepository", "flux-system")
    wait_for("the flags rolled out", lambda: "--default-service-account=default" in (
        (flux.get("Deployment", "kustomize-controller") or {}).get("spec", {}).get("template", {}).get("spec", {})
        .get("containers", [{}])[0].get("args", [])), timeout=90)
    apply(cluster, [platform_ks(flux)])
    wait_for("the tenant namespace", lambda: flux.get("ServiceAccount", "dev-team", "apps"), timeout=90)
    cross = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": {"name": "cross", "namespace": "apps"},
             "spec": {"interval": "5m", "path": "./", "prune": True, "serviceAccountName": "dev-team",
                      "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}}}
    hub = cluster.sandbox.hub
    hub.create_repo("JiwooL0920", "dev-team-2", private=False)
    hub.bare("JiwooL0920", "dev-team-2").commit_files("main", {"staging/app.yaml": configmap("app", "apps").encode()},
                                                      message="app", author=("t", "t@x"))
    apply(cluster, [cross] + list(yaml.safe_load_all(tenant_sync("https://github.com/JiwooL0920/dev-team-2")
                                                     .replace("  serviceAccountName: dev-team\n", ""))))
    denied = wait_for("the cross-namespace reference refused", lambda: (c := ready_condition(flux, "cross", "apps"))
                      and c["status"] == "False" and c, timeout=90)
    assert (denied["reason"], denied["message"]) == (
        "AccessDenied", "can't access 'GitRepository/flux-system/flux-system', cross-namespace references have been "
                        "blocked")
    stalled = next(c for c in flux.get("Kustomization", "cross", "apps")["status"]["conditions"]
                   if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "AccessDenied"
    refused = wait_for("the default service account refused", lambda: (c := ready_condition(flux, "dev-team", "apps"))
                       and c["status"] == "False" and "dry-run failed" in c["message"] and c, timeout=90)
    assert refused["message"].startswith(
        'ConfigMap/apps/app dry-run failed (Forbidden): configmaps "app" is forbidden: User '
        '"system:serviceaccount:apps:default" cannot patch resource "configmaps" in API group "" in the namespace '
        '"apps"'), refused["message"]
