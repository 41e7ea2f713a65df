"""Scenarios of Helm and OCI sources: charts published to the fleet's Helm repository (charts.fleet.internal)
and OCI registry (registry.fleet.internal), installed by HelmReleases, and an OCIRepository applied by a
Kustomization. Both sides read the same artifact store (FLEET_HOME/sandbox/artifacts).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from fleetlab.charts.artifacts import CHARTS_URL, REGISTRY_HOST, ArtifactStore
from fleetlab.fidelity.harness import Case, conditions
from fleetlab.fidelity.scenarios_flux import _docs, _flux
from fleetlab.fidelity.scenarios_kube import configmap
from fleetlab.fidelity.suite import scenario
from fleetlib.objects import status_of

HELLO_TEMPLATES = {
    "configmap.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
                       "  labels:\n    app.kubernetes.io/name: {{ .Chart.Name }}\ndata:\n"
                       "  greeting: {{ .Values.greeting | quote }}\n  version: {{ .Chart.Version | quote }}\n"),
    "deployment.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
                        "  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n"
                        "      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n"
                        "        app: {{ .Release.Name }}\n    spec:\n      containers:\n        - name: main\n"
                        "          image: {{ .Values.image }}\n"),
}


def write_chart(root: Path, name: str, version: str, templates: dict[str, str], values: dict[str, Any]) -> Path:
    folder = root / f"{name}-{version}"
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                       "appVersion": version, "description": f"{name} for tests"}))
    (folder / "values.yaml").write_text(yaml.safe_dump(values))
    for filename, text in templates.items():
        (folder / "templates" / filename).write_text(text)
    return folder


def publish_hello(case: Case, *, name: str = "hello", versions: tuple[str, ...] = ("0.1.0", "0.1.1", "0.2.0"),
                  templates: dict[str, str] | None = None) -> ArtifactStore:
    """The test charts in the shared Helm repository (publishing is idempotent, so both sides may do it)."""
    store = ArtifactStore(case.side.home)
    with tempfile.TemporaryDirectory() as tmp:
        for version in versions:
            store.publish_chart(write_chart(Path(tmp), name, version, templates or HELLO_TEMPLATES,
                                            {"greeting": "hello", "replicas": 1, "image": "nginx:1.27"}))
    return store


def helm_repository(case: Case, name: str = "charts", url: str = CHARTS_URL) -> dict[str, Any]:
    return {"apiVersion": case.side.api_version("HelmRepository"), "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": case.ns}, "spec": {"interval": "10m", "url": url}}


def helm_release(case: Case, name: str, chart: str, version: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": case.side.api_version("HelmRelease"), "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": case.ns},
            "spec": {"interval": "10m", "timeout": "1m",
                     "chart": {"spec": {"chart": chart, "version": version,
                                        "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}, **spec}}


def _release(case: Case, name: str) -> dict[str, Any]:
    """What a user reads of a HelmRelease: conditions, history, the chart and release objects it left."""
    obj = case.get("HelmRelease", name) or {}
    status = obj.get("status") or {}
    history = [{k: h.get(k) for k in ("chartName", "chartVersion", "appVersion", "version", "status", "name",
                                      "namespace")} for h in status.get("history") or []]
    secrets = case.side.kubectl("get", "secrets", "-n", case.ns, "-l", "owner=helm", "-o",
                                "custom-columns=NAME:.metadata.name,TYPE:.type,STATUS:.metadata.labels.status",
                                "--no-headers").out.split("\n")
    return {"conditions": conditions(obj), "history": history,
            "fields": {k: status.get(k) for k in ("lastAttemptedRevision", "helmChart", "storageNamespace",
                                                  "installFailures", "upgradeFailures", "observedGeneration")
                       if k in status},
            "release-secrets": sorted(" ".join(line.split()) for line in secrets if line.strip())}


@scenario("helm-repository-ready", "helm")
def helm_repository_ready(case: Case) -> dict[str, Any]:
    """A HelmRepository on the fleet's chart repository: Ready, its artifact, its events."""
    publish_hello(case)
    case.apply([helm_repository(case)])
    case.wait_ready("HelmRepository", "charts")
    obj = case.get("HelmRepository", "charts")
    return {"repo": _flux(case, "HelmRepository", "charts"), "events": case.events("charts", "HelmRepository"),
            "url": (obj or {}).get("status", {}).get("url")}


@scenario("helm-repository-offline", "helm")
def helm_repository_offline(case: Case) -> dict[str, Any]:
    """A HelmRepository on a host that cannot be reached from here: how it fails."""
    case.apply([helm_repository(case, url="http://charts.example.com/")])
    case.wait_condition("HelmRepository", "charts", "False")
    return {"repo": _flux(case, "HelmRepository", "charts"),
            "warnings": sorted({(t, r) for t, r, _ in case.events("charts", "HelmRepository")})}


