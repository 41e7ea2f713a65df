"""Server-side Table output (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), what `kubectl get`
prints: the real columns of the built-in kinds (READY/STATUS/RESTARTS for Pods, READY/UP-TO-DATE/
AVAILABLE for Deployments, LAST SEEN/TYPE/REASON/OBJECT/MESSAGE for Events...), a CRD's
`additionalPrinterColumns` evaluated by JSONPath, else NAME and AGE. Ages are Kubernetes'
HumanDuration ("45s", "5m12s", "3h2m", "4d5h").

    table = to_table(rt, objects, columns=registry.printer_columns(rt), include="Metadata", now=time.time())
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fleetlab.kubernetes.registry import ResourceType
from fleetlib.objects import spec_of, status_of, timestamp

Row = Callable[[dict[str, Any], float], list[Any]]


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(stamp: Any, now: float) -> str:
    t = timestamp(stamp)
    return "<unknown>" if t is None else human_duration(now - t)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _created(obj: Mapping[str, Any], now: float) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


def _column(name: str, kind: str = "string", *, fmt: str = "", priority: int = 0, description: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description or name, "priority": priority}


NAME = _column("Name", fmt="name", description="Name must be unique within a namespace.")
AGE = _column("Age", description="CreationTimestamp is a timestamp representing the server time when this object was "
                                 "created.")


# --- built-in kinds ---------------------------------------------------------------------------------


def _pod(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if _meta(obj).get("deletionTimestamp"):
        reason = "Terminating"
    last = max((timestamp(((s.get("lastState") or {}).get("terminated") or {}).get("finishedAt")) or 0 for s in statuses),
               default=0)
    shown = f"{restarts} ({human_duration(now - last)} ago)" if restarts and last else restarts
    return [_meta(obj)["name"], f"{ready}/{total}", reason, shown, _created(obj, now), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", "<none>", "<none>"]


def _containers(template: Mapping[str, Any]) -> tuple[str, str]:
    containers = (spec_of(template).get("containers")) or []
    return ",".join(str(c.get("name")) for c in containers), ",".join(str(c.get("image")) for c in containers)


def _selector(spec: Mapping[str, Any]) -> str:
    labels = ((spec.get("selector") or {}).get("matchLabels")) or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _deployment(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [_meta(obj)["name"], f"{status.get('readyReplicas') or 0}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0, _created(obj, now), names, images,
            _selector(spec)]


def _replicaset(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [_meta(obj)["name"], spec.get("replicas", 1), status.get("replicas") or 0, status.get("readyReplicas") or 0,
            _created(obj, now), names, images, _selector(spec)]


def _service(obj: dict[str, Any], now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [_meta(obj)["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            ",".join(spec.get("externalIPs") or []) or "<none>", ports, _created(obj, now), selector]


def _event_object(obj: Mapping[str, Any]) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event(obj: dict[str, Any], now: float) -> list[Any]:
    first = obj.get("firstTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    last = obj.get("lastTimestamp") or first
    count = int(obj.get("count") or 1)
    seen = age(last, now) if count <= 1 else f"{age(last, now)} (x{count} over {age(first, now)})"
    source = obj.get("source") or {}
    return [seen, obj.get("type", ""), obj.get("reason", ""), _event_object(obj),
            (obj.get("involvedObject") or {}).get("fieldPath", ""),
            ", ".join(str(v) for v in (source.get("component"), source.get("host")) if v),
            obj.get("message", ""), age(first, now), count, _meta(obj)["name"]]


def _namespace(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], status_of(obj).get("phase", "Active"), _created(obj, now)]


def _data(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _created(obj, now)]


def _secret(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}), _created(obj, now)]


def _node(obj: dict[str, Any], now: float) -> list[Any]:
    status = obj.get("status") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    roles = ",".join(k.rpartition("/")[2] for k in (_meta(obj).get("labels") or {})
                     if k.startswith("node-role.kubernetes.io/")) or "<none>"
    info = status.get("nodeInfo") or {}
    return [_meta(obj)["name"], "Ready" if ready.get("status") == "True" else "NotReady", roles, _created(obj, now),
            info.get("kubeletVersion", "")]


def _crd(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], _meta(obj).get("creationTimestamp", "")]


def _service_account(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], len(obj.get("secrets") or []), _created(obj, now)]


def _lease(obj: dict[str, Any], now: float) -> list[Any]:
    return [_meta(obj)["name"], spec_of(obj).get("holderIdentity") or "", _created(obj, now)]


BUILTIN: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "/pods": ([NAME, _column("Ready"), _column("Status"), _column("Restarts", "string"), AGE,
               _column("IP", priority=1), _column("Node", priority=1), _column("Nominated Node", priority=1),
               _column("Readiness Gates", priority=1)], _pod),
    "apps/deployments": ([NAME, _column("Ready"), _column("Up-to-date", "integer"), _column("Available", "integer"), AGE,
                          _column("Containers", priority=1), _column("Images", priority=1),
                          _column("Selector", priority=1)], _deployment),
    "apps/replicasets": ([NAME, _column("Desired", "integer"), _column("Current", "integer"),
                          _column("Ready", "integer"), AGE, _column("Containers", priority=1),
                          _column("Images", priority=1), _column("Selector", priority=1)], _replicaset),
    "/services": ([NAME, _column("Type"), _column("Cluster-IP"), _column("External-IP"), _column("Port(s)"), AGE,
                   _column("Selector", priority=1)], _service),
    "/events": ([_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"),
                 _column("Subobject", priority=1), _column("Source", priority=1), _column("Message"),
                 _column("First Seen", priority=1), _column("Count", "integer", priority=1),
                 _column("Name", priority=1)], _event),
    "/namespaces": ([NAME, _column("Status"), AGE], _namespace),
    "/configmaps": ([NAME, _column("Data", "integer"), AGE], _data),
    "/secrets": ([NAME, _column("Type"), _column("Data", "integer"), AGE], _secret),
    "/nodes": ([NAME, _column("Status"), _column("Roles"), AGE, _column("Version")], _node),
    "/serviceaccounts": ([NAME, _column("Secrets", "integer"), AGE], _service_account),
    "apiextensions.k8s.io/customresourcedefinitions": ([NAME, _column("Created At", "date")], _crd),
    "coordination.k8s.io/leases": ([NAME, _column("Holder"), AGE], _lease),
}


# --- custom resources: additionalPrinterColumns by JSONPath ------------------------------------------

_FILTER = re.compile(r'^\?\(@\.([A-Za-z0-9_.]+)\s*==\s*["\']([^"\']*)["\']\)$')


def jsonpath(obj: Any, path: str) -> Any:
    """The value at a printer column's JSONPath: `.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`."""
    values = [obj]
    for step in re.findall(r"\.([A-Za-z0-9_-]+)|\[([^\]]*)\]", path):
        key, index = step
        nxt: list[Any] = []
        for value in values:
            if key:
                if isinstance(value, Mapping) and key in value:
                    nxt.append(value[key])
            elif isinstance(value, list):
                m = _FILTER.match(index)
                if m:
                    nxt += [v for v in value if isinstance(v, Mapping) and str(jsonpath(v, "." + m.group(1))) == m.group(2)]
                elif index == "*":
                    nxt += value
                elif index.lstrip("-").isdigit() and -len(value) <= int(index) < len(value):
                    nxt.append(value[int(index)])
        values = nxt
    if not values:
        return None
    return values[0] if len(values) == 1 else ",".join(str(v) for v in values)


