"""The Flux release's install manifests, generated from the documented facts of each release.

A live bootstrap downloads `install.yaml` from the fluxcd/flux2 GitHub release; the sandbox GitHub
serves this instead, so bootstrap has one code path. The objects, names, labels and controller
settings are those of the real release (namespace with its labels, a CRD per Flux kind with open
schemas and printer columns (fleetlab.release.schemas), service accounts, RBAC, controller Deployments
with images, args, ports, probes, resources and security context, services, network policies, the
critical-pods quota).

    text = install_yaml("v2.5.1")            # multi-document YAML, every component
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import yaml

from fleetlab.release import built
from fleetlab.release.schemas import version_entry
from fleetlab.versions import RELEASES

NAMESPACE = "flux-system"
COMMON_LABELS = {"app.kubernetes.io/instance": NAMESPACE, "app.kubernetes.io/part-of": "flux"}
EVENTS_ADDR = f"--events-addr=http://notification-controller.{NAMESPACE}.svc.cluster.local./"
BASE_ARGS = ["--watch-all-namespaces", "--log-level=info", "--log-encoding=json", "--enable-leader-election"]

@dataclass(frozen=True)
class Crd:
    component: str
    group: str
    kind: str
    plural: str
    short_names: tuple[str, ...]
    versions: tuple[tuple[str, bool], ...]
    """(version, deprecated); the last listed is the storage version when `storage` is None."""
    storage: str
    status_on_storage: bool = True


_S, _K, _H, _N = "source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", \
    "notification.toolkit.fluxcd.io"
_I = "image.toolkit.fluxcd.io"
_V1 = (("v1", False), ("v1beta1", True), ("v1beta2", True))

CRDS: tuple[Crd, ...] = (
    Crd("notification-controller", _N, "Alert", "alerts", (), (("v1beta1", True), ("v1beta2", True), ("v1beta3", False)),
        "v1beta3", status_on_storage=False),
    Crd("source-controller", _S, "Bucket", "buckets", (), _V1, "v1"),
    Crd("source-controller", _S, "GitRepository", "gitrepositories", ("gitrepo",), _V1, "v1"),
    Crd("source-controller", _S, "HelmChart", "helmcharts", ("hc",), _V1, "v1"),
    Crd("helm-controller", _H, "HelmRelease", "helmreleases", ("hr",),
        (("v2", False), ("v2beta1", True), ("v2beta2", True)), "v2"),
    Crd("source-controller", _S, "HelmRepository", "helmrepositories", ("helmrepo",), _V1, "v1"),
    Crd("image-reflector-controller", _I, "ImagePolicy", "imagepolicies", ("imgpol",),
        (("v1beta1", True), ("v1beta2", False)), "v1beta2"),
    Crd("image-reflector-controller", _I, "ImageRepository", "imagerepositories", ("imgrepo",),
        (("v1beta1", True), ("v1beta2", False)), "v1beta2"),
    Crd("image-automation-controller", _I, "ImageUpdateAutomation", "imageupdateautomations", ("iua",),
        (("v1beta1", True), ("v1beta2", False)), "v1beta2"),
    Crd("kustomize-controller", _K, "Kustomization", "kustomizations", ("ks",), _V1, "v1"),
    Crd("source-controller", _S, "OCIRepository", "ocirepositories", ("ocirepo",), (("v1beta2", False),), "v1beta2"),
    Crd("notification-controller", _N, "Provider", "providers", (), (("v1beta1", True), ("v1beta2", True),
        ("v1beta3", False)), "v1beta3", status_on_storage=False),
    Crd("notification-controller", _N, "Receiver", "receivers", (), _V1, "v1"),
)


CRD_CHANGES: dict[str, dict[str, tuple[tuple[tuple[str, bool], ...], str]]] = {
    "v2.6.4": {"OCIRepository": ((("v1", False), ("v1beta2", True)), "v1")},
}
"""Per later release, the kinds whose (version, deprecated) list and storage version differ from CRDS (v2.5.1's):
Flux v2.6's source-controller v1.6.2 (config/crd/bases) serves OCIRepository v1, stored, beside a deprecated
v1beta2; its other CRDs, and kustomize-controller v1.6.1's, helm-controller v1.3.0's and notification-controller
v1.6.0's, list the versions v2.5.1's do."""


def crds_of(version: str) -> tuple[Crd, ...]:
    """The CRDs of a written release."""
    changes = CRD_CHANGES.get(version, {})
    return tuple(replace(c, versions=changes[c.kind][0], storage=changes[c.kind][1]) if c.kind in changes else c
                 for c in CRDS)


@dataclass(frozen=True)
class Controller:
    name: str
    ports: tuple[tuple[str, int], ...]
    readiness: tuple[str, str]
    grace: int
    cpu_request: str = "100m"
    events: bool = True
    critical: bool = True
    extra_args: tuple[str, ...] = ()
    volumes: tuple[tuple[str, str], ...] = (("temp", "/tmp"),)
    extra_env: tuple[tuple[str, str], ...] = ()
    recreate: bool = False


CONTROLLERS: tuple[Controller, ...] = (
    Controller("helm-controller", (("http-prom", 8080), ("healthz", 9440)), ("/readyz", "healthz"), 600),
    Controller("image-automation-controller", (("http-prom", 8080), ("healthz", 9440)), ("/readyz", "healthz"), 10,
               critical=False),
    Controller("image-reflector-controller", (("http-prom", 8080), ("healthz", 9440)), ("/readyz", "healthz"), 10,
               critical=False, volumes=(("temp", "/tmp"), ("data", "/data"))),
    Controller("kustomize-controller", (("http-prom", 8080), ("healthz", 9440)), ("/readyz", "healthz"), 60),
    Controller("notification-controller", (("http", 9090), ("http-webhook", 9292), ("http-prom", 8080),
                                           ("healthz", 9440)), ("/readyz", "healthz"), 10, events=False, critical=False),
    Controller("source-controller", (("http", 9090), ("http-prom", 8080), ("healthz", 9440)), ("/", "http"), 10,
               cpu_request="50m",
               extra_args=("--storage-path=/data",
                           "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."),
               volumes=(("data", "/data"), ("tmp", "/tmp")), extra_env=(("TUF_ROOT", "/tmp/.sigstore"),),
               recreate=True),
)
COMPONENTS = tuple(c.name for c in CONTROLLERS)


def supported_versions() -> list[str]:
    return sorted(RELEASES)


def _labels(component: str | None = None, **extra: str) -> dict[str, str]:
    out = {"app.kubernetes.io/component": component} if component else {}
    return {**out, **COMMON_LABELS, **extra}


def _crd(c: Crd) -> dict[str, Any]:
    versions = []
    for name, deprecated in c.versions:
        schema, columns = version_entry(c.kind, name)
        v: dict[str, Any] = {"name": name, "served": True, "storage": name == c.storage,
                             "schema": {"openAPIV3Schema": schema}}
        if columns:
            v["additionalPrinterColumns"] = columns
        if deprecated:
            v["deprecated"] = True
        if name != c.storage or c.status_on_storage:
            v["subresources"] = {"status": {}}
        versions.append(v)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"annotations": {"controller-gen.kubebuilder.io/version": "v0.16.1"},
                         "labels": _labels(c.component), "name": f"{c.plural}.{c.group}"},
            "spec": {"group": c.group,
                     "names": {"kind": c.kind, "listKind": f"{c.kind}List", "plural": c.plural,
                               "singular": c.kind.lower(), **({"shortNames": list(c.short_names)} if c.short_names
                                                              else {})},
                     "scope": "Namespaced", "versions": versions}}


def _deployment(c: Controller, version: str) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "RUNTIME_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    env += [{"name": k, "value": v} for k, v in c.extra_env]
    env += [{"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"containerName": "manager", "resource": "limits.cpu"}}},
            {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "manager",
                                                                      "resource": "limits.memory"}}}]
    container = {
        "args": ([EVENTS_ADDR] if c.events else []) + BASE_ARGS + list(c.extra_args),
        "env": env,
        "image": f"ghcr.io/fluxcd/{c.name}:{version}",
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"}},
        "name": "manager",
        "ports": [{"containerPort": port, "name": name, "protocol": "TCP"} for name, port in c.ports],
        "readinessProbe": {"httpGet": {"path": c.readiness[0], "port": c.readiness[1]}},
        "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}, "requests": {"cpu": c.cpu_request, "memory": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"mountPath": path, "name": name} for name, path in c.volumes],
    }
    pod: dict[str, Any] = {"containers": [container]}
    if c.critical:
        pod["priorityClassName"] = "system-cluster-critical"
    pod.update({"securityContext": {"fsGroup": 1337}, "serviceAccountName": c.name,
                "terminationGracePeriodSeconds": c.grace,
                "volumes": [{"emptyDir": {}, "name": name} for name, _ in c.volumes]})
    spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": {"app": c.name}}}
    if c.recreate:
        spec["strategy"] = {"type": "Recreate"}
    spec["template"] = {"metadata": {"annotations": {"prometheus.io/port": "8080", "prometheus.io/scrape": "true"},
                                     "labels": {"app": c.name}}, "spec": pod}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"labels": _labels(c.name, **{"control-plane": "controller"}), "name": c.name,
                         "namespace": NAMESPACE}, "spec": spec}


def _service(name: str, component: str, target: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"labels": _labels(component, **{"control-plane": "controller"}), "name": name,
                         "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": target}],
                     "selector": {"app": component}, "type": "ClusterIP"}}


def _rbac() -> list[dict[str, Any]]:
    flux_groups = [_N, _S, _H, _I, _K]
    star = [{"apiGroups": [g], "resources": ["*"], "verbs": ["*"]} for g in (_S, _K, _H, _N, _I)]
    crd_controller = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                      "metadata": {"labels": _labels(), "name": "crd-controller"},
                      "rules": star + [
                          {"apiGroups": [""], "resources": ["namespaces", "secrets", "configmaps", "serviceaccounts"],
                           "verbs": ["get", "list", "watch"]},
                          {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
                          {"apiGroups": [""], "resources": ["configmaps"],
                           "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                          {"apiGroups": [""], "resources": ["configmaps/status"], "verbs": ["get", "update", "patch"]},
                          {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                           "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                          {"nonResourceURLs": ["/livez/ping"], "verbs": ["head"]}]}
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    edit = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"labels": _labels(**{agg + "admin": "true", agg + "edit": "true"}), "name": "flux-edit"},
            "rules": [{"apiGroups": flux_groups, "resources": ["*"],
                       "verbs": ["create", "delete", "deletecollection", "patch", "update"]}]}
    view = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"labels": _labels(**{agg + "admin": "true", agg + "edit": "true", agg + "view": "true"}),
                         "name": "flux-view"},
            "rules": [{"apiGroups": flux_groups, "resources": ["*"], "verbs": ["get", "list", "watch"]}]}

    def sa(name: str) -> dict[str, str]:
        return {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}

    reconciler = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                  "metadata": {"labels": _labels(), "name": "cluster-reconciler"},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                  "subjects": [sa("kustomize-controller"), sa("helm-controller")]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"labels": _labels(), "name": "crd-controller"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "crd-controller"},
               "subjects": [sa(n) for n in ("kustomize-controller", "helm-controller", "source-controller",
                                            "notification-controller", "image-reflector-controller",
                                            "image-automation-controller")]}
    return [crd_controller, edit, view, reconciler, binding]


def _network_policies() -> list[dict[str, Any]]:
    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"labels": _labels(), "name": name, "namespace": NAMESPACE}, "spec": spec}

    return [
        policy("allow-egress", {"egress": [{}], "ingress": [{"from": [{"podSelector": {}}]}], "podSelector": {},
                                "policyTypes": ["Ingress", "Egress"]}),
        policy("allow-scraping", {"ingress": [{"from": [{"namespaceSelector": {}}],
                                               "ports": [{"port": 8080, "protocol": "TCP"}]}],
                                  "podSelector": {}, "policyTypes": ["Ingress"]}),
        policy("allow-webhooks", {"ingress": [{"from": [{"namespaceSelector": {}}]}],
                                  "podSelector": {"matchLabels": {"app": "notification-controller"}},
                                  "policyTypes": ["Ingress"]}),
    ]


def install_objects(version: str, *, controllers: dict[str, str] | None = None,
                    crds: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every object of the release, in the order kustomize emits them. Another release can be assembled from
    its controllers' versions and its CRDs (the local stack passes the CRDs of the modules it built)."""
    if controllers is None and version not in RELEASES:
        raise KeyError(version)
    versions = controllers if controllers is not None else RELEASES[version]
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"labels": _labels(**{"pod-security.kubernetes.io/warn": "restricted",
                                                   "pod-security.kubernetes.io/warn-version": "latest"}),
                              "name": NAMESPACE}}
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"labels": _labels(), "name": "critical-pods", "namespace": NAMESPACE},
             "spec": {"hard": {"pods": "1000"}, "scopeSelector": {"matchExpressions": [
                 {"operator": "In", "scopeName": "PriorityClass",
                  "values": ["system-node-critical", "system-cluster-critical"]}]}}}
    accounts = [{"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"labels": _labels(c.name), "name": c.name, "namespace": NAMESPACE}} for c in CONTROLLERS]
    services = [_service("notification-controller", "notification-controller", "http"),
                _service("source-controller", "source-controller", "http"),
                _service("webhook-receiver", "notification-controller", "http-webhook")]
    deployments = [_deployment(c, versions[c.name]) for c in CONTROLLERS if c.name in versions]
    definitions = crds if crds is not None else [_crd(c) for c in crds_of(version)]
    return [namespace, quota, *definitions, *accounts, *_rbac(), *services, *deployments, *_network_policies()]


def crd_labels(component: str) -> dict[str, str]:
    """The labels the release's kustomization puts on a component's CRDs."""
    return _labels(component)


def install_yaml(version: str) -> str:
    return "".join("---\n" + yaml.safe_dump(obj, sort_keys=False) for obj in install_objects(version))


def release_asset(repo_at_tag: str, asset: str) -> bytes | None:
    """What the sandbox GitHub serves at /<owner>/<repo>/releases/download/<tag>/<asset>: the releases written
    here, and the one the local stack built (fleetlab.release.built: its real manifests, once `fleet local build`
    ran)."""
    repo, _, tag = repo_at_tag.partition("@")
    if repo == "fluxcd/flux2" and asset == "install.yaml" and tag in RELEASES:
        return install_yaml(tag).encode()
    return built.release_asset(repo_at_tag, asset)
