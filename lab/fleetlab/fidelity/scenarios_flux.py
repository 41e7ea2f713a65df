"""Scenarios of Flux flows on small repositories: sources, Kustomizations (apply, prune, dependsOn, dry-run,
health checks, suspend, reconcile requests), and what they leave behind: conditions, events, inventories.
"""

from __future__ import annotations

import time
from typing import Any

import yaml

from fleetlab.fidelity.harness import Case, conditions
from fleetlab.fidelity.scenarios_kube import configmap, deployment
from fleetlab.fidelity.suite import scenario
from fleetlib.objects import condition, status_of


def _docs(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(list(objs), sort_keys=False)


def _inventory(obj: dict[str, Any] | None) -> list[str]:
    return sorted(e["id"] for e in (status_of(obj).get("inventory") or {}).get("entries") or [])


def _flux(case: Case, kind: str, name: str) -> dict[str, Any]:
    """What a user reads of a Flux object: its conditions, revisions and inventory."""
    obj = case.get(kind, name) or {}
    status = obj.get("status") or {}
    out: dict[str, Any] = {"conditions": conditions(obj)}
    for key in ("lastAppliedRevision", "lastAttemptedRevision", "observedGeneration"):
        if key in status:
            out[key] = status[key]
    if "inventory" in status:
        out["inventory"] = _inventory(obj)
    if "artifact" in status:
        out["artifact"] = {k: status["artifact"].get(k) for k in ("revision", "path") if k in status["artifact"]}
    return out


def _ready_app(case: Case, files: dict[str, str], *, path: str = "./app", name: str = "app", **spec: Any
               ) -> dict[str, Any]:
    case.commit(files)
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization(name, path, **spec)
    return case.wait_ready("Kustomization", name)


def _failing_app(case: Case, files: dict[str, str], *, path: str = "./app", name: str = "app", **spec: Any
                 ) -> dict[str, Any]:
    """A Kustomization of `files` that fails: what a user reads of it once Ready=False."""
    case.commit(files)
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization(name, path, **spec)
    case.wait_condition("Kustomization", name, "False")
    return _flux(case, "Kustomization", name)


# --- sources -----------------------------------------------------------------------------------------------------


@scenario("flux-git-ready", "flux")
def flux_git_ready(case: Case) -> dict[str, Any]:
    """A GitRepository over SSH with a deploy key: Ready, its artifact revision, its events."""
    case.commit({"app/cm.yaml": _docs(configmap("c"))})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    return {"source": _flux(case, "GitRepository", "src"), "events": case.events("src", "GitRepository")}


@scenario("flux-git-missing-branch", "flux")
def flux_git_missing_branch(case: Case) -> dict[str, Any]:
    """A GitRepository on a branch that does not exist."""
    case.commit({"app/cm.yaml": _docs(configmap("c"))})
    case.git_source(ref={"branch": "no-such-branch"})
    case.wait_condition("GitRepository", "src", "False")
    return {"source": _flux(case, "GitRepository", "src"),
            "warnings": sorted({(t, r) for t, r, _ in case.events("src", "GitRepository")})}


@scenario("flux-git-missing-secret", "flux")
def flux_git_missing_secret(case: Case) -> dict[str, Any]:
    """A GitRepository whose secretRef names no Secret."""
    case.commit({"app/cm.yaml": _docs(configmap("c"))})
    case.git_source(secretRef={"name": "nope"})
    case.wait_condition("GitRepository", "src", "False")
    return {"source": _flux(case, "GitRepository", "src")}


@scenario("flux-git-new-commit", "flux")
def flux_git_new_commit(case: Case) -> dict[str, Any]:
    """A new commit and a reconcile request: the artifact moves, a NewArtifact event names the commit."""
    case.commit({"app/cm.yaml": _docs(configmap("c"))}, message="first")
    case.git_source()
    case.wait_ready("GitRepository", "src")
    sha = case.commit({"app/cm.yaml": _docs(configmap("c", {"a": "2"}))}, message="second")
    token = case.reconcile("GitRepository", "src")
    obj = case.wait("the new artifact", lambda: (o := case.get("GitRepository", "src")) and sha in str(
        (status_of(o).get("artifact") or {}).get("revision")) and o)
    case.wait_condition("GitRepository", "src", handled=token)
    return {"revision": obj["status"]["artifact"]["revision"], "events": case.events("src", "GitRepository")}


# --- Kustomizations ----------------------------------------------------------------------------------------------


@scenario("flux-ks-apply", "flux")
def flux_ks_apply(case: Case) -> dict[str, Any]:
    """A Kustomization applies a folder: Ready, inventory, events, the labels on what it applied."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns)),
                      "app/svc.yaml": _docs({"apiVersion": "v1", "kind": "Service", "metadata": {
                          "name": "web", "namespace": case.ns}, "spec": {"ports": [{"port": 80}],
                                                                       "selector": {"app": "web"}}})})
    cm = case.json("get", "cm", "c", "-n", case.ns)
    return {"ks": _flux(case, "Kustomization", "app"), "events": case.events("app", "Kustomization"),
            "labels": cm["metadata"].get("labels")}


@scenario("flux-ks-reapply-unchanged", "flux")
def flux_ks_reapply_unchanged(case: Case) -> dict[str, Any]:
    """A reconcile request with nothing new: no Progressing event (a Service is not 'configured' again)."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns)),
                      "app/svc.yaml": _docs({"apiVersion": "v1", "kind": "Service", "metadata": {
                          "name": "web", "namespace": case.ns}, "spec": {"ports": [{"port": 80}],
                                                                       "selector": {"app": "web"}}})})
    before = case.events("app", "Kustomization")
    token = case.reconcile("Kustomization", "app")
    case.wait_condition("Kustomization", "app", handled=token)
    time.sleep(1)
    after = case.events("app", "Kustomization")
    return {"new-events": [e for e in after if e not in before], "ks": _flux(case, "Kustomization", "app")}


