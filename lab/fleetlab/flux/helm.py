"""helm-controller: HelmReleases installed for real. The chart comes from a HelmChart the controller keeps for
`spec.chart` (source-controller resolves and pulls it from the HelmRepository) or from `spec.chartRef` (an
OCIRepository or HelmChart); it is rendered (fleetlab.flux.helmrender: `helm template`, or the
documented subset without a helm binary), applied in Helm's install order with Helm's labels and annotations,
recorded in a release Secret `sh.helm.release.v1.<release>.v<N>`, and waited on. Conditions, history,
failure counting, remediation retries (RetriesExceeded), events and uninstall on deletion follow
helm-controller v1.2-v1.6.

    HelmController(runtime).step()
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from fleetlab.flux.conditions import (
    READY,
    RECONCILING,
    STALLED,
    drop_condition,
    set_condition,
    workload_current,
)
from fleetlab.flux.helmrender import SUBSET, RenderError, read_chart, render
from fleetlab.flux.helmstorage import NAME_LABEL, NAMESPACE_LABEL, ReleaseStorage
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule, interval_of
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlab.kubernetes.errors import ApiError, now_rfc3339
from fleetlab.kubernetes.policy import ActingApi
from fleetlab.kubernetes.rbac import Attributes, User, forbidden
from fleetlib.model import go_duration
from fleetlib.objects import spec_of, status_of

COMPONENT = "helm-controller"
MANAGER = "helm-controller"
FINALIZER = "finalizers.fluxcd.io"
RELEASED = "Released"


class HelmController:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.storage = ReleaseStorage(rt)
        self.waiting: dict[str, dict[str, Any]] = {}
        """uid -> a release whose resources are being waited on (Helm's --wait), as the pass goes on."""
        self.seen: dict[str, str | None] = {}
        """uid -> the source artifact revision last reconciled from (the watch on sources)."""

    def step(self) -> None:
        if self.rt.controller_pod(COMPONENT) is None:
            return
        releases = self.rt.valid("HelmRelease", COMPONENT)
        if not releases:
            return
        for hr in releases:
            meta = hr["metadata"]
            run = self.rt.guarded(COMPONENT, self.reconcile)
            if meta.get("deletionTimestamp"):
                if FINALIZER in (meta.get("finalizers") or []):
                    self.rt.guarded(COMPONENT, self.finalize)(hr)
                continue
            if FINALIZER not in (meta.get("finalizers") or []):
                hr = patch_meta(self.rt, hr, {"finalizers": [*(meta.get("finalizers") or []), FINALIZER]}) or hr
            pending = self.waiting.get(meta["uid"])
            if pending is not None:
                self.rt.guarded(COMPONENT, self._check_wait)(hr)
                continue
            if spec_of(hr).get("suspend"):
                continue
            if self.schedule.due(hr) or self._source_moved(hr) or self.schedule.interrupted(hr):
                self.schedule.taken.add(meta["uid"])
                run(hr)

    # --- the source -----------------------------------------------------------------------------------

    def _source_moved(self, hr: dict[str, Any]) -> bool:
        kind, ns, name = chart_source(hr)
        source = self.rt.get(kind, ns, name)
        revision = (status_of(source).get("artifact") or {}).get("revision")
        return bool(revision) and hr["metadata"]["uid"] in self.seen and self.seen[hr["metadata"]["uid"]] != revision

    # --- one reconciliation ---------------------------------------------------------------------------

    def reconcile(self, hr: dict[str, Any]) -> None:
        meta, spec = hr["metadata"], hr.get("spec") or {}
        status = copy.deepcopy(status_of(hr))
        generation = meta.get("generation", 1)
        _mark(status, RECONCILING, "True", "Progressing", "Fulfilling prerequisites", generation)
        self.rt.patch_status(hr, status, COMPONENT)
        requeue = self.rt.flags(MANAGER).duration("requeue-dependency")
        if spec.get("chart") and not spec.get("chartRef"):
            reconcile_chart_template(self.rt, hr)
            status["helmChart"] = status_of(hr).get("helmChart")
        if spec.get("dependsOn") and not dependencies_ready(self.rt, self.schedule, hr, status, requeue):
            return
        kind, ns, name = chart_source(hr)
        source = self.rt.get(kind, ns, name)
        if source is None:
            t = self.rt.type(kind)
            plural = f"{t.plural}.{t.group}" if t else kind.lower()
            _mark(status, READY, "False", "ArtifactFailed",
                  f'could not get Source object: {plural} "{name}" not found', generation)
            finish(self.rt, self.schedule, hr, status, retry=requeue)
            return
        problem = source_not_ready(kind, source)
        self.seen[meta["uid"]] = (status_of(source).get("artifact") or {}).get("revision")
        if problem:
            self.rt.log(COMPONENT, "info", problem, hr)
            _mark(status, READY, "False", "SourceNotReady", problem, generation)
            finish(self.rt, self.schedule, hr, status, retry=requeue)
            return
        artifact = source["status"]["artifact"]
        try:
            archive = (self.rt.artifacts / str(artifact["path"])).read_bytes()
            chart_meta = read_chart(archive)[0]
        except (OSError, RenderError) as e:
            _mark(status, READY, "False", "ArtifactFailed", f"Could not load chart: {e}", generation)
            self.rt.event(hr, "Warning", "ArtifactFailed", str(e), COMPONENT)
            finish(self.rt, self.schedule, hr, status, retry=requeue)
            return
        version = str(chart_meta.get("version"))
        if kind == "OCIRepository":  # mutateChartWithSourceRevision: mutable tags are told apart by digest
            digest = str(artifact["revision"]).rsplit("@", 1)[-1].split(":", 1)[-1]
            version = f"{version.split('+')[0]}+{digest[:12]}"
        values = spec.get("values") or {}
        config_digest = "sha256:" + hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
        release, target_ns = _release_name(hr), spec.get("targetNamespace") or meta["namespace"]
        status["storageNamespace"] = spec.get("storageNamespace") or meta["namespace"]
        if storage_refused(self.rt, self.schedule, hr, status, version):
            return
        history = list(status.get("history") or [])
        latest: dict[str, Any] | None = history[0] if history else None
        action = "install" if latest is None or (latest.get("status") == "failed" and len(history) == 1) else "upgrade"
        failures = int(status.get("installFailures" if action == "install" else "upgradeFailures") or 0)
        in_sync = latest is not None and latest.get("status") == "deployed" and \
            latest.get("chartVersion") == version and latest.get("configDigest") == config_digest
        if (status.get("lastAttemptedRevision"), status.get("lastAttemptedConfigDigest")) != (version, config_digest):
            status.pop("installFailures", None)
            status.pop("upgradeFailures", None)
            failures = 0
            _drop(status, STALLED)
        status.update({"lastAttemptedGeneration": generation, "lastAttemptedRevision": version,
                       "lastAttemptedConfigDigest": config_digest})
        if in_sync and latest is not None:
            released = next((c for c in status.get("conditions") or [] if c.get("type") == RELEASED), None)
            if released is None or released.get("status") != "True":
                verb = status.get("lastAttemptedReleaseAction") or "install"
                reason = "InstallSucceeded" if verb == "install" else "UpgradeSucceeded"
                released = {"reason": reason, "message": _success_message(latest, release, target_ns, verb)}
            _mark(status, RELEASED, "True", released["reason"], released["message"], generation)
            _mark(status, READY, "True", released["reason"], released["message"], generation)
            finish(self.rt, self.schedule, hr, status)
            return
        retries = _retries(spec, action)
        if failures and failures > retries and retries >= 0:
            stall(self.rt, self.schedule, hr, status, action, failures)
            return
        status["lastAttemptedReleaseAction"] = action
        timeout = interval_of(hr, "timeout", "5m")
        _mark(status, RECONCILING, "True", "Progressing",
              f"Running '{action}' action with timeout of {go_duration(timeout)}", generation)
        self.rt.patch_status(hr, status, COMPONENT)
        # a failed install is remediated first
        number = 1 if action == "install" or latest is None else int(latest["version"]) + 1
        chart_name = str(chart_meta.get("name"))
        try:
            manifests, renderer = render(archive, release=release, namespace=target_ns, values=values,
                                         version=version if version != chart_meta.get("version") else None)
            applied = self.storage.apply(hr, manifests, release, target_ns, client=release_client(self.rt, hr))
        except (RenderError, ApiError) as e:
            error = str(e) if isinstance(e, RenderError) else _apply_error(e)
            self._failed(hr, status, action, release, target_ns, chart_name, version, chart_meta, number,
                         config_digest, error, history)
            return
        entry = _history_entry(release, target_ns, chart_name, version, chart_meta, number, config_digest, "deployed")
        self.storage.write_secret(hr, entry, applied, status["storageNamespace"])
        history = [entry, *[{**h, "status": "superseded"} if h.get("status") == "deployed" else h
                            for h in history if h.get("version") != number]]
        status["history"] = history[:5]
        install_spec = (spec.get("install") if action == "install" else spec.get("upgrade")) or {}
        if install_spec.get("disableWait"):
            self._released(hr, status, action, release, target_ns, renderer)
            return
        self.waiting[meta["uid"]] = {"status": status, "action": action, "release": release, "namespace": target_ns,
                                     "renderer": renderer,
                                     "objects": applied, "deadline": self.rt.now() + timeout,
                                     "chart": (chart_name, version, chart_meta, number, config_digest)}
        self.rt.patch_status(hr, status, COMPONENT)

    def _check_wait(self, hr: dict[str, Any]) -> None:
        pending = self.waiting[hr["metadata"]["uid"]]
        waiting = []
        for ref in pending["objects"]:
            if ref["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
                continue
            obj = self.rt.get(ref["kind"], ref["namespace"] or None, ref["name"])
            current, word = workload_current(obj) if obj else (False, "NotFound")
            if not current:
                waiting.append(f"{ref['kind']}/{ref['namespace']}/{ref['name']} status: '{word}'")
        status = pending["status"]
        if not waiting:
            self.waiting.pop(hr["metadata"]["uid"], None)
            self._released(hr, status, pending["action"], pending["release"], pending["namespace"], pending["renderer"])
        elif self.rt.now() >= pending["deadline"]:
            self.waiting.pop(hr["metadata"]["uid"], None)
            chart_name, version, chart_meta, number, config_digest = pending["chart"]
            history = list(status.get("history") or [])
            history = [h for h in history if h.get("version") != number]
            self._failed(hr, status, pending["action"], pending["release"], pending["namespace"], chart_name, version,
                         chart_meta, number, config_digest, "context deadline exceeded", history)

    # --- outcomes -------------------------------------------------------------------------------------

    def _released(self, hr: dict[str, Any], status: dict[str, Any], action: str, release: str, namespace: str,
                  renderer: str) -> None:
        generation = hr["metadata"].get("generation", 1)
        latest = status["history"][0]
        reason = "InstallSucceeded" if action == "install" else "UpgradeSucceeded"
        message = _success_message(latest, release, namespace, action)
        if renderer == SUBSET:  # say what was simulated, where the user reads the outcome
            message += f" (rendered by {SUBSET})"
        status.pop("installFailures" if action == "install" else "upgradeFailures", None)
        _mark(status, RELEASED, "True", reason, message, generation)
        _mark(status, READY, "True", reason, message, generation)
        self.rt.event(hr, "Normal", reason, message, COMPONENT,
                      annotations={"helm.toolkit.fluxcd.io/revision": latest["chartVersion"],
                                   "helm.toolkit.fluxcd.io/token": latest["configDigest"]})
        self.rt.log(COMPONENT, "info", f"release {action} succeeded", hr, revision=latest["chartVersion"])
        finish(self.rt, self.schedule, hr, status)

    def _failed(self, hr: dict[str, Any], status: dict[str, Any], action: str, release: str, namespace: str,
                chart_name: str, version: str, chart_meta: dict[str, Any], number: int, config_digest: str,
                error: str, history: list[dict[str, Any]]) -> None:
        generation = hr["metadata"].get("generation", 1)
        verb = "install" if action == "install" else "upgrade"
        reason = "InstallFailed" if action == "install" else "UpgradeFailed"
        message = f"Helm {verb} failed for release {namespace}/{release} with chart {chart_name}@{version}: {error}"
        counter = "installFailures" if action == "install" else "upgradeFailures"
        failures = int(status.get(counter) or 0) + 1
        status[counter] = failures
        entry = _history_entry(release, namespace, chart_name, version, chart_meta, number, config_digest, "failed")
        self.storage.write_secret(hr, entry, [], status.get("storageNamespace") or hr["metadata"]["namespace"])
        status["history"] = [entry, *[h for h in history if h.get("version") != number]][:5]
        _mark(status, RELEASED, "False", reason, message, generation)
        _mark(status, READY, "False", reason, message, generation)
        self.rt.event(hr, "Warning", reason, message, COMPONENT,
                      annotations={"helm.toolkit.fluxcd.io/revision": version})
        self.rt.log(COMPONENT, "error", f"failed to run '{verb}' action", hr, error=message)
        retries = _retries(hr.get("spec") or {}, action)
        if retries < 0 or failures <= retries:
            _mark(status, RECONCILING, "True", "ProgressingWithRetry", message, generation)
            self.rt.patch_status(hr, status, COMPONENT)
            self.schedule.done(hr, failed=True, retry=0.0)  # remediation, then the next attempt at once
            return
        stall(self.rt, self.schedule, hr, status, action, failures)

    # --- deletion -------------------------------------------------------------------------------------

    def finalize(self, hr: dict[str, Any]) -> None:
        """Uninstall: the release's objects and Secrets, and the HelmChart kept for `spec.chart`."""
        meta, spec, status = hr["metadata"], hr.get("spec") or {}, hr.get("status") or {}
        if not spec.get("suspend"):
            namespace = status.get("storageNamespace") or meta["namespace"]
            release = _release_name(hr)
            for secret in self.rt.list("Secret", namespace):
                labels = secret["metadata"].get("labels") or {}
                if labels.get("owner") != "helm" or labels.get("name") != release:
                    continue
                if labels.get("status") == "deployed":
                    self.storage.uninstall_objects(secret)
                self.storage.delete("Secret", namespace, secret["metadata"]["name"])
            uninstalled(self.rt, hr, namespace, release)
            chart = status.get("helmChart")
            if chart and "/" in chart:
                ns, name = chart.split("/", 1)
                self.storage.delete("HelmChart", ns, name)
                self.rt.trace(hr, "HelmChartDeleted", f"deleted HelmChart '{chart}'", COMPONENT)
        self.waiting.pop(meta["uid"], None)
        patch_meta(self.rt, hr, {"finalizers": [f for f in meta.get("finalizers") or [] if f != FINALIZER] or None})

def uninstalled(rt: Runtime, hr: dict[str, Any], namespace: str, release: str) -> None:
    """helm-controller's UninstallSucceeded event for the release's latest history entry, if it has one."""
    latest = ((hr.get("status") or {}).get("history") or [None])[0]
    if latest:
        message = (f"Helm uninstall succeeded for release {namespace}/{release}.v{latest['version']} with "
                   f"chart {latest['chartName']}@{latest['chartVersion']}")
        rt.event(hr, "Normal", "UninstallSucceeded", message, COMPONENT,
                 annotations={"helm.toolkit.fluxcd.io/revision": latest["chartVersion"],
                              "helm.toolkit.fluxcd.io/token": latest.get("configDigest", "")})
        rt.log(COMPONENT, "info", message, hr)


def reconcile_chart_template(rt: Runtime, hr: dict[str, Any]) -> None:
    """Create or update the HelmChart for `spec.chart`, as reconcileChartTemplate does."""
    meta, spec = hr["metadata"], hr.get("spec") or {}
    template = (spec.get("chart") or {}).get("spec") or {}
    src = template.get("sourceRef") or {}
    ns = src.get("namespace") or meta["namespace"]
    name = f"{meta['namespace']}-{meta['name']}"
    source_ref = {"kind": src.get("kind", "HelmRepository"), "name": src.get("name")}
    wanted: dict[str, Any] = {"chart": template.get("chart"), "version": template.get("version") or "*",
                              "sourceRef": source_ref,
              "interval": go_duration(interval_of({"spec": template}, "interval",
                                                  str(spec.get("interval") or "10m"))),
              "reconcileStrategy": template.get("reconcileStrategy") or "ChartVersion"}
    if template.get("valuesFiles"):
        wanted["valuesFiles"] = template["valuesFiles"]
    t = rt.resource("HelmChart")
    current = rt.get("HelmChart", ns, name)
    body = {"apiVersion": f"{t.group}/{t.version}", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": ns, "labels": {NAME_LABEL: meta["name"],
                                                                   NAMESPACE_LABEL: meta["namespace"]}},
            "spec": wanted}
    if current is None or {k: spec_of(current).get(k) for k in wanted} != wanted:
        rt.api.patch(t, ns, name, "application/apply-patch+yaml", json.dumps(body).encode(), manager=MANAGER,
                          force=True)
        if current is None:
            rt.event(hr, "Normal", "HelmChartCreated",
                          f"Created HelmChart/{ns}/{name} with SourceRef '{source_ref['kind']}/{ns}/"
                          f"{source_ref['name']}'", COMPONENT)
    if status_of(hr).get("helmChart") != f"{ns}/{name}":
        hr.setdefault("status", {})["helmChart"] = f"{ns}/{name}"


