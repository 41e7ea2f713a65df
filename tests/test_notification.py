"""The sandbox notification-controller's posts, on hand-built events: RFC 0008's metadata order and the Provider
types' bodies where notification-controller v1.5.0 branches (the fidelity suite's `notification-payloads`
compares the common case with the real controller's posts)."""

from __future__ import annotations

from typing import Any

from fleetlab.flux.notification import flux_event, matches, payload

KS = {"kind": "Kustomization", "namespace": "apps", "name": "web", "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
      "uid": "", "resourceVersion": "7"}


def event(annotations: dict[str, str], *, type_: str = "Warning", message: str = "boom") -> dict[str, Any]:
    return {"object": KS, "type": type_, "reason": "ReconciliationFailed", "message": message,
            "component": "kustomize-controller", "annotations": annotations, "timestamp": "2026-11-26T00:00:00Z"}


def alert(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "apps", "name": "a"},
            "spec": {"eventSources": [{"kind": "Kustomization", "name": "*"}], **spec}}


def test_metadata_is_combined_in_rfc_0008_order_and_the_token_never_leaves() -> None:
    raw = {"event.toolkit.fluxcd.io/team": "from-event", "event.toolkit.fluxcd.io/env": "from-event",
           "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc", "kustomize.toolkit.fluxcd.io/token": "t0k",
           "other.io/x": "dropped"}
    out = flux_event(event(raw), alert(eventMetadata={"env": "prod", "summary": "meta"}, summary="spec"), "pod-1")
    assert out["metadata"] == {"team": "from-event", "env": "prod", "summary": "spec", "revision": "main@sha1:abc"}
    assert out["involvedObject"] == {k: v for k, v in KS.items() if v}  # omitempty
    assert (out["severity"], out["reportingController"], out["reportingInstance"]) == \
        ("error", "kustomize-controller", "pod-1")
    # nothing in the two groups: the event's own metadata stays, but for the token
    kept = flux_event(event({"other.io/x": "y", "kustomize.toolkit.fluxcd.io/token": "t0k"}), alert(), "p")
    assert kept["metadata"] == {"other.io/x": "y"}
    assert "metadata" not in flux_event(event({}), alert(), "p")


def test_slack_defaults_its_username_and_skips_commit_status_updates() -> None:
    body = payload("slack", flux_event(event({}, type_="Normal"), alert(), "p"), {}, "https://hooks.slack.com/x")
    assert body is not None
    assert (body["channel"], body["username"], body["attachments"][0]["color"]) == ("", "kustomize-controller", "good")
    status = flux_event(event({}), alert(eventMetadata={"commit_status": "update"}), "p")
    assert payload("slack", status, {}, "https://hooks.slack.com/x") is None
    assert payload("msteams", status, {}, "https://example.com/x") is None
    assert payload("generic", status, {}, "https://example.com/x") == status


def test_msteams_posts_a_message_card_to_office_connectors_and_an_adaptive_card_elsewhere() -> None:
    ev = flux_event(event({}), alert(eventMetadata={"b": "2", "a": "1", "summary": "s"}), "p")
    card = payload("msteams", ev, {}, "https://acme.webhook.office.com/webhookb2/x")
    assert card is not None and card["@type"] == "MessageCard" and card["themeColor"] == "FF0000"
    assert card["sections"][0]["activityTitle"] == "boom"
    assert card["sections"][0]["activitySubtitle"] == "kustomization/web.apps"
    adaptive = payload("msteams", ev, {}, "https://example.com/hook")
    assert adaptive is not None
    items = adaptive["attachments"][0]["content"]["body"][0]["items"]
    assert [f["title"] for f in items[2]["facts"]] == ["summary", "a", "b"]  # summary first, then sorted
    assert items[1]["color"] == "attention"


def test_an_alert_takes_the_events_its_sources_severity_and_exclusions_select() -> None:
    assert matches(alert(), event({}))
    assert not matches(alert(eventSeverity="error"), event({}, type_="Normal"))
    assert not matches(alert(exclusionList=["^bo+m$"]), event({}))
    assert not matches(alert(eventSources=[{"kind": "Kustomization", "name": "web", "namespace": "other"}]),
                       event({}))