@scenario("flux-ks-drift", "flux")
def flux_ks_drift(case: Case) -> dict[str, Any]:
    """An applied object changed by hand is put back on the next reconcile ('configured')."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
    case.side.kubectl("patch", "cm", "c", "-n", case.ns, "--type", "merge", "-p", '{"data":{"a":"drifted"}}')
    token = case.reconcile("Kustomization", "app")
    case.wait_condition("Kustomization", "app", handled=token)
    return {"data": case.json("get", "cm", "c", "-n", case.ns)["data"], "events": case.events("app", "Kustomization")}


@scenario("flux-ks-prune-on-removal", "flux")
def flux_ks_prune_on_removal(case: Case) -> dict[str, Any]:
    """A file removed from Git: its object is deleted, the inventory shrinks, the event says 'deleted'."""
    _ready_app(case, {"app/a.yaml": _docs(configmap("a", namespace=case.ns)),
                      "app/b.yaml": _docs(configmap("b", namespace=case.ns))})
    case.commit({"app/b.yaml": None})
    case.reconcile("GitRepository", "src")
    case.wait("b to be pruned", lambda: "configmap/b" not in case.names("configmaps"), timeout=90)
    case.wait("the inventory to shrink", lambda: len(_inventory(case.get("Kustomization", "app"))) == 1)
    return {"configmaps": case.names("configmaps"), "ks": _flux(case, "Kustomization", "app"),
            "events": case.events("app", "Kustomization")}


@scenario("flux-ks-prune-disabled", "flux")
def flux_ks_prune_disabled(case: Case) -> dict[str, Any]:
    """An object annotated kustomize.toolkit.fluxcd.io/prune: disabled survives its removal from Git."""
    keep = configmap("keep", namespace=case.ns, annotations={"kustomize.toolkit.fluxcd.io/prune": "disabled"})
    _ready_app(case, {"app/a.yaml": _docs(configmap("a", namespace=case.ns)), "app/keep.yaml": _docs(keep)})
    case.commit({"app/keep.yaml": None})
    case.reconcile("GitRepository", "src")
    case.wait("the inventory to shrink", lambda: len(_inventory(case.get("Kustomization", "app"))) == 1)
    return {"configmaps": case.names("configmaps"), "events": case.events("app", "Kustomization")}


@scenario("flux-ks-delete-prunes", "flux")
def flux_ks_delete_prunes(case: Case) -> dict[str, Any]:
    """Deleting a Kustomization with prune: true deletes what it applied (its finalizer holds it until then)."""
    obj = _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
    case.side.kubectl("delete", "kustomization", "app", "-n", case.ns, "--wait=false")
    case.wait("the Kustomization to go", lambda: case.get("Kustomization", "app") is None, timeout=60)
    case.wait("its ConfigMap to go", lambda: "configmap/c" not in case.names("configmaps"), timeout=30)
    return {"finalizers": obj["metadata"].get("finalizers"), "configmaps": case.names("configmaps")}


@scenario("flux-ks-delete-keeps-without-prune", "flux")
def flux_ks_delete_keeps(case: Case) -> dict[str, Any]:
    """Deleting a Kustomization with prune: false leaves what it applied."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))}, prune=False)
    case.side.kubectl("delete", "kustomization", "app", "-n", case.ns, "--timeout=60s")
    time.sleep(2)
    return {"configmaps": case.names("configmaps")}