def source_not_ready(kind: str, source: dict[str, Any]) -> str | None:
    """isReady(): None when usable, else why not (as HelmRelease's SourceNotReady message says)."""
    meta, status = source["metadata"], source.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    where = f"{kind} '{meta['namespace']}/{meta['name']}' is not ready"
    if meta.get("generation") != status.get("observedGeneration"):
        ready = conds.get(READY) or {}
        detail = ready.get("message") if ready.get("status") == "False" else \
            "latest generation of object has not been reconciled"
        return f"{where}: {detail}"
    if (conds.get(STALLED) or {}).get("status") == "True":
        return f"{where}: {conds[STALLED].get('message')}"
    if not status.get("artifact"):
        return f"{where}: does not have an artifact"
    return None


def stall(rt: Runtime, schedule: Schedule, hr: dict[str, Any], status: dict[str, Any], action: str,
          failures: int) -> None:
    """Retries exhausted: Stalled=True (RetriesExceeded), terminal until the spec changes."""
    generation = hr["metadata"].get("generation", 1)
    _mark(status, STALLED, "True", "RetriesExceeded", f"Failed to {action} after {failures} attempt(s)",
          generation)
    _drop(status, RECONCILING)
    status["observedGeneration"] = generation
    rt.patch_status(hr, status, COMPONENT)
    schedule.done(hr, failed=True, retry=1e9)  # terminal until the spec changes


