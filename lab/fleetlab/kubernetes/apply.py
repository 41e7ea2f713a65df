"""Server-side apply and field ownership (`metadata.managedFields`, FieldsV1), as pure functions.

Each manager owns a set of leaf paths. Apply merges the applied configuration into the live object
(keyed lists by key, as strategic merge does), removes fields the same manager applied before and
no longer applies (unless another manager owns them), and refuses, with Kubernetes' own message,
to change a field another manager owns, unless `force`. Plain writes (PUT, PATCH) move the
ownership of the fields they change to their manager, with operation Update.

    obj = server_side_apply(live, applied, manager="flux", force=False, now=now)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from fleetlab.kubernetes.patch import merge_key, strategic_merge

Path = tuple[str, ...]

_UNMANAGED_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                   "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generateName"}


class ApplyConflict(Exception):
    """Conflicts worded as the API server's field manager words them: `conflict with "m"`, plus `using <version>`
    when the other manager's operation was an Update (not an Apply)."""

    def __init__(self, conflicts: list[tuple[str, str, Path]]) -> None:
        self.conflicts = conflicts
        n = len(conflicts)
        lines = [f"{prefix(m, v)}: {render(p)}" for m, v, p in conflicts]
        head = f"Apply failed with {n} conflict{'s' if n > 1 else ''}: "
        super().__init__(head + ("\n".join(lines) if n > 1 else lines[0]))


def prefix(manager: str, version: str) -> str:
    """`version` is "" for a manager whose operation was Apply."""
    return f'conflict with "{manager}" using {version}' if version else f'conflict with "{manager}"'


def render(path: Path) -> str:
    """`.spec.template.spec.containers[name="manager"].image`, as kubectl prints conflicts."""
    out = ""
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
    return out


def leaves(obj: Any, *, top: bool = True, with_status: bool = True) -> set[Path]:
    """Leaf paths of an object, in FieldsV1 terms; keyed lists are walked item by item."""
    out: set[Path] = set()
    if not isinstance(obj, dict):
        return out
    for key, value in obj.items():
        if top and key in ("apiVersion", "kind"):
            continue
        if top and key == "status" and not with_status:
            continue
        if top and key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _UNMANAGED_META}
            if not value:
                continue
        here: Path = (f"f:{key}",)
        if isinstance(value, dict) and value:
            out |= {here + p for p in leaves(value, top=False)}
        elif isinstance(value, list) and value and (mk := merge_key(key, value)) is not None and all(
                isinstance(i, dict) and mk in i for i in value):
            for item in value:
                item_path = here + ("k:" + json.dumps({mk: item[mk]}, separators=(",", ":")),)
                out.add(item_path + (".",))
                out |= {item_path + p for p in leaves(item, top=False)}
        elif isinstance(value, list) and key == "finalizers" and all(isinstance(i, str) for i in value):
            out |= {here + ("v:" + json.dumps(i),) for i in value}
        else:
            out.add(here)
    return out


def lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    cur = obj
    for part in path:
        kind, _, rest = part.partition(":")
        if part == ".":
            return True, cur
        if kind == "f" and isinstance(cur, dict) and rest in cur:
            cur = cur[rest]
        elif kind == "k" and isinstance(cur, list):
            want = json.loads(rest)
            match = next((i for i in cur if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())), None)
            if match is None:
                return False, None
            cur = match
        elif kind == "v" and isinstance(cur, list):
            value = json.loads(rest)
            return (value in cur), value
        else:
            return False, None
    return True, cur


def remove(obj: Any, path: Path) -> None:
    """Delete the field at `path`, and the list item when `path` ends at a keyed item's '.'."""
    if path and path[-1] == ".":
        path = path[:-1]
    parent_ok, parent = lookup(obj, path[:-1])
    if not parent_ok:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))]
    elif kind == "v" and isinstance(parent, list):
        value = json.loads(rest)
        parent[:] = [i for i in parent if i != value]


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in tree.items():
        if isinstance(sub, dict) and sub:
            out |= from_fields_v1(sub, prefix + (key,))
        else:
            out.add(prefix + (key,))
    return out


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(e) for e in ((obj or {}).get("metadata", {}).get("managedFields") or [])]


