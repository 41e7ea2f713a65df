"""A file's entry in the `resources` of the kustomization.yaml that owns its folder.

Flux builds a folder without a kustomization.yaml by listing every manifest under it (a subfolder that has one
is listed as a folder); a folder that has its own kustomization.yaml is built from that file alone, so a new
manifest there is applied only once the file lists it. `listing` finds the nearest such file between the new
manifest's folder and the cluster's folder (the Flux Kustomization's path, which bounds the search) and plans
the one-line change that lists the manifest, or unlists it when it goes.

The edit keeps the file as it was written (comments, order, quoting): it appends one `- entry` line at the
indentation of the existing items, or removes the entry's line, and checks the result parses to the intended
list. A `resources` in flow style (`[a, b]`) or an item the line edit cannot find is rewritten as YAML instead
(comments in it are then lost).

    edit = listing(read, "clusters/dev/a", "clusters/dev/a/apps/hello.yaml", present=True)
    # Edit("clusters/dev/a/kustomization.yaml", before, after) or None when no kustomization.yaml owns it
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from fleetlib.errors import InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_KEY = re.compile(r"^resources\s*:\s*(#.*)?$")
_ITEM = re.compile(r"^(?P<indent>[ \t]*)-[ \t]+(?P<value>.+?)[ \t]*(#.*)?$")


@dataclass(frozen=True)
class Edit:
    """One file of the repository before and after a change (None: absent)."""

    path: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def owner(read: Callable[[str], str | None], root: str, path: str) -> str | None:
    """The kustomization file nearest to `path`'s folder, searched up to `root` (inclusive); None: no such file."""
    found = _nearest(read, root, path)
    return found[0] if found else None


def _nearest(read: Callable[[str], str | None], root: str, path: str) -> tuple[str, str] | None:
    """(path, text) of the nearest kustomization file (see `owner`), read once."""
    root = posixpath.normpath(root)
    folder = posixpath.dirname(posixpath.normpath(path))
    while True:
        for name in KUSTOMIZATION_FILES:
            candidate = posixpath.join(folder, name)
            text = read(candidate)
            if text is not None:
                return candidate, text
        if folder == root or not folder.startswith(root + "/"):
            return None
        folder = posixpath.dirname(folder)


def listing(read: Callable[[str], str | None], root: str, path: str, *, present: bool) -> Edit | None:
    """The change to the owning kustomization file that lists `path` (present) or unlists it; None when no
    kustomization file owns the folder. An unchanged Edit when it is already as asked."""
    found = _nearest(read, root, path)
    if found is None:
        return None
    where, before = found
    entry = posixpath.relpath(posixpath.normpath(path), posixpath.dirname(where))
    return Edit(where, before, relisted(before, entry, present=present, source=where))


def relisted(text: str, entry: str, *, present: bool, source: str = "kustomization.yaml") -> str:
    """`text` (a kustomization file) with `entry` in its resources (present) or not."""
    doc = _parse(text, source)
    items = doc.get("resources") or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InputError(f"{source}: resources is not a list of paths", hint="fix the file, then run again")
    matches = [i for i in items if posixpath.normpath(i) == entry]
    if present == bool(matches):
        return text
    wanted = [*items, entry] if present else [i for i in items if posixpath.normpath(i) != entry]
    edited = (_append(text, entry) if present else _remove(text, entry))
    if edited is not None and _resources(edited, source) == wanted:
        return edited
    doc["resources"] = wanted
    return yaml.safe_dump(doc, sort_keys=False)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{source} is not valid YAML: {e}", hint="fix the file, then run again") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"{source} is not a mapping", hint="fix the file, then run again")
    return doc


def _resources(text: str, source: str) -> list[Any]:
    return list(_parse(text, source).get("resources") or [])


def _block(lines: list[str]) -> tuple[int, int] | None:
    """(index of the `resources:` line, index after its last item) for a block-style list at the top level."""
    for i, line in enumerate(lines):
        if _KEY.match(line.rstrip("\n")):
            end = i + 1
            for j in range(i + 1, len(lines)):
                body = lines[j].rstrip("\n")
                if _ITEM.match(body):
                    end = j + 1
                elif body.strip() and not body.lstrip().startswith("#"):
                    break
            return i, end
    return None


def _append(text: str, entry: str) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = _block(lines)
    if block is None:
        if any(line.startswith("resources") for line in lines):
            return None  # flow style, or something the line edit does not know
        return "".join(lines) + f"resources:\n- {entry}\n"
    start, end = block
    items = [m for line in lines[start + 1:end] if (m := _ITEM.match(line.rstrip("\n")))]
    indent = items[-1]["indent"] if items else ""
    return "".join([*lines[:end], f"{indent}- {entry}\n", *lines[end:]])


def _remove(text: str, entry: str) -> str | None:
    lines = text.splitlines(keepends=True)
    block = _block(lines)
    if block is None:
        return None
    start, end = block
    kept = [line for line in lines[start + 1:end]
            if not ((m := _ITEM.match(line.rstrip("\n"))) and posixpath.normpath(m["value"].strip("'\"")) == entry)]
    return "".join([*lines[:start + 1], *kept, *lines[end:]])


__all__ = ["KUSTOMIZATION_FILES", "Edit", "listing", "owner", "relisted"]