@scenario("flux-ks-prune-from-parent", "flux")
def flux_ks_prune_from_parent(case: Case) -> dict[str, Any]:
    """A child Kustomization removed from its parent's folder in Git is deleted, and its objects with it."""
    child = case.kustomization_object("child", "./child")
    _ready_app(case, {"parent/child.yaml": _docs(child), "child/cm.yaml": _docs(configmap("c", namespace=case.ns))},
               path="./parent", name="parent")
    case.wait_ready("Kustomization", "child")
    case.commit({"parent/child.yaml": None, "parent/keep.yaml": _docs(configmap("keep", namespace=case.ns))})
    case.reconcile("GitRepository", "src")
    case.wait("the child to go", lambda: case.get("Kustomization", "child") is None, timeout=90)
    case.wait("its ConfigMap to go", lambda: "configmap/c" not in case.names("configmaps"), timeout=60)
    return {"configmaps": case.names("configmaps"), "parent-events": case.events("parent", "Kustomization")}


@scenario("flux-ks-depends-on", "flux")
def flux_ks_depends_on(case: Case) -> dict[str, Any]:
    """A chain: `apps` depends on `infra`; both Ready, in order."""
    case.commit({"infra/cm.yaml": _docs(configmap("infra", namespace=case.ns)),
                 "apps/cm.yaml": _docs(configmap("apps", namespace=case.ns))})
    case.git_source()
    case.apply([case.kustomization_object("infra", "./infra"),
                case.kustomization_object("apps", "./apps", dependsOn=[{"name": "infra"}])])
    infra = case.wait_ready("Kustomization", "infra")
    apps = case.wait_ready("Kustomization", "apps", timeout=120)
    return {"infra": conditions(infra), "apps": conditions(apps), "configmaps": case.names("configmaps")}


@scenario("flux-ks-dependency-missing", "flux")
def flux_ks_dependency_missing(case: Case) -> dict[str, Any]:
    """A Kustomization depending on one that does not exist: Ready=False DependencyNotReady, and its events."""
    case.commit({"apps/cm.yaml": _docs(configmap("apps", namespace=case.ns))})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("apps", "./apps", dependsOn=[{"name": "infra"}])
    case.wait_condition("Kustomization", "apps", "False", reason="DependencyNotReady")
    time.sleep(3)
    return {"ks": _flux(case, "Kustomization", "apps"), "events": sorted(set(case.events("apps", "Kustomization"))),
            "configmaps": case.names("configmaps")}


