"""The mini-Flux on a sandbox cluster: sources fetched with real git, kustomizations built with the real
kustomize and applied, pruned, with Flux's conditions, events and logs."""

from __future__ import annotations

import json

from .conftest import SandboxCluster
from .fluxenv import bootstrapped, wait_for


def ready(obj: dict | None) -> dict | None:
    if not obj:
        return None
    cond = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
    return cond if cond and cond["status"] == "True" else None


def test_bootstrapped_cluster_syncs_applies_and_prunes(cluster: SandboxCluster) -> None:
    flux = bootstrapped(cluster)
    head = flux.head()
    revision = f"main@sha1:{head}"
    repo = wait_for("GitRepository Ready", lambda: (r := flux.get("GitRepository", "flux-system")) and ready(r) and
                    r["status"]["artifact"]["revision"] == revision and r)
    assert ready(repo)["message"] == f"stored artifact for revision '{revision}'"
    assert ready(repo)["reason"] == "Succeeded"
    ks = wait_for("Kustomization Ready", lambda: (k := flux.get("Kustomization", "flux-system")) and ready(k) and k)
    assert ks["status"]["lastAppliedRevision"] == revision == ks["status"]["lastAttemptedRevision"]
    assert ready(ks)["message"] == f"Applied revision: {revision}" and ready(ks)["reason"] == "ReconciliationSucceeded"
    ids = [e["id"] for e in ks["status"]["inventory"]["entries"]]
    assert "flux-system_source-controller_apps_Deployment" in ids and "_flux-system__Namespace" in ids
    for name in ("source-controller", "kustomize-controller", "helm-controller", "notification-controller"):
        d = wait_for(f"{name} ready", lambda n=name: (x := flux.get("Deployment", n)) and
                     (x.get("status") or {}).get("readyReplicas") == 1 and x)
        assert d["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "flux-system"
        assert any(m["manager"] == "kustomize-controller" for m in d["metadata"]["managedFields"])

    app = f"{flux.path.removeprefix('./')}/apps/settings.yaml"
    flux.commit({app: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\n"
                      "data: {color: blue}\n"}, "Add settings")
    flux.request_reconcile("GitRepository", "flux-system")
    cm = wait_for("the new ConfigMap applied", lambda: flux.get("ConfigMap", "settings", "default"))
    assert cm["data"] == {"color": "blue"}
    assert cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == "flux-system"
    flux.commit({app: None}, "Remove settings")
    flux.request_reconcile("GitRepository", "flux-system")
    wait_for("the ConfigMap pruned", lambda: flux.get("ConfigMap", "settings", "default") is None)

    events = cluster.kubectl("get", "events", "-n", "flux-system", "-o", "json")
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in json.loads(events)["items"]}
    assert ("GitRepository", "NewArtifact") in reasons and ("Kustomization", "ReconciliationSucceeded") in reasons
    logs = cluster.kubectl("logs", "-n", "flux-system", "-l", "app=kustomize-controller")
    lines = [json.loads(line) for line in logs.splitlines()]
    assert any(line["msg"].startswith("Reconciliation finished in") and line["controllerKind"] == "Kustomization"
               for line in lines)
    assert any("ConfigMap/default/settings" in (line.get("output") or {}) for line in lines)


