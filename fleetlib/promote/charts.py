"""What a HelmRelease that a promotion changes would do to its release: the chart rendered with the promoted
spec, as helm-controller renders it (the chart from its HelmRepository at the newest version the constraint
allows, `spec.values` over the chart's defaults, the release name and namespace helm-controller gives it, its
`helm.toolkit.fluxcd.io/name|namespace` labels on every object), compared with the manifest of the release the
cluster runs (Helm's storage Secret `sh.helm.release.v1.<release>.v<N>`, the newest): each object `created`,
`drifted` with its diff, or `deleted`, named under the HelmRelease (`HelmRelease/flux-system/web:
Deployment/apps/web drifted`).

What it cannot render it says, and shows the HelmRelease's own diff only: a chart from an OCIRepository
(`chartRef`), `valuesFrom`, post-renderers, or no helm CLI on the target (fleetlib.targets.Endpoints.helm).

    changes, notes = release_changes(kube, where, hr, objects)
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from typing import Any

import yaml

from fleetlib.errors import FleetError
from fleetlib.helmchart import RenderError, template
from fleetlib.helmrepo import chart_archive
from fleetlib.kube import Kube
from fleetlib.objects import Ref, meta_of, spec_of, status_of
from fleetlib.promote.render import Change, clean, diff_text
from fleetlib.targets import Endpoints

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
                  "StorageClass", "PersistentVolume", "IngressClass", "APIService", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration"}


def release_name(hr: dict[str, Any]) -> str:
    """helm-controller's release name: `spec.releaseName`, else `<targetNamespace>-<name>`, else the name."""
    spec, name = spec_of(hr), str(meta_of(hr).get("name"))
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    return f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace") else name


def release_changes(kube: Kube, where: Endpoints, hr: dict[str, Any], objects: dict[str, dict[str, Any]]
                    ) -> tuple[list[Change], list[str]]:
    """The release's objects that would change, and what could not be rendered (with why). `objects` are the
    promoted folder's built objects by `Kind/namespace/name` (the chart's HelmRepository among them)."""
    ref = Ref.of(hr)
    spec = spec_of(hr)
    chart = spec_of(spec.get("chart"))
    if spec.get("chartRef") or not chart:
        return [], [f"{ref}: a chart from chartRef (an OCIRepository) is not rendered; its objects are not shown"]
    unread = [f for f in ("valuesFrom", "postRenderers") if spec.get(f)]
    if unread:
        return [], [f"{ref}: {' and '.join(unread)} not read, so its chart is not rendered here"]
    if not where.helm:
        return [], [f"{ref}: no helm CLI (put helm on PATH or set FLEET_HELM) to render its chart"]
    source = chart.get("sourceRef") or {}
    repo = _helm_repository(kube, objects, str(source.get("namespace") or ref.namespace), str(source.get("name")))
    if repo is None:
        return [], [f"{ref}: HelmRepository {source.get('name')} is neither promoted nor on the cluster"]
    namespace = str(spec.get("targetNamespace") or ref.namespace)
    try:
        version, archive = chart_archive(str(spec_of(repo).get("url")), str(chart.get("chart")),
                                         str(chart.get("version") or "*"), proxy=where.http_proxy)
        rendered = template(where.helm, archive, release=release_name(hr), namespace=namespace,
                            values=dict(spec.get("values") or {}), version=version)
    except (FleetError, RenderError) as e:
        return [Change(str(ref), "refused", f"its chart does not render: {getattr(e, 'message', e)}")], []
    labels = {"helm.toolkit.fluxcd.io/name": ref.name, "helm.toolkit.fluxcd.io/namespace": str(ref.namespace)}
    after = {}
    for obj in rendered:
        meta = {**meta_of(obj), "labels": {**(meta_of(obj).get("labels") or {}), **labels}}
        if obj.get("kind") not in CLUSTER_SCOPED:
            meta.setdefault("namespace", namespace)
        after[str(Ref.of({**obj, "metadata": meta}))] = {**obj, "metadata": meta}
    before = _deployed(kube, hr, release_name(hr), namespace)
    out = []
    for key, obj in after.items():
        text = diff_text(key, clean(before[key]) if key in before else None, clean(obj))
        if text:
            out.append(Change(f"{ref}: {key}", "created" if key not in before else "drifted", text))
    out += [Change(f"{ref}: {key}", "deleted") for key in before if key not in after]
    return out, []


def _helm_repository(kube: Kube, objects: dict[str, dict[str, Any]], namespace: str, name: str
                     ) -> dict[str, Any] | None:
    found = objects.get(f"HelmRepository/{namespace}/{name}")
    if found is not None:
        return found
    try:
        return kube.get(kube.served_version("source.toolkit.fluxcd.io/v1", "HelmRepository"), "HelmRepository",
                        namespace, name)
    except FleetError:
        return None


def _deployed(kube: Kube, hr: dict[str, Any], release: str, namespace_of_release: str) -> dict[str, dict[str, Any]]:
    """The objects of the release's newest stored revision, by ref ({} when it was never installed); Helm's
    manifest leaves the release namespace out, so it is put back."""
    namespace = str(status_of(hr).get("storageNamespace") or spec_of(hr).get("storageNamespace")
                    or meta_of(hr).get("namespace"))
    secrets = kube.list("v1", "Secret", namespace, label_selector=f"owner=helm,name={release}")
    if not secrets:
        return {}
    newest = max(secrets, key=lambda s: int((meta_of(s).get("labels") or {}).get("version", "0")))
    try:
        stored = json.loads(gzip.decompress(base64.b64decode(base64.b64decode((newest.get("data") or {})["release"]))))
        docs = list(yaml.safe_load_all(str(stored.get("manifest") or "")))
    except (KeyError, ValueError, OSError, binascii.Error, yaml.YAMLError):
        return {}
    out = {}
    for doc in (x for d in docs for x in (d if isinstance(d, list) else [d])):
        if isinstance(doc, dict) and doc.get("kind"):
            meta = dict(meta_of(doc))
            if doc.get("kind") not in CLUSTER_SCOPED:
                meta.setdefault("namespace", namespace_of_release)
            out[str(Ref.of({**doc, "metadata": meta}))] = {**doc, "metadata": meta}
    return out
