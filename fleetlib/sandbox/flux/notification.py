"""notification-controller: Receivers marked Ready (v1beta3 Providers and Alerts have no status: the controller
only reads them, as notification-controller v1.5 does), and every event the controllers
record dispatched to the Alerts whose event sources, severity and exclusions match, then posted to their
Provider as notification-controller v1.5 posts it. The `generic` and `generic-hmac` payloads are Flux's
(the event as JSON; `X-Signature: sha256=<hmac>` with the Secret's `token`); `slack` and `msteams` get the
same event in those services' message shapes; other types are marked Ready and not posted. The address comes
from the Provider's Secret (`address`) or `spec.address`.

    NotificationController(runtime).step()
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from typing import Any

from fleetlib.objects import spec_of, status_of
from fleetlib.sandbox.flux.conditions import READY, set_condition
from fleetlib.sandbox.flux.runtime import Runtime
from fleetlib.sandbox.flux.schedule import Schedule

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
                    self._post(provider, event)

    def _post(self, provider: dict[str, Any], event: dict[str, Any]) -> None:
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
        body = json.dumps(payload(kind, event, spec), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
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


def payload(kind: str, event: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The body notification-controller posts: the event itself for generic webhooks (eventv1.Event)."""
    metadata = {key.rpartition("/")[2]: value for key, value in event["annotations"].items()}
    flux = {"involvedObject": event["object"], "severity": "error" if event["type"] == "Warning" else "info",
            "timestamp": event["timestamp"], "message": event["message"], "reason": event["reason"],
            "metadata": metadata, "reportingController": event["component"],
            "reportingInstance": event["component"]}
    obj = event["object"]
    title = f"{obj['kind'].lower()}/{obj['name']}.{obj['namespace']}"
    if kind == "slack":
        return {"channel": spec.get("channel"), "username": spec.get("username") or "flux", "attachments": [
            {"color": "danger" if flux["severity"] == "error" else "good", "author_name": title,
             "text": event["message"], "mrkdwn_in": ["text"],
             "fields": [{"title": k, "value": v, "short": False} for k, v in metadata.items()]}]}
    if kind == "msteams":
        return {"@type": "MessageCard", "@context": "http://schema.org/extensions", "summary": title,
                "sections": [{"activityTitle": title, "activitySubtitle": event["message"],
                              "facts": [{"name": k, "value": v} for k, v in metadata.items()]}]}
    return flux