def test_seeded_apps_become_ready(cluster: SandboxCluster) -> None:
    from fleetlab.sandbox.seed import seed

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    added = seed(cluster.api, cluster.sandbox.hub, apps=6)
    assert added == {"GitRepository": 18, "HelmRelease": 6, "HelmRepository": 1, "Kustomization": 6}
    wait_for("every app Kustomization ready", lambda: all(ready(flux.get("Kustomization", f"app-{i:04d}"))
                                                         for i in range(6)), timeout=60)
    wait_for("every HelmRelease released", lambda: all(ready(flux.get("HelmRelease", f"app-{i:04d}"))
                                                      for i in range(6)))
    assert flux.get("ConfigMap", "app-0003-settings", "default")["data"]["app"] == "app-0003"
    assert flux.get("Kustomization", "app-0001")["spec"]["dependsOn"] == [{"name": "app-0000"}]
    hr = flux.get("HelmRelease", "app-0002")
    assert ready(hr)["message"].startswith("Helm install succeeded for release default/app-0002.v1 with chart "
                                           "hello@1.0.0")
    deployment = flux.get("Deployment", "app-0002", "default")  # the chart's manifests were applied
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == "app-0002"
    # the flux-system Kustomization owns the seeded objects through Git, as GitOps does
    ks = wait_for("flux-system applied the seed", lambda: (k := flux.get("Kustomization", "flux-system")) and any(
        e["id"] == "flux-system_app-0005_helm.toolkit.fluxcd.io_HelmRelease" for e in k["status"]["inventory"]["entries"])
        and k)
    assert ready(ks)
    # the Kubernetes controllers' events for the chart's Deployment, as kube-controller-manager and the scheduler
    # record them
    default = json.loads(cluster.kubectl("get", "events", "-n", "default", "-o", "json"))["items"]
    reasons = {(e["involvedObject"]["kind"], e["reason"], e["source"]["component"]) for e in default}
    assert {("Deployment", "ScalingReplicaSet", "deployment-controller"),
            ("ReplicaSet", "SuccessfulCreate", "replicaset-controller"),
            ("Pod", "Scheduled", "default-scheduler")} <= reasons


