"""Custom resources against their CRD's structural OpenAPI v3 schema, as the API server checks them:
types (with `x-kubernetes-int-or-string`), required fields, enums, patterns, lengths, bounds, item
counts, `x-kubernetes-validations` rules written with `has()`, `self.x == 'v'`, `&&`, `||` and `!`,
defaults, and unknown fields (pruned, or refused under `fieldValidation=Strict`). Messages follow the
real server's wording.
The status is the controllers' to write and is not checked here (a known difference, README).

    causes = schema_problems(crd_schema, obj)           # [] when valid
    unknown = prune(crd_schema, obj)                    # removes undeclared fields, returns their paths
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleetlab.kubernetes.validation import Cause

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}
_SKIPPED = ("apiVersion", "kind", "metadata", "status")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), "null")


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value) if not isinstance(value, (dict, list)) \
        else _type_name(value)


def _type_ok(schema: Mapping[str, Any], value: Any) -> bool:
    want = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if want is None:
        return True
    if want == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if want == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(want, object))


BLOCKING = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
            "FieldValueTypeInvalid"}
"""Schema failures after which the API server does not evaluate x-kubernetes-validations (hasBlockingErr)."""
NOT_CHECKED = Cause("<nil>", "FieldValueInvalid", "Invalid value: null: some validation rules were not checked because "
                                                  "the object was invalid; correct the existing errors to complete "
                                                  "validation")


def _check(schema: Mapping[str, Any], value: Any, path: str, out: list[Cause],
           rules: list[Cause] | None = None) -> None:
    rules = out if rules is None else rules
    if value is None:
        if not schema.get("nullable"):
            out.append(Cause(path, "FieldValueInvalid", f'Invalid value: "null": {path} in body must be of type '
                             f'{schema.get("type", "object")}: "null"'))
        return
    if not _type_ok(schema, value):
        got = _type_name(value)
        out.append(Cause(path, "FieldValueTypeInvalid",
                         f'Invalid value: "{got}": {path} in body must be of type {schema.get("type")}: "{got}"'))
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        out.append(Cause(path, "FieldValueNotSupported", f'Unsupported value: "{_shown(value)}": supported values: '
                                                          f"{allowed}"))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(Cause(path, "FieldValueInvalid", f'Invalid value: "{value}": {path} in body should match '
                                                        f"'{schema['pattern']}'"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(Cause(path, "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(Cause(path, "FieldValueInvalid", f'Invalid value: "{value}": {path} in body should be at least '
                                                        f"{schema['minLength']} chars long"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Cause(path, "FieldValueInvalid", f"Invalid value: {value}: {path} in body should be greater "
                                                        f"than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Cause(path, "FieldValueInvalid", f"Invalid value: {value}: {path} in body should be less than "
                                                        f"or equal to {schema['maximum']}"))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(Cause(path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most "
                                                        f"{schema['maxItems']} items"))
        for i, item in enumerate(value):
            if "items" in schema:
                _check(schema["items"], item, f"{path}[{i}]", out, rules)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                out.append(Cause(f"{path}.{key}" if path else key, "FieldValueRequired", "Required value"))
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in props:
                _check(props[key], item, where, out, rules)
            elif isinstance(schema.get("additionalProperties"), Mapping):
                _check(schema["additionalProperties"], item, where, out, rules)
        for rule in schema.get("x-kubernetes-validations") or []:
            if not _rule_holds(str(rule.get("rule", "")), value):
                rules.append(Cause(path, "FieldValueInvalid", f"Invalid value: \"object\": {rule.get('message')}"))


def schema_problems(schema: Mapping[str, Any], obj: Mapping[str, Any]) -> list[Cause]:
    """Every problem of `obj` (its spec and other top-level fields; not metadata or status) under `schema`."""
    out: list[Cause] = []
    props = schema.get("properties") or {}
    for key in schema.get("required") or []:
        if key not in obj and key not in _SKIPPED:
            out.append(Cause(key, "FieldValueRequired", "Required value"))
    rules: list[Cause] = []
    for key, value in obj.items():
        if key in _SKIPPED or key not in props:
            continue
        _check(props[key], value, key, out, rules)
    if any(c.reason in BLOCKING for c in out):
        return out + ([NOT_CHECKED] if _has_rules(schema) else [])
    return out + rules


def _has_rules(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        return bool(schema.get("x-kubernetes-validations")) or any(_has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_rules(v) for v in schema)
    return False


def apply_defaults(schema: Mapping[str, Any], obj: dict[str, Any]) -> None:
    """Fill in the schema's `default`s for absent properties of the objects present, as the server does."""
    props = schema.get("properties") or {}
    for key, value in obj.items():
        if key not in _SKIPPED and key in props:
            _default(props[key], value)


