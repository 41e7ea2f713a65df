"""Label and field selectors as the API server parses and applies them.

Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a`.
Field selectors: `=`, `==`, `!=` over the fields each kind supports (metadata.name,
metadata.namespace, status.phase, involvedObject.*, type, reason...).

    match = parse_labels("app in (source-controller,helm-controller),!canary")
    match({"app": "helm-controller"})    # True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

LabelMatcher = Callable[[Mapping[str, str]], bool]
FieldMatcher = Callable[[Mapping[str, Any]], bool]

_SET = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


class SelectorError(ValueError):
    """The selector does not parse; the API answers 400 BadRequest."""


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_labels(text: str | None) -> LabelMatcher:
    if not text or not text.strip():
        return lambda labels: True
    tests: list[LabelMatcher] = []
    for part in _split(text):
        if m := _SET.match(part):
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            tests.append(_in_set(m.group(1), values, negate=m.group(2) == "notin"))
        elif m := _CMP.match(part):
            key, op, value = m.groups()
            tests.append(_equals(key, value, negate=op == "!="))
        elif m := _EXISTS.match(part):
            tests.append(_exists(m.group(2), negate=m.group(1) == "!"))
        else:
            raise SelectorError(_parse_error(part))
    return lambda labels: all(t(labels) for t in tests)


def label_selector(selector: Mapping[str, Any] | None) -> LabelMatcher:
    """A metav1.LabelSelector (matchLabels and matchExpressions: In, NotIn, Exists, DoesNotExist) as a matcher;
    an empty selector matches everything, as LabelSelectorAsSelector makes it."""
    selector = selector or {}
    tests: list[LabelMatcher] = [_equals(str(k), str(v), negate=False)
                                 for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        key, op, values = str(e.get("key")), e.get("operator"), {str(v) for v in e.get("values") or []}
        if op in ("In", "NotIn"):
            tests.append(_in_set(key, values, negate=op == "NotIn"))
        elif op in ("Exists", "DoesNotExist"):
            tests.append(_exists(key, negate=op == "DoesNotExist"))
        else:
            raise SelectorError(f"{op!r} is not a valid label selector operator")
    return lambda labels: all(t(labels) for t in tests)


def _in_set(key: str, values: set[str], *, negate: bool) -> LabelMatcher:
    return lambda labels: (labels.get(key) in values) != negate


def _equals(key: str, value: str, *, negate: bool) -> LabelMatcher:
    return lambda labels: (key in labels and labels[key] == value) != negate


def _exists(key: str, *, negate: bool) -> LabelMatcher:
    return lambda labels: (key in labels) != negate


def _parse_error(part: str) -> str:
    """The message apimachinery's selector parser gives for a requirement it cannot read."""
    words = part.split()
    if len(words) >= 3 and words[1] in ("in", "notin") and not words[2].startswith("("):
        return f"unable to parse requirement: found '{words[2].split(',')[0]}' expected: '('"
    return f"unable to parse requirement: {part.strip()!r}"


def field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    return "" if cur is None else str(cur)


SUPPORTED_FIELDS = {
    "metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "type", "reason", "source",
    "reportingComponent", "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
    "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
    "involvedObject.fieldPath", "regarding.kind", "regarding.name", "regarding.namespace", "spec.schedulerName",
}


def parse_fields(text: str | None) -> tuple[FieldMatcher, dict[str, str]]:
    """A matcher over whole objects, plus the equalities on metadata.name/namespace (for indexed reads)."""
    if not text or not text.strip():
        return (lambda obj: True), {}
    tests: list[FieldMatcher] = []
    equal: dict[str, str] = {}
    for part in _split(text):
        m = _CMP.match(part)
        if not m:
            raise SelectorError(f"invalid selector: {part.strip()!r}; only =, == and != are supported")
        path, op, value = m.groups()
        if path not in SUPPORTED_FIELDS:
            raise SelectorError(f'field label not supported: {path}')
        tests.append(_field_equals(path, value, negate=op == "!="))
        if op != "!=":
            if path in ("metadata.name", "metadata.namespace"):
                equal[path] = value
    return (lambda obj: all(t(obj) for t in tests)), equal


def _field_equals(path: str, value: str, *, negate: bool) -> FieldMatcher:
    return lambda obj: (field_value(obj, path) == value) != negate
