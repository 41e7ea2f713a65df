"""The API server's failures as the Status objects kube-apiserver sends (NotFound, Conflict, Invalid with
every cause), and its timestamps.

    raise not_found(rt, "apps")        # 404, `kustomizations.kustomize.toolkit.fluxcd.io "apps" not found`
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetlab.kubernetes.registry import ResourceType
from fleetlab.kubernetes.validation import Cause


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            out["details"] = self.details
        return out


def details_of(rt: ResourceType, name: str) -> dict[str, Any]:
    """Status details as the server writes them: an empty group (the core API) is left out."""
    return {"name": name, **({"group": rt.group} if rt.group else {}), "kind": rt.plural}


def qualified_kind(rt: ResourceType) -> str:
    """`Deployment.apps`, `Kustomization.kustomize.toolkit.fluxcd.io`, `ConfigMap`: how Invalid names the kind."""
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def not_found(rt: ResourceType, name: str) -> ApiError:
    what = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return ApiError(404, "NotFound", f'{what} "{name}" not found', details_of(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    what = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {what} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again", details_of(rt, name))


def invalid(rt: ResourceType, name: str, field: str, why: str) -> ApiError:
    return invalid_causes(rt, name, [Cause(field, "FieldValueInvalid", why)])


def invalid_causes(rt: ResourceType, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid naming every problem, worded as the real server words it."""
    details = {**details_of(rt, name), "kind": rt.kind,
               "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes]}
    texts = [c.text() if c.field else c.message for c in causes]
    listed = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{qualified_kind(rt)} "{name}" is invalid: {listed}', details)


def now_rfc3339(clock: float | None = None) -> str:
    return datetime.fromtimestamp(clock if clock is not None else time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Rollback(Exception):
    """Internal: abort a dry-run write transaction, carrying the would-be object and its status code. The object's
    resourceVersion is what kube-apiserver's dry run returns (DryRunnableStorage): none for a create (nothing was
    stored; `flux diff` tells a creation by it), the stored one for an update (`stored`)."""

    def __init__(self, obj: dict[str, Any], code: int = 201, *, stored: Any = None) -> None:
        meta = obj.setdefault("metadata", {})
        if stored is None:
            meta.pop("resourceVersion", None)
        else:
            meta["resourceVersion"] = str(stored)
        self.obj = obj
        self.code = code
