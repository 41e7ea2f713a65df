"""kustomize-controller: build `spec.path` of the source artifact with the real kustomize (`kubectl
kustomize`), apply the result by server-side apply (field manager `kustomize-controller`, labels
`kustomize.toolkit.fluxcd.io/name` and `/namespace`, CRDs and Namespaces first), record the inventory,
prune what left Git, honour dependsOn and health checks, and report as Flux does.

    KustomizeController(runtime).step()
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import secrets
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from fleetlib.model import go_duration
from fleetlib.objects import inventory_id, parse_inventory_id, ref, spec_of, status_of
from fleetlib.sandbox.errors import ApiError, now_rfc3339
from fleetlib.sandbox.flux.conditions import (
    HEALTHY,
    READY,
    RECONCILING,
    drop_condition,
    is_ready,
    set_condition,
    workload_current,
)
from fleetlib.sandbox.flux.runtime import Runtime
from fleetlib.sandbox.flux.schedule import Schedule, interval_of

COMPONENT = "kustomize-controller"
CONCURRENT = 4
"""Parallel reconciles, as the controller's --concurrent flag (default 4)."""
MANAGER = "kustomize-controller"
FINALIZER = "finalizers.fluxcd.io"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_FIRST = {"CustomResourceDefinition": 0, "Namespace": 1}