def _cell(value: Any, kind: str, now: float) -> Any:
    if value is None:
        return None
    if kind == "date":
        return age(value, now)
    if kind in ("integer", "number") or isinstance(value, (int, float, bool)):
        return value
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def custom_columns(columns: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], Row]:
    defs = [NAME] + [_column(str(c.get("name")), str(c.get("type", "string")), fmt=str(c.get("format") or ""),
                             priority=int(c.get("priority") or 0), description=str(c.get("description") or c.get("name")))
                     for c in columns] if columns else [NAME, AGE]

    def row(obj: dict[str, Any], now: float) -> list[Any]:
        if not columns:
            return [_meta(obj)["name"], _created(obj, now)]
        return [_meta(obj)["name"]] + [_cell(jsonpath(obj, str(c.get("jsonPath"))), str(c.get("type", "string")), now)
                                       for c in columns]
    return defs, row


def _partial(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in _meta(obj).items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def to_table(rt: ResourceType, objects: Sequence[dict[str, Any]], *, columns: Sequence[Mapping[str, Any]] | None,
             include: str, now: float, list_meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects`; `include` is the includeObject option (None, Metadata, Object)."""
    if columns is not None:
        defs, row = custom_columns(columns)
    else:
        defs, row = BUILTIN.get(rt.key, ([NAME, AGE], lambda o, t: [_meta(o)["name"], _created(o, t)]))
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if include == "Object":
            entry["object"] = obj
        elif include != "None":
            entry["object"] = _partial(obj)
        rows.append(entry)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(list_meta or {}),
            "columnDefinitions": defs, "rows": rows}


def wants_table(accept: str | None) -> bool:
    """Whether the Accept header's first choice is a meta.k8s.io/v1 (or v1beta1) Table."""
    first = str(accept or "").split(",")[0]
    return "as=Table" in first.replace(" ", "")