def test_one_controller_set_per_cluster_holds_the_lease(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fleetlab.flux.runtime import FluxSettings, Runtime
    from fleetlab.github.hub import Hub
    from fleetlab.kubernetes.apiserver import ClusterApi
    from fleetlab.kubernetes.store import Store

    api = ClusterApi(Store(tmp_path / "state.db"))
    hub = Hub(tmp_path / "github", token="t")
    first, second = (Runtime(api, hub, FluxSettings(), tmp_path / "a") for _ in range(2))
    assert first.hold_lease() and not second.hold_lease()
    assert first.hold_lease()  # renewal by the holder
    first.release_lease()
    assert second.hold_lease() and not first.hold_lease()


def test_reconcile_request_is_answered(cluster: SandboxCluster) -> None:
    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    flux.request_reconcile("Kustomization", "flux-system")
    asked = flux.get("Kustomization", "flux-system")["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    wait_for("lastHandledReconcileAt", lambda: flux.get("Kustomization", "flux-system")["status"]
             .get("lastHandledReconcileAt") == asked)
    t = next(x for x in cluster.api.registry().types if x.kind == "Kustomization")
    cluster.api.patch(t, "flux-system", "flux-system", "application/merge-patch+json",
                      b'{"spec": {"suspend": true}}', manager="flux")
    flux.request_reconcile("Kustomization", "flux-system")
    again = flux.get("Kustomization", "flux-system")["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    # as kustomize-controller's finalizeStatus: the request is recorded even while suspended (nothing is applied)
    wait_for("the request recorded while suspended", lambda: flux.get("Kustomization", "flux-system")["status"]
             .get("lastHandledReconcileAt") == again)
    assert again != asked


def test_a_kustomization_blocked_on_a_dependency_retries_at_the_real_rate(cluster: SandboxCluster) -> None:
    """kustomize-controller re-checks dependencies every --requeue-dependency (30 s): one info log line and one
    Normal event (counted up by the recorder) each time, no error log, no Warning event."""
    import time

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    t = next(x for x in cluster.api.registry().types if x.kind == "Kustomization")
    body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "blocked", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./", "prune": True, "dependsOn": [{"name": "nowhere"}],
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    cluster.api.create(t, "flux-system", body, manager="test")
    wait_for("DependencyNotReady", lambda: ((flux.get("Kustomization", "blocked") or {}).get("status") or {})
             .get("conditions"))
    speed = cluster.sandbox.settings.speed
    started = time.monotonic()
    time.sleep(max(3.0, 180.0 / speed))  # six requeue intervals of simulated time
    simulated = (time.monotonic() - started) * speed
    items = json.loads(cluster.kubectl("get", "events", "-n", "flux-system", "-o", "json"))["items"]
    mine = [e for e in items if e["involvedObject"]["name"] == "blocked"]
    assert {(e["type"], e["reason"], e["message"]) for e in mine} == {
        ("Normal", "DependencyNotReady", "Dependencies do not meet ready condition, retrying in 30s")}
    count = sum(int(e.get("count") or 1) for e in mine)
    expected = simulated / 30.0
    assert expected - 1.5 <= count <= expected + 2.5, (count, expected)
    logs = [json.loads(line) for line in cluster.kubectl("logs", "-n", "flux-system", "-l",
                                                          "app=kustomize-controller", "--tail=-1").splitlines()]
    lines = [line for line in logs if (line.get("Kustomization") or {}).get("name") == "blocked"]
    assert {line["level"] for line in lines} == {"info"}
    retries = [line for line in lines if line["msg"] == "Dependencies do not meet ready condition, retrying in 30s"]
    assert expected - 1.5 <= len(retries) <= expected + 2.5, (len(retries), expected)


def test_only_due_objects_reconcile_across_polls_and_a_new_lease_holder(cluster: SandboxCluster) -> None:
    """kustomize-controller runs on its interval or a new revision, not on every source poll; a process that takes
    the controllers' lease (a notebook's kernel) reconciles nothing that is not due, as real controllers do not
    start over because someone ran `flux get`."""
    import time

    from fleetlab.flux import ControllerSet
    from fleetlab.sandbox.server import cluster_db

    flux = bootstrapped(cluster)
    wait_for("Kustomization Ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    cluster.kubectl("-n", "flux-system", "patch", "kustomization", "flux-system", "--type", "merge", "-p",
                    '{"spec": {"interval": "1h"}}')
    wait_for("the new generation applied", lambda: (k := flux.get("Kustomization", "flux-system"))
             and k["status"].get("observedGeneration") == k["metadata"]["generation"] and ready(k))

    def finished() -> int:
        logs = cluster.kubectl("logs", "-n", "flux-system", "-l", "app=kustomize-controller", "--tail", "-1")
        return sum(1 for line in logs.splitlines() if '"msg":"Reconciliation ' in line and '"flux-system"' in line)

    before = finished()
    polled = flux.get("GitRepository", "flux-system")["status"]["conditions"][0]["lastTransitionTime"]
    time.sleep(6)  # three GitRepository polls (1m at the tests' 30x clock), the same revision each time
    assert finished() == before
    key = (cluster.id.stage, cluster.id.cluster)
    cluster.sandbox.flux.pop(key).stop()  # this controller set lets go of the lease; another process's takes it
    cluster.sandbox.flux[key] = ControllerSet.start(cluster.api, cluster.sandbox.hub, cluster.sandbox.settings,
                                                    artifacts=cluster_db(cluster.sandbox.home, cluster.id).parent
                                                    / "artifacts")
    wait_for("the new controller set to lead", lambda: cluster.sandbox.flux[key].loop.leader, timeout=30)
    time.sleep(3)
    assert finished() == before  # nothing was due
    assert flux.get("GitRepository", "flux-system")["status"]["conditions"][0]["lastTransitionTime"] == polled
    flux.request_reconcile("Kustomization", "flux-system")
    wait_for("a requested reconcile", lambda: finished() > before)


TENANT = """apiVersion: v1
kind: Namespace
metadata:
  name: "${CLUSTER_NAME}"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: flux-restricted
  namespace: "${CLUSTER_NAME}"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: flux-cluster-admin-${CLUSTER_NAME}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {kind: ServiceAccount, name: flux-restricted, namespace: "${CLUSTER_NAME}"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: "${CLUSTER_NAME}"
data:
  region: ${REGION:=eu-west-1}
  tier: ${TIER^^}
  kept: $${CLUSTER_NAME}
  unset: "[${NOT_SET}]"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: verbatim
  namespace: staging
  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
data:
  text: ${CLUSTER_NAME}
"""
"""The pattern of fluxcd/flux2-hub-spoke-example's deploy/tenants (a namespace, service account and binding named
by the cluster through `postBuild.substitute`), with the other expressions kustomize-controller documents."""


def _postbuild(flux, name: str, post: dict) -> dict:  # type: ignore[no-untyped-def]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./tenants", "prune": True, "postBuild": post,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}


def test_post_build_substitution_as_kustomize_controller_does_it(cluster: SandboxCluster) -> None:
    from .fluxenv import apply

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    flux.commit({"tenants/tenant.yaml": TENANT}, "Add the tenant")  # outside the folder flux-system applies
    flux.request_reconcile("GitRepository", "flux-system")
    apply(cluster, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-vars",
                                                                           "namespace": "flux-system"},
                     "data": {"TIER": "gold", "CLUSTER_NAME": "overridden-below"}},
                    _postbuild(flux, "tenants", {"substitute": {"CLUSTER_NAME": "staging"},
                                                 "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"},
                                                                    {"kind": "Secret", "name": "absent",
                                                                     "optional": True}]})])
    ks = wait_for("tenants ready", lambda: (k := flux.get("Kustomization", "tenants")) and ready(k) and k, timeout=60)
    assert flux.get("Namespace", "staging", None) and flux.get("ServiceAccount", "flux-restricted", "staging")
    binding = flux.get("ClusterRoleBinding", "flux-cluster-admin-staging", None)
    assert binding["subjects"][0]["namespace"] == "staging"
    assert flux.get("ConfigMap", "settings", "staging")["data"] == {
        "region": "eu-west-1", "tier": "GOLD", "kept": "${CLUSTER_NAME}", "unset": "[]"}
    assert flux.get("ConfigMap", "verbatim", "staging")["data"] == {"text": "${CLUSTER_NAME}"}
    assert ks["status"]["inventory"]["entries"]

    apply(cluster, [_postbuild(flux, "broken", {"substituteFrom": [{"kind": "ConfigMap", "name": "missing"}]})])
    failed = wait_for("broken fails", lambda: (k := flux.get("Kustomization", "broken")) and next(
        (c for c in k.get("status", {}).get("conditions", []) if c["type"] == "Ready" and c["status"] == "False"),
        None), timeout=60)
    assert failed["reason"] == "BuildFailed"
    assert failed["message"] == ("post build failed for 'Namespace.v1.[noGrp]/${CLUSTER_NAME}': substitute from "
                                 "'ConfigMap/missing' error: configmaps \"missing\" not found")


