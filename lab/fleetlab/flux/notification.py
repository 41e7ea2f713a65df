"""notification-controller: Receivers marked Ready (v1beta3 Providers and Alerts have no status: the controller
only reads them, as notification-controller v1.5 does), and every event the controllers
record dispatched to the Alerts whose event sources, severity and exclusions match, then posted to their
Provider as notification-controller v1.5 posts it:
- the event's metadata combined as RFC 0008 orders it (`event.toolkit.fluxcd.io/` keys, the Alert's
  eventMetadata, its summary, the object's own group's keys; the token never), per Alert;
- `generic` and `generic-hmac`: the event as JSON, with `gotk-component` (and `X-Signature: sha256=<hmac>`
  keyed with the Secret's `token`);
- `slack`: Flux's Slack payload (the username defaults to the reporting controller); `msteams`: an Adaptive
  Card, or the old MessageCard for an `*.webhook.office.com` address; both skip commit-status updates;
- other types are read and not posted. The address comes from the Provider's Secret (`address`) or
  `spec.address`.
The fidelity suite's `notification-payloads` scenario compares what arrives with the real controller's posts.

    NotificationController(runtime).step()
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from fleetlab.flux.conditions import READY, set_condition
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule
from fleetlib.objects import spec_of, status_of

COMPONENT = "notification-controller"
POSTED_TYPES = ("generic", "generic-hmac", "slack", "msteams")


class NotificationController:
    COMPONENT = COMPONENT

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)

    def step(self) -> None:
        with self.rt._event_lock:
            events, self.rt.outbox[:] = list(self.rt.outbox), []
        if self.rt.controller_pod(COMPONENT) is None:
            return  # the recorders' posts fail while the controller is down: those events are lost
        for obj in self.rt.list("Receiver"):
            if self.schedule.due(obj):
                self._ready(obj)
        if events:
            self._dispatch(events)

    def _ready(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        stamp, generation = self.rt.stamp(), meta.get("generation", 1)
        message = f"Receiver initialized for path: /hook/{hashlib.sha256(meta['uid'].encode()).hexdigest()}"
        conds = set_condition(status_of(obj).get("conditions"), READY, "True", "Succeeded", message,
                              now=stamp, generation=generation)
        new: dict[str, Any] = {"conditions": conds, "observedGeneration": generation}
        if self.schedule.requested(obj):
            new["lastHandledReconcileAt"] = self.schedule.requested(obj)
        self.rt.patch_status(obj, new, COMPONENT)
        self.schedule.done(obj, retry=3600.0)

    def _dispatch(self, events: list[dict[str, Any]]) -> None:
        providers = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in self.rt.list("Provider")}
        for alert in self.rt.list("Alert"):
            spec = spec_of(alert)
            provider = providers.get((alert["metadata"]["namespace"], str((spec.get("providerRef") or {}).get("name"))))
            if spec.get("suspend") or provider is None or spec_of(provider).get("suspend"):
                continue
            for event in events:
                if matches(alert, event):
                    self._post(provider, event, alert)

    def _post(self, provider: dict[str, Any], event: dict[str, Any], alert: dict[str, Any]) -> None:
        spec, ns = spec_of(provider), provider["metadata"]["namespace"]
        kind = str(spec.get("type") or "generic")
        if kind not in POSTED_TYPES:
            return
        secret = self.rt.get("Secret", ns, str((spec.get("secretRef") or {}).get("name"))) if spec.get("secretRef") \
            else None
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in ((secret or {}).get("data") or {}).items()}
        address = (data.get("address") or str(spec.get("address") or "")).strip()
        if not address.startswith(("http://", "https://")):
            return
        # the recorder's hostname: in a cluster, the reporting controller's pod
        instance = (self.rt.controller_pod(event["component"]) or event["component"]).rpartition("/")[2]
        body_of = payload(kind, flux_event(event, alert, instance), spec, address)
        if body_of is None:
            return
        body = json.dumps(body_of, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if kind.startswith("generic"):
            headers["gotk-component"] = event["component"]
        if kind == "generic-hmac" and data.get("token"):
            headers["X-Signature"] = "sha256=" + hmac.new(data["token"].encode(), body, hashlib.sha256).hexdigest()
        try:
            urllib.request.urlopen(urllib.request.Request(address, data=body, headers=headers, method="POST"),
                                   timeout=5).read()
        except (urllib.error.URLError, OSError) as e:
            self.rt.log(COMPONENT, "error", "failed to send notification", provider, error=str(e))


def matches(alert: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an Alert takes an event: one of its eventSources (kind; name or `*`; namespace, default the
    Alert's), its eventSeverity (`error` takes Warning events only), and no exclusionList regex in the message."""
    spec, obj = spec_of(alert), event["object"]
    if spec.get("eventSeverity") == "error" and event["type"] != "Warning":
        return False
    own = alert["metadata"]["namespace"]
    if not any(s.get("kind") == obj["kind"] and s.get("name") in ("*", obj["name"])
               and (s.get("namespace") or own) == obj["namespace"] for s in spec.get("eventSources") or []):
        return False
    return not any(re.search(str(x), event["message"]) for x in spec.get("exclusionList") or [])