def _default(schema: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = sub["default"]
            if key in value:
                _default(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default(schema["items"], item)


def prune(schema: Mapping[str, Any], obj: dict[str, Any]) -> list[str]:
    """Remove the fields the schema does not declare (outside metadata and status); returns their paths."""
    removed: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return removed
    props = schema.get("properties") or {}
    for key in list(obj):
        if key in _SKIPPED:
            continue
        if key not in props:
            removed.append(key)
            del obj[key]
        else:
            _prune(props[key], obj[key], key, removed)
    return removed


def _prune(schema: Mapping[str, Any], value: Any, path: str, removed: list[str]) -> None:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            if props is not None and key in props:
                _prune(props[key], value[key], f"{path}.{key}", removed)
            elif isinstance(extra, Mapping):
                _prune(extra, value[key], f"{path}.{key}", removed)
            elif extra is not True and props is not None:
                removed.append(f"{path}.{key}")
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _prune(schema["items"], item, f"{path}[{i}]", removed)


# --- x-kubernetes-validations: the has()/&&/||/! subset Flux's CRDs use ------------------------------

_TOKEN = re.compile(r"\s*(has\(self\.[A-Za-z0-9_.]+\)|self\.[A-Za-z0-9_.]+\s*(?:==|!=)\s*'[^']*'|&&|\|\||!|\(|\))")


def _rule_holds(rule: str, value: Mapping[str, Any]) -> bool:
    """Evaluate a rule of has(self.x) and self.x == 'v' terms joined by &&, || and !, with parentheses; a rule
    outside that subset holds (it is not judged here)."""
    tokens: list[str] = []
    pos = 0
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if not m:
            return True  # a rule outside the subset: not judged here
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(rule) and rule[pos].isspace():
            pos += 1
    result, rest = _or(tokens, value)
    return result if not rest else True


def _or(tokens: list[str], value: Mapping[str, Any]) -> tuple[bool, list[str]]:
    left, tokens = _and(tokens, value)
    while tokens[:1] == ["||"]:
        right, tokens = _and(tokens[1:], value)
        left = left or right
    return left, tokens


def _and(tokens: list[str], value: Mapping[str, Any]) -> tuple[bool, list[str]]:
    left, tokens = _not(tokens, value)
    while tokens[:1] == ["&&"]:
        right, tokens = _not(tokens[1:], value)
        left = left and right
    return left, tokens


def _not(tokens: list[str], value: Mapping[str, Any]) -> tuple[bool, list[str]]:
    if tokens[:1] == ["!"]:
        inner, rest = _not(tokens[1:], value)
        return not inner, rest
    if tokens[:1] == ["("]:
        inner, rest = _or(tokens[1:], value)
        return inner, rest[1:] if rest[:1] == [")"] else rest
    term = tokens[0] if tokens else "has(self.)"
    if term.startswith("has("):
        found, _ = _lookup(value, term[len("has(self."):-1])
        return found, tokens[1:]
    m = re.match(r"self\.([A-Za-z0-9_.]+)\s*(==|!=)\s*'([^']*)'", term)
    if not m:
        return True, tokens[1:]
    found, current = _lookup(value, m.group(1))
    equal = found and current == m.group(3)
    return (equal if m.group(2) == "==" else not equal), tokens[1:]


def _lookup(value: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value
