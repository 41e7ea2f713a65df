"""kustomize-controller: build `spec.path` of the source artifact with the real kustomize (`kubectl
kustomize`), apply the result by server-side apply (field manager `kustomize-controller`, labels
`kustomize.toolkit.fluxcd.io/name` and `/namespace`, CRDs and Namespaces first), record the inventory,
prune what left Git, honour dependsOn and health checks, and report as Flux does.

    KustomizeController(runtime).step()
"""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fleetlab.flux.conditions import (
    HEALTHY,
    READY,
    RECONCILING,
    is_ready,
    workload_current,
)
from fleetlab.flux.kreport import KsReport, drop, is_true, mark
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule, interval_of
from fleetlab.flux.ssa import MANAGER, Applier, Failure
from fleetlab.kubernetes.errors import ApiError
from fleetlib.model import go_duration
from fleetlib.objects import spec_of, status_of

COMPONENT = "kustomize-controller"
CONCURRENT = 4
"""Parallel reconciles, as the controller's --concurrent flag (default 4)."""
FINALIZER = "finalizers.fluxcd.io"


class KustomizeController:
    """Reconcile as kustomize-controller's Reconcile does (v1.5-v1.9): finalizer first; a deleted Kustomization
    prunes its inventory (prune: true) and lets go; a suspended one only records the request it saw; then the
    source, its artifact, the dependencies (re-checked every --requeue-dependency, with one info event and log
    line each time), and the reconcile proper: fetch, build, dry-run and apply in stages, prune, health checks.
    A new artifact revision triggers a reconcile once, as the controller's watch on sources does."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.report = KsReport(rt, self.schedule)
        self.health: dict[str, dict[str, Any]] = {}
        self.applier = Applier(rt)
        self.seen: dict[str, str | None] = {}
        """uid -> the source revision the last reconcile started from (a watch event fires once per change)."""
        self.workers = ThreadPoolExecutor(CONCURRENT, thread_name_prefix="kustomize-controller")

    def step(self) -> None:
        if self.rt.controller_pod(COMPONENT) is None:
            return
        items = self.rt.valid("Kustomization", COMPONENT)
        if not items:
            return
        by_key = {(k["metadata"]["namespace"], k["metadata"]["name"]): k for k in items}
        revisions = {(s["kind"], s["metadata"]["namespace"], s["metadata"]["name"]):
                     (status_of(s).get("artifact") or {}).get("revision")
                     for kind in ("GitRepository", "OCIRepository", "Bucket") for s in self.rt.list(kind)}
        due: list[tuple[Any, dict[str, Any]]] = []
        for ks in items:
            meta = ks["metadata"]
            uid = meta["uid"]
            if meta.get("deletionTimestamp"):
                if FINALIZER in (meta.get("finalizers") or []):
                    due.append((self.finalize, ks))
                continue
            if FINALIZER not in (meta.get("finalizers") or []):
                added = self._add_finalizer(ks)
                if added is None:
                    continue
                ks = added
            pending = self.health.get(uid)
            if pending is not None and pending["generation"] == meta.get("generation"):
                self._check_health(ks, pending)
                continue
            if spec_of(ks).get("suspend"):
                if self._suspended_due(ks):
                    due.append((self.suspended, ks))
                continue
            if self.schedule.due(ks) or self._new_artifact(ks, revisions) or self.schedule.interrupted(ks):
                self.schedule.taken.add(uid)
                self.health.pop(uid, None)
                due.append((lambda k, _by=by_key, _rev=revisions: self.reconcile(k, _by, _rev), ks))
        runs = [(self.rt.guarded(COMPONENT, fn), ks) for fn, ks in due]
        list(self.workers.map(lambda item: item[0](item[1]), runs))

    def _add_finalizer(self, ks: dict[str, Any]) -> dict[str, Any] | None:
        t = self.rt.resource("Kustomization")
        meta = ks["metadata"]
        try:
            _, out = self.rt.api.patch(t, meta["namespace"], meta["name"], "application/merge-patch+json",
                                       json.dumps({"metadata": {"finalizers": [*(meta.get("finalizers") or []),
                                                                               FINALIZER]}}).encode(),
                                       manager=MANAGER)
        except ApiError:
            return None
        return dict(out)

    def _new_artifact(self, ks: dict[str, Any], revisions: dict[tuple[str, str, str], str | None]) -> bool:
        """The watch on sources: a source's artifact revision other than the one last reconciled from."""
        revision = revisions.get(source_key(ks))
        uid = ks["metadata"]["uid"]
        if uid not in self.seen:
            self.seen[uid] = status_of(ks).get("lastAttemptedRevision")
        return bool(revision) and revision != self.seen[uid]

    def _suspended_due(self, ks: dict[str, Any]) -> bool:
        requested = self.schedule.requested(ks)
        return self.schedule.changed_generation(ks) or bool(
            requested and requested != status_of(ks).get("lastHandledReconcileAt"))

    def suspended(self, ks: dict[str, Any]) -> None:
        """A suspended Kustomization's reconcile: nothing but the log line and the status bookkeeping."""
        self.rt.log(COMPONENT, "info", "Reconciliation is suspended for this object", ks)
        status = copy.deepcopy(status_of(ks))
        self.report.finish(ks, status, time.monotonic(), announce=False)
        self.schedule.saw(ks)

    # --- one reconciliation ---------------------------------------------------------------------

    def reconcile(self, ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]],
                  revisions: dict[tuple[str, str, str], str | None]) -> None:
        started = time.monotonic()
        uid = ks["metadata"]["uid"]
        self.seen[uid] = revisions.get(source_key(ks))
        status = copy.deepcopy(status_of(ks))
        kind, ns, name = source_key(ks)
        if ns != ks["metadata"]["namespace"] and self.rt.flags(COMPONENT).flag("no-cross-namespace-refs"):
            self.report.deny(ks, status, f"can't access '{kind}/{ns}/{name}', cross-namespace references have been "
                                         "blocked", started)
            return
        source = self.rt.get(kind, ns, name)
        retry_interval = interval_of(ks, "retryInterval", str(spec_of(ks).get("interval") or "10m"))
        if source is None:  # read through the controller's cache: the error names the Kind
            t = self.rt.type(kind)
            what = f"{kind}.{t.group}" if t else kind
            mark(status, READY, "False", "ArtifactFailed", f'{what} "{name}" not found', ks)
            self.rt.log(COMPONENT, "info", f"Source '{kind}/{ns}/{name}' not found", ks)
            self.report.finish(ks, status, started)
            self.schedule.done(ks, failed=True, retry=retry_interval)
            return
        artifact = status_of(source).get("artifact")
        requeue = self.rt.flags("kustomize-controller").duration("requeue-dependency")
        if not artifact:
            message = f"Source artifact not found, retrying in {go_duration(requeue)}"
            mark(status, READY, "False", "ArtifactFailed", message, ks)
            self.rt.log(COMPONENT, "info", message, ks)
            self.report.finish(ks, status, started)
            self.schedule.done(ks, failed=True, retry=requeue)
            return
        revision = str(artifact["revision"])
        if spec_of(ks).get("dependsOn"):
            problem = unmet_dependency(ks, by_key, revision)
            if problem:
                mark(status, READY, "False", "DependencyNotReady", problem, ks)
                message = f"Dependencies do not meet ready condition, retrying in {go_duration(requeue)}"
                self.rt.log(COMPONENT, "info", message, ks)
                self.report.event(ks, status, "info", message, revision)
                self.report.finish(ks, status, started)
                self.schedule.done(ks, failed=True, retry=requeue)
                return
            self.rt.log(COMPONENT, "info", "All dependencies are ready, proceeding with reconciliation", ks)
        try:
            self._reconcile(ks, status, artifact, revision, started)
        except Failure as failure:
            mark(status, READY, "False", failure.reason, failure.message, ks)
            if failure.reason == "HealthCheckFailed":
                mark(status, HEALTHY, "False", failure.reason, failure.message, ks)
            self.report.fail(ks, status, failure, revision, started)

    def _reconcile(self, ks: dict[str, Any], status: dict[str, Any], artifact: dict[str, Any], revision: str,
                   started: float) -> None:
        timeout = go_duration(health_timeout(ks))
        mark(status, READY, "Unknown", "Progressing", "Reconciliation in progress", ks)
        mark(status, RECONCILING, "True", "Progressing",
              f"Fetching manifests for revision {revision} with a timeout of {timeout}", ks)
        self.rt.patch_status(ks, status, COMPONENT)
        root, rel = self.applier.folder(ks, artifact)
        status["lastAttemptedRevision"] = revision
        mark(status, RECONCILING, "True", "Progressing",
              f"Building manifests for revision {revision} with a timeout of {timeout}", ks)
        self.applier.target(ks)  # the controller makes its client before the build, and fails here without one
        objects = self.applier.build(root, rel, ks)
        mark(status, RECONCILING, "True", "Progressing",
              f"Detecting drift for revision {revision} with a timeout of {timeout}", ks)
        changes, inventory = self.applier.apply(ks, objects, revision)
        changed = {k: v for k, v in changes.items() if v != "unchanged"}
        if changes:
            self.rt.log(COMPONENT, "info", "server-side apply completed", ks, output=changes, revision=revision)
        if changed:
            self.report.event(ks, status, "info", "\n".join(f"{k} {v}" for k, v in changed.items()), revision)
        old = status.get("inventory")
        status["inventory"] = {"entries": inventory}
        if spec_of(ks).get("prune"):
            pruned = self.applier.delete(ks, _stale(old, inventory))
            if pruned:
                text = "\n".join(f"{k} {v}" for k, v in pruned.items())
                self.rt.log(COMPONENT, "info", f"garbage collection completed: {text}", ks)
                self.report.event(ks, status, "info", text, revision)
        checks = health_checks(ks, objects)
        if not checks:
            drop(status, HEALTHY)
            self.report.succeed(ks, status, revision, started)
            return
        message = f"Running health checks for revision {revision} with a timeout of {timeout}"
        was_healthy = any(c.get("type") == HEALTHY and c.get("status") == "True" for c in status.get("conditions") or [])
        mark(status, RECONCILING, "True", "Progressing", message, ks)
        mark(status, HEALTHY, "Unknown", "Progressing", message, ks)
        self.rt.patch_status(ks, status, COMPONENT)
        self.health[ks["metadata"]["uid"]] = {
            "generation": ks["metadata"].get("generation"), "revision": revision, "status": status,
            "deadline": self.rt.now() + health_timeout(ks), "checks": checks, "started": started,
            "sim_started": self.rt.now(), "wall_started": time.monotonic(), "was_healthy": was_healthy,
            "new_revision": revision != status.get("lastAppliedRevision"), "drifted": bool(changed)}

    def finalize(self, ks: dict[str, Any]) -> None:
        """A Kustomization being deleted: prune what it applied (prune: true, not suspended), then let go."""
        started = time.monotonic()
        spec, status = ks.get("spec") or {}, copy.deepcopy(status_of(ks))
        entries = ((status.get("inventory") or {}).get("entries")) or []
        policy = spec.get("deletionPolicy") or "MirrorPrune"
        if entries and not spec.get("suspend") and (
                policy in ("Delete", "WaitForTermination") or (policy == "MirrorPrune" and spec.get("prune"))):
            try:
                deleted = self.applier.delete(ks, entries)
            except Failure as failure:  # logged; the finalizer goes all the same, as the controller's does
                self.rt.log(COMPONENT, "error", "pruning for deleted resource failed", ks, error=failure.message)
                deleted = {}
            if deleted:
                self.report.event(ks, status, "info", "\n".join(f"{k} {v}" for k, v in deleted.items()),
                            status.get("lastAppliedRevision"))
        meta = ks["metadata"]
        t = self.rt.resource("Kustomization")
        finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        try:
            self.rt.api.patch(t, meta["namespace"], meta["name"], "application/merge-patch+json",
                              json.dumps({"metadata": {"finalizers": finalizers or None}}).encode(), manager=MANAGER)
        except ApiError as e:
            if e.code != 404:
                raise
        self.health.pop(meta["uid"], None)
        self.seen.pop(meta["uid"], None)
        if not spec.get("suspend") and is_true(status, READY):
            self.report.announce_finished(ks, status, started)

    # --- health checks --------------------------------------------------------------------------

    def _check_health(self, ks: dict[str, Any], pending: dict[str, Any]) -> None:
        waiting = []
        for kind, ns, name in pending["checks"]:
            obj = self.applier.live(ks, kind, ns, name)
            current, word = workload_current(obj) if obj else (False, "NotFound")
            if not current:
                waiting.append(f"{kind}/{ns}/{name} status: '{word}'" if ns else f"{kind}/{name} status: '{word}'")
        status, revision = pending["status"], pending["revision"]
        took = go_duration(time.monotonic() - pending["wall_started"])
        if not waiting:
            self.health.pop(ks["metadata"]["uid"], None)
            message = f"Health check passed in {took}"
            if not pending["was_healthy"] or (pending["new_revision"] and pending["drifted"]):
                self.report.event(ks, status, "info", message, revision)
            mark(status, HEALTHY, "True", "Succeeded", message, ks)
            self.report.succeed(ks, status, revision, pending["started"])
        elif self.rt.now() >= pending["deadline"]:
            self.health.pop(ks["metadata"]["uid"], None)
            problem = f"timeout waiting for: [{', '.join(waiting)}]"
            mark(status, HEALTHY, "False", "HealthCheckFailed", problem, ks)
            message = f"health check failed after {took}: {problem}"
            mark(status, READY, "False", "HealthCheckFailed", message, ks)
            self.report.fail(ks, status, Failure("HealthCheckFailed", message), revision, pending["started"])

