"""Alerts the Flux way, as the alerts runbook does it: a notification Provider and an Alert in the cluster's
folder (`<cluster path>/alerts/<provider>.yaml`, synced by the flux-system Kustomization like every file
there), and the Provider's address and token in a Secret created in the cluster from environment variables,
never written to Git, to the notebook or to a log. Then the wiring is proven: a reconcile of the flux-system
Kustomization makes an event, and a receiver of ours (fleetlib.receiver) must hold it within the timeout.

    change = AlertsChange.from_run(run)
    plan = change.plan(); change.check(plan); change.apply(plan); change.verify()
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any
from urllib.parse import urlsplit

import yaml

from fleetlib.bootstrap.waits import ClusterWaits
from fleetlib.errors import FleetError, InputError
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.kubectl import build_as_flux
from fleetlib.model import Duration
from fleetlib.objects import FLUX_KINDS, Ref, status_of
from fleetlib.options import AlertsOptions
from fleetlib.ownership import MANAGED_BY, created_by_fleetlib, taken_over
from fleetlib.parameters import ClusterParams
from fleetlib.receiver import received
from fleetlib.repochange import FileChange, Plan
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.troubleshoot.operate import request_reconcile
from fleetlib.waiting import wait_until

HEADER = ("# Managed by fleetlib's alerts runbook (runbooks/alerts.ipynb). The Provider's address and token are\n"
          "# in the cluster's Secret only, made from environment variables: never in Git.\n")
PAYLOAD_FIELDS = ("involvedObject", "severity", "timestamp", "message", "reason", "metadata", "reportingController")
"""What notification-controller's generic webhook payload carries (eventv1.Event)."""


def alert_objects(o: AlertsOptions, *, namespace: str) -> list[dict[str, Any]]:
    provider: dict[str, Any] = {"type": o.type, "secretRef": {"name": secret_name(o)}}
    if o.channel:
        provider["channel"] = o.channel
    sources = [{"kind": s.partition("/")[0], "name": s.partition("/")[2], "namespace": namespace}
               for s in o.event_sources]
    alert: dict[str, Any] = {"providerRef": {"name": o.provider}, "eventSeverity": o.severity, "eventSources": sources}
    if o.exclusions:
        alert["exclusionList"] = list(o.exclusions)
    meta = {"name": o.provider, "namespace": namespace}
    return [{"apiVersion": FLUX_KINDS["Provider"], "kind": "Provider", "metadata": dict(meta), "spec": provider},
            {"apiVersion": FLUX_KINDS["Alert"], "kind": "Alert", "metadata": dict(meta), "spec": alert}]


def secret_name(o: AlertsOptions) -> str:
    return f"{o.provider}-alerts"


def _is_url(text: str) -> bool:
    """One whole http(s) URL: a scheme, a host, and no whitespace or control character anywhere in it."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def secret_values(o: AlertsOptions, env: dict[str, str]) -> dict[str, str]:
    """The Secret's keys from the environment; InputError naming the variable (never its value) when unusable."""
    address = env.get(o.address_env, "").strip()
    if not address:
        raise InputError(f"the environment variable {o.address_env} is empty or unset",
                         hint=f"export {o.address_env} with the provider's address (a webhook URL)")
    if not _is_url(address):
        raise InputError(f"the environment variable {o.address_env} does not hold one http(s) URL (a scheme, a host, "
                         f"no spaces or line breaks)", hint="a webhook address, e.g. https://hooks.slack.com/services/...")
    values = {"address": address}
    if o.token_env:
        token = env.get(o.token_env, "").strip()
        if not token:
            raise InputError(f"the environment variable {o.token_env} is empty or unset",
                             hint=f"export {o.token_env} with the provider's token")
        values["token"] = token
    return values