@scenario("helm-release-install", "helm")
def helm_release_install(case: Case) -> dict[str, Any]:
    """A HelmRelease on a SemVer range: the HelmChart, the release, its objects, its Secret, its events."""
    publish_hello(case)
    case.apply([helm_repository(case), helm_release(case, "web", "hello", "0.1.x",
                                                    values={"greeting": "hi"})])
    case.wait_ready("HelmRelease", "web", timeout=150)
    chart = case.get("HelmChart", f"{case.ns}-web")
    cm = case.json("get", "cm", "web-settings", "-n", case.ns)
    return {"release": _release(case, "web"), "chart": conditions(chart),
            "chart-artifact": status_of(chart).get("artifact", {}).get("revision"),
            "chart-spec": (chart or {}).get("spec"), "configmap": cm.get("data"),
            "labels": cm["metadata"].get("labels"), "annotations": cm["metadata"].get("annotations"),
            "events": sorted(set(case.events("web", "HelmRelease"))),
            "deployment": case.names("deployments")}


@scenario("helm-release-upgrade", "helm")
def helm_release_upgrade(case: Case) -> dict[str, Any]:
    """New values upgrade the release: v2, the first release superseded."""
    publish_hello(case)
    case.apply([helm_repository(case), helm_release(case, "web", "hello", "0.1.0")])
    case.wait_ready("HelmRelease", "web", timeout=150)
    case.apply([helm_release(case, "web", "hello", "0.1.0", values={"greeting": "changed"})])
    case.wait("the upgrade", lambda: len(status_of(case.get("HelmRelease", "web"))
                                          .get("history") or []) >= 2, timeout=150)
    case.wait_ready("HelmRelease", "web", timeout=150)
    return {"release": _release(case, "web"),
            "configmap": case.json("get", "cm", "web-settings", "-n", case.ns).get("data")}


@scenario("helm-chart-missing", "helm")
def helm_chart_missing(case: Case) -> dict[str, Any]:
    """A HelmRelease for a chart the repository does not have, and one for a version it does not have."""
    publish_hello(case)
    case.apply([helm_repository(case), helm_release(case, "nochart", "no-such-chart", "1.0.0"),
                helm_release(case, "noversion", "hello", "9.x")])
    case.wait("the HelmCharts to fail", lambda: all(
        any(c[0] == "Ready" and c[1] == "False" for c in conditions(case.get("HelmChart", f"{case.ns}-{n}")))
        for n in ("nochart", "noversion")), timeout=120)
    return {name: {"chart": conditions(case.get("HelmChart", f"{case.ns}-{name}")),
                   "release": conditions(case.get("HelmRelease", name))} for name in ("nochart", "noversion")}


@scenario("helm-release-install-fails", "helm")
def helm_release_install_fails(case: Case) -> dict[str, Any]:
    """A chart whose manifest the API server refuses: install fails, retries run out, the release is Stalled."""
    bad = {"deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
                              "spec:\n  template:\n    spec:\n      containers:\n        - name: main\n"
                              "          image: nginx\n"}
    publish_hello(case, name="unappliable", versions=("1.0.0",), templates=bad)
    case.apply([helm_repository(case), helm_release(case, "bad", "unappliable", "1.0.0",
                                                    install={"remediation": {"retries": 1}})])
    case.wait_condition("HelmRelease", "bad", "True", type_="Stalled", timeout=180)
    return {"release": _release(case, "bad"),
            "warnings": sorted({(t, r) for t, r, _ in case.events("bad", "HelmRelease") if t == "Warning"})}


@scenario("helm-release-uninstall", "helm")
def helm_release_uninstall(case: Case) -> dict[str, Any]:
    """Deleting a HelmRelease uninstalls the release: its objects, its Secret and its HelmChart go."""
    publish_hello(case)
    case.apply([helm_repository(case), helm_release(case, "web", "hello", "0.1.0")])
    case.wait_ready("HelmRelease", "web", timeout=150)
    case.side.kubectl("delete", "helmrelease", "web", "-n", case.ns, "--timeout=90s")
    case.wait("the release objects to go", lambda: not case.names("configmaps") or
              case.names("configmaps") == ["configmap/kube-root-ca.crt"], timeout=90)
    return {"configmaps": case.names("configmaps"), "secrets": case.names("secrets"),
            "helmcharts": case.names("helmcharts.source.toolkit.fluxcd.io")}