def unmet_dependency(ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]], revision: str) -> str | None:
    """What checkDependencies returns: None when every dependency is Ready at the current revision."""
    for dep in spec_of(ks).get("dependsOn") or []:
        ns = dep.get("namespace") or ks["metadata"]["namespace"]
        target = by_key.get((ns, dep.get("name")))
        if target is None:  # read past the cache (APIReader): the error names the resource
            return (f"dependency '{ns}/{dep.get('name')}' not found: kustomizations.kustomize.toolkit.fluxcd.io "
                    f'"{dep.get("name")}" not found')
        if not is_ready(target):
            return f"dependency '{ns}/{dep.get('name')}' is not ready"
        if source_key(target) == source_key(ks) and \
                status_of(target).get("lastAppliedRevision") != revision:
            return f"dependency '{ns}/{dep.get('name')}' revision is not up to date"
    return None


def _stale(old: Any, inventory: list[dict[str, str]]) -> list[dict[str, str]]:
    keep = {e["id"] for e in inventory}
    return [e for e in ((old or {}).get("entries") or []) if isinstance(e, dict) and e.get("id") not in keep]


def health_timeout(ks: dict[str, Any]) -> float:
    spec = ks.get("spec") or {}
    if spec.get("timeout"):
        return interval_of(ks, "timeout")
    return max(30.0, interval_of(ks) - 30.0)

def health_checks(ks: dict[str, Any], objects: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    spec = ks.get("spec") or {}
    me = (ks["metadata"]["namespace"], ks["metadata"]["name"])
    if spec.get("wait"):
        checks = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    else:
        checks = [(c.get("kind", ""), c.get("namespace") or ks["metadata"]["namespace"], c.get("name", ""))
                  for c in spec.get("healthChecks") or []]
    return [c for c in checks if not (c[0] == "Kustomization" and (c[1], c[2]) == me)]


def source_key(ks: dict[str, Any]) -> tuple[str, str, str]:
    src = spec_of(ks).get("sourceRef") or {}
    return (src.get("kind", "GitRepository"), src.get("namespace") or ks["metadata"]["namespace"],
            src.get("name", ""))
