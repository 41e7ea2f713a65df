"""What a stage's folder gives its cluster, and what a change to it would do there.

`build`: the cluster's folder (without `flux-system/`, each cluster's own) built as kustomize-controller builds
the flux-system Kustomization's path (fleetlib.kubectl.build_as_flux), then that Kustomization's post-build
substitutions applied as the controller applies them (fleetlib.postbuild): its `substitute` and the ConfigMaps
and Secrets of its `substituteFrom`, read from the cluster, strict when the cluster's kustomize-controller is.

`cluster_diff`: what applying the changed objects would do on the cluster, as `flux diff kustomization` says it:
each object server-side applied as a dry run (with the labels kustomize-controller puts on what it applies) and
compared with the live object: `created`, `drifted` with the diff of the fields that change, or `deleted` for
an object that leaves the build (the flux-system Kustomization prunes).

    now = build(folder, "clusters/.../a", kube=kube, namespace="flux-system")
    changes = cluster_diff(kube, changed_objects, gone=removed_refs, namespace="flux-system")
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleetlib.errors import FleetError
from fleetlib.kube import Kube
from fleetlib.kubectl import build_as_flux
from fleetlib.objects import Ref, containers, meta_of, spec_of
from fleetlib.postbuild import SubstitutionError, strict_mode, substitute_all
from fleetlib.promote.compare import OWN
from fleetlib.resourcelist import KUSTOMIZATION_FILES, relisted

MANAGER = "kustomize-controller"
NOISE = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")


@dataclass(frozen=True)
class Built:
    objects: dict[str, dict[str, Any]]
    """By `Kind/namespace/name`."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    ref: str
    action: str
    """created, drifted, deleted or refused."""
    diff: str = ""


def build(folder: Path, shown: str, *, kube: Kube | None, namespace: str) -> Built:
    """The objects the folder gives its cluster; FleetError when it does not build (or a substitution fails)."""
    if not folder.is_dir():
        return Built({}, (f"{shown} does not exist",))
    with tempfile.TemporaryDirectory(prefix="fleet-promote-") as tmp:
        work = Path(tmp) / folder.name
        shutil.copytree(folder, work, symlinks=True, ignore=shutil.ignore_patterns(OWN, ".git"))
        for name in KUSTOMIZATION_FILES:
            root = work / name
            if root.is_file():
                root.write_text(relisted(root.read_text(), OWN, present=False, source=f"{shown}/{name}"))
        text = build_as_flux(work)
    docs = [d for d in text.split("\n---\n") if d.strip()]
    sync, notes = _sync(kube, namespace)
    try:
        objects = substitute_all(docs, sync or {}, get=lambda kind, ns, name: _get(kube, kind, ns, name),
                                 strict=_strict(kube, namespace))
    except SubstitutionError as e:
        raise FleetError(f"{shown}: {e}", hint="the cluster's flux-system Kustomization would fail the same way") from None
    return Built({str(Ref.of(o)): o for o in objects}, notes)


def _sync(kube: Kube | None, namespace: str) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The cluster's flux-system Kustomization (its postBuild), or None with why."""
    if kube is None:
        return None, ("built without the cluster's post-build substitutions (no cluster to read them from)",)
    try:
        sync = kube.get(kube.served_version("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), "Kustomization",
                        namespace, namespace)
    except FleetError as e:
        return None, (f"built without post-build substitutions: {e.message}",)
    if sync is None:
        return None, (f"built without post-build substitutions: no Kustomization {namespace}/{namespace} on the "
                      f"cluster",)
    return sync, ()


def _get(kube: Kube | None, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return None if kube is None else kube.get("v1", kind, namespace, name)


def _strict(kube: Kube | None, namespace: str) -> bool:
    if kube is None:
        return False
    try:
        deployment = kube.get("apps/v1", "Deployment", namespace, MANAGER)
    except FleetError:
        return False
    pod_spec = spec_of(spec_of(deployment).get("template"))
    found = [c for c in containers(pod_spec) if c.get("name") == "manager"]
    return strict_mode(found[0] if found else None)


def changed(before: Built, after: Built) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The objects `after` adds or changes against `before`, and those it leaves out."""
    new = [o for ref, o in after.objects.items() if before.objects.get(ref) != o]
    return new, [o for ref, o in before.objects.items() if ref not in after.objects]


def cluster_diff(kube: Kube, objects: list[dict[str, Any]], *, gone: list[dict[str, Any]], namespace: str
                 ) -> list[Change]:
    """What applying `objects` and pruning `gone` would do on the cluster, one Change per object that changes."""
    labels = {"kustomize.toolkit.fluxcd.io/name": namespace, "kustomize.toolkit.fluxcd.io/namespace": namespace}
    creating = {Ref.of(o).name for o in objects if o.get("kind") == "Namespace"}
    out = []
    for obj in objects:
        ref = Ref.of(obj)
        sent = {**obj, "metadata": {**meta_of(obj), "labels": {**(meta_of(obj).get("labels") or {}), **labels}}}
        try:
            live = kube.get(obj["apiVersion"], ref.kind, ref.namespace, ref.name)
        except FleetError as e:
            out.append(Change(str(ref), "refused", e.message))
            continue
        if live is None and ref.namespace in creating:
            out.append(Change(str(ref), "created", diff_text(str(ref), None, clean(sent))))
            continue
        try:
            dry = kube.dry_run_apply(sent, manager=MANAGER)
        except FleetError as e:
            out.append(Change(str(ref), "refused", e.message))
            continue
        text = diff_text(str(ref), None if live is None else clean(live), clean(dry))
        if text:
            out.append(Change(str(ref), "created" if live is None else "drifted", text))
    for obj in gone:
        ref = Ref.of(obj)
        try:
            live = kube.get(obj["apiVersion"], ref.kind, ref.namespace, ref.name)
        except FleetError:
            live = None
        if live is not None:
            out.append(Change(str(ref), "deleted"))
    return out


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in meta_of(obj).items() if k not in NOISE}
    return {k: v for k, v in {**obj, "metadata": meta}.items() if k != "status"}


def diff_text(ref: str, live: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """The object as it is on the cluster against as it would be, a unified diff of their YAML ("" when equal)."""
    before = "" if live is None else _yaml(live)
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), _yaml(after).splitlines(keepends=True),
                                        f"live {ref}" if live is not None else "/dev/null", f"after {ref}"))


def _yaml(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=True, width=1000)
