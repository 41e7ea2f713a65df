"""The Flux files bootstrap writes, generated exactly as `flux bootstrap` writes them. Pure: text in,
text out.

- `gotk-components.yaml`: the release's install manifests for the chosen components, with the
  options applied (registry, network policy, toleration keys, log level, cluster domain, watched
  namespaces) and Flux's header.
- `gotk-sync.yaml`: the flux-system GitRepository and Kustomization, as sigs.k8s.io/yaml marshals them
  (keys sorted, `creationTimestamp` and `status` dropped).
- `kustomization.yaml`: the two resources, written only when the file is absent.

    text = components_yaml(install_text, params)
    sync = sync_yaml(params)
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from fleetlib.errors import InputError
from fleetlib.fleetrepo import GENERATED_WARNING
from fleetlib.model import Duration
from fleetlib.objects import meta_of
from fleetlib.parameters import ClusterParams
from fleetlib.semver import parse_version

NAMESPACE_PLACEHOLDER = "flux-system"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(obj: Any) -> str:
    """sigs.k8s.io/yaml style: keys sorted, block style, sequences not indented."""
    return yaml.dump(obj, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 30)


def repository_url(params: ClusterParams) -> str:
    """SSH URL as go-git-providers writes it for bootstrap: ssh://git@<host>/<owner>/<repo>, no .git."""
    return f"ssh://git@{params.hostname}/{params.owner}/{params.repository}"


def sync_objects(params: ClusterParams) -> list[dict[str, Any]]:
    ns = params.namespace
    git = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": ns, "namespace": ns},
           "spec": {"interval": Duration.parse(params.interval).go(), "ref": {"branch": params.branch},
                    "secretRef": {"name": params.secret_name}, "url": repository_url(params)}}
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": ns, "namespace": ns},
          "spec": {"interval": Duration.parse(params.kustomization_interval).go(), "path": params.path,
                   "prune": params.prune, "sourceRef": {"kind": "GitRepository", "name": ns}}}
    return [git, ks]


def sync_yaml(params: ClusterParams) -> str:
    git, ks = sync_objects(params)
    return f"{GENERATED_WARNING}\n---\n{_dump(git)}---\n{_dump(ks)}"


def kustomization_yaml() -> str:
    return _dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                  "resources": ["gotk-components.yaml", "gotk-sync.yaml"]})


def components_header(version: str, components: list[str]) -> str:
    return f"---\n{GENERATED_WARNING}\n# Flux Version: {version}\n# Components: {','.join(components)}\n"


def parse_release(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=_LOADER) if isinstance(d, dict)]  # a safe loader


def select_components(objects: list[dict[str, Any]], components: list[str]) -> list[dict[str, Any]]:
    """Objects of the chosen components, plus the shared ones (namespace, RBAC, policies, quota)."""
    out = []
    for obj in objects:
        component = (meta_of(obj).get("labels") or {}).get("app.kubernetes.io/component")
        if component is None or component in components:
            out.append(obj)
    return out


def _since(params: ClusterParams, version: tuple[int, int, int]) -> bool:
    """Whether the cluster's Flux CLI release is `version` or later (what `flux install` writes changed over time)."""
    parsed = parse_version(params.version)
    return parsed is not None and parsed[:3] >= version


RUNTIME_EVENTS_ADDR = (2, 8, 0)
"""From flux2 v2.8.0, `flux install` writes `--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc...`
(before: the namespace itself)."""
TEMPLATE_LABELS = (2, 7, 0)
"""From flux2 v2.7.0, the release labels (`app.kubernetes.io/version` too) go on the Deployments' pod templates."""


def release_labels(params: ClusterParams) -> dict[str, str]:
    """What `flux install`'s label transformer puts on every object (`instance` is the namespace)."""
    return {"app.kubernetes.io/instance": params.namespace, "app.kubernetes.io/part-of": "flux",
            "app.kubernetes.io/version": params.version}


def _rewrite_args(args: list[str], params: ClusterParams) -> list[str]:
    namespace = "$(RUNTIME_NAMESPACE)" if _since(params, RUNTIME_EVENTS_ADDR) else params.namespace
    out = []
    for arg in args:
        if arg.startswith("--events-addr=http://notification-controller."):
            arg = f"--events-addr=http://notification-controller.{namespace}.svc.{params.cluster_domain}./"
        elif arg.startswith("--log-level="):
            arg = f"--log-level={params.log_level}"
        elif arg.split("=", 1)[0] == "--watch-all-namespaces":
            arg = f"--watch-all-namespaces={str(params.watch_all_namespaces).lower()}"
        arg = arg.replace(".svc.cluster.local.", f".svc.{params.cluster_domain}.")
        out.append(arg)
    return out