def test_a_kustomization_with_a_kubeconfig_applies_to_the_cluster_it_names(sandbox, cluster: SandboxCluster,
                                                                          tmp_path) -> None:  # type: ignore[no-untyped-def]
    """spec.kubeConfig.secretRef: the objects go to the remote cluster (another sandbox cluster), none to the one
    running Flux; a missing Secret, or a Secret without the key, fails as kustomize-controller words it."""
    import base64

    import yaml

    from .conftest import new_cluster
    from .fluxenv import apply

    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: ready(flux.get("Kustomization", "flux-system")))
    spoke = new_cluster(sandbox, "spoke", tmp_path / "spoke")
    config = yaml.safe_dump(sandbox.kubeconfig([spoke.id]))
    flux.commit({"remote/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-hub\n  namespace: default\n"
                                   "data: {a: '1'}\n"}, "remote app")
    flux.request_reconcile("GitRepository", "flux-system")

    def ks(name: str, ref: dict) -> dict:  # type: ignore[type-arg]
        return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": "flux-system"},
                "spec": {"interval": "10m", "path": "./remote", "prune": True, "kubeConfig": {"secretRef": ref},
                         "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}

    apply(cluster, [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "spoke", "namespace": "flux-system"},
                     "data": {"value": base64.b64encode(config.encode()).decode()}},
                    ks("to-spoke", {"name": "spoke"}), ks("no-secret", {"name": "absent"}),
                    ks("no-key", {"name": "spoke", "key": "other"})])
    wait_for("applied to the spoke", lambda: ready(flux.get("Kustomization", "to-spoke")), timeout=60)
    core = spoke.api.registry().lookup("", "v1", "configmaps")
    assert spoke.api.get(core, "default", "from-hub")["data"] == {"a": "1"}
    assert flux.get("ConfigMap", "from-hub", "default") is None

    def failed(name: str) -> str:
        obj = wait_for(f"{name} fails", lambda: (k := flux.get("Kustomization", name)) and any(
            c["type"] == "Ready" and c["status"] == "False" for c in k.get("status", {}).get("conditions", [])) and k,
            timeout=60)
        return next(c["message"] for c in obj["status"]["conditions"] if c["type"] == "Ready")

    assert failed("no-secret") == "unable to read KubeConfig secret 'flux-system/absent' error: secrets \"absent\" " \
                                  "not found"
    assert failed("no-key") == "KubeConfig secret 'flux-system/spoke' does not contain a 'other' key with a kubeconfig"
