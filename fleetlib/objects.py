"""The vocabulary of Kubernetes objects as plain data, shared by the domain modules and the sandbox: safe
accessors for an object's metadata, spec and status (an object from a cluster may hold anything: a spec
that is a string must not crash a runbook), and its conditions.

    spec(obj).get("suspend")              # {} when the spec is missing or not a mapping
    condition(obj, "Ready").get("status") # {} when there is no such condition
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def meta(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("metadata"))


def spec(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("spec"))


def status(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("status"))


def conditions(obj: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found = status(obj).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def condition(obj: Mapping[str, Any] | None, kind: str = "Ready") -> dict[str, Any]:
    """The condition of type `kind`, or {}."""
    return next((c for c in conditions(obj) if c.get("type") == kind), {})
