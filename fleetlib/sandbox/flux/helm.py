"""helm-controller (simulated releases) and notification-controller (Providers, Alerts, Receivers).

A HelmRelease whose HelmRepository is ready gets a release history, `Released` and `Ready`, as Helm's
install and upgrade would leave them; under the helm-install-retries-exhausted fault the install
fails and, past `spec.install.remediation.retries`, the release is Stalled with RetriesExceeded.

    HelmController(runtime).step(); NotificationController(runtime).step()
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleetlib.sandbox.flux.conditions import READY, RECONCILING, STALLED, drop_condition, is_ready, set_condition
from fleetlib.sandbox.flux.runtime import Runtime
from fleetlib.sandbox.flux.schedule import Schedule

COMPONENT = "helm-controller"


class HelmController:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.failures: dict[str, int] = {}

    def step(self) -> None:
        if self.rt.controller_pod(COMPONENT) is None:
            return
        releases = self.rt.valid("HelmRelease", COMPONENT)
        if not releases:
            return
        repos = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in self.rt.list("HelmRepository")}
        faults = self.rt.faults()
        reconcile = self.rt.guarded(COMPONENT, self.reconcile)
        for hr in releases:
            if self.schedule.due(hr):
                reconcile(hr, repos, faults)

    def reconcile(self, hr: dict[str, Any], repos: dict[tuple[str, str], dict[str, Any]], faults: Any) -> None:
        meta, spec, status = hr["metadata"], hr.get("spec") or {}, dict(hr.get("status") or {})
        chart_spec = ((spec.get("chart") or {}).get("spec")) or {}
        chart, version = chart_spec.get("chart", "chart"), str(chart_spec.get("version") or "1.0.0")
        src = chart_spec.get("sourceRef") or {}
        src_ns = src.get("namespace") or meta["namespace"]
        stamp, generation = self.rt.stamp(), meta.get("generation", 1)
        release = f"{spec.get('targetNamespace') or meta['namespace']}/{spec.get('releaseName') or meta['name']}"
        repo = repos.get((src_ns, src.get("name", "")))
        if repo is None or not is_ready(repo):
            message = f"HelmChart '{src_ns}/{meta['namespace']}-{meta['name']}' is not ready: latest generation of " \
                      "object has not been reconciled"
            conds = set_condition(status.get("conditions"), READY, "False", "ArtifactFailed", message, now=stamp,
                                  generation=generation)
            self.rt.patch_status(hr, {"conditions": conds}, COMPONENT)
            self.rt.event(hr, "Warning", "ArtifactFailed", message, COMPONENT)
            self.rt.log(COMPONENT, "error", "Reconciler error", hr, error=message)
            self.schedule.done(hr, failed=True, retry=30.0)
            return
        history = list(status.get("history") or [])
        failing = "helm-install-retries-exhausted" in faults and faults["helm-install-retries-exhausted"].get(
            "target", meta["name"]) == meta["name"] and not history
        if failing:
            attempts = self.failures.get(meta["uid"], 0) + 1
            self.failures[meta["uid"]] = attempts
            retries = int((((spec.get("install") or {}).get("remediation")) or {}).get("retries", 0))
            error = f"Helm install failed for release {release} with chart {chart}@{version}: context deadline exceeded"
            conds = set_condition(status.get("conditions"), "Released", "False", "InstallFailed", error, now=stamp,
                                  generation=generation)
            conds = set_condition(conds, READY, "False", "InstallFailed", error, now=stamp, generation=generation)
            new: dict[str, Any] = {"conditions": conds, "installFailures": attempts, "lastAttemptedRevision": version,
                                   "lastAttemptedGeneration": generation}
            self.rt.event(hr, "Warning", "InstallFailed", error, COMPONENT)
            self.rt.log(COMPONENT, "error", "Reconciler error", hr, error=error)
            if attempts > retries:
                stalled = f"Failed to install after {attempts} attempt(s)"
                new["conditions"] = set_condition(conds, STALLED, "True", "RetriesExceeded", stalled, now=stamp,
                                                  generation=generation)
                new["observedGeneration"] = generation
                self.rt.event(hr, "Warning", "RetriesExceeded", stalled, COMPONENT)
                self.rt.patch_status(hr, new, COMPONENT)
                self.schedule.done(hr, failed=True, retry=3600.0)
                return
            self.rt.patch_status(hr, new, COMPONENT)
            self.schedule.done(hr, failed=True, retry=5.0)  # remediation retries follow at once, not after interval
            return
        digest = hashlib.sha256(f"{chart}{version}{spec.get('values')}".encode()).hexdigest()
        first = not history
        if first or history[0].get("chartVersion") != version or history[0].get("configDigest") != f"sha256:{digest}":
            number = (history[0]["version"] + 1) if history else 1
            history.insert(0, {"name": meta["name"], "namespace": meta["namespace"], "version": number,
                               "chartName": chart, "chartVersion": version, "appVersion": version,
                               "configDigest": f"sha256:{digest}", "digest": f"sha256:{digest}", "status": "deployed",
                               "firstDeployed": stamp, "lastDeployed": stamp})
            for old in history[1:]:
                old["status"] = "superseded"
            verb = "install" if first else "upgrade"
            message = f"Helm {verb} succeeded for release {release}.v{number} with chart {chart}@{version}"
            self.rt.event(hr, "Normal", "InstallSucceeded" if first else "UpgradeSucceeded", message, COMPONENT,
                          annotations={"helm.toolkit.fluxcd.io/revision": version})
            self.rt.log(COMPONENT, "info", f"release {verb} succeeded", hr, revision=version)
            reason = "InstallSucceeded" if first else "UpgradeSucceeded"
        else:
            reason = "InstallSucceeded" if len(history) == 1 else "UpgradeSucceeded"
            message = f"Helm {'install' if len(history) == 1 else 'upgrade'} succeeded for release {release}." \
                      f"v{history[0]['version']} with chart {chart}@{version}"
        self.failures.pop(meta["uid"], None)
        conds = drop_condition(drop_condition(status.get("conditions"), STALLED), RECONCILING)
        conds = set_condition(conds, "Released", "True", reason, message, now=stamp, generation=generation)
        conds = set_condition(conds, READY, "True", reason, message, now=stamp, generation=generation)
        new = {"conditions": conds, "history": history[:10], "observedGeneration": generation,
               "lastAttemptedRevision": version, "lastAttemptedGeneration": generation,
               "lastAttemptedConfigDigest": f"sha256:{digest}", "storageNamespace": meta["namespace"],
               "helmChart": f"{src_ns}/{meta['namespace']}-{meta['name']}", "installFailures": None}
        if self.schedule.requested(hr):
            new["lastHandledReconcileAt"] = self.schedule.requested(hr)
        self.rt.patch_status(hr, new, COMPONENT)
        self.schedule.done(hr)


class NotificationController:
    COMPONENT = "notification-controller"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)

    def step(self) -> None:
        if self.rt.controller_pod(self.COMPONENT) is None:
            return
        for kind in ("Provider", "Alert", "Receiver"):
            for obj in self.rt.list(kind):
                if not self.schedule.due(obj):
                    continue
                meta = obj["metadata"]
                stamp, generation = self.rt.stamp(), meta.get("generation", 1)
                message = "Initialized" if kind != "Receiver" else \
                    f"Receiver initialized for path: /hook/{hashlib.sha256(meta['uid'].encode()).hexdigest()}"
                conds = set_condition((obj.get("status") or {}).get("conditions"), READY, "True", "Succeeded", message,
                                      now=stamp, generation=generation)
                new: dict[str, Any] = {"conditions": conds, "observedGeneration": generation}
                if self.schedule.requested(obj):
                    new["lastHandledReconcileAt"] = self.schedule.requested(obj)
                self.rt.patch_status(obj, new, self.COMPONENT)
                self.schedule.done(obj, retry=3600.0)
