"""What the real API server checks in an object before it stores it, for the kinds the sandbox serves:
the types of metadata and of the built-in kinds' typed fields (a wrong type is a decoding error, 400),
name rules per kind, label, annotation and finalizer syntax, data keys and sizes, the Deployment basics
(422 Invalid with one cause per problem), and what an update may not change. Custom resources are
checked against their CRD's schema by fleetlab.kubernetes.schema. Pure functions; no storage here.

    problems = check_object(rt, obj)          # [] when valid
    raise invalid_causes(rt, name, problems)  # 422 with every cause, as the real server reports them
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from fleetlab.kubernetes.registry import BUILTINS, CRD_KEY, ResourceType
from fleetlib.objects import meta_of, spec_of

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MESSAGE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
                 "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MESSAGE = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                   "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
                   "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                       "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                       "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_MESSAGE = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                     "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
                     "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
MAX_DATA_BYTES = 1024 * 1024
"""ConfigMap and Secret data may hold at most 1 MiB."""
MAX_ANNOTATION_BYTES = 256 * 1024

_NAMESPACE_LABEL_KINDS = {"/namespaces"}
_DNS1035_KINDS = {"/services"}
_PATH_SEGMENT_KINDS = {"rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/rolebindings",
                       "rbac.authorization.k8s.io/clusterroles", "rbac.authorization.k8s.io/clusterrolebindings"}


@dataclass(frozen=True)
class Cause:
    """One problem, as a Status cause: `field`, `reason` (FieldValueInvalid...) and the message after the field."""

    field: str
    reason: str
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"


class DecodeError(ValueError):
    """The body is not the kind's type at all (a string where an object belongs): 400 BadRequest. `path` and
    `value` say where, for the wording of a server-side apply (structured-merge-diff's typed patch)."""

    def __init__(self, message: str, *, path: str | None = None, value: Any = None, expected: str = "") -> None:
        super().__init__(message)
        self.path, self.value, self.expected = path, value, expected

    def typed_patch(self) -> str | None:
        """structured-merge-diff's words for it (`.data.x: expected string, got &value.valueUnstructured{Value:3}`)."""
        if self.path is None:
            return None
        shown = str(self.value).lower() if isinstance(self.value, bool) else self.value
        return f"{self.path}: expected {self.expected}, got &value.valueUnstructured{{Value:{shown}}}"


def _go_type(value: Any) -> str:
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null" if value is None else type(value).__name__)


def _expect(value: Any, kind: type, go_field: str, go_type: str) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if value is not None and not ok:
        raise DecodeError(f"json: cannot unmarshal {_go_type(value)} into Go struct field {go_field} of type {go_type}")


def _string_map(value: Any, go_field: str) -> None:
    _expect(value, dict, go_field, "map[string]string")
    path = "." + go_field.split(".", 1)[1]  # ConfigMap.data -> .data, ObjectMeta.metadata.labels -> .metadata.labels
    for k, v in (value or {}).items():
        if v is not None and not isinstance(v, str) and not isinstance(v, (dict, list)):
            raise DecodeError(f"json: cannot unmarshal {_go_type(v)} into Go struct field {go_field} of type string",
                              path=f"{path}.{k}", value=v, expected="string")
        _expect(v, str, go_field, "string")


def check_types(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Decoding: metadata's and the built-in kinds' typed fields must have their Go types (DecodeError)."""
    for key in ("apiVersion", "kind"):
        _expect(obj.get(key), str, f"TypeMeta.{key}", "string")
    meta = obj.get("metadata")
    _expect(meta, dict, f"{rt.kind}.metadata", "v1.ObjectMeta")
    meta = meta or {}
    for key in ("name", "generateName", "namespace", "resourceVersion", "uid"):
        _expect(meta.get(key), str, f"ObjectMeta.metadata.{key}", "string")
    for key in ("labels", "annotations"):
        _string_map(meta.get(key), f"ObjectMeta.metadata.{key}")
    _expect(meta.get("finalizers"), list, "ObjectMeta.metadata.finalizers", "[]string")
    for item in meta.get("finalizers") or []:
        _expect(item, str, "ObjectMeta.metadata.finalizers", "string")
    _expect(meta.get("ownerReferences"), list, "ObjectMeta.metadata.ownerReferences", "[]v1.OwnerReference")
    if rt.key in ("/configmaps", "/secrets"):
        _string_map(obj.get("data"), f"{rt.kind}.data")
        _string_map(obj.get("binaryData"), f"{rt.kind}.binaryData")
        _string_map(obj.get("stringData"), f"{rt.kind}.stringData")
        _expect(obj.get("type"), str, f"{rt.kind}.type", f"v1.{rt.kind}Type")
        _expect(obj.get("immutable"), bool, f"{rt.kind}.immutable", "bool")
    elif rt.group in ("", "apps", "batch") or rt.key == CRD_KEY:
        _expect(obj.get("spec"), dict, f"{rt.kind}.spec", f"v1.{rt.kind}Spec")


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if rt.key in _PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            return [Cause("metadata.name", "FieldValueInvalid",
                          f'Invalid value: "{name}": may not contain \'/\' or \'%\', and may not be \'.\' or \'..\'')]
        return []
    if rt.key in _NAMESPACE_LABEL_KINDS:
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            why = "must be no more than 63 characters" if len(name) > 63 else LABEL_MESSAGE
            return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
        return []
    if rt.key in _DNS1035_KINDS:
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            why = "must be no more than 63 characters" if len(name) > 63 else DNS1035_MESSAGE
            return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
        return []
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        why = "must be no more than 253 characters" if len(name) > 253 else SUBDOMAIN_MESSAGE
        return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
    return []


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix part {SUBDOMAIN_MESSAGE}"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _QUALIFIED_NAME.match(name):
        return QUALIFIED_MESSAGE
    return None


def _metadata_causes(meta: dict[str, Any]) -> list[Cause]:
    out = []
    for key, value in (meta.get("labels") or {}).items():
        problem = _qualified_name_problem(key)
        if problem:
            out.append(Cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "{key}": {problem}'))
        if len(value) > 63:
            out.append(Cause("metadata.labels", "FieldValueInvalid",
                             f'Invalid value: "{value}": must be no more than 63 characters'))
        elif not _LABEL_VALUE.match(value):
            out.append(Cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "{value}": {LABEL_VALUE_MESSAGE}'))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        problem = _qualified_name_problem(key.lower())
        if problem:
            out.append(Cause("metadata.annotations", "FieldValueInvalid", f'Invalid value: "{key}": {problem}'))
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATION_BYTES:
        out.append(Cause("metadata.annotations", "FieldValueTooLong",
                         f"Too long: must have at most {MAX_ANNOTATION_BYTES} bytes"))
    for i, finalizer in enumerate(meta.get("finalizers") or []):
        problem = _qualified_name_problem(finalizer)
        if problem:
            out.append(Cause(f"metadata.finalizers[{i}]", "FieldValueInvalid", f'Invalid value: "{finalizer}": {problem}'))
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(key):
                out.append(Cause(f"metadata.ownerReferences[{i}].{key}", "FieldValueRequired", "Required value"))
    return out


def _data_causes(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    out = []
    total = 0
    for field in ("data", "binaryData", "stringData"):
        for key, value in (obj.get(field) or {}).items():
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                out.append(Cause(f"{field}[{key}]", "FieldValueInvalid", f'Invalid value: "{key}": a valid config key '
                                 "must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                 "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
            base64_field = field == "binaryData" or (rt.key == "/secrets" and field == "data")
            if base64_field:
                try:
                    total += len(base64.b64decode(value, validate=True))
                except (binascii.Error, ValueError):
                    raise DecodeError(f"illegal base64 data in {rt.kind}.{field}[{key}]") from None
            else:
                total += len(value.encode())
    if total > MAX_DATA_BYTES:
        out.append(Cause("data" if rt.key == "/secrets" else "", "FieldValueTooLong",
                         f"Too long: must have at most {MAX_DATA_BYTES} bytes"))
    return out


def _deployment_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    out = []
    if not isinstance(spec.get("replicas", 1), int) or spec.get("replicas", 1) < 0:
        out.append(Cause("spec.replicas", "FieldValueInvalid", "Invalid value: must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = meta_of(template).get("labels")
    shown = json.dumps(labels or None, separators=(",", ":"))  # as Go's encoding/json prints it
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        out.append(Cause("spec.selector", "FieldValueRequired", "Required value"))
        out.append(Cause("spec.template.metadata.labels", "FieldValueInvalid",
                         f"Invalid value: {shown}: `selector` does not match template `labels`"))
    elif any((labels or {}).get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        out.append(Cause("spec.template.metadata.labels", "FieldValueInvalid",
                         f"Invalid value: {shown}: `selector` does not match template `labels`"))
    out += _containers_causes(spec_of(template), "spec.template.spec")
    return out


def _containers_causes(pod_spec: dict[str, Any], where: str) -> list[Cause]:
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [Cause(f"{where}.containers", "FieldValueRequired", "Required value")]
    out = []
    for i, c in enumerate(containers):
        c = c if isinstance(c, dict) else {}
        if not c.get("name"):
            out.append(Cause(f"{where}.containers[{i}].name", "FieldValueRequired", "Required value"))
        elif not DNS1123_LABEL.match(str(c["name"])):
            out.append(Cause(f"{where}.containers[{i}].name", "FieldValueInvalid",
                             f'Invalid value: "{c["name"]}": {LABEL_MESSAGE}'))
        if not c.get("image"):
            out.append(Cause(f"{where}.containers[{i}].image", "FieldValueRequired", "Required value"))
    return out


STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def _builtin_finalizer_causes(meta: dict[str, Any]) -> list[Cause]:
    """A built-in object's finalizers must be standard or fully qualified (`domain/name`): the core validation
    refuses `finalizers.fluxcd.io` on a ConfigMap (custom resources only get a warning)."""
    return [Cause(f"metadata.finalizers[{i}]", "FieldValueInvalid",
                  f'Invalid value: "{f}": name is neither a standard finalizer name nor is it fully qualified')
            for i, f in enumerate(meta.get("finalizers") or [])
            if isinstance(f, str) and "/" not in f and f not in STANDARD_FINALIZERS]


def check_object(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """Every problem the real server's validation reports for a decoded object (metadata, built-in fields)."""
    meta = obj.get("metadata") or {}
    out = _name_causes(rt, str(meta.get("name") or "")) if meta.get("name") else []
    out += _metadata_causes(meta)
    if rt.group in {t.group for t in BUILTINS}:
        out += _builtin_finalizer_causes(meta)
    if rt.key in ("/configmaps", "/secrets"):
        out += _data_causes(rt, obj)
    elif rt.key == "apps/deployments":
        out += _deployment_causes(obj)
    elif rt.key == "/pods":
        out += _containers_causes(obj.get("spec") or {}, "spec")
    return out


IMMUTABLE_WHEN_SET = "Forbidden: field is immutable when `immutable` is set"


def immutable_causes(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Fields an update may not change: an immutable ConfigMap's or Secret's data (and the flag itself), a
    Deployment's selector."""
    out = []
    if rt.key in ("/configmaps", "/secrets") and old.get("immutable") is True:
        if new.get("immutable") is not True:
            out.append(Cause("immutable", "FieldValueForbidden", IMMUTABLE_WHEN_SET))
        for field in ("data", "binaryData") if rt.key == "/configmaps" else ("data",):
            if (old.get(field) or {}) != (new.get(field) or {}):
                out.append(Cause(field, "FieldValueForbidden", IMMUTABLE_WHEN_SET))
    if rt.group == "apps" and rt.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        before, after = spec_of(old).get("selector"), spec_of(new).get("selector")
        if before is not None and after != before:
            out.append(Cause("spec.selector", "FieldValueInvalid",
                             f"Invalid value: {json.dumps(after, separators=(',', ':'))}: field is immutable"))
    return out


def keep_stored_versions(new: dict[str, Any]) -> None:
    """A CRD's `status.storedVersions` on an update of its spec, as the apiextensions strategy keeps it
    (PrepareForUpdate): the stored versions stay, and the storage version is added when it is new (objects written
    from now on are stored at it)."""
    status = new.setdefault("status", {})
    stored = list(status.get("storedVersions") or [])
    storage = next((v.get("name") for v in spec_of(new).get("versions") or [] if v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored


def stored_versions_causes(crd: dict[str, Any]) -> list[Cause]:
    """apiextensions' ValidateCustomResourceDefinitionStoredVersions: every stored version must still be in
    spec.versions (a CRD update dropping one is refused until `flux migrate` or a storage migration rewrote the
    objects and the status), and the storage version must be stored."""
    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    where = "status.storedVersions"
    if not stored:
        return [Cause(where, "FieldValueInvalid", "Invalid value: []: must have at least one stored version")]
    versions = [v for v in spec_of(crd).get("versions") or [] if isinstance(v, dict)]
    out = [Cause(where, "FieldValueInvalid", f"Invalid value: {json.dumps(v, separators=(',', ':'))}: must have the "
                                             f"storage version {v.get('name')}")
           for v in versions if v.get("storage") and v.get("name") not in stored]
    names = {v.get("name") for v in versions}
    out += [Cause(f"{where}[{i}]", "FieldValueInvalid", f'Invalid value: "{v}": must appear in spec.versions')
            for i, v in enumerate(stored) if v not in names]
    return out


def update_problem(rt: ResourceType, old: dict[str, Any], new: dict[str, Any], *, name: str,
                   namespace: str | None) -> tuple[int, str, str] | None:
    """What an update or patch may not change, as (code, reason, message): name, namespace, kind, uid."""
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return 400, "BadRequest", f"the name of the object () does not match the name on the URL ({name})"
    if meta.get("name") != name:
        return 400, "BadRequest", f"the name of the object ({meta.get('name') or ''}) does not match the name on the " \
                                  f"URL ({name})"
    if rt.namespaced and meta.get("namespace") not in (None, namespace):
        return 400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"
    if new.get("kind") not in (None, rt.kind) or not isinstance(new.get("apiVersion", ""), str) or \
            str(new.get("apiVersion", rt.api_version)).rpartition("/")[0] != rt.group:
        return 400, "BadRequest", f"the kind of the object ({new.get('kind')}, {new.get('apiVersion')}) does not match " \
                                  f"the resource ({rt.kind}, {rt.api_version})"
    old_uid = meta_of(old).get("uid")
    if meta.get("uid") not in (None, old_uid):
        return 409, "Conflict", f'Operation cannot be fulfilled on {rt.plural}{"." + rt.group if rt.group else ""} ' \
                                f'"{name}": Precondition failed: UID in precondition: {meta.get("uid")}, UID in object ' \
                                f"meta: {old_uid}"
    return None