EVENT_GROUP = "event.toolkit.fluxcd.io"


def flux_event(event: dict[str, Any], alert: dict[str, Any], instance: str) -> dict[str, Any]:
    """The event as notification-controller posts it for one Alert (eventv1.Event), its metadata combined."""
    obj = event["object"]
    own = f"{str(obj.get('apiVersion') or '').partition('/')[0]}/"
    annotations = {k: v for k, v in event["annotations"].items() if k != f"{own}token"}
    metadata: dict[str, str] = {k.removeprefix(f"{EVENT_GROUP}/"): v for k, v in annotations.items()
                                if k.startswith(f"{EVENT_GROUP}/")}
    spec = spec_of(alert)
    metadata.update({str(k): str(v) for k, v in (spec.get("eventMetadata") or {}).items()})
    if spec.get("summary"):
        metadata["summary"] = str(spec["summary"])
    metadata.update({k.removeprefix(own): v for k, v in annotations.items() if k.startswith(own)})
    out: dict[str, Any] = {"involvedObject": {k: v for k, v in obj.items() if v},
                           "severity": "error" if event["type"] == "Warning" else "info",
                           "timestamp": event["timestamp"], "message": event["message"], "reason": event["reason"]}
    if metadata or annotations:
        out["metadata"] = metadata or annotations
    out["reportingController"], out["reportingInstance"] = event["component"], instance
    return out


def payload(kind: str, event: dict[str, Any], spec: dict[str, Any], address: str) -> dict[str, Any] | None:
    """The body notification-controller posts for a Provider type; None when it posts nothing (Slack and
    Teams skip commit-status updates)."""
    if kind.startswith("generic"):
        return event
    metadata: dict[str, str] = event.get("metadata") or {}
    if metadata.get("commit_status") == "update":
        return None
    obj = event["involvedObject"]
    title = f"{obj['kind'].lower()}/{obj['name']}.{obj['namespace']}"
    error = event["severity"] == "error"
    if kind == "slack":
        return {"channel": spec.get("channel") or "", "username": spec.get("username") or event["reportingController"],
                "icon_url": "", "icon_emoji": "", "attachments": [
                    {"color": "danger" if error else "good", "author_name": title, "text": event["message"],
                     "mrkdwn_in": ["text"], "fields": [{"title": k, "value": v, "short": False}
                                                       for k, v in metadata.items()]}]}
    host = (urllib.parse.urlsplit(address).hostname or "")
    if host.endswith(".webhook.office.com"):
        return {"@type": "MessageCard", "@context": "http://schema.org/extensions",
                "themeColor": "FF0000" if error else "0076D7", "summary": title,
                "sections": [{"activityTitle": event["message"], "activitySubtitle": title,
                              "facts": [{"name": k, "value": v} for k, v in metadata.items()]}]}
    facts = [{"title": "summary", "value": metadata["summary"]}] if "summary" in metadata else []
    facts += sorted(({"title": k, "value": v} for k, v in metadata.items() if k != "summary"),
                    key=lambda f: f["title"])
    message: dict[str, Any] = {"type": "TextBlock", "text": event["message"], "wrap": True}
    if error:
        message["color"] = "attention"
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": [{"type": "Container", "items": [
                        {"type": "TextBlock", "text": title, "size": "large", "weight": "bolder", "wrap": True},
                        message, {"type": "FactSet", **({"facts": facts} if facts else {})}]}],
                    "msteams": {"width": "Full"}}}]}