class Failure(Exception):
    def __init__(self, reason: str, message: str, *, revision: str | None = None, retry: float | None = None,
                 event: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.revision, self.retry = reason, message, revision, retry
        self.event = event or message


class KustomizeController:
    """Reconcile as kustomize-controller's Reconcile does (v1.5-v1.9): finalizer first; a deleted Kustomization
    prunes its inventory (prune: true) and lets go; a suspended one only records the request it saw; then the
    source, its artifact, the dependencies (re-checked every --requeue-dependency, with one info event and log
    line each time), and the reconcile proper: fetch, build, dry-run and apply in stages, prune, health checks.
    A new artifact revision triggers a reconcile once, as the controller's watch on sources does."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.health: dict[str, dict[str, Any]] = {}
        self.builds: dict[tuple[str, str], list[dict[str, Any]]] = {}
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
            if self.schedule.due(ks) or self._new_artifact(ks, revisions):
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

    def _source_key(self, ks: dict[str, Any]) -> tuple[str, str, str]:
        src = spec_of(ks).get("sourceRef") or {}
        return (src.get("kind", "GitRepository"), src.get("namespace") or ks["metadata"]["namespace"],
                src.get("name", ""))

    def _new_artifact(self, ks: dict[str, Any], revisions: dict[tuple[str, str, str], str | None]) -> bool:
        """The watch on sources: a source's artifact revision other than the one last reconciled from."""
        revision = revisions.get(self._source_key(ks))
        uid = ks["metadata"]["uid"]
        if uid not in self.seen:
            self.seen[uid] = status_of(ks).get("lastAttemptedRevision")
        return bool(revision) and revision != self.seen[uid]

    def _suspended_due(self, ks: dict[str, Any]) -> bool:
        key = ks["metadata"]["uid"]
        requested = self.schedule.requested(ks)
        return self.schedule.generation.get(key) != ks["metadata"].get("generation", 1) or bool(
            requested and requested != status_of(ks).get("lastHandledReconcileAt"))

    def suspended(self, ks: dict[str, Any]) -> None:
        """A suspended Kustomization's reconcile: nothing but the log line and the status bookkeeping."""
        self.rt.log(COMPONENT, "info", "Reconciliation is suspended for this object", ks)
        status = copy.deepcopy(status_of(ks))
        self._finish(ks, status, time.monotonic(), announce=False)
        self.schedule.generation[ks["metadata"]["uid"]] = ks["metadata"].get("generation", 1)

    # --- one reconciliation ---------------------------------------------------------------------

    def reconcile(self, ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]],
                  revisions: dict[tuple[str, str, str], str | None]) -> None:
        started = time.monotonic()
        uid = ks["metadata"]["uid"]
        self.seen[uid] = revisions.get(self._source_key(ks))
        status = copy.deepcopy(status_of(ks))
        kind, ns, name = self._source_key(ks)
        source = self.rt.get(kind, ns, name)
        retry_interval = interval_of(ks, "retryInterval", str(spec_of(ks).get("interval") or "10m"))
        if source is None:  # read through the controller's cache: the error names the Kind
            t = self.rt.type(kind)
            what = f"{kind}.{t.group}" if t else kind
            _mark(status, READY, "False", "ArtifactFailed", f'{what} "{name}" not found', ks)
            self.rt.log(COMPONENT, "info", f"Source '{kind}/{ns}/{name}' not found", ks)
            self._finish(ks, status, started)
            self.schedule.done(ks, failed=True, retry=retry_interval)
            return
        artifact = status_of(source).get("artifact")
        requeue = self.rt.settings.requeue_dependency
        if not artifact:
            message = f"Source artifact not found, retrying in {go_duration(requeue)}"
            _mark(status, READY, "False", "ArtifactFailed", message, ks)
            self.rt.log(COMPONENT, "info", message, ks)
            self._finish(ks, status, started)
            self.schedule.done(ks, failed=True, retry=requeue)
            return
        revision = str(artifact["revision"])
        if spec_of(ks).get("dependsOn"):
            problem = self._dependencies(ks, by_key, revision)
            if problem:
                _mark(status, READY, "False", "DependencyNotReady", problem, ks)
                message = f"Dependencies do not meet ready condition, retrying in {go_duration(requeue)}"
                self.rt.log(COMPONENT, "info", message, ks)
                self._event(ks, status, "info", message, revision)
                self._finish(ks, status, started)
                self.schedule.done(ks, failed=True, retry=requeue)
                return
            self.rt.log(COMPONENT, "info", "All dependencies are ready, proceeding with reconciliation", ks)
        try:
            self._reconcile(ks, status, artifact, revision, started)
        except Failure as failure:
            _mark(status, READY, "False", failure.reason, failure.message, ks)
            if failure.reason == "HealthCheckFailed":
                _mark(status, HEALTHY, "False", failure.reason, failure.message, ks)
            self._fail(ks, status, failure, revision, started)

    def _reconcile(self, ks: dict[str, Any], status: dict[str, Any], artifact: dict[str, Any], revision: str,
                   started: float) -> None:
        timeout = go_duration(self._timeout(ks))
        _mark(status, READY, "Unknown", "Progressing", "Reconciliation in progress", ks)
        _mark(status, RECONCILING, "True", "Progressing",
              f"Fetching manifests for revision {revision} with a timeout of {timeout}", ks)
        self.rt.patch_status(ks, status, COMPONENT)
        root, rel = self._folder(ks, artifact)
        status["lastAttemptedRevision"] = revision
        _mark(status, RECONCILING, "True", "Progressing",
              f"Building manifests for revision {revision} with a timeout of {timeout}", ks)
        objects = self._build(root, rel, ks)
        _mark(status, RECONCILING, "True", "Progressing",
              f"Detecting drift for revision {revision} with a timeout of {timeout}", ks)
        changes, inventory = self._apply(ks, objects, revision)
        changed = {k: v for k, v in changes.items() if v != "unchanged"}
        if changes:
            self.rt.log(COMPONENT, "info", "server-side apply completed", ks, output=changes, revision=revision)
        if changed:
            self._event(ks, status, "info", "\n".join(f"{k} {v}" for k, v in changed.items()), revision)
        old = status.get("inventory")
        status["inventory"] = {"entries": inventory}
        if spec_of(ks).get("prune"):
            pruned = self._delete(ks, _stale(old, inventory))
            if pruned:
                text = "\n".join(f"{k} {v}" for k, v in pruned.items())
                self.rt.log(COMPONENT, "info", f"garbage collection completed: {text}", ks)
                self._event(ks, status, "info", text, revision)
        checks = self._health_checks(ks, objects)
        if not checks:
            _drop(status, HEALTHY)
            self._succeed(ks, status, revision, started)
            return
        message = f"Running health checks for revision {revision} with a timeout of {timeout}"
        was_healthy = any(c.get("type") == HEALTHY and c.get("status") == "True" for c in status.get("conditions") or [])
        _mark(status, RECONCILING, "True", "Progressing", message, ks)
        _mark(status, HEALTHY, "Unknown", "Progressing", message, ks)
        self.rt.patch_status(ks, status, COMPONENT)
        self.health[ks["metadata"]["uid"]] = {
            "generation": ks["metadata"].get("generation"), "revision": revision, "status": status,
            "deadline": self.rt.now() + self._timeout(ks), "checks": checks, "started": started,
            "sim_started": self.rt.now(), "wall_started": time.monotonic(), "was_healthy": was_healthy,
            "new_revision": revision != status.get("lastAppliedRevision"), "drifted": bool(changed)}

    def _folder(self, ks: dict[str, Any], artifact: dict[str, Any]) -> tuple[Path, Path]:
        """(the artifact's root, spec.path within it), or the failure the controller reports for a missing path."""
        root = self.rt.artifacts / str(artifact["path"]).removesuffix(".tar.gz")
        rel = posixpath.normpath(str(spec_of(ks).get("path") or "./")).lstrip("/")
        folder = (root / rel).resolve()
        if not str(folder).startswith(str(root.resolve())) or not folder.is_dir():
            tmp = f"{tempfile.gettempdir()}/kustomization-{secrets.randbelow(4_294_967_296)}"
            raise Failure("ArtifactFailed", f"kustomization path not found: stat {tmp}/{rel.removeprefix('./')}: "
                                            "no such file or directory")
        return root.resolve(), folder.relative_to(root.resolve())

    def _dependencies(self, ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]], revision: str
                      ) -> str | None:
        """What checkDependencies returns: None when every dependency is Ready at the current revision."""
        for dep in spec_of(ks).get("dependsOn") or []:
            ns = dep.get("namespace") or ks["metadata"]["namespace"]
            target = by_key.get((ns, dep.get("name")))
            if target is None:  # read past the cache (APIReader): the error names the resource
                return (f"dependency '{ns}/{dep.get('name')}' not found: kustomizations.kustomize.toolkit.fluxcd.io "
                        f'"{dep.get("name")}" not found')
            if not is_ready(target):
                return f"dependency '{ns}/{dep.get('name')}' is not ready"
            if self._source_key(target) == self._source_key(ks) and \
                    status_of(target).get("lastAppliedRevision") != revision:
                return f"dependency '{ns}/{dep.get('name')}' revision is not up to date"
        return None

    def _build(self, root: Path, rel: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
        """kustomize build of `spec.path`, as the controller runs it: the artifact unpacked in a fresh
        /tmp/kustomization-<n> folder (error messages name paths there), a kustomization.yaml generated for a
        folder without one, the Kustomization's namePrefix, patches and images on top."""
        spec = ks.get("spec") or {}
        key = (str(root / rel), json.dumps({k: spec.get(k) for k in ("targetNamespace", "namePrefix", "patches",
                                                                        "images")}, sort_keys=True))
        if key in self.builds:
            return [json.loads(json.dumps(o)) for o in self.builds[key]]
        tmp = _controller_tmp()
        try:
            shutil.copytree(root, tmp, dirs_exist_ok=True, symlinks=True)
            work = tmp / rel
            if not any((work / f).exists() for f in KUSTOMIZATION_FILES):
                _generate_kustomization(work)
            target = work
            overlay_fields = {f: spec[f] for f in ("namePrefix", "patches", "images") if spec.get(f)}
            if overlay_fields:  # what the controller adds on top of the source's own kustomization
                target = tmp.with_name(tmp.name + "-overlay")
                target.mkdir()
                (target / "kustomization.yaml").write_text(yaml.safe_dump(
                    {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [os.path.relpath(work, target)], **overlay_fields}))
            done = subprocess.run([self.rt.kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone",
                                   str(target)], capture_output=True, text=True, timeout=120, check=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(tmp.with_name(tmp.name + "-overlay"), ignore_errors=True)
        if done.returncode < 0:  # killed, e.g. with this process's group when its kernel shut down: no verdict
            raise InterruptedError(f"kubectl kustomize stopped by signal {-done.returncode}; the next pass retries")
        if done.returncode != 0:
            message = done.stderr.strip().removeprefix("error: ")
            raise Failure("BuildFailed", f"kustomize build failed: {message[:600]}")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        objects = [d for d in yaml.load_all(done.stdout, Loader=loader) if isinstance(d, dict)]
        target_ns = spec.get("targetNamespace")
        if target_ns:
            for obj in objects:
                t = self.rt.api.registry().by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
                if t is None or t.namespaced:
                    obj.setdefault("metadata", {})["namespace"] = target_ns
        self.builds[key] = objects
        return [json.loads(json.dumps(o)) for o in objects]

    def _apply(self, ks: dict[str, Any], objects: list[dict[str, Any]], revision: str
               ) -> tuple[dict[str, str], list[dict[str, str]]]:
        """Server-side apply in stages as fluxcd/pkg/ssa does: cluster definitions (CRDs, Namespaces) first, then the
        rest; each stage is dry-run whole before any of it is applied, so a failed dry-run changes nothing."""
        name, ns = ks["metadata"]["name"], ks["metadata"]["namespace"]
        changes: dict[str, str] = {}
        inventory: list[dict[str, str]] = []
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update({NAME_LABEL: name, NAMESPACE_LABEL: ns})
        stages = [[o for o in objects if o.get("kind") in _FIRST], [o for o in objects if o.get("kind") not in _FIRST]]
        for stage in stages:
            try:
                typed = [(obj, self._type(obj, revision)) for obj in stage]
            except Failure as f:  # the error, then what was applied before it, as the controller's message has it
                raise Failure(f.reason, f.message + "\n" + _changelog(changes), revision=revision) from None
            failures = []
            for obj, t in typed:
                try:
                    self.rt.api.patch(t, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                      "application/apply-patch+yaml", json.dumps(obj).encode(), manager=MANAGER,
                                      force=True, dry_run=True)
                except ApiError as e:
                    failures.append(f"{ref(obj)} dry-run failed ({e.reason}): {e.message}")
            if failures:
                raise Failure("ReconciliationFailed", "\n".join(failures) + "\n" + _changelog(changes),
                              revision=revision)
            for obj, t in typed:
                meta = obj["metadata"]
                before = self.rt.api.store.get(t.key, meta.get("namespace", "") if t.namespaced else "", meta["name"])
                try:
                    _, after = self.rt.api.patch(t, meta.get("namespace"), meta["name"], "application/apply-patch+yaml",
                                                 json.dumps(obj).encode(), manager=MANAGER, force=True)
                except ApiError as e:
                    raise Failure("ReconciliationFailed", f"{ref(obj)} apply failed ({e.reason}): {e.message}\n"
                                  + _changelog(changes), revision=revision) from e
                action = "created" if before is None else (
                    "unchanged" if str(before.rv) == after["metadata"]["resourceVersion"] else "configured")
                changes[ref(obj)] = action
                inventory.append({"id": inventory_id(obj), "v": t.version})
        return changes, sorted(inventory, key=lambda e: e["id"])

    def _type(self, obj: dict[str, Any], revision: str) -> Any:
        """The resource type of a built object, or the dry-run failure the real controller reports for it."""
        meta = obj["metadata"]
        t = self.rt.api.registry().by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
        if t is None:
            raise Failure("ReconciliationFailed", f"{ref(obj)} dry-run failed: no matches for kind "
                          f"\"{obj.get('kind')}\" in version \"{obj.get('apiVersion')}\"", revision=revision)
        if t.namespaced and not meta.get("namespace"):
            raise Failure("ReconciliationFailed", f"{obj['kind']}/{meta.get('name')} namespace not specified: the "
                          "server could not find the requested resource", revision=revision)
        if not t.namespaced:
            meta.pop("namespace", None)
        return t

    def _delete(self, ks: dict[str, Any], entries: list[dict[str, str]]) -> dict[str, str]:
        """Delete inventory entries as fluxcd/pkg/ssa DeleteAll does: an object already gone counts as deleted;
        one no longer labelled as this Kustomization's, or annotated prune: disabled (reconcile: disabled,
        ssa: ignore), is skipped; the rest are deleted."""
        out = {}
        for raw in entries:
            entry = parse_inventory_id(raw["id"])
            if entry is None:
                continue
            kind, ns, name = entry.ref.kind, entry.ref.namespace, entry.ref.name
            where = str(entry.ref)
            t = next((x for x in self.rt.api.registry().types if x.group == entry.group and x.kind == kind), None)
            live = self.rt.get(kind, ns, name) if t is not None else None
            if t is None or live is None:
                out[where] = "deleted"
                continue
            meta = live["metadata"]
            labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
            if labels.get(NAME_LABEL) != ks["metadata"]["name"] or \
                    labels.get(NAMESPACE_LABEL) != ks["metadata"]["namespace"] or \
                    annotations.get("kustomize.toolkit.fluxcd.io/prune") == "disabled" or \
                    annotations.get("kustomize.toolkit.fluxcd.io/reconcile") == "disabled" or \
                    annotations.get("kustomize.toolkit.fluxcd.io/ssa") == "ignore" or \
                    labels.get("kustomize.toolkit.fluxcd.io/prune") == "disabled":
                out[where] = "skipped"
                continue
            try:
                self.rt.api.delete(t, ns or None, name, propagation="Background")
                out[where] = "deleted"
            except ApiError as e:
                if e.code == 404:
                    out[where] = "deleted"
        return out

    def finalize(self, ks: dict[str, Any]) -> None:
        """A Kustomization being deleted: prune what it applied (prune: true, not suspended), then let go."""
        started = time.monotonic()
        spec, status = ks.get("spec") or {}, copy.deepcopy(status_of(ks))
        entries = ((status.get("inventory") or {}).get("entries")) or []
        policy = spec.get("deletionPolicy") or "MirrorPrune"
        if entries and not spec.get("suspend") and (
                policy in ("Delete", "WaitForTermination") or (policy == "MirrorPrune" and spec.get("prune"))):
            deleted = self._delete(ks, entries)
            if deleted:
                self._event(ks, status, "info", "\n".join(f"{k} {v}" for k, v in deleted.items()),
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
        if not spec.get("suspend") and _is_true(status, READY):
            self._announce_finished(ks, status, started)

    # --- health checks --------------------------------------------------------------------------

    def _timeout(self, ks: dict[str, Any]) -> float:
        spec = ks.get("spec") or {}
        if spec.get("timeout"):
            return interval_of(ks, "timeout")
        return max(30.0, interval_of(ks) - 30.0)

    def _health_checks(self, ks: dict[str, Any], objects: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
        spec = ks.get("spec") or {}
        me = (ks["metadata"]["namespace"], ks["metadata"]["name"])
        if spec.get("wait"):
            checks = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
        else:
            checks = [(c.get("kind", ""), c.get("namespace") or ks["metadata"]["namespace"], c.get("name", ""))
                      for c in spec.get("healthChecks") or []]
        return [c for c in checks if not (c[0] == "Kustomization" and (c[1], c[2]) == me)]

    def _check_health(self, ks: dict[str, Any], pending: dict[str, Any]) -> None:
        waiting = []
        for kind, ns, name in pending["checks"]:
            obj = self.rt.get(kind, ns, name)
            current, word = workload_current(obj) if obj else (False, "NotFound")
            if not current:
                waiting.append(f"{kind}/{ns}/{name} status: '{word}'" if ns else f"{kind}/{name} status: '{word}'")
        status, revision = pending["status"], pending["revision"]
        took = go_duration(time.monotonic() - pending["wall_started"])
        if not waiting:
            self.health.pop(ks["metadata"]["uid"], None)
            message = f"Health check passed in {took}"
            if not pending["was_healthy"] or (pending["new_revision"] and pending["drifted"]):
                self._event(ks, status, "info", message, revision)
            _mark(status, HEALTHY, "True", "Succeeded", message, ks)
            self._succeed(ks, status, revision, pending["started"])
        elif self.rt.now() >= pending["deadline"]:
            self.health.pop(ks["metadata"]["uid"], None)
            problem = f"timeout waiting for: [{', '.join(waiting)}]"
            _mark(status, HEALTHY, "False", "HealthCheckFailed", problem, ks)
            message = f"health check failed after {took}: {problem}"
            _mark(status, READY, "False", "HealthCheckFailed", message, ks)
            self._fail(ks, status, Failure("HealthCheckFailed", message), revision, pending["started"])

    # --- reporting ------------------------------------------------------------------------------

    def _event(self, ks: dict[str, Any], status: dict[str, Any], severity: str, message: str,
               revision: str | None) -> None:
        """As the controller's event(): reason is the Ready condition's (else the severity), Warning for errors."""
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == READY), None)
        reason = (ready or {}).get("reason") or severity
        self.rt.event(ks, "Warning" if severity == "error" else "Normal", reason, message, COMPONENT,
                      annotations={"kustomize.toolkit.fluxcd.io/revision": revision} if revision else None)

    def _succeed(self, ks: dict[str, Any], status: dict[str, Any], revision: str, started: float) -> None:
        status["lastAppliedRevision"] = revision
        _mark(status, READY, "True", "ReconciliationSucceeded", f"Applied revision: {revision}", ks)
        self._finish(ks, status, started)
        self.schedule.done(ks)

    def _fail(self, ks: dict[str, Any], status: dict[str, Any], failure: Failure, revision: str,
              started: float) -> None:
        retry = interval_of(ks, "retryInterval", str(spec_of(ks).get("interval") or "10m"))
        self.rt.log(COMPONENT, "error", f"Reconciliation failed after {go_duration(time.monotonic() - started)}, "
                                        f"next try in {go_duration(retry)}", ks, revision=revision,
                    error=failure.message)
        self._event(ks, status, "error", failure.message, revision)
        self._finish(ks, status, started)
        self.schedule.done(ks, failed=True, retry=retry)

    def _finish(self, ks: dict[str, Any], status: dict[str, Any], started: float, *, announce: bool = True) -> None:
        """finalizeStatus, then the success log line and event of the deferred function."""
        requested = self.schedule.requested(ks)
        if requested:
            status["lastHandledReconcileAt"] = requested
        if _is_true(status, READY):
            _drop(status, RECONCILING)
            status["observedGeneration"] = ks["metadata"].get("generation", 1)
        elif "observedGeneration" not in status:
            status["observedGeneration"] = -1  # as the controller initialises it, until a reconcile succeeds
        if any(c.get("type") == READY and c.get("status") == "False" for c in status.get("conditions") or []):
            for cond in status.get("conditions") or []:
                if cond.get("type") == RECONCILING:
                    cond["reason"] = "ProgressingWithRetry"
        self.rt.patch_status(ks, status, COMPONENT)
        if announce and not spec_of(ks).get("suspend") and _is_true(status, READY):
            self._announce_finished(ks, status, started)

    def _announce_finished(self, ks: dict[str, Any], status: dict[str, Any], started: float) -> None:
        message = (f"Reconciliation finished in {go_duration(time.monotonic() - started)}, "
                   f"next run in {go_duration(interval_of(ks))}")
        self.rt.log(COMPONENT, "info", message, ks, revision=status.get("lastAttemptedRevision"))
        self._event(ks, status, "info", message, status.get("lastAppliedRevision"))


def _mark(status: dict[str, Any], kind: str, value: str, reason: str, message: str, ks: dict[str, Any]) -> None:
    status["conditions"] = set_condition(status.get("conditions"), kind, value, reason, message,
                                         now=now_rfc3339(), generation=ks["metadata"].get("generation", 1))


def _drop(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = drop_condition(status.get("conditions"), kind)


def _is_true(status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def go_yaml_error(e: yaml.YAMLError) -> str:
    """A PyYAML error worded as go-yaml words it: `yaml: line N: did not find expected ',' or '}'`."""
    mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
    problem = str(getattr(e, "problem", None) or e).strip()
    if problem.startswith("expected "):
        problem = "did not find " + problem.split(", but", 1)[0]
    return f"yaml: line {mark.line}: {problem}" if mark is not None else f"yaml: {problem}"


def _controller_tmp() -> Path:
    """A fresh /tmp/kustomization-<digits> folder, named as Go's os.MkdirTemp names the controller's."""
    while True:
        path = Path(tempfile.gettempdir()) / f"kustomization-{secrets.randbelow(4_294_967_296)}"
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue


def _changelog(changes: dict[str, str]) -> str:
    """What was applied before a failure, one `Kind/ns/name action` line each (as the error carries it)."""
    return "".join(f"{k} {v}\n" for k, v in changes.items() if v != "unchanged")


def _stale(old: Any, inventory: list[dict[str, str]]) -> list[dict[str, str]]:
    keep = {e["id"] for e in inventory}
    return [e for e in ((old or {}).get("entries") or []) if isinstance(e, dict) and e.get("id") not in keep]


def _generate_kustomization(folder: Path) -> None:
    """What kustomize-controller generates for a folder without kustomization.yaml (fluxcd/pkg/kustomize
    scanManifests): every .yaml/.yml file below it, in walk order, each of which must decode as Kubernetes
    objects (else the build fails), and every subfolder that has its own kustomization, not descended into."""
    resources: list[str] = []

    def walk(path: Path) -> None:
        for entry in sorted(path.iterdir()):
            rel = entry.relative_to(folder).as_posix()
            if entry.is_dir():
                if any((entry / f).exists() for f in KUSTOMIZATION_FILES):
                    resources.append(rel)
                else:
                    walk(entry)
            elif entry.suffix in (".yaml", ".yml"):
                try:
                    docs = [d for d in yaml.safe_load_all(entry.read_text()) if d is not None]
                except yaml.YAMLError as e:
                    raise Failure("BuildFailed", f"failed to decode Kubernetes YAML from {entry}: "
                                                 f"MalformedYAMLError: {go_yaml_error(e)}") from None
                if not all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs):
                    raise Failure("BuildFailed", f"failed to decode Kubernetes YAML from {entry}: missing Resource "
                                                 "metadata")
                resources.append(rel)

    walk(folder)
    body: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if resources:
        body["resources"] = resources
    else:
        body["namespace"] = "_placeholder"  # as the controller does, to avoid "kustomization.yaml is empty"
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(body))