def finish(rt: Runtime, schedule: Schedule, hr: dict[str, Any], status: dict[str, Any], *,
           retry: float | None = None) -> None:
    """finalizeStatus: the request handled, Reconciling and Stalled dropped once Ready, the next run scheduled."""
    requested = schedule.requested(hr)
    if requested:
        status["lastHandledReconcileAt"] = requested
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == READY), {})
    if ready.get("status") == "True":
        _drop(status, RECONCILING)
        _drop(status, STALLED)
        status["observedGeneration"] = hr["metadata"].get("generation", 1)
    rt.patch_status(hr, status, COMPONENT)
    schedule.done(hr, failed=retry is not None, retry=retry)


def chart_source(hr: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object the chart comes from: spec.chartRef, or the HelmChart kept for spec.chart."""
    meta, spec = hr["metadata"], hr.get("spec") or {}
    if spec.get("chartRef"):
        ref = spec["chartRef"]
        return str(ref.get("kind")), ref.get("namespace") or meta["namespace"], str(ref.get("name"))
    src = (((spec.get("chart") or {}).get("spec")) or {}).get("sourceRef") or {}
    return "HelmChart", src.get("namespace") or meta["namespace"], f"{meta['namespace']}-{meta['name']}"


def patch_meta(rt: Runtime, hr: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch of the HelmRelease's metadata (its finalizer), as the controller; None if it is gone."""
    try:
        _, out = rt.api.patch(rt.resource("HelmRelease"), hr["metadata"]["namespace"], hr["metadata"]["name"],
                              "application/merge-patch+json", json.dumps({"metadata": meta}).encode(), manager=MANAGER)
        return dict(out)
    except ApiError:
        return None


def release_user(rt: Runtime, hr: dict[str, Any]) -> User | None:
    """The service account a HelmRelease's Helm actions impersonate (spec.serviceAccountName, else helm-controller's
    --default-service-account), or None: the controller's own identity."""
    account = spec_of(hr).get("serviceAccountName") or rt.flags(MANAGER).text("default-service-account")
    return User.service_account(hr["metadata"]["namespace"], str(account)) if account else None


def release_client(rt: Runtime, hr: dict[str, Any]) -> ClusterApi | ActingApi:
    user = release_user(rt, hr)
    return rt.api.policy.acting_as(user) if user else rt.api


def storage_refused(rt: Runtime, schedule: Schedule, hr: dict[str, Any], status: dict[str, Any], version: str) -> bool:
    """Helm's first request as the impersonated account, the query of the release Secrets in the storage namespace:
    refused, the HelmRelease is Ready=False StateError in helm-controller's words, retried with the back-off."""
    user = release_user(rt, hr)
    if user is None:
        return False
    asked = Attributes("list", "", "secrets", namespace=status["storageNamespace"])
    decision = rt.api.policy.authorizer.decide(user, asked)
    if decision.allowed:
        return False
    _mark(status, READY, "False", "StateError", "Could not determine release state: failed to retrieve last release "
          f"from storage: query: failed to query with labels: {forbidden(user, asked, decision.reason).message}",
          hr["metadata"].get("generation", 1))
    status.setdefault("observedGeneration", -1)
    status["lastAttemptedRevision"] = version
    finish(rt, schedule, hr, status, retry=schedule.backoff(hr, MANAGER))
    return True


def dependencies_ready(rt: Runtime, schedule: Schedule, hr: dict[str, Any], status: dict[str, Any],
                       requeue: float) -> bool:
    """helm-controller's dependency gate: a dependency not ready is Ready=False DependencyNotReady, a Normal event and
    a retry in --requeue-dependency (not the back-off); once all are ready a stale DependencyNotReady turns Unknown."""
    generation = hr["metadata"].get("generation", 1)
    rt.log(COMPONENT, "info", f"checking {len(spec_of(hr)['dependsOn'])} dependencies", hr)
    problem = unmet_release_dependency(rt, hr)
    if problem:
        _mark(status, READY, "False", "DependencyNotReady", problem, generation)
        rt.event(hr, "Normal", "DependencyNotReady", problem, COMPONENT)
        rt.log(COMPONENT, "info", f"dependencies do not meet ready condition ({problem}): retrying in "
                                  f"{go_duration(requeue)}", hr)
        finish(rt, schedule, hr, status, retry=requeue)
        return False
    rt.log(COMPONENT, "info", "all dependencies are ready", hr)
    if any(c.get("reason") == "DependencyNotReady" for c in status.get("conditions") or [] if c.get("type") == READY):
        _mark(status, READY, "Unknown", "Progressing", "reconciliation in progress", generation)
    return True


def unmet_release_dependency(rt: Runtime, hr: dict[str, Any]) -> str | None:
    """What helm-controller's checkDependencies returns: None when every HelmRelease in spec.dependsOn is Ready at
    its current generation (read past the cache)."""
    for dep in spec_of(hr).get("dependsOn") or []:
        where = f"{dep.get('namespace') or hr['metadata']['namespace']}/{dep.get('name')}"
        target = rt.get("HelmRelease", dep.get("namespace") or hr["metadata"]["namespace"], str(dep.get("name")))
        if target is None:
            return (f"unable to get '{where}' dependency: helmreleases.helm.toolkit.fluxcd.io \"{dep.get('name')}\" "
                    "not found")
        ready = any(c.get("type") == READY and c.get("status") == "True"
                    for c in status_of(target).get("conditions") or [])
        if target["metadata"].get("generation") != status_of(target).get("observedGeneration") or not ready:
            return f"dependency '{where}' is not ready"
    return None


def _release_name(hr: dict[str, Any]) -> str:
    spec = hr.get("spec") or {}
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    if spec.get("targetNamespace"):
        return f"{spec['targetNamespace']}-{hr['metadata']['name']}"
    return str(hr["metadata"]["name"])


def _retries(spec: dict[str, Any], action: str) -> int:
    block = (spec.get("install") if action == "install" else spec.get("upgrade")) or {}
    return int((block.get("remediation") or {}).get("retries", 0) or 0)


def _history_entry(release: str, namespace: str, chart: str, version: str, chart_meta: dict[str, Any], number: int,
                   config_digest: str, state: str) -> dict[str, Any]:
    stamp = now_rfc3339()
    return {"name": release, "namespace": namespace, "version": number, "chartName": chart, "chartVersion": version,
            "appVersion": str(chart_meta.get("appVersion") or ""), "configDigest": config_digest,
            "digest": "sha256:" + hashlib.sha256(f"{release}{number}{version}{config_digest}".encode()).hexdigest(),
            "firstDeployed": stamp, "lastDeployed": stamp, "status": state}


def _success_message(entry: dict[str, Any], release: str, namespace: str, verb: str) -> str:
    return (f"Helm {verb} succeeded for release {namespace}/{release}.v{entry['version']} with chart "
            f"{entry['chartName']}@{entry['chartVersion']}")


def _apply_error(e: ApiError) -> str:
    return e.message


def _mark(status: dict[str, Any], kind: str, value: str, reason: str, message: str, generation: int) -> None:
    status["conditions"] = set_condition(status.get("conditions"), kind, value, reason, message, now=now_rfc3339(),
                                         generation=generation)


def _drop(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = drop_condition(status.get("conditions"), kind)
