"""What a runbook that writes Git may take over and remove: only what it created itself.

A runbook's file in the fleet repository hands every object it declares to Flux, which applies it with
server-side apply (taking over an object that already exists) and prunes it when the file goes (deleting a
Namespace deletes everything in it). So an object that exists in the cluster before a runbook's file declares
it belongs to someone else: the runbook either uses it without declaring it (an app's namespace) or refuses.
Secrets a runbook writes straight to the cluster carry `MANAGED_BY`; one without it is never replaced or deleted.

    problems = taken_over(kube, objects, before=plan.before)       # ["HelmRelease/flux-system/web exists ..."]
    strays = foreign_in_namespace(kube, "shared", app="web", flux_namespace="flux-system")
"""

from __future__ import annotations

from typing import Any

import yaml

from fleetlib.kube import Kube
from fleetlib.objects import Ref, labels_of, meta_of

MANAGED_BY = {"app.kubernetes.io/managed-by": "fleetlib"}
"""The label on the Secrets a runbook writes to the cluster itself (deploy keys, alert addresses)."""

AUTOMATIC = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}
"""What Kubernetes itself puts in every namespace."""


def declared(text: str | None) -> set[str]:
    """The references a runbook's file declares (none when there is no file)."""
    if text is None:
        return set()
    return {str(Ref.of(o)) for o in yaml.safe_load_all(text) if isinstance(o, dict) and o.get("kind")}


def taken_over(kube: Kube, objects: list[dict[str, Any]], *, before: str | None) -> list[str]:
    """One line per object the file would newly declare that already exists in the cluster: Flux would take it
    over, and prune it with the file."""
    mine = declared(before)
    out = []
    for obj in objects:
        ref = Ref.of(obj)
        if str(ref) in mine:
            continue
        if kube.get(obj["apiVersion"], obj["kind"], ref.namespace, ref.name) is not None:
            out.append(f"{ref} already exists in the cluster and was not created by this runbook (Flux would take it "
                       f"over, and delete it when the runbook removes its file)")
    return out


def created_by_fleetlib(obj: dict[str, Any] | None) -> bool:
    return obj is not None and all(labels_of(obj).get(k) == v for k, v in MANAGED_BY.items())


def foreign_in_namespace(kube: Kube, namespace: str, *, app: str, flux_namespace: str) -> list[str]:
    """What a namespace holds that the app did not put there (its Flux objects' labels, Helm's release storage,
    objects owned by others, what Kubernetes adds to every namespace): what deleting the namespace would lose."""
    out = []
    for obj in kube.namespace_contents(namespace):
        meta, labels = meta_of(obj), labels_of(obj)
        if meta.get("ownerReferences") or (obj["kind"], meta.get("name")) in AUTOMATIC:
            continue
        if labels.get("helm.toolkit.fluxcd.io/name") == app and labels.get(
                "helm.toolkit.fluxcd.io/namespace") == flux_namespace:
            continue
        if labels.get("kustomize.toolkit.fluxcd.io/name") == app and labels.get(
                "kustomize.toolkit.fluxcd.io/namespace") == flux_namespace:
            continue
        if labels.get("owner") == "helm" and labels.get("name") in (app, f"{namespace}-{app}"):
            continue  # Helm's release storage of the app's release
        out.append(str(Ref(obj["kind"], namespace, str(meta.get("name")))))
    return sorted(out)