@scenario("flux-ks-dependency-blocked-rate", "flux")
def flux_ks_dependency_blocked_rate(case: Case) -> dict[str, Any]:
    """A Kustomization blocked on a failing dependency for 40 s: how many events it records (about one per
    --requeue-dependency interval, 30 s)."""
    case.commit({"infra/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad\n",
                 "apps/cm.yaml": _docs(configmap("apps", namespace=case.ns))})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.apply([case.kustomization_object("infra", "./infra"),
                case.kustomization_object("apps", "./apps", dependsOn=[{"name": "infra"}])])
    case.wait_condition("Kustomization", "apps", "False", reason="DependencyNotReady")
    time.sleep(40)
    counts = case.event_counts("apps", "Kustomization")
    return {"ks": _flux(case, "Kustomization", "apps"), "infra": _flux(case, "Kustomization", "infra"),
            "events": sorted(set(case.events("apps", "Kustomization"))),
            "count-in-range": {f"{t}/{r}": 1 <= n <= 3 for (t, r), n in counts.items()}}


@scenario("flux-ks-dry-run-failed", "flux")
def flux_ks_dry_run_failed(case: Case) -> dict[str, Any]:
    """A custom resource whose CRD is not installed: dry-run fails, and nothing of the folder is applied."""
    case.commit({"app/cm.yaml": _docs(configmap("c", namespace=case.ns)),
                 "app/cr.yaml": _docs({"apiVersion": "example.com/v1", "kind": "Widget",
                                       "metadata": {"name": "w", "namespace": case.ns}})})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("app", "./app")
    case.wait_condition("Kustomization", "app", "False")
    return {"ks": _flux(case, "Kustomization", "app"), "configmaps": case.names("configmaps"),
            "events": sorted({e for e in case.events("app", "Kustomization") if e[0] == "Warning"})}


@scenario("flux-ks-invalid-object", "flux")
def flux_ks_invalid_object(case: Case) -> dict[str, Any]:
    """A Deployment the API server refuses (no selector): the dry-run error names it; nothing is applied."""
    bad = deployment("web")
    bad["metadata"]["namespace"] = case.ns
    del bad["spec"]["selector"]
    case.commit({"app/cm.yaml": _docs(configmap("c", namespace=case.ns)), "app/deploy.yaml": _docs(bad)})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("app", "./app")
    case.wait_condition("Kustomization", "app", "False")
    return {"ks": _flux(case, "Kustomization", "app"), "configmaps": case.names("configmaps")}


@scenario("flux-ks-build-failed", "flux")
def flux_ks_build_failed(case: Case) -> dict[str, Any]:
    """A kustomization.yaml naming a file that is not there: BuildFailed."""
    ks = _failing_app(case, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})
    return {"ks": ks}


@scenario("flux-ks-post-build", "flux")
def flux_ks_post_build(case: Case) -> dict[str, Any]:
    """postBuild as fluxcd/flux2-hub-spoke-example uses it (a name from `substitute`), with `substituteFrom` a
    ConfigMap and an optional Secret that is not there, a default, a case operator, a `$$` escape, and an object
    that opts out (`kustomize.toolkit.fluxcd.io/substitute: disabled`)."""
    case.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars", "namespace": case.ns},
                 "data": {"TIER": "gold", "NAME": "from-configmap"}}])
    settings = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${NAME}\n  namespace: " + case.ns + "\n"
                "data:\n  region: ${REGION:=eu-west-1}\n  tier: ${TIER^^}\n  kept: $${NAME}\n---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: verbatim\n  namespace: " + case.ns + "\n"
                "  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}\ndata:\n  text: ${NAME}\n")
    _ready_app(case, {"app/cm.yaml": settings},
               postBuild={"substitute": {"NAME": "staging", "REPLICAS": "3"},
                          "substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                                             {"kind": "Secret", "name": "absent", "optional": True}]})
    return {"ks": _flux(case, "Kustomization", "app"),
            "staging": case.json("get", "cm", "staging", "-n", case.ns)["data"],
            "verbatim": case.json("get", "cm", "verbatim", "-n", case.ns)["data"]}


@scenario("flux-ks-post-build-strict", "flux")
def flux_ks_post_build_strict(case: Case) -> dict[str, Any]:
    """A variable with no value and no default: kustomize-controller v1.9+ substitutes strictly by default."""
    ks = _failing_app(case, {"app/cm.yaml": _docs(configmap("c", {"a": "${SET}", "b": "${UNSET}"}, namespace=case.ns))},
                      postBuild={"substitute": {"SET": "1"}})
    return {"ks": ks, "configmaps": case.names("configmaps")}


@scenario("flux-ks-post-build-number", "flux")
def flux_ks_post_build_number(case: Case) -> dict[str, Any]:
    """`replicas: "${N}"` in a ConfigMap: kustomize writes the placeholder unquoted, so the value substituted is a
    number and the API server refuses the typed patch (a gotcha of real Flux the sandbox must show too)."""
    ks = _failing_app(case, {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: "
                             + case.ns + "\ndata:\n  replicas: \"${N}\"\n"}, postBuild={"substitute": {"N": "3"}})
    return {"ks": ks, "configmaps": case.names("configmaps")}


@scenario("flux-ks-post-build-missing-from", "flux")
def flux_ks_post_build_missing_from(case: Case) -> dict[str, Any]:
    """postBuild.substituteFrom naming a ConfigMap that is not there (not optional): BuildFailed."""
    ks = _failing_app(case, {"app/cm.yaml": _docs(configmap("c", {"a": "${X}"}, namespace=case.ns))},
                      postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "missing"}]})
    return {"ks": ks, "configmaps": case.names("configmaps")}