@scenario("oci-repository-kustomization", "helm")
def oci_repository_kustomization(case: Case) -> dict[str, Any]:
    """An OCIRepository of manifests pushed as `flux push artifact` does, applied by a Kustomization."""
    store = ArtifactStore(case.side.home)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "app"
        folder.mkdir()
        (folder / "cm.yaml").write_text(_docs(configmap("from-oci", namespace=case.ns)))
        store.push_artifact(folder, "fleet/fidelity-app", "v1", source="https://github.com/fleet/app",
                            revision="main@sha1:0123456789abcdef0123456789abcdef01234567")
    case.apply([{"apiVersion": case.side.api_version("OCIRepository"), "kind": "OCIRepository",
                 "metadata": {"name": "app", "namespace": case.ns},
                 "spec": {"interval": "10m", "url": f"oci://{REGISTRY_HOST}/fleet/fidelity-app", "insecure": True,
                          "ref": {"tag": "v1"}}},
                {**case.kustomization_object("app", "./"),
                 "spec": {**case.kustomization_object("app", "./")["spec"],
                          "sourceRef": {"kind": "OCIRepository", "name": "app"}}}])
    case.wait_ready("OCIRepository", "app")
    case.wait_ready("Kustomization", "app")
    return {"source": _flux(case, "OCIRepository", "app"), "ks": _flux(case, "Kustomization", "app"),
            "events": case.events("app", "OCIRepository"), "configmaps": case.names("configmaps")}


