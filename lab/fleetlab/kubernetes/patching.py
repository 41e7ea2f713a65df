"""Patches on the sandbox's API server: JSON patch, merge patch, strategic merge patch (built-in kinds only,
415 for custom resources, as kube-apiserver) and server-side apply (field managers, conflicts naming each
field, 201 when it creates), each validated, pruned and checked for immutable fields before it is stored.

    code, obj = Patching(api).patch(rt, "flux-system", "apps", "application/merge-patch+json", body,
                                    manager="kubectl", force=False, subresource=None, strict=False, dry_run=False)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from fleetlab.kubernetes.admission import BUILTIN_GROUPS
from fleetlab.kubernetes.apply import ApplyConflict, server_side_apply
from fleetlab.kubernetes.apply import prefix as conflict_prefix
from fleetlab.kubernetes.apply import render as render_path
from fleetlab.kubernetes.errors import ApiError, Rollback, conflict, details_of, not_found, now_rfc3339
from fleetlab.kubernetes.patch import PatchError, json_patch, merge_patch, strategic_merge
from fleetlab.kubernetes.reads import ns_key
from fleetlab.kubernetes.registry import ResourceType
from fleetlab.kubernetes.validation import update_problem
from fleetlib.files import BoundedLoader
from fleetlib.objects import meta_of

if TYPE_CHECKING:
    from fleetlab.kubernetes.apiserver import ClusterApi


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_body(body: bytes) -> Any:
    """A request body in YAML, as the real server decodes it: with anchors (`&`), through the bounded loader (an
    alias bomb or deep nesting is a 400 in milliseconds, "excessive aliasing" as go-yaml says); without, through
    the fast C parser. JSON nested past the stack is a 400 too."""
    try:
        if b"&" in body:
            return yaml.load(body, Loader=BoundedLoader)
        return yaml.load(body, Loader=_YAML_LOADER)  # a safe loader
    except RecursionError:
        raise ApiError(400, "BadRequest", "the body of the request could not be decoded: exceeded max depth") from None
    except yaml.YAMLError as e:
        text = str(e)
        if "aliases" not in text and "nest" not in text:
            raise
        why = "document contains excessive aliasing" if "aliases" in text else "exceeded max depth"
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: yaml: {why}") from None


def load_json_body(body: bytes, default: bytes = b"{}") -> Any:
    try:
        return json.loads(body or default)
    except RecursionError:
        raise ApiError(400, "BadRequest", "the body of the request could not be decoded: exceeded max depth") from None


def load_apply(body: bytes) -> Any:
    """An apply body is YAML, and most clients send JSON (a subset of YAML): try the fast parser first."""
    stripped = body.lstrip()
    if stripped[:1] == b"{":
        try:
            return load_json_body(body)
        except ValueError:
            pass
    return load_yaml_body(body)


class Patching:
    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes, *,
               manager: str | None, force: bool, subresource: str | None, strict: bool,
               dry_run: bool) -> tuple[int, dict[str, Any]]:
        kind = content_type.split(";")[0].strip()
        try:
            patch = load_apply(body) if kind == "application/apply-patch+yaml" else load_json_body(body, b"null")
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"error decoding patch: {str(e)[:200]}") from e
        if kind == "application/apply-patch+yaml":
            if not manager:
                raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                               "is required for apply patch")
            if isinstance(patch, dict) and subresource is None:
                self.api.admission.prune_fields(rt, patch, strict=strict, defaults=False)
            return self.apply(rt, namespace, name, patch, manager=manager, force=force, subresource=subresource,
                               dry_run=dry_run)
        with self.api.store.write() as tx:
            row = tx.get(rt.key, ns_key(rt, namespace), name)
            if row is None:
                raise not_found(rt, name)
            old = row.obj()
            try:
                if kind == "application/json-patch+json":
                    new = json_patch(old, patch)
                elif kind == "application/merge-patch+json":
                    new = merge_patch(old, patch)
                elif kind == "application/strategic-merge-patch+json":
                    if rt.group not in BUILTIN_GROUPS:
                        raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for "
                                       f"custom resources ({rt.kind}); use a merge patch")
                    new = strategic_merge(old, patch)
                else:
                    raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                   "accepted media types include: application/json-patch+json, application/merge-patch"
                                   "+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
            except PatchError as e:
                raise ApiError(422, "Invalid", str(e), {}) from e
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch did not produce an object")
            problem = update_problem(rt, old, new, name=name, namespace=namespace)
            if problem:
                raise ApiError(problem[0], problem[1], problem[2], details_of(rt, name))
            if subresource is None:
                self.api.admission.validate(rt, new, namespace, name, partial=True)
                self.api.admission.prune_fields(rt, new, strict=strict)
                self.api.admission.validate(rt, new, namespace, name)
            rv_wanted = meta_of(new).get("resourceVersion")
            if rv_wanted and str(rv_wanted) != str(row.rv):
                raise conflict(rt, name)
            done = self.api.finish_update(tx, rt, row, old, new, subresource=subresource, manager=manager)
            if dry_run:
                raise Rollback(done, 200, stored=row.rv)
            return 200, done

    def apply(self, rt: ResourceType, namespace: str | None, name: str, applied: Any, *, manager: str,
               force: bool, subresource: str | None, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        if not isinstance(applied, dict):
            raise ApiError(400, "BadRequest", "an apply patch must be a YAML or JSON object")
        meta = applied.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name') or ''}) does not match the "
                           f"name on the URL ({name})")
        self.api.admission.validate(rt, applied, namespace, name, partial=True, applied=True)
        now = now_rfc3339(self.api.clock())
        with self.api.store.write() as tx:
            row = tx.get(rt.key, ns_key(rt, namespace), name)
            try:
                if row is None:
                    self.api.admission.check_namespace(tx, rt, namespace)
                    obj = server_side_apply(None, applied, manager=manager, force=force, now=now,
                                            api_version=rt.api_version, with_status=not rt.has_status)
                    obj = self.api.admission.prepare_new(rt, obj, namespace, tx.next_rv())
                    self.api.admission.prune_fields(rt, obj, strict=False)
                    self.api.admission.validate(rt, obj, namespace, name)
                    if dry_run:
                        raise Rollback(obj, 201)
                    return 201, self.api.write(tx, rt, obj, "ADDED")
                old = row.obj()
                new = server_side_apply(old, applied, manager=manager, force=force, now=now,
                                        api_version=rt.api_version, subresource=subresource,
                                        with_status=subresource == "status" or not rt.has_status)
            except ApplyConflict as e:
                raise ApiError(409, "Conflict", str(e), {"causes": [
                    {"reason": "FieldManagerConflict", "message": conflict_prefix(m, v), "field": render_path(p)}
                    for m, v, p in e.conflicts]}) from e
            if subresource is None:
                self.api.admission.prune_fields(rt, new, strict=False)
                self.api.admission.validate(rt, new, namespace, name)
            done = self.api.finish_update(tx, rt, row, old, new, subresource=subresource, manager=manager, record=False)
            if dry_run:
                raise Rollback(done, 200, stored=row.rv)
            return 200, done
