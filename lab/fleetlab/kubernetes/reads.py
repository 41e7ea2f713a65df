"""Reads of the sandbox's API server: get, list (label and field selectors, limit and continue tokens, the
list's resourceVersion) and watch (initial events and a bookmark, 410 Expired for a too old version), over
the store's stored JSON served at the version asked for.

    reads = Reads(store, virtual={})
    reads.list_raw(rt, "flux-system", label_selector="app=web", limit=50)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from fleetlab.kubernetes.errors import ApiError, not_found
from fleetlab.kubernetes.registry import ResourceType
from fleetlab.kubernetes.selectors import SelectorError, parse_fields, parse_labels
from fleetlab.kubernetes.store import Row, Store, TooOld
from fleetlib.objects import meta_of


def ns_key(rt: ResourceType, namespace: str | None) -> str:
    return (namespace or "") if rt.namespaced else ""


class Reads:
    def __init__(self, store: Store, virtual: dict[str, Any]) -> None:
        self.store = store
        self.virtual = virtual
        """Resource key -> callable(namespace) giving the objects of a computed resource (metrics.k8s.io)."""

    def served(self, rt: ResourceType, body: str) -> str:
        """The stored JSON, with apiVersion set to the version asked for when it differs."""
        if body.startswith(f'{{"apiVersion":"{rt.api_version}",'):
            return body
        obj = json.loads(body)
        obj["apiVersion"] = rt.api_version
        return json.dumps(obj, separators=(",", ":"))

    def get_raw(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        if rt.key in self.virtual:
            found = [o for o in self.virtual[rt.key](namespace) if o["metadata"]["name"] == name]
            if not found:
                raise not_found(rt, name)
            return json.dumps(found[0], separators=(",", ":"))
        row = self.store.get(rt.key, ns_key(rt, namespace), name)
        if row is None:
            raise not_found(rt, name)
        return self.served(rt, row.body)

    def list_raw(self, rt: ResourceType, namespace: str | None, *, label_selector: str | None = None,
                 field_selector: str | None = None, limit: int | None = None, cont: str | None = None) -> str:
        try:
            labels = parse_labels(label_selector)
            fields, equal = parse_fields(field_selector)
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e
        if rt.key in self.virtual:
            objects = [o for o in self.virtual[rt.key](namespace if rt.namespaced else None)
                       if labels(meta_of(o).get("labels") or {}) and fields(o)]
            return json.dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                               "metadata": {"resourceVersion": str(self.store.rv())}, "items": objects},
                              separators=(",", ":"))
        after = None
        list_rv: int | None = None
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                start = [str(x) for x in token["start"]]
                if len(start) != 3:
                    raise ValueError("start")
                after, list_rv = (start[0], start[1], start[2]), int(token["rv"])
            except (ValueError, KeyError, TypeError) as e:
                raise ApiError(400, "BadRequest", "continue key is not valid") from e
        ns = namespace if rt.namespaced else None
        if "metadata.namespace" in equal:
            ns = equal["metadata.namespace"]
        names = [equal["metadata.name"]] if "metadata.name" in equal else None
        try:
            rv, rows = self.store.scan([rt.key], ns, after=after, names=names, at=list_rv)
        except TooOld:
            raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                           "result. You can start a new list without the continue parameter.") from None
        plain = label_selector is None and not field_selector
        items: list[str] = []
        more: Row | None = None
        remaining = 0
        for row in rows:
            if not plain:
                obj = row.obj()
                if not labels(meta_of(obj).get("labels") or {}) or not fields(obj):
                    continue
            if limit and len(items) >= limit:
                remaining += 1
                more = more or row
                continue
            items.append(self.served(rt, row.body))
        meta: dict[str, Any] = {"resourceVersion": str(list_rv or rv)}
        if more is not None:
            last = json.loads(items[-1])["metadata"]
            start = [rt.key, last.get("namespace", "") if rt.namespaced else "", last["name"]]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": list_rv or rv, "start": start}).encode()
                                                        ).decode()
            meta["remainingItemCount"] = remaining
        head = json.dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta},
                          separators=(",", ":"))
        return head[:-1] + ',"items":[' + ",".join(items) + "]}"

    def watch(self, rt: ResourceType, namespace: str | None, *, resource_version: str | None,
              label_selector: str | None, field_selector: str | None, timeout: float,
              poll: float = 0.05, bookmark: bool = False) -> Iterator[dict[str, Any]]:
        """Watch events as dicts {"type", "object"}; an ERROR event with a 410 Status when too old. With
        `bookmark`, the current objects are followed by a BOOKMARK marking the end of the initial events."""
        labels = parse_labels(label_selector)
        fields, _ = parse_fields(field_selector)
        ns = namespace if rt.namespaced else None

        def wanted(obj: dict[str, Any]) -> bool:
            return labels(meta_of(obj).get("labels") or {}) and fields(obj)

        if resource_version in (None, "", "0"):
            since, rows = self.store.scan([rt.key], ns)
            for row in rows:
                obj = json.loads(self.served(rt, row.body))
                if wanted(obj):
                    yield {"type": "ADDED", "object": obj}
            if bookmark:
                yield {"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(since),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}
        else:
            since = int(resource_version)
            if since < self.store.oldest_change() - 1:
                yield {"type": "ERROR", "object": ApiError(
                    410, "Expired", f"too old resource version: {since} ({self.store.oldest_change() - 1})").status()}
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rv, kind, body in self.store.changes(since, rt.key, ns):
                since = rv
                obj = json.loads(self.served(rt, body))
                if wanted(obj):
                    yield {"type": kind, "object": obj}
            time.sleep(poll)
