"""The three PATCH flavours of the Kubernetes API, as pure functions on plain data.

- JSON merge patch (RFC 7386): `application/merge-patch+json`
- JSON patch (RFC 6902): `application/json-patch+json`
- strategic merge patch: `application/strategic-merge-patch+json`, merging the lists Kubernetes
  merges by key (containers and initContainers by name, env by name, ports by containerPort,
  volumes by name, volumeMounts by mountPath, conditions by type) and replacing the others.

    merged = strategic_merge(live, {"spec": {"template": {"spec": {"containers": [{"name": "manager", ...}]}}}})
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "imagePullSecrets": "name",
    "tolerations": "key",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
"""List field name -> merge key, as the built-in types declare patchMergeKey."""


class PatchError(ValueError):
    """The patch cannot be applied; the API answers 422 (or 400 for a malformed patch)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"path {path!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return cur


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations add, remove, replace, move, copy and test."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind in ("move", "copy"):
            from_parts = _pointer(op.get("from", ""))
            value = copy.deepcopy(_container(doc, from_parts, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, from_parts, op["from"])
            doc = _add(doc, parts, value, op["path"])
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), op["path"])
        elif kind == "remove":
            doc = _remove(doc, parts, op["path"])
        elif kind == "replace":
            _container(doc, parts, op["path"])
            doc = _remove(doc, parts, op["path"])
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), op["path"])
        elif kind == "test":
            if _container(doc, parts, op["path"]) != op.get("value"):
                raise PatchError("the server rejected our request due to an error in our request")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"add operation index out of bounds: {path!r}")
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        return None
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise PatchError(f"unable to remove nonexistent key: {path!r}")
    return doc


def merge_key(field: str, items: list[Any]) -> str | None:
    """The key a list merges by: MERGE_KEYS by field name, except `ports`, which is a container's (by
    containerPort) or a Service's (by port). None: the list is replaced whole."""
    key = MERGE_KEYS.get(field)
    if key is None:
        return None
    dicts = [i for i in items if isinstance(i, dict) and i.get("$patch") is None]
    if field == "ports" and dicts and all("port" in i and "containerPort" not in i for i in dicts):
        return "port"
    return key


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge: like a merge patch, but keyed lists merge item by item.

    Supports the `$patch: delete` and `$patch: replace` directives on list items and maps.
    """
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        out = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                out.pop(key, None)
            else:
                merged = strategic_merge(out.get(key), value, key)
                if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
                    out.pop(key, None)
                else:
                    out[key] = merged
        return out
    key = merge_key(field, [*patch, *target]) if isinstance(patch, list) and isinstance(target, list) else None
    if key is not None:
        return _merge_list(target, patch, key)
    return copy.deepcopy(patch)


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    """Merge keyed items, then order them as apimachinery's normalizeElementOrder does: the patch's items in
    the patch's order, the server-only items in the live order, interleaved by their live positions."""
    out = [copy.deepcopy(item) for item in target]
    order: list[Any] = []
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return []
            out.append(copy.deepcopy(item))
            continue
        index = next((i for i, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
            continue
        order.append(item[key])
        if index is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            out[index] = strategic_merge(out[index], item)
    live = [cur.get(key) for cur in target if isinstance(cur, dict)]
    keyed = {cur.get(key): cur for cur in out if isinstance(cur, dict) and key in cur}
    patched = [keyed[k] for k in dict.fromkeys(order) if k in keyed]
    server_only = [cur for cur in out if not (isinstance(cur, dict) and cur.get(key) in order)]

    def position(item: Any) -> int:
        k = item.get(key) if isinstance(item, dict) else None
        return live.index(k) if k in live else -1
    merged, i, j = [], 0, 0
    while i < len(server_only) or j < len(patched):
        if i >= len(server_only):
            merged.append(patched[j])
            j += 1
        elif j >= len(patched):
            merged.append(server_only[i])
            i += 1
        else:
            left, right = position(server_only[i]), position(patched[j])
            if left >= 0 and right >= 0 and left < right:
                merged.append(server_only[i])
                i += 1
            else:
                merged.append(patched[j])
                j += 1
    return merged
