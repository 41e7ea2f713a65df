"""What kustomize-controller does with a built artifact, on the sandbox's API server: kustomize build of
`spec.path` (fluxcd/pkg/kustomize: a kustomization generated for a folder without one, the Kustomization's
namePrefix, patches and images on top), server-side apply in stages as fluxcd/pkg/ssa does (CRDs and
Namespaces first, each stage dry-run whole before any of it is applied), and DeleteAll of pruned entries.

    objects = applier.build(root, rel, ks)
    changes, inventory = applier.apply(ks, objects, revision)
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from fleetlab.flux.remote import Target, TargetError, target_of
from fleetlab.flux.runtime import Runtime
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError
from fleetlib.kubectl import KUSTOMIZATION_FILES, ManifestError, write_flux_kustomization
from fleetlib.objects import inventory_id, parse_inventory_id, ref, spec_of
from fleetlib.postbuild import SubstitutionError, strict_mode, substitute_all

MANAGER = "kustomize-controller"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
_FIRST = {"CustomResourceDefinition": 0, "Namespace": 1}
RECONCILE_ORDER = ("CustomResourceDefinition", "Namespace", "ClusterClass", "RuntimeClass", "PriorityClass",
                   "StorageClass", "VolumeSnapshotClass", "IngressClass", "GatewayClass", "ResourceQuota",
                   "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
                   "Service", "LimitRange", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
RECONCILE_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
"""fluxcd/pkg/ssa v0.45.0's ReconcileOrder (Flux v2.5.1): each stage is applied, and so its changes and the
inventory listed, in this kind order, other kinds between First and Last by group then kind, then namespace
and name."""


def apply_order(obj: dict[str, Any]) -> tuple[int, str, str, str, str]:
    """fluxcd/pkg/ssa's sort key of an object (SortableUnstructureds)."""
    kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
    if kind in RECONCILE_ORDER:
        index = RECONCILE_ORDER.index(kind) - len(RECONCILE_ORDER)
    else:
        index = 1 + RECONCILE_LAST.index(kind) if kind in RECONCILE_LAST else 0
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return index, group, kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Failure(Exception):
    def __init__(self, reason: str, message: str, *, revision: str | None = None, retry: float | None = None,
                 event: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.revision, self.retry = reason, message, revision, retry
        self.event = event or message


class Applier:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.builds: dict[tuple[str, str], list[str]] = {}
        """Builds by (folder, overlay fields): an artifact's folder builds the same until its revision changes."""

    def folder(self, ks: dict[str, Any], artifact: dict[str, Any]) -> tuple[Path, Path]:
        """(the artifact's root, spec.path within it), or the failure the controller reports for a missing path."""
        root = self.rt.artifacts / str(artifact["path"]).removesuffix(".tar.gz")
        rel = posixpath.normpath(str(spec_of(ks).get("path") or "./")).lstrip("/")
        folder = (root / rel).resolve()
        if not str(folder).startswith(str(root.resolve())) or not folder.is_dir():
            tmp = f"{tempfile.gettempdir()}/kustomization-{secrets.randbelow(4_294_967_296)}"
            raise Failure("ArtifactFailed", f"kustomization path not found: stat {tmp}/{rel.removeprefix('./')}: "
                                            "no such file or directory")
        return root.resolve(), folder.relative_to(root.resolve())

    def build(self, root: Path, rel: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
        """kustomize build of `spec.path`, as the controller runs it: the artifact unpacked in a fresh
        /tmp/kustomization-<n> folder (error messages name paths there), a kustomization.yaml generated for a
        folder without one, the Kustomization's namePrefix, patches and images on top; then the post-build
        substitution on kustomize's own text of each document (fleetlib.postbuild), strict as the running
        kustomize-controller's version and feature gates make it (its failure is BuildFailed); then
        `targetNamespace`. kustomize's output is kept per folder and overlay fields: it builds the same until the
        artifact changes, while the variables may not."""
        spec = ks.get("spec") or {}
        key = (str(root / rel), json.dumps({k: spec.get(k) for k in ("targetNamespace", "namePrefix", "patches",
                                                                        "images")}, sort_keys=True))
        if key not in self.builds:
            self.builds[key] = self._kustomize(root, rel, spec)
        strict = strict_mode(self.rt.controller_container(MANAGER))
        try:
            objects = substitute_all(self.builds[key], ks, get=self.rt.get, strict=strict)
        except SubstitutionError as e:
            raise Failure("BuildFailed", str(e)) from None
        target_ns = spec.get("targetNamespace")
        if target_ns:
            for obj in objects:
                t = self.rt.api.registry().by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
                if t is None or t.namespaced:
                    obj.setdefault("metadata", {})["namespace"] = target_ns
        return objects

    def _kustomize(self, root: Path, rel: Path, spec: dict[str, Any]) -> list[str]:
        """kustomize's output, one text per document."""
        tmp = _controller_tmp()
        try:
            shutil.copytree(root, tmp, dirs_exist_ok=True, symlinks=True)
            work = tmp / rel
            if not any((work / f).exists() for f in KUSTOMIZATION_FILES):
                try:
                    write_flux_kustomization(work)
                except ManifestError as e:
                    raise Failure("BuildFailed", e.message) from None
            target = work
            overlay_fields = {f: spec[f] for f in ("namePrefix", "patches", "images") if spec.get(f)}
            if overlay_fields:  # what the controller adds on top of the source's own kustomization
                target = tmp.with_name(tmp.name + "-overlay")
                target.mkdir()
                (target / "kustomization.yaml").write_text(yaml.safe_dump(
                    {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [os.path.relpath(work, target)], **overlay_fields}))
            done = subprocess.run([self.rt.kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone",
                                   str(target)], capture_output=True, text=True, timeout=120, check=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(tmp.with_name(tmp.name + "-overlay"), ignore_errors=True)
        if done.returncode < 0:  # killed, e.g. with this process's group when its kernel shut down: no verdict
            raise InterruptedError(f"kubectl kustomize stopped by signal {-done.returncode}; the next pass retries")
        if done.returncode != 0:
            message = done.stderr.strip().removeprefix("error: ")
            raise Failure("BuildFailed", f"kustomize build failed: {message[:600]}")
        return [doc for doc in re.split(r"^---[ \t]*$\n?", done.stdout, flags=re.M) if doc.strip()]

    def apply(self, ks: dict[str, Any], objects: list[dict[str, Any]], revision: str
               ) -> tuple[dict[str, str], list[dict[str, str]]]:
        """Server-side apply in stages as fluxcd/pkg/ssa does: cluster definitions (CRDs, Namespaces) first, then the
        rest; each stage is dry-run whole before any of it is applied, so a failed dry-run changes nothing."""
        name, ns = ks["metadata"]["name"], ks["metadata"]["namespace"]
        changes: dict[str, str] = {}
        inventory: list[dict[str, str]] = []
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update({NAME_LABEL: name, NAMESPACE_LABEL: ns})
        stages = [sorted((o for o in objects if o.get("kind") in _FIRST), key=apply_order),
                  sorted((o for o in objects if o.get("kind") not in _FIRST), key=apply_order)]
        target = self.target(ks)
        client = target.writer
        for stage in stages:
            try:
                typed = [(obj, self.type_of(obj, revision, target.api)) for obj in stage]
            except Failure as f:  # the error, then what was applied before it, as the controller's message has it
                raise Failure(f.reason, f.message + "\n" + _changelog(changes), revision=revision) from None
            failures = []
            for obj, t in typed:
                try:
                    client.patch(t, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                 "application/apply-patch+yaml", json.dumps(obj).encode(), manager=MANAGER,
                                 force=True, dry_run=True)
                except ApiError as e:
                    failures.append(f"{ref(obj)} dry-run failed{_reason(e)}: {e.message}")
            if failures:
                raise Failure("ReconciliationFailed", "\n".join(failures) + "\n" + _changelog(changes),
                              revision=revision)
            for obj, t in typed:
                meta = obj["metadata"]
                before = target.api.store.get(t.key, meta.get("namespace", "") if t.namespaced else "", meta["name"])
                try:
                    _, after = client.patch(t, meta.get("namespace"), meta["name"], "application/apply-patch+yaml",
                                            json.dumps(obj).encode(), manager=MANAGER, force=True)
                except ApiError as e:
                    raise Failure("ReconciliationFailed", f"{ref(obj)} apply failed{_reason(e)}: {e.message}\n"
                                  + _changelog(changes), revision=revision) from e
                action = "created" if before is None else (
                    "unchanged" if str(before.rv) == after["metadata"]["resourceVersion"] else "configured")
                changes[ref(obj)] = action
                inventory.append({"id": inventory_id(obj), "v": t.version})
        return changes, inventory  # in apply order, as kustomize-controller's inventory.AddChangeSet keeps it

    def target(self, ks: dict[str, Any]) -> Target:
        """The cluster the Kustomization applies to and the identity it acts as (fleetlab.flux.remote), or the
        controller's failure to build that client."""
        try:
            return target_of(self.rt, ks, MANAGER)
        except TargetError as e:
            raise Failure("ReconciliationFailed", str(e)) from None

    def live(self, ks: dict[str, Any], kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """An applied object as the Kustomization's health checks read it, on the cluster it applies to."""
        try:
            return self.target(ks).get(kind, None, namespace, name)
        except Failure:
            return None

    def type_of(self, obj: dict[str, Any], revision: str, api: ClusterApi | None = None) -> Any:
        """The resource type of a built object, or the dry-run failure the real controller reports for it."""
        meta = obj["metadata"]
        t = (api or self.rt.api).registry().by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
        if t is None:
            raise Failure("ReconciliationFailed", f"{ref(obj)} dry-run failed: no matches for kind "
                          f"\"{obj.get('kind')}\" in version \"{obj.get('apiVersion')}\"", revision=revision)
        if t.namespaced and not meta.get("namespace"):
            raise Failure("ReconciliationFailed", f"{obj['kind']}/{meta.get('name')} namespace not specified: the "
                          "server could not find the requested resource", revision=revision)
        if not t.namespaced:
            meta.pop("namespace", None)
        return t

    def delete(self, ks: dict[str, Any], entries: list[dict[str, str]]) -> dict[str, str]:
        """Delete inventory entries as fluxcd/pkg/ssa DeleteAll does: an object already gone counts as deleted;
        one no longer labelled as this Kustomization's, or annotated prune: disabled (reconcile: disabled,
        ssa: ignore), is skipped; the rest are deleted."""
        out: dict[str, str] = {}
        target, errors = self.target(ks), []
        for raw in entries:
            entry = parse_inventory_id(raw["id"])
            if entry is None:
                continue
            kind, ns, name = entry.ref.kind, entry.ref.namespace, entry.ref.name
            where = str(entry.ref)
            t = next((x for x in target.api.registry().types if x.group == entry.group and x.kind == kind), None)
            live = target.get(kind, entry.group, ns, name) if t is not None else None
            if t is None or live is None:
                out[where] = "deleted"
                continue
            meta = live["metadata"]
            labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
            if labels.get(NAME_LABEL) != ks["metadata"]["name"] or \
                    labels.get(NAMESPACE_LABEL) != ks["metadata"]["namespace"] or \
                    annotations.get("kustomize.toolkit.fluxcd.io/prune") == "disabled" or \
                    annotations.get("kustomize.toolkit.fluxcd.io/reconcile") == "disabled" or \
                    annotations.get("kustomize.toolkit.fluxcd.io/ssa") == "ignore" or \
                    labels.get("kustomize.toolkit.fluxcd.io/prune") == "disabled":
                out[where] = "skipped"
                continue
            try:
                target.writer.delete(t, ns or None, name, propagation="Background")
                out[where] = "deleted"
            except ApiError as e:
                if e.code == 404:
                    out[where] = "deleted"
                else:
                    errors.append(f"{where} delete failed, error: {e.message}")
        if errors:
            raise Failure("PruneFailed", "\n".join(errors))
        return out


def _controller_tmp() -> Path:
    """A fresh /tmp/kustomization-<digits> folder, named as Go's os.MkdirTemp names the controller's."""
    while True:
        path = Path(tempfile.gettempdir()) / f"kustomization-{secrets.randbelow(4_294_967_296)}"
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue


def _reason(e: ApiError) -> str:
    """` (<reason>)` as fluxcd/pkg/ssa's errors show it; nothing for an error without one (a 500 from a typed patch)."""
    return f" ({e.reason})" if e.reason else ""


def _changelog(changes: dict[str, str]) -> str:
    """What was applied before a failure, one `Kind/ns/name action` line each (as the error carries it)."""
    return "".join(f"{k} {v}\n" for k, v in changes.items() if v != "unchanged")