@scenario("helm-release-chartref-oci", "helm")
def helm_release_chartref_oci(case: Case) -> dict[str, Any]:
    """A chart pushed to the OCI registry as `helm push` does, installed through `chartRef` to an OCIRepository."""
    store = ArtifactStore(case.side.home)
    with tempfile.TemporaryDirectory() as tmp:
        store.push_chart(write_chart(Path(tmp), "hello", "0.3.0", HELLO_TEMPLATES,
                                     {"greeting": "oci", "replicas": 1, "image": "nginx:1.27"}), "charts/hello")
    case.apply([{"apiVersion": case.side.api_version("OCIRepository"), "kind": "OCIRepository",
                 "metadata": {"name": "hello", "namespace": case.ns},
                 "spec": {"interval": "10m", "url": f"oci://{REGISTRY_HOST}/charts/hello", "insecure": True,
                          "ref": {"tag": "0.3.0"},
                          "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                            "operation": "copy"}}},
                {"apiVersion": case.side.api_version("HelmRelease"), "kind": "HelmRelease",
                 "metadata": {"name": "web", "namespace": case.ns},
                 "spec": {"interval": "10m", "timeout": "1m",
                          "chartRef": {"kind": "OCIRepository", "name": "hello"}}}])
    case.wait_ready("OCIRepository", "hello")
    case.wait_ready("HelmRelease", "web", timeout=150)
    return {"source": _flux(case, "OCIRepository", "hello"), "release": _release(case, "web"),
            "helmcharts": case.names("helmcharts.source.toolkit.fluxcd.io"),
            "configmap": case.json("get", "cm", "web-settings", "-n", case.ns).get("data")}


@scenario("helm-layered-repository", "helm")
def helm_layered_repository(case: Case) -> dict[str, Any]:
    """The typical layout: controllers installed by HelmReleases (their chart ships a CRD), configs needing that
    CRD depend on them, apps depend on both; all Ready in order, then a Kustomization removed from Git is pruned."""
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
           "  name: widgets.{{ .Release.Namespace }}.fleet.example\nspec:\n"
           "  group: {{ .Release.Namespace }}.fleet.example\n  scope: Namespaced\n  names:\n    plural: widgets\n"
           "    singular: widget\n    kind: Widget\n    listKind: WidgetList\n  versions:\n    - name: v1\n"
           "      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n"
           "          x-kubernetes-preserve-unknown-fields: true\n")
    publish_hello(case, name="widget-operator", versions=("1.0.0",),
                  templates={"crd.yaml": crd, "deployment.yaml": HELLO_TEMPLATES["deployment.yaml"]})
    group = f"{case.ns}.fleet.example"
    case.commit({
        "infrastructure/controllers/repo.yaml": _docs(helm_repository(case)),
        "infrastructure/controllers/release.yaml": _docs(helm_release(case, "widgets", "widget-operator", "1.x")),
        "infrastructure/configs/widget.yaml": _docs({"apiVersion": f"{group}/v1", "kind": "Widget",
                                                     "metadata": {"name": "default", "namespace": case.ns}}),
        "apps/cm.yaml": _docs(configmap("app", namespace=case.ns)),
        "clusters/infra.yaml": _docs(case.kustomization_object("infra-controllers", "./infrastructure/controllers",
                                                               wait=True, timeout="3m")),
        "clusters/configs.yaml": _docs(case.kustomization_object("infra-configs", "./infrastructure/configs",
                                                                 dependsOn=[{"name": "infra-controllers"}])),
        "clusters/apps.yaml": _docs(case.kustomization_object("apps", "./apps", dependsOn=[
            {"name": "infra-controllers"}, {"name": "infra-configs"}])),
    })
    case.git_source()
    case.kustomization("cluster", "./clusters")
    for name in ("cluster", "infra-controllers", "infra-configs", "apps"):
        case.wait_ready("Kustomization", name, timeout=240)
    ready = {name: _flux(case, "Kustomization", name)["conditions"] for name in ("infra-configs", "apps")}
    case.commit({"clusters/apps.yaml": None})
    case.reconcile("GitRepository", "src")
    case.wait("apps to be pruned", lambda: case.get("Kustomization", "apps") is None
              and "configmap/app" not in case.names("configmaps"), timeout=120)
    return {"ready": ready, "widgets": case.names(f"widgets.{group}"),
            "release": conditions(case.get("HelmRelease", "widgets"))}


@scenario("helm-release-depends-on", "helm")
def helm_release_depends_on(case: Case) -> dict[str, Any]:
    """spec.dependsOn between HelmReleases: one on a release that does not exist waits (DependencyNotReady, its
    event); one on a release that becomes Ready installs after it."""
    publish_hello(case)
    case.apply([helm_repository(case),
                helm_release(case, "orphan", "hello", "0.1.0", dependsOn=[{"name": "nowhere"}])])
    case.wait_condition("HelmRelease", "orphan", "False", reason="DependencyNotReady")
    case.apply([helm_release(case, "db", "hello", "0.1.0"),
                helm_release(case, "web", "hello", "0.1.0", dependsOn=[{"name": "db"}])])
    case.wait_ready("HelmRelease", "db", timeout=150)
    case.wait_ready("HelmRelease", "web", timeout=150)
    return {"orphan": conditions(case.get("HelmRelease", "orphan")),
            "orphan-events": sorted(set(case.events("orphan", "HelmRelease"))),
            "web": _release(case, "web")["conditions"]}


@scenario("helm-release-repository-offline", "helm")
def helm_release_repository_offline(case: Case) -> dict[str, Any]:
    """A HelmRelease whose HelmRepository cannot be fetched: what its HelmChart and the release say (the chart has
    no source artifact to build from)."""
    case.apply([helm_repository(case, url="http://charts.example.com/"), helm_release(case, "web", "hello", "0.1.0")])
    case.wait_condition("HelmRepository", "charts", "False")
    case.wait_condition("HelmChart", f"{case.ns}-web", "False")
    case.wait_condition("HelmRelease", "web", "False")
    return {"chart": conditions(case.get("HelmChart", f"{case.ns}-web")),
            "release": conditions(case.get("HelmRelease", "web")),
            "chart-events": sorted({(t, r) for t, r, _ in case.events(f"{case.ns}-web", "HelmChart")})}


@scenario("helm-repository-offline-https", "helm")
def helm_repository_offline_https(case: Case) -> dict[str, Any]:
    """A HelmRepository on an HTTPS host the proxy will not reach: Go's net/http words the refused CONNECT."""
    case.apply([helm_repository(case, url="https://charts.example.com/")])
    case.wait_condition("HelmRepository", "charts", "False")
    return {"repo": _flux(case, "HelmRepository", "charts")}


def _tenant_account(case: Case) -> None:
    case.apply([{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "dev-team", "namespace": case.ns}},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "gotk-reconciler", "namespace": case.ns},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                 "subjects": [{"kind": "ServiceAccount", "name": "dev-team", "namespace": case.ns}]}])


@scenario("helm-release-tenant", "helm")
def helm_release_tenant(case: Case) -> dict[str, Any]:
    """A tenant's HelmRelease (serviceAccountName: dev-team, cluster-admin in its namespace only) installs."""
    publish_hello(case)
    _tenant_account(case)
    case.apply([helm_repository(case), helm_release(case, "web", "hello", "0.1.0", serviceAccountName="dev-team")])
    case.wait_ready("HelmRelease", "web", timeout=150)
    return {"release": _release(case, "web")}


@scenario("helm-release-tenant-refused", "helm")
def helm_release_tenant_refused(case: Case) -> dict[str, Any]:
    """A HelmRelease acting as a service account with no binding: Helm's first request is refused."""
    publish_hello(case)
    case.apply([helm_repository(case), helm_release(case, "web", "hello", "0.1.0", serviceAccountName="nobody")])
    case.wait_condition("HelmRelease", "web", "False", reason="StateError", timeout=150)
    return {"release": _release(case, "web"),
            "events": sorted({(t, r) for t, r, _ in case.events("web", "HelmRelease")})}
