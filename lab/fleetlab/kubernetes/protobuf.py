"""Kubernetes protobuf request bodies, decoded into the JSON-shaped objects the sandbox stores.

kubectl's generators (`kubectl create configmap|secret|namespace|serviceaccount|deployment`) and
`kubectl auth can-i` send `application/vnd.kubernetes.protobuf`: the magic `k8s\\0`, then a `runtime.Unknown`
(typeMeta = 1, raw = 2) whose `raw` is the object's own message. Only the messages of those kinds are
known here (field numbers from k8s.io/api's generated.proto); anything else raises ProtobufError and the
server answers 415, naming JSON as what to send instead. Responses are always JSON, which kubectl accepts.

    obj = decode_protobuf(body)      # {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {...}, "data": {...}}
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a protobuf message the sandbox knows how to decode."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


Decoder = Callable[[bytes], Any]


def _text(raw: int | bytes) -> str:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a string field")
    return raw.decode("utf-8")


def _message(spec: dict[int, tuple[str, str, Any]]) -> Decoder:
    """A decoder for a message: field number -> (json name, how, sub-decoder); how is one of
    text, bool, int (zero and false omitted, as Go's omitempty does), bool0 and int0 (pointers in Go: kept), bytes
    (base64 in JSON), message, list (repeated sub-message or text), map (key/value entries)."""
    def decode(data: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for number, raw in fields(data):
            if number not in spec:
                continue
            name, how, sub = spec[number]
            if how == "text":
                if _text(raw):  # Go's omitempty: an empty string is not sent as a JSON field
                    out[name] = _text(raw)
            elif how == "bool":
                if raw:
                    out[name] = True
            elif how == "bool0":  # a *bool in Go: false is a value
                out[name] = bool(raw)
            elif how == "int":
                if raw:
                    out[name] = int(raw) if isinstance(raw, int) else 0
            elif how == "int0":  # a *int32 in Go: 0 is a value
                out[name] = int(raw) if isinstance(raw, int) else 0
            elif how == "bytes":
                out[name] = base64.b64encode(raw if isinstance(raw, bytes) else b"").decode()
            elif how == "message":
                out[name] = sub(raw if isinstance(raw, bytes) else b"")
            elif how == "list":
                out.setdefault(name, []).append(sub(raw) if sub else _text(raw))
            elif how == "map":
                entry = dict(fields(raw if isinstance(raw, bytes) else b""))
                key = _text(entry.get(1, b""))
                value = entry.get(2, b"")
                out.setdefault(name, {})[key] = sub(value) if sub else _text(value)
        return out
    return decode


def _b64(raw: int | bytes) -> str:
    return base64.b64encode(raw if isinstance(raw, bytes) else b"").decode()


_OWNER = _message({1: ("kind", "text", None), 3: ("name", "text", None), 4: ("uid", "text", None),
                   5: ("apiVersion", "text", None), 6: ("controller", "bool", None),
                   7: ("blockOwnerDeletion", "bool", None)})
_OBJECT_META = _message({1: ("name", "text", None), 2: ("generateName", "text", None), 3: ("namespace", "text", None),
                         5: ("uid", "text", None), 6: ("resourceVersion", "text", None),
                         11: ("labels", "map", None), 12: ("annotations", "map", None),
                         13: ("ownerReferences", "list", _OWNER), 14: ("finalizers", "list", None)})
_LOCAL_REF = _message({1: ("name", "text", None)})
_RESOURCE_ATTRIBUTES = _message({1: ("namespace", "text", None), 2: ("verb", "text", None), 3: ("group", "text", None),
                                 4: ("version", "text", None), 5: ("resource", "text", None),
                                 6: ("subresource", "text", None), 7: ("name", "text", None)})
_NON_RESOURCE = _message({1: ("path", "text", None), 2: ("verb", "text", None)})
_SUBJECT = _message({1: ("kind", "text", None), 2: ("apiGroup", "text", None), 3: ("name", "text", None),
                     4: ("namespace", "text", None)})
_ROLE_REF = _message({1: ("apiGroup", "text", None), 2: ("kind", "text", None), 3: ("name", "text", None)})
_BINDING = _message({1: ("metadata", "message", _OBJECT_META), 2: ("subjects", "list", _SUBJECT),
                     3: ("roleRef", "message", _ROLE_REF)})
_POLICY_RULE = _message({1: ("verbs", "list", None), 2: ("apiGroups", "list", None), 3: ("resources", "list", None),
                         4: ("resourceNames", "list", None), 5: ("nonResourceURLs", "list", None)})
_AGGREGATION = _message({1: ("clusterRoleSelectors", "list", _message({1: ("matchLabels", "map", None)}))})
_SUBJECT_ACCESS = _message({1: ("resourceAttributes", "message", _RESOURCE_ATTRIBUTES),
                            2: ("nonResourceAttributes", "message", _NON_RESOURCE), 3: ("user", "text", None),
                            4: ("groups", "list", None), 6: ("uid", "text", None)})

_PORT = _message({1: ("name", "text", None), 2: ("hostPort", "int", None), 3: ("containerPort", "int", None),
                  4: ("protocol", "text", None)})
_CONTAINER = _message({1: ("name", "text", None), 2: ("image", "text", None), 3: ("command", "list", None),
                       4: ("args", "list", None), 5: ("workingDir", "text", None), 6: ("ports", "list", _PORT),
                       14: ("imagePullPolicy", "text", None)})
_POD_TEMPLATE = _message({1: ("metadata", "message", _OBJECT_META),
                          2: ("spec", "message", _message({2: ("containers", "list", _CONTAINER),
                                                           3: ("restartPolicy", "text", None)}))})
_DEPLOYMENT_SPEC = _message({1: ("replicas", "int0", None),
                             2: ("selector", "message", _message({1: ("matchLabels", "map", None)})),
                             3: ("template", "message", _POD_TEMPLATE),
                             6: ("revisionHistoryLimit", "int", None), 7: ("paused", "bool", None),
                             9: ("progressDeadlineSeconds", "int", None)})

KINDS: dict[tuple[str, str], Decoder] = {
    ("apps/v1", "Deployment"): _message({1: ("metadata", "message", _OBJECT_META),
                                         2: ("spec", "message", _DEPLOYMENT_SPEC)}),
    ("v1", "ConfigMap"): _message({1: ("metadata", "message", _OBJECT_META), 2: ("data", "map", None),
                                   3: ("binaryData", "map", _b64), 4: ("immutable", "bool", None)}),
    ("v1", "Secret"): _message({1: ("metadata", "message", _OBJECT_META), 2: ("data", "map", _b64),
                                3: ("type", "text", None), 4: ("stringData", "map", None),
                                5: ("immutable", "bool", None)}),
    ("v1", "Namespace"): _message({1: ("metadata", "message", _OBJECT_META),
                                   2: ("spec", "message", _message({1: ("finalizers", "list", None)}))}),
    ("v1", "ServiceAccount"): _message({1: ("metadata", "message", _OBJECT_META),
                                        3: ("imagePullSecrets", "list", _LOCAL_REF),
                                        4: ("automountServiceAccountToken", "bool0", None)}),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _message({
        1: ("metadata", "message", _OBJECT_META),
        2: ("spec", "message", _message({1: ("resourceAttributes", "message", _RESOURCE_ATTRIBUTES),
                                         2: ("nonResourceAttributes", "message", _NON_RESOURCE)}))}),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _BINDING,
    ("rbac.authorization.k8s.io/v1", "Role"): _message({1: ("metadata", "message", _OBJECT_META),
                                                        2: ("rules", "list", _POLICY_RULE)}),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): _message({1: ("metadata", "message", _OBJECT_META),
                                                               2: ("rules", "list", _POLICY_RULE),
                                                               3: ("aggregationRule", "message", _AGGREGATION)}),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): _message({
        1: ("metadata", "message", _OBJECT_META), 2: ("spec", "message", _message({1: ("namespace", "text", None)}))}),
    ("authorization.k8s.io/v1", "SubjectAccessReview"): _message({1: ("metadata", "message", _OBJECT_META),
                                                                  2: ("spec", "message", _SUBJECT_ACCESS)}),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): _message({1: ("metadata", "message", _OBJECT_META),
                                                                       2: ("spec", "message", _SUBJECT_ACCESS)}),
}
"""The kinds whose protobuf the sandbox decodes, by (apiVersion, kind)."""


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body as a JSON-shaped object, or ProtobufError."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = dict(fields(body[len(MAGIC):]))
    meta_bytes = envelope.get(1, b"")
    type_meta = dict(fields(meta_bytes if isinstance(meta_bytes, bytes) else b""))
    api_version, kind = _text(type_meta.get(1, b"")), _text(type_meta.get(2, b""))
    decoder = KINDS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f"{kind or 'an object'} ({api_version or 'no apiVersion'}) is not one of the kinds it "
                            f"decodes ({', '.join(k for _, k in KINDS)})")
    raw = envelope.get(2, b"")
    obj = decoder(raw if isinstance(raw, bytes) else b"")
    return {"apiVersion": api_version, "kind": kind, **obj}