class AlertsChange:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, options: AlertsOptions, *,
                 env: dict[str, str] | None = None, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.options = params, kube, hub, options
        self.log = StepLog(echo=echo)
        self.env = dict(os.environ if env is None else env)
        self.objects = alert_objects(options, namespace=params.namespace)
        self.file = f"{params.path.strip('/').removeprefix('./')}/alerts/{options.provider}.yaml"
        self.repo = FileChange(params, hub, self.log)
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.values: dict[str, str] = {}
        self.delivered: dict[str, Any] | None = None

    @classmethod
    def from_run(cls, run: RunContext) -> AlertsChange:
        options = run.options.expect(AlertsOptions)
        return cls(run.params, run.kube, run.hub, options)

    def plan(self) -> Plan:
        if self.options.apply != "none" or self.options.address_env in self.env:
            self.values = secret_values(self.options, self.env)  # refused before anything else happens
        else:
            self.values = {}
            self.log.say("►", f"{self.options.address_env} is unset: export it before apply='commit' or 'pr'")
        text = HEADER + "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in self.objects)
        plan = self.repo.plan(self.file, text)
        if plan.before is not None and not plan.before.startswith(HEADER):
            raise InputError(f"{self.file} exists and was not written by the alerts runbook",
                             hint="pick another provider name")
        taken = taken_over(self.kube, self.objects, before=plan.before)
        secret = self.kube.get("v1", "Secret", self.params.namespace, secret_name(self.options))
        if secret is not None and not created_by_fleetlib(secret):
            taken.append(f"Secret {self.params.namespace}/{secret_name(self.options)} exists and was not created by "
                         f"fleetlib (its address would replace it)")
        if taken:
            raise InputError(f"alerts {self.options.provider} on {self.params.id} are refused: " + "; ".join(taken),
                             hint="pick another provider name; nothing was pushed or created")
        return plan

    def check(self, plan: Plan) -> None:
        """The folder builds with the file and the API server admits both objects (dry run), before any effect."""
        with self.repo.trial(plan) as root:
            try:
                build_as_flux(root / self.params.path)
                self.kube.apply(self.objects, manager="kustomize-controller", dry_run=True)
            except FleetError as e:
                raise InputError(f"alerts {self.options.provider} on {self.params.id} are refused: {e.message}",
                                 hint="nothing was pushed or created") from None

    def apply(self, plan: Plan) -> dict[str, Any]:
        o, ns = self.options, self.params.namespace
        if o.apply == "none":
            if plan.changed:
                self.log.say("~", f"would write {self.file}{plan.also} and commit it:")
                if self.log.echo:
                    print(plan.diff)
            self.log.say("~", f"would create or update Secret {ns}/{secret_name(o)} with keys address"
                              f"{', token' if o.token_env else ''} (from {o.address_env}"
                              f"{', ' + o.token_env if o.token_env else ''}; the values are not shown)")
            self.outcome = {"status": "proposed" if plan.changed else "up to date"}
            return self.outcome
        self._write_secret()
        if not plan.changed:
            self.outcome = {"status": "up to date", "detail": f"{self.file} already holds them"}
            self.log.say("✔", f"alerts {o.provider} are up to date on {self.params.id}")
        else:
            self.outcome = self.repo.send(plan, o.apply, branch=f"alerts/{self.params.stage}-{self.params.cluster}-"
                                                                f"{o.provider}",
                                          title=f"Alerts {o.provider} on {self.params.id}")
        return self.outcome

    def _write_secret(self) -> None:
        ns, name = self.params.namespace, secret_name(self.options)
        current = self.kube.get("v1", "Secret", ns, name)
        if current is not None and current.get("data", {}).keys() == self.values.keys() and all(
                _b64(v) == current["data"][k] for k, v in self.values.items()):
            return
        self.kube.write_secret(ns, name, self.values, replace=current is not None, labels=MANAGED_BY)
        self.log.say("✔", f"Secret {ns}/{name} written from {self.options.address_env}"
                          f"{' and ' + self.options.token_env if self.options.token_env else ''}")

    def verify(self) -> dict[str, Any] | None:
        """After a commit: the sync applied the Alert, then an event made and read back from a receiver of ours."""
        o, ns = self.options, self.params.namespace
        if o.apply != "commit" or self.outcome.get("status") not in ("committed", "up to date") or not o.verify:
            return None
        timeout = Duration.parse(o.timeout).seconds
        revision = self.outcome.get("revision")
        if revision:  # v1beta3 Alerts and Providers have no status: the sync that applies them is what to await
            request_reconcile(self.kube, "GitRepository", ns, ns)
            self.log.say("◎", f"waiting for Kustomization {ns}/{ns} to apply {revision}")
            ClusterWaits(self.params, self.kube, self.log, timeout=timeout).at_revision(
                "Kustomization", revision, self.repo.checkout, lambda obj: status_of(obj).get("lastAppliedRevision"))
        wait_until(f"Alert {ns}/{o.provider} in the cluster", lambda: self.kube.get(
            FLUX_KINDS["Alert"], "Alert", ns, o.provider), timeout=timeout,
            hint="the flux-system Kustomization applies the file: check it with the troubleshooting runbook")
        address = self.values["address"]
        before = received(address)
        if before is None:
            self.log.say("►", f"{o.type} delivery to the configured address cannot be read back; check it there")
            return None
        since = time.time()
        request_reconcile(self.kube, "Kustomization", ns, ns)  # emits an event when it finishes
        self.log.say("◎", f"waiting for an event from {ns} at the receiver")

        def arrived() -> dict[str, Any] | None:
            got = received(address) or []
            new = [r["body"] for r in got[len(before):] if isinstance(r.get("body"), dict)]
            return new[-1] if new else None

        event = wait_until("an event at the receiver", arrived, timeout=timeout, poll=1.0,
                           hint="check the Provider's and Alert's conditions and notification-controller's log")
        self.delivered = {"after_seconds": round(time.time() - since, 1),
                          "fields": sorted(k for k in event if k in PAYLOAD_FIELDS),
                          "object": str(Ref(str(event.get("involvedObject", {}).get("kind")),
                                            event.get("involvedObject", {}).get("namespace"),
                                            str(event.get("involvedObject", {}).get("name")))),
                          "reason": event.get("reason"), "severity": event.get("severity")}
        self.log.say("✔", f"the receiver got {self.delivered['object']} {event.get('reason')} "
                          f"({event.get('severity')}) after {self.delivered['after_seconds']} s")
        return self.delivered

    def result(self) -> dict[str, Any]:
        o = self.options
        return {"cluster": str(self.params.id), "provider": o.provider, "type": o.type, "severity": o.severity,
                "sources": list(o.event_sources), "file": self.file,
                "secret": f"{self.params.namespace}/{secret_name(o)}", "delivered": self.delivered, **self.outcome}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
