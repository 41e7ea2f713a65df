"""What is blanked out of an observation before the two sides are compared: each side's own strings (its
repository, API server address), then times, uids, commit hashes, digests, elapsed durations, ages, pod-name
hashes, addresses and resource versions. Everything else must match.

    normalize({"message": "Applied revision: fid/x@sha1:3f2a…"}, {"fidelity-local": "<repo>"})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/tmp/kustomization-\d+"), "/tmp/kustomization-<n>"),
    (re.compile(r"(?<=-)[bcdfghjklmnpqrstvwxz2456789]{8,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b"), "<rs>-<pod>"),
    (re.compile(r"(?<=[a-z0-9]-)(?=[bcdfghjklmnpqrstvwxz2456789]*\d)[bcdfghjklmnpqrstvwxz2456789]{8,10}\b"), "<rs>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \w+"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uid>"),
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<digest>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<digest>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<sha>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,12}\b"), "<short-sha>"),
    # elapsed Go durations carry a fraction (time.Since is nanosecond-precise); settings such as 30s do not
    (re.compile(r"\b(\d+h)?(\d+m)?\d+\.\d+(s|ms|µs|us|ns)\b"), "<elapsed>"),
    (re.compile(r"\b\d+(µs|ns)\b"), "<elapsed>"),
    (re.compile(r"\b(\d{1,3}\.){3}\d{1,3}(:\d+)?\b"), "<address>"),
    (re.compile(r"\blocalhost:\d+\b"), "<address>"),
    (re.compile(r"of size [0-9.]+[kMG]?B\b"), "of size <size>"),
]
_DROP_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink")


def normalize_text(text: str, subst: Mapping[str, str] | None = None) -> str:
    for old, new in sorted((subst or {}).items(), key=lambda kv: -len(kv[0])):
        if old:
            text = text.replace(old, new)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def normalize(value: Any, subst: Mapping[str, str] | None = None) -> Any:
    """The value with every string normalised; object metadata loses uid, resourceVersion and timestamps."""
    if isinstance(value, str):
        return normalize_text(value, subst)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k in _DROP_META:
                continue
            out[normalize_text(str(k), subst)] = normalize(v, subst)
        return out
    if isinstance(value, (list, tuple)):
        return [normalize(v, subst) for v in value]
    return value


def table(text: str, *, blank: tuple[str, ...] = ("AGE", "LAST SEEN")) -> list[list[str]]:
    """A kubectl table as rows of cells (split on the header's column starts), with ages blanked."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:(?<=\s\s)|^)\S", header)]
    starts = starts or [0]

    def cells(line: str) -> list[str]:
        out = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else None
            out.append(line[start:end].strip() if end is not None else line[start:].strip())
        return out

    names = cells(header)
    rows = [names]
    for line in lines[1:]:
        row = cells(line)
        rows.append(["<age>" if names[i] in blank and cell else cell for i, cell in enumerate(row)])
    return rows


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two normalised observations first differ, as `path: a != b`; None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(dict.fromkeys([*a, *b])):
            if key not in a or key not in b:
                return f"{path}/{key}: {'missing on sandbox' if key not in a else 'missing on local'}"
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            extra = a[len(b):] if len(a) > len(b) else b[len(a):]
            return f"{path}: {len(a)} items on sandbox, {len(b)} on local (first extra: {_short(extra[0])})"
        return None
    if a != b:
        return f"{path}: sandbox {_short(a)} != local {_short(b)}"
    return None


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