@scenario("flux-ks-unserved-version", "flux")
def flux_ks_unserved_version(case: Case) -> dict[str, Any]:
    """A HelmRepository at source.toolkit.fluxcd.io/v1beta1, which Flux v2.9 no longer serves: the dry-run names
    the version (what the troubleshooting runbook's `api-version-not-served` reads)."""
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1beta1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": case.ns},
            "spec": {"interval": "10m", "url": "http://charts.fleet.internal/"}}
    return {"ks": _failing_app(case, {"app/repo.yaml": _docs(repo)})}


def _tenant(case: Case) -> None:
    """fluxcd/flux2-multi-tenancy's tenant: a service account bound to cluster-admin in its namespace only."""
    case.apply([{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "dev-team", "namespace": case.ns}},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "gotk-reconciler", "namespace": case.ns},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                 "subjects": [{"kind": "User", "name": f"gotk:{case.ns}:reconciler"},
                              {"kind": "ServiceAccount", "name": "dev-team", "namespace": case.ns}]}])


@scenario("flux-ks-tenant", "flux")
def flux_ks_tenant(case: Case) -> dict[str, Any]:
    """A tenant's Kustomization (serviceAccountName: dev-team) applies inside its namespace."""
    _tenant(case)
    ks = _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))}, serviceAccountName="dev-team")
    return {"ks": _flux(case, "Kustomization", "app") if ks else None, "configmaps": case.names("configmaps")}


@scenario("flux-ks-tenant-escape", "flux")
def flux_ks_tenant_escape(case: Case) -> dict[str, Any]:
    """The tenant writes into another namespace: the API server refuses the impersonated dry-run, nothing of the
    stage is applied."""
    _tenant(case)
    ks = _failing_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns),
                                                  configmap(f"escape-{case.ns}", namespace="default"))},
                      serviceAccountName="dev-team")
    return {"ks": ks, "configmaps": case.names("configmaps")}


@scenario("flux-ks-tenant-namespace", "flux")
def flux_ks_tenant_namespace(case: Case) -> dict[str, Any]:
    """The tenant creates a Namespace: cluster-scoped, so its RoleBinding does not reach it."""
    _tenant(case)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{case.ns}-new"}}
    return {"ks": _failing_app(case, {"app/ns.yaml": _docs(ns)}, serviceAccountName="dev-team")}


@scenario("flux-ks-tenant-unknown-account", "flux")
def flux_ks_tenant_unknown_account(case: Case) -> dict[str, Any]:
    """serviceAccountName names an account that has no binding (it need not exist: the controller impersonates
    the name)."""
    return {"ks": _failing_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))},
                               serviceAccountName="nobody")}