SUFFIXED_KINDS = ("ClusterRole", "ClusterRoleBinding", "ResourceQuota")
"""flux2's `manifests/rbac` objects: `flux install` builds them in a `roles` kustomization with
`nameSuffix: -<namespace>` (crd-controller-flux-system, flux-view-flux-system, critical-pods-flux-system, ...),
kustomize renaming the role references with them."""


def _suffix_names(objects: list[dict[str, Any]], namespace: str) -> None:
    renamed = {meta_of(o)["name"] for o in objects if o.get("kind") == "ClusterRole"}
    for obj in objects:
        if obj.get("kind") in SUFFIXED_KINDS:
            obj["metadata"]["name"] = f"{obj['metadata']['name']}-{namespace}"
        ref = obj.get("roleRef") or {}
        if obj.get("kind") == "ClusterRoleBinding" and ref.get("kind") == "ClusterRole" and ref.get("name") in renamed:
            ref["name"] = f"{ref['name']}-{namespace}"


def apply_options(objects: list[dict[str, Any]], params: ClusterParams) -> list[dict[str, Any]]:
    """What `flux install` does to the release manifests for the bootstrap flags we support, and always: the
    `-<namespace>` name suffix of the cluster-wide RBAC and the quota, `kubernetes.io/os: linux` on every pod."""
    out = []
    for original in objects:
        obj = copy.deepcopy(original)
        kind, meta = obj.get("kind"), obj.setdefault("metadata", {})
        if kind == "NetworkPolicy" and not params.network_policy:
            continue
        meta.setdefault("labels", {}).update(release_labels(params))
        if kind == "Namespace":
            meta["name"] = params.namespace
        elif meta.get("namespace") == NAMESPACE_PLACEHOLDER:
            meta["namespace"] = params.namespace
        for subject in obj.get("subjects") or []:
            if subject.get("namespace") == NAMESPACE_PLACEHOLDER:
                subject["namespace"] = params.namespace
        if kind == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod["nodeSelector"] = {**(pod.get("nodeSelector") or {}), "kubernetes.io/os": "linux"}
            if _since(params, TEMPLATE_LABELS):
                template = obj["spec"]["template"].setdefault("metadata", {})
                template.setdefault("labels", {}).update(release_labels(params))
            for c in pod.get("containers") or []:
                c["image"] = str(c.get("image", "")).replace("ghcr.io/fluxcd", params.registry.rstrip("/"), 1)
                c["args"] = _rewrite_args(list(c.get("args") or []), params)
            if params.toleration_keys:
                pod["tolerations"] = [{"key": k, "operator": "Exists"} for k in params.toleration_keys]
        out.append(obj)
    _suffix_names(out, params.namespace)
    return out


def flux_install_order(objects: list[dict[str, Any]], components: list[str]) -> list[dict[str, Any]]:
    """The order `flux install` writes: the namespace, the network policies, the RBAC and quota, then each component's
    objects in the order of `components` (each group in the release's own order)."""
    def group(obj: dict[str, Any]) -> int:
        kind = obj.get("kind")
        if kind == "Namespace":
            return 0
        if kind == "NetworkPolicy":
            return 1
        if kind in SUFFIXED_KINDS:
            return 2
        component = (meta_of(obj).get("labels") or {}).get("app.kubernetes.io/component")
        return 3 + (components.index(component) if component in components else len(components))
    return sorted(objects, key=group)  # stable: each group keeps the release's order


def components_yaml(release_text: str, params: ClusterParams) -> str:
    """gotk-components.yaml for the cluster, from the release's install.yaml text."""
    objects = parse_release(release_text)
    if not any(o.get("kind") == "Deployment" for o in objects):
        raise InputError(f"the Flux {params.version} release manifests hold no controller Deployment",
                         hint="check the release download (a proxy page instead of install.yaml?)")
    missing = [c for c in params.all_components
               if not any(o.get("kind") == "Deployment" and o["metadata"]["name"] == c for o in objects)]
    if missing:
        raise InputError(f"the Flux {params.version} release has no {', '.join(missing)}",
                         hint="check components and components_extra in the cluster's parameters")
    chosen = apply_options(flux_install_order(select_components(objects, params.all_components),
                                              params.all_components), params)
    return components_header(params.version, params.all_components) + "---\n".join(_dump(o) for o in chosen)
