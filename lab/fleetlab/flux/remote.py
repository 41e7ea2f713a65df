"""Where a Kustomization's objects go, and as whom, as fluxcd/pkg/runtime's Impersonator decides it.

`spec.kubeConfig.secretRef` names a Secret in the Kustomization's namespace holding a kubeconfig (its `key`, else
`value`, else `value.yaml`); the objects are applied to the cluster that kubeconfig's current context names, and a
missing Secret or key fails the reconcile with the controller's words. The sandbox reaches its own clusters (a
kubeconfig `fleet sandbox kubeconfig` wrote: the URL's `/clusters/<stage>/<cluster>` and that cluster's token),
found through the resolvers registered here; any other server is named in the failure, with `target: local` as
the place to rehearse it. `spec.serviceAccountName` (or --default-service-account) is impersonated on whichever
cluster that is, so its RBAC decides.

    target = target_of(rt, ks, "kustomize-controller")
    target.writer.patch(rt_type, "apps", "web", "application/apply-patch+yaml", body, manager=...)
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from fleetlab.flux.runtime import Runtime
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError
from fleetlab.kubernetes.policy import ActingApi
from fleetlab.kubernetes.rbac import User
from fleetlib.objects import spec_of

Resolver = Callable[[str, "str | None"], "ClusterApi | None"]
RESOLVERS: list[Resolver] = []
"""(server URL, bearer token) -> the sandbox cluster it opens, or None; each running sandbox registers one."""


class TargetError(Exception):
    """The cluster a Kustomization names cannot be reached; the message is the controller's."""


@dataclass
class Target:
    api: ClusterApi
    """The cluster the objects go to (its types and stored objects)."""
    writer: ClusterApi | ActingApi
    """Its API as the Kustomization acts on it (impersonating its service account, if any)."""
    remote: bool = False

    def get(self, kind: str, group: str | None, namespace: str | None, name: str) -> dict[str, Any] | None:
        """An object of the target cluster (`group` None: the kind in whichever group serves it), or None."""
        types = [t for t in self.api.registry().types if t.kind == kind and (group is None or t.group == group)]
        if not types:
            return None
        try:
            return self.api.get(types[0], namespace if types[0].namespaced else None, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise


def target_of(rt: Runtime, obj: dict[str, Any], component: str) -> Target:
    """The cluster and identity `obj` (a Kustomization or HelmRelease) acts with, or TargetError."""
    spec, namespace = spec_of(obj), obj["metadata"]["namespace"]
    api = rt.api
    kube_config = spec.get("kubeConfig")
    if kube_config:
        api = _remote(rt, kube_config, namespace)
    account = spec.get("serviceAccountName") or rt.flags(component).text("default-service-account")
    writer: ClusterApi | ActingApi = api
    if account:
        writer = api.policy.acting_as(User.service_account(namespace, str(account)))
    return Target(api, writer, remote=api is not rt.api)


def _remote(rt: Runtime, kube_config: dict[str, Any], namespace: str) -> ClusterApi:
    ref = kube_config.get("secretRef") or {}
    if not ref.get("name"):
        if kube_config.get("provider") or kube_config.get("configMapRef"):
            raise TargetError("spec.kubeConfig.provider (a cloud provider's workload identity) is not implemented by "
                              "the sandbox; rehearse it with target: local")
        raise TargetError("invalid .spec.kubeConfig, neither .spec.kubeConfig.provider nor .spec.kubeConfig.secretRef "
                          "is set")
    where = f"{namespace}/{ref['name']}"
    secret = rt.get("Secret", namespace, ref["name"])
    if secret is None:
        raise TargetError(f"unable to read KubeConfig secret '{where}' error: secrets \"{ref['name']}\" not found")
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    key = ref.get("key")
    if key:
        text = data.get(key)
        if text is None:
            raise TargetError(f"KubeConfig secret '{where}' does not contain a '{key}' key with a kubeconfig")
    else:
        text = data.get("value", data.get("value.yaml"))
        if text is None:
            raise TargetError(f"KubeConfig secret '{where}' does not contain a 'value' key with a kubeconfig")
    server, token = _endpoint(text)
    for resolve in list(RESOLVERS):
        found = resolve(server, token)
        if found is not None:
            return found
    raise TargetError(f"the kubeconfig in secret '{where}' names {server}, which is not one of the sandbox's clusters: "
                      "the sandbox applies to its own clusters only; rehearse other remote clusters with target: local")


def _endpoint(text: str) -> tuple[str, str | None]:
    """(server URL, bearer token) of a kubeconfig's current context, or TargetError as clientcmd words it."""
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise TargetError(f"couldn't get version/kind; json parse error: {str(e).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise TargetError("couldn't get version/kind; json parse error: the kubeconfig is not a mapping")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or [] if isinstance(c, dict)}
    current = contexts.get(config.get("current-context"))
    if not current:
        raise TargetError("invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER "
                          "environment variable")
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or [] if isinstance(c, dict)}
    users = {u.get("name"): u.get("user") or {} for u in config.get("users") or [] if isinstance(u, dict)}
    server = str((clusters.get(current.get("cluster")) or {}).get("server") or "")
    if not server:
        raise TargetError("invalid configuration: no server found for cluster " f"\"{current.get('cluster')}\"")
    return server, (users.get(current.get("user")) or {}).get("token")