def _kubeconfig_secret(case: Case, name: str, key: str = "value") -> None:
    """A Secret holding the side's own cluster's kubeconfig (`kubectl config view --minify --flatten`): a remote
    cluster that each side can reach."""
    config = case.side.kubectl("config", "view", "--minify", "--flatten").out
    case.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": case.ns},
                 "stringData": {key: config}}])


@scenario("flux-ks-kubeconfig", "flux")
def flux_ks_kubeconfig(case: Case) -> dict[str, Any]:
    """spec.kubeConfig.secretRef to a cluster's kubeconfig (here the side's own cluster, reached as a remote one)."""
    _kubeconfig_secret(case, "remote")
    ks = _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))},
                    kubeConfig={"secretRef": {"name": "remote"}})
    return {"ks": _flux(case, "Kustomization", "app") if ks else None, "configmaps": case.names("configmaps")}


@scenario("flux-ks-kubeconfig-missing", "flux")
def flux_ks_kubeconfig_missing(case: Case) -> dict[str, Any]:
    """spec.kubeConfig.secretRef naming a Secret that is not there."""
    return {"ks": _failing_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))},
                               kubeConfig={"secretRef": {"name": "absent"}})}


@scenario("flux-ks-kubeconfig-key", "flux")
def flux_ks_kubeconfig_key(case: Case) -> dict[str, Any]:
    """spec.kubeConfig.secretRef.key naming a key the Secret does not have."""
    _kubeconfig_secret(case, "remote")
    return {"ks": _failing_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))},
                               kubeConfig={"secretRef": {"name": "remote", "key": "other"}})}


@scenario("flux-ks-remote-base", "flux")
def flux_ks_remote_base(case: Case) -> dict[str, Any]:
    """A kustomization.yaml with a remote base (a GitHub URL, as many public repositories have): offline, the build
    fails; how kustomize-controller words it."""
    kustomization = ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
                     "- https://github.com/stefanprodan/podinfo//kustomize?ref=6.7.0\n")
    return {"ks": _failing_app(case, {"app/kustomization.yaml": kustomization})}


