"""The fence around a tenant, asked of the API server: SubjectAccessReviews, as `kubectl auth can-i --as
system:serviceaccount:<ns>:<tenant>` asks them. The tenant may create Deployments and ConfigMaps in each of its
namespaces, and may not create them in kube-system or in the Flux namespace, nor create Namespaces or
ClusterRoleBindings.

    checks, holes = review(kube, "system:serviceaccount:team:team", ["team"], flux_namespace="flux-system")
"""

from __future__ import annotations

from typing import Any

from fleetlib.kube import Kube
from fleetlib.objects import FLUX_KINDS, Ref, spec_of

ALLOWED = [("create", "apps", "deployments"), ("create", "", "configmaps")]
"""What a tenant must be able to do in each of its namespaces (and must not elsewhere)."""
DENIED_IN = ("kube-system",)
"""Namespaces (with the Flux namespace) where it must not."""
DENIED_CLUSTER = [("create", "", "namespaces"), ("create", "rbac.authorization.k8s.io", "clusterrolebindings")]


def review(kube: Kube, user: str, namespaces: list[str], *, flux_namespace: str
           ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every check (what was asked, the answer, the expected answer, the authorizer's reason), and one line per
    answer that is not the expected one."""
    asks: list[tuple[str, str, str, str | None, bool]] = [
        (v, g, r, n, True) for n in namespaces for v, g, r in ALLOWED]
    asks += [(v, g, r, n, False) for n in (*DENIED_IN, flux_namespace) for v, g, r in ALLOWED]
    asks += [(v, g, r, None, False) for v, g, r in DENIED_CLUSTER]
    checks, wrong = [], []
    for verb, group, resource, namespace, expected in asks:
        allowed, reason = kube.may(user, verb, group, resource, namespace)
        what = f"{verb} {resource}{'.' + group if group else ''} in {namespace or 'the cluster'}"
        checks.append({"can": what, "allowed": allowed, "expected": expected, "reason": reason})
        if allowed != expected:
            wrong.append(f"{what}: {'allowed' if allowed else 'denied'}{f' ({reason})' if reason else ''}")
    return checks, wrong


def refused_in(flux_namespace: str) -> str:
    return ", ".join((*DENIED_IN, flux_namespace))


def unaccounted(kube: Kube) -> list[str]:
    """The Kustomizations and HelmReleases without `serviceAccountName` (the flux-system sync aside: the lockdown
    gives it kustomize-controller): under `--default-service-account` each would act as its namespace's `default`,
    which may do nothing."""
    out = []
    for kind in ("Kustomization", "HelmRelease"):
        for obj in kube.list(FLUX_KINDS[kind], kind):
            ref = Ref.of(obj)
            if not spec_of(obj).get("serviceAccountName") and (kind, ref.namespace, ref.name) != (
                    "Kustomization", "flux-system", "flux-system"):
                out.append(str(ref))
    return out
