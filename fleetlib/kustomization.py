"""Edit a cluster's `flux-system/kustomization.yaml` the way Flux's vertical-scaling guide does, keeping
everything else of the file: other patches, their order, comments, quoting and indentation.

fleetlib owns one patch entry per controller, a JSON6902 patch whose text starts with
`# fleetlib tune-resources: <controller>` and whose target is the Deployment by name. It sets the
container's whole `resources` (so an unset CPU limit is really unset) and appends flags such as
`--concurrent=10` to its args (Go's flag package takes the last occurrence, and fleetlib's patch comes
after the user's). A later run rewrites its own entry in place; it never touches another.

    text = set_patches(text, {"kustomize-controller": resources_patch(0, resources, {"concurrent": "10"})})
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from fleetlib.errors import InputError, clip

MARKER = "# fleetlib tune-resources: "


def _yaml(text: str) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    indent = re.search(r"^[A-Za-z_][\w-]*:\s*\n( *)- ", text, re.M)
    offset = len(indent.group(1)) if indent else 0
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def load(text: str, *, shown: str) -> CommentedMap:
    try:
        doc = _yaml(text).load(text)
    except YAMLError as e:
        raise InputError(f"{shown}: not valid YAML: {clip(str(e), 300)}", hint="fix the file in the fleet repository") from None
    if not isinstance(doc, CommentedMap) or doc.get("kind", "Kustomization") != "Kustomization":
        raise InputError(f"{shown}: not a kustomize Kustomization", hint="it must be a mapping with kind: Kustomization")
    return doc


def resources_patch(container_index: int, resources: Mapping[str, Mapping[str, str]], flags: Mapping[str, str],
                    *, controller: str) -> str:
    """The JSON6902 patch text for one controller: its container's resources, then its flags."""
    lines = [f"{MARKER}{controller}", "- op: add", f"  path: /spec/template/spec/containers/{container_index}/resources",
             "  value:"]
    for kind in ("requests", "limits"):
        values = resources.get(kind) or {}
        if values:
            lines.append(f"    {kind}:")
            lines.extend(f"      {name}: {value}" for name, value in values.items())
    if not any(resources.get(k) for k in ("requests", "limits")):
        lines[-1] = "  value: {}"
    for name, value in flags.items():
        lines += ["- op: add", f"  path: /spec/template/spec/containers/{container_index}/args/-",
                  f"  value: --{name}={value}"]
    return "\n".join(lines) + "\n"


def managed(text: str, *, shown: str = "kustomization.yaml") -> dict[str, str]:
    """fleetlib's own patch texts in the file, by controller."""
    out = {}
    for entry in load(text, shown=shown).get("patches") or []:
        patch = entry.get("patch") if isinstance(entry, Mapping) else None
        if isinstance(patch, str) and patch.startswith(MARKER):
            out[patch[len(MARKER):].split("\n", 1)[0].strip()] = str(patch)
    return out


def managed_flags(patch: str) -> dict[str, str]:
    """The flags a fleetlib patch appends (`--concurrent=10` -> {"concurrent": "10"})."""
    return dict(re.findall(r"value: --([\w-]+)=(\S+)", patch))


def set_patches(text: str, patches: Mapping[str, str], *, shown: str = "kustomization.yaml") -> str:
    """The file with fleetlib's patch for each controller replaced in place, or appended to `patches`."""
    def edit(entries: Any) -> None:
        for controller, body in patches.items():
            entry = _entry(body, {"kind": "Deployment", "name": controller})
            for i, existing in enumerate(entries):
                patch = existing.get("patch") if isinstance(existing, Mapping) else None
                if isinstance(patch, str) and patch.startswith(f"{MARKER}{controller}\n"):
                    entries[i] = entry
                    break
            else:
                entries.append(entry)
    return _edit_patches(text, edit, shown=shown)


def add_patches(text: str, patches: list[tuple[str, Mapping[str, str]]], *, shown: str = "kustomization.yaml") -> str:
    """The file with JSON6902 patches (each its text and its target) appended to `patches`, the rest kept."""
    return _edit_patches(text, lambda entries: entries.extend(_entry(body, target) for body, target in patches),
                         shown=shown)


def _entry(body: str, target: Mapping[str, str]) -> Any:
    entry = CommentedMap()
    entry["patch"] = LiteralScalarString(body)
    entry["target"] = CommentedMap(target.items())
    return entry


def _edit_patches(text: str, edit: Callable[[Any], None], *, shown: str) -> str:
    """The file with its `patches` list (created when absent) changed by `edit`, everything else kept."""
    yaml = _yaml(text)
    doc = load(text, shown=shown)
    entries = doc.get("patches")
    if entries is None:
        entries = CommentedSeq()
        doc["patches"] = entries
    elif not isinstance(entries, list):
        raise InputError(f"{shown}: patches is not a list", hint="kustomize expects `patches:` to be a list")
    edit(entries)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