@scenario("flux-ks-path-missing", "flux")
def flux_ks_path_missing(case: Case) -> dict[str, Any]:
    """A Kustomization whose path is not in the artifact."""
    case.commit({"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("app", "./nowhere")
    case.wait_condition("Kustomization", "app", "False")
    return {"ks": _flux(case, "Kustomization", "app")}


@scenario("flux-ks-source-missing", "flux")
def flux_ks_source_missing(case: Case) -> dict[str, Any]:
    """A Kustomization whose GitRepository does not exist."""
    case.kustomization("app", "./app", source="nope")
    case.wait_condition("Kustomization", "app", "False")
    return {"ks": _flux(case, "Kustomization", "app")}


@scenario("flux-ks-health-check", "flux")
def flux_ks_health_check(case: Case) -> dict[str, Any]:
    """healthChecks on a Deployment: Ready and Healthy once it is available; the events."""
    web = deployment("web")
    web["metadata"]["namespace"] = case.ns
    _ready_app(case, {"app/deploy.yaml": _docs(web)},
               healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": case.ns}],
               timeout="2m")
    return {"ks": _flux(case, "Kustomization", "app"), "events": case.events("app", "Kustomization")}


@scenario("flux-ks-wait", "flux")
def flux_ks_wait(case: Case) -> dict[str, Any]:
    """wait: true health-checks everything applied."""
    web = deployment("web")
    web["metadata"]["namespace"] = case.ns
    _ready_app(case, {"app/deploy.yaml": _docs(web), "app/cm.yaml": _docs(configmap("c", namespace=case.ns))},
               wait=True, timeout="2m")
    return {"ks": _flux(case, "Kustomization", "app")}


@scenario("flux-ks-health-in-progress", "flux")
def flux_ks_health_in_progress(case: Case) -> dict[str, Any]:
    """While a health check runs: Ready=Unknown and Reconciling=True with the health-check message."""
    web = deployment("web", image="registry.invalid/never:1")
    web["metadata"]["namespace"] = case.ns
    case.commit({"app/deploy.yaml": _docs(web)})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("app", "./app", timeout="1m", healthChecks=[
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": case.ns}])
    obj = case.wait("the health check to start", lambda: (o := case.get("Kustomization", "app")) and condition(
        o, "Reconciling") and "health checks" in (condition(o, "Reconciling") or {}).get("message", "") and o,
        timeout=60, every=0.2)
    return {"conditions": conditions(obj)}


@scenario("flux-ks-health-timeout", "flux")
def flux_ks_health_timeout(case: Case) -> dict[str, Any]:
    """A Deployment whose image cannot be pulled: the health check times out (HealthCheckFailed)."""
    web = deployment("web", image="registry.invalid/never:1")
    web["metadata"]["namespace"] = case.ns
    case.commit({"app/deploy.yaml": _docs(web)})
    case.git_source()
    case.wait_ready("GitRepository", "src")
    case.kustomization("app", "./app", timeout="30s", healthChecks=[
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": case.ns}])
    case.wait_condition("Kustomization", "app", "False", reason="HealthCheckFailed", timeout=120)
    return {"ks": _flux(case, "Kustomization", "app"),
            "warnings": sorted({e for e in case.events("app", "Kustomization") if e[0] == "Warning"})}


@scenario("flux-ks-suspend-resume", "flux")
def flux_ks_suspend_resume(case: Case) -> dict[str, Any]:
    """A suspended Kustomization ignores a reconcile request and new commits; resumed, it catches up."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
    case.side.kubectl("patch", "kustomization", "app", "-n", case.ns, "--type", "merge", "-p",
                      '{"spec":{"suspend":true}}')
    case.wait("the suspension recorded", lambda: (case.get("Kustomization", "app") or {}).get("spec", {})
              .get("suspend") is True)
    time.sleep(2)  # the controller's cache has the suspended object before the source moves
    case.commit({"app/cm2.yaml": _docs(configmap("d", namespace=case.ns))})
    case.reconcile("GitRepository", "src")
    token = case.reconcile("Kustomization", "app")
    time.sleep(5)
    while_suspended = case.names("configmaps")
    handled = (case.get("Kustomization", "app") or {}).get("status", {}).get("lastHandledReconcileAt") == token
    case.side.kubectl("patch", "kustomization", "app", "-n", case.ns, "--type", "merge", "-p",
                      '{"spec":{"suspend":false}}')
    case.reconcile("Kustomization", "app")
    case.wait("the new ConfigMap", lambda: "configmap/d" in case.names("configmaps"), timeout=90)
    return {"while-suspended": while_suspended, "request-handled-while-suspended": handled,
            "after": case.names("configmaps")}


@scenario("flux-ks-reconcile-request", "flux")
def flux_ks_reconcile_request(case: Case) -> dict[str, Any]:
    """A reconcile request is answered with lastHandledReconcileAt and a ReconciliationSucceeded event."""
    _ready_app(case, {"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
    token = case.reconcile("Kustomization", "app")
    obj = case.wait_condition("Kustomization", "app", handled=token)
    return {"handled": obj["status"]["lastHandledReconcileAt"] == token,
            "reasons": sorted({(t, r) for t, r, _ in case.events("app", "Kustomization")})}


@scenario("flux-ks-target-namespace", "flux")
def flux_ks_target_namespace(case: Case) -> dict[str, Any]:
    """targetNamespace puts namespaced objects into the namespace; the inventory records it."""
    case.side.kubectl("create", "namespace", f"{case.ns}-t")
    obj = _ready_app(case, {"app/cm.yaml": _docs(configmap("c"))}, targetNamespace=f"{case.ns}-t")
    return {"inventory": _inventory(obj), "in-target": case.names("configmaps", f"{case.ns}-t")}


@scenario("flux-ks-crd-and-cr-together", "flux")
def flux_ks_crd_and_cr(case: Case) -> dict[str, Any]:
    """A CRD and a resource of it in one Kustomization: applied in stages (CRD first), so it works."""
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"gadgets.{case.ns}.example.com"},
           "spec": {"group": f"{case.ns}.example.com", "scope": "Namespaced",
                    "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    cr = {"apiVersion": f"{case.ns}.example.com/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": case.ns}}
    obj = _ready_app(case, {"app/crd.yaml": _docs(crd), "app/cr.yaml": _docs(cr)})
    events = case.events("app", "Kustomization")
    case.side.kubectl("delete", "kustomization", "app", "-n", case.ns, "--timeout=60s")
    return {"inventory": _inventory(obj), "events": events}


@scenario("flux-ks-generated-kustomization", "flux")
def flux_ks_generated(case: Case) -> dict[str, Any]:
    """A folder without kustomization.yaml: every manifest in it and in its subfolders is applied."""
    obj = _ready_app(case, {"app/a.yaml": _docs(configmap("a", namespace=case.ns)),
                            "app/sub/b.yaml": _docs(configmap("b", namespace=case.ns)),
                            "app/notes.txt": "not a manifest\n"})
    return {"inventory": _inventory(obj), "configmaps": case.names("configmaps")}


# --- notifications -----------------------------------------------------------------------------------------------

_PROVIDERS = {"generic": {}, "slack": {"channel": "fleet"}, "msteams": {}}


def _payload(body: Any) -> Any:
    """A delivered body with Slack's fields (which Go fills from a map, in its random order) sorted."""
    if isinstance(body, dict):
        return {k: _payload(sorted(v, key=lambda f: str(f.get("title"))) if k == "fields" else v)
                for k, v in body.items()}
    if isinstance(body, list):
        return [_payload(v) for v in body]
    return body


@scenario("notification-payloads", "flux")
def notification_payloads(case: Case) -> dict[str, Any]:
    """A failing Kustomization's Warning event posted by notification-controller to a generic, a Slack and an
    MS Teams Provider, each with an Alert adding eventMetadata: the headers and bodies that arrive."""
    from fleetlib.receiver import Receiver

    with Receiver() as rx:
        version = case.side.api_version("Provider")
        docs: list[dict[str, Any]] = []
        for kind, extra in _PROVIDERS.items():
            docs.append({"apiVersion": version, "kind": "Provider", "metadata": {"name": kind, "namespace": case.ns},
                         "spec": {"type": kind, "address": f"{rx.url}{kind}", **extra}})
            docs.append({"apiVersion": version, "kind": "Alert", "metadata": {"name": kind, "namespace": case.ns},
                         "spec": {"providerRef": {"name": kind}, "eventSeverity": "error",
                                  "eventSources": [{"kind": "Kustomization", "name": "*"}],
                                  "eventMetadata": {"env": "fidelity", "summary": "the fidelity suite"}}})
        case.apply(docs)
        case.commit({"app/cm.yaml": _docs(configmap("c", namespace=case.ns))})
        case.git_source()
        case.wait_ready("GitRepository", "src")
        case.kustomization("app", "./nowhere")
        case.wait_condition("Kustomization", "app", "False")

        def first_posts() -> dict[str, Any] | None:
            received = rx.received
            found = {kind: next((p for p in received if p["path"] == f"/{kind}"), None) for kind in _PROVIDERS}
            return found if all(found.values()) else None

        first = case.wait("one post to each provider", first_posts, timeout=60)
    out: dict[str, Any] = {}
    for kind, post in sorted(first.items()):
        headers = {k.lower(): v for k, v in post["headers"].items()}
        body = _payload(post["body"])
        if kind == "generic":  # the recorder's hostname: a controller pod's name in a cluster
            out["reporting-instance"] = body.pop("reportingInstance", None)
        if kind == "slack":  # notification-controller v1.6 and later add a plain-text fallback
            out["slack-fallback"] = [a.pop("fallback", None) for a in body.get("attachments") or []]
        out[kind] = {"content-type": headers.get("content-type"), "gotk-component": headers.get("gotk-component"),
                     "body": body}
    return out