def _prune_empty(obj: Any) -> None:
    """Drop maps that removal left empty (but keep an object's top-level sections)."""
    if isinstance(obj, dict):
        for key in list(obj):
            _prune_empty(obj[key])
            if isinstance(obj[key], dict) and not obj[key] and key not in ("metadata", "spec", "status", "data"):
                del obj[key]


def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str, force: bool,
                      now: str, api_version: str, subresource: str | None = None,
                      with_status: bool = True) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None when creating)."""
    new_set = leaves(applied, with_status=with_status)
    entries = _entries(live)
    sets = [from_fields_v1(e.get("fieldsV1") or {}) for e in entries]
    mine = next((i for i, e in enumerate(entries) if e.get("manager") == manager and e.get("operation") == "Apply"
                 and e.get("subresource") == subresource), None)
    conflicts: list[tuple[str, str, Path]] = []
    if live is not None:
        for i, entry in enumerate(entries):
            if i == mine:
                continue
            for path in sorted(new_set & sets[i]):
                if path[-1] == ".":
                    continue
                _, old = lookup(live, path)
                _, new = lookup(applied, path)
                if old != new:
                    version = "" if entry.get("operation") == "Apply" else str(entry.get("apiVersion", api_version))
                    conflicts.append((str(entry.get("manager")), version, path))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for owner, _version, path in conflicts:
        for i, entry in enumerate(entries):
            if i != mine and entry.get("manager") == owner:
                sets[i].discard(path)
    result = copy.deepcopy(live) if live is not None else {}
    if mine is not None:
        others = set().union(*(s for i, s in enumerate(sets) if i != mine)) if len(sets) > 1 else set()
        for path in sorted(sets[mine] - new_set - others, key=len, reverse=True):
            remove(result, path)
        _prune_empty(result)
    result = strategic_merge(result, applied)
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(new_set)}
    if subresource:
        entry["subresource"] = subresource
    if mine is None:
        entries.append(entry)
        sets.append(new_set)
    else:
        entries[mine] = entry
        sets[mine] = new_set
    result.setdefault("metadata", {})["managedFields"] = _finish(entries, sets)
    return result


def record_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, now: str, api_version: str,
                  subresource: str | None = None, with_status: bool = True) -> None:
    """Give `manager` (operation Update) the fields a PUT or PATCH changed; set on `new` in place. A request that
    sets other managedFields than the object has (not through a subresource) is taken at its word, as
    kube-apiserver's FieldManager.Update decodes them first: how `flux migrate` moves each entry's apiVersion."""
    old_leaves = leaves(old or {}, with_status=with_status)
    new_leaves = leaves(new, with_status=with_status)
    changed = {p for p in new_leaves if lookup(old or {}, p) != lookup(new, p)} if old else new_leaves
    sent = _entries(new) if subresource is None and old is not None else []
    entries = sent if sent and sent != _entries(old) else _entries(old)
    sets = [from_fields_v1(e.get("fieldsV1") or {}) - (old_leaves - new_leaves) for e in entries]
    if changed:
        sets = [s - changed for s in sets]
        idx = next((i for i, e in enumerate(entries) if e.get("manager") == manager and e.get("operation") == "Update"
                    and e.get("subresource") == subresource), None)
        entry = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": now,
                 "fieldsType": "FieldsV1"}
        if subresource:
            entry["subresource"] = subresource
        if idx is None:
            entries.append(entry)
            sets.append(set(changed))
        else:
            entries[idx] = entry
            sets[idx] = sets[idx] | changed
    new.setdefault("metadata", {})["managedFields"] = _finish(entries, sets)


def _finish(entries: list[dict[str, Any]], sets: list[set[Path]]) -> list[dict[str, Any]]:
    out = []
    for entry, paths in zip(entries, sets, strict=True):
        if paths:
            out.append({**entry, "fieldsV1": to_fields_v1(paths)})
    return out
