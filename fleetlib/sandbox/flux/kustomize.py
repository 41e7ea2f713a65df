"""kustomize-controller: build `spec.path` of the source artifact with the real kustomize (`kubectl
kustomize`), apply the result by server-side apply (field manager `kustomize-controller`, labels
`kustomize.toolkit.fluxcd.io/name` and `/namespace`, CRDs and Namespaces first), record the inventory,
prune what left Git, honour dependsOn and health checks, and report as Flux does.

    KustomizeController(runtime).step()
"""

from __future__ import annotations

import json
import posixpath
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from fleetlib.model import Duration
from fleetlib.sandbox.apiserver import ApiError
from fleetlib.sandbox.flux.conditions import (
    HEALTHY,
    READY,
    RECONCILING,
    STALLED,
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


def _fmt(seconds: float) -> str:
    return Duration(max(seconds, 0.001)).go() if seconds >= 1 else f"{seconds:.3g}s"


def entry_id(obj: dict[str, Any]) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    name = obj["metadata"]["name"].replace(":", "__")
    return f"{obj['metadata'].get('namespace') or ''}_{name}_{group}_{obj['kind']}"


def ref(obj: dict[str, Any]) -> str:
    ns = obj["metadata"].get("namespace")
    return f"{obj['kind']}/{ns}/{obj['metadata']['name']}" if ns else f"{obj['kind']}/{obj['metadata']['name']}"


class KustomizeController:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.health: dict[str, dict[str, Any]] = {}
        self.builds: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.workers = ThreadPoolExecutor(CONCURRENT, thread_name_prefix="kustomize-controller")

    def step(self) -> None:
        if self.rt.controller_pod(COMPONENT) is None:
            return
        items = self.rt.valid("Kustomization", COMPONENT)
        if not items:
            return
        by_key = {(k["metadata"]["namespace"], k["metadata"]["name"]): k for k in items}
        revisions = {(s["kind"], s["metadata"]["namespace"], s["metadata"]["name"]):
                     ((s.get("status") or {}).get("artifact") or {}).get("revision")
                     for kind in ("GitRepository", "OCIRepository", "Bucket") for s in self.rt.list(kind)}
        due = []
        for ks in items:
            uid = ks["metadata"]["uid"]
            pending = self.health.get(uid)
            if pending is not None and pending["generation"] == ks["metadata"].get("generation"):
                self._check_health(ks, pending)
            elif self.schedule.due(ks) or self._new_artifact(ks, revisions):
                self.health.pop(uid, None)
                due.append(ks)
        reconcile = self.rt.guarded(COMPONENT, self.reconcile)
        list(self.workers.map(lambda ks: reconcile(ks, by_key), due))

    @staticmethod
    def _new_artifact(ks: dict[str, Any], revisions: dict[tuple[str, str, str], str | None]) -> bool:
        """Like the real controller's watch on sources: a new artifact revision triggers a reconcile."""
        spec = ks.get("spec") or {}
        if spec.get("suspend"):
            return False
        src = spec.get("sourceRef") or {}
        key = (src.get("kind", "GitRepository"), src.get("namespace") or ks["metadata"]["namespace"], src.get("name"))
        revision = revisions.get(key)  # type: ignore[call-overload]
        return bool(revision) and revision != (ks.get("status") or {}).get("lastAttemptedRevision")

    # --- one reconciliation ---------------------------------------------------------------------

    def reconcile(self, ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
        started = time.monotonic()
        try:
            self._dependencies(ks, by_key)
            revision, folder = self._source(ks)
            try:
                objects = self._build(folder, ks)
            except Failure as f:
                f.revision = revision
                raise
            changes, inventory = self._apply(ks, objects, revision)
            changes.update(self._prune(ks, inventory))
        except Failure as failure:
            self._fail(ks, failure, started)
            return
        checks = self._health_checks(ks, objects)
        if checks:
            timeout = self._timeout(ks)
            stamp = self.rt.stamp()
            conds = set_condition((ks.get("status") or {}).get("conditions"), RECONCILING, "True", "Progressing",
                                  f"Running health checks for revision {revision} with a timeout of {_fmt(timeout)}",
                                  now=stamp)
            self.rt.patch_status(ks, {"conditions": conds, "lastAttemptedRevision": revision,
                                      "inventory": {"entries": inventory}}, COMPONENT)
            self.health[ks["metadata"]["uid"]] = {"generation": ks["metadata"].get("generation"), "revision": revision,
                                                  "deadline": self.rt.now() + timeout, "timeout": timeout,
                                                  "checks": checks, "inventory": inventory, "changes": changes,
                                                  "started": started, "sim_started": self.rt.now()}
            self._announce(ks, changes, revision)
            return
        self._succeed(ks, revision, inventory, changes, started, health=None)

    def _dependencies(self, ks: dict[str, Any], by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
        for dep in (ks.get("spec") or {}).get("dependsOn") or []:
            ns = dep.get("namespace") or ks["metadata"]["namespace"]
            target = by_key.get((ns, dep.get("name")))
            retry = self.rt.settings.requeue_dependency
            if target is None:
                raise Failure("DependencyNotReady", f"unable to get '{ns}/{dep.get('name')}' dependency: "
                              f'Kustomization.kustomize.toolkit.fluxcd.io "{dep.get("name")}" not found', retry=retry)
            if not is_ready(target):
                raise Failure("DependencyNotReady", f"dependency '{ns}/{dep.get('name')}' is not ready", retry=retry)

    def _source(self, ks: dict[str, Any]) -> tuple[str, Path]:
        spec = ks.get("spec") or {}
        src_ref = spec.get("sourceRef") or {}
        kind, ns = src_ref.get("kind", "GitRepository"), src_ref.get("namespace") or ks["metadata"]["namespace"]
        source = self.rt.get(kind, ns, src_ref.get("name", ""))
        if source is None:
            raise Failure("ArtifactFailed", f"Source '{kind}/{ns}/{src_ref.get('name')}' not found", retry=30.0)
        artifact = (source.get("status") or {}).get("artifact")
        if not artifact:
            raise Failure("ArtifactFailed", "Source artifact not found, retrying in 30s", retry=30.0)
        root = self.rt.artifacts / str(artifact["path"]).removesuffix(".tar.gz")
        rel = posixpath.normpath(str(spec.get("path") or "./")).lstrip("/")
        folder = (root / rel).resolve()
        if not str(folder).startswith(str(root.resolve())) or not folder.is_dir():
            raise Failure("ArtifactFailed", f"kustomization path not found: stat {root / rel}: no such file or directory",
                          revision=artifact["revision"])
        return str(artifact["revision"]), folder

    def _build(self, folder: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
        spec = ks.get("spec") or {}
        key = (str(folder), json.dumps({k: spec.get(k) for k in ("targetNamespace", "namePrefix", "patches", "images")},
                                       sort_keys=True))
        if key in self.builds:
            return [json.loads(json.dumps(o)) for o in self.builds[key]]
        with tempfile.TemporaryDirectory(prefix="fleet-kustomize-") as tmp:
            work = Path(tmp) / "src"
            shutil.copytree(folder, work)
            if not any((work / f).exists() for f in KUSTOMIZATION_FILES):
                _generate_kustomization(work)
            target = work
            overlay_fields = {f: spec[f] for f in ("namePrefix", "patches", "images") if spec.get(f)}
            if overlay_fields:  # what the controller adds on top of the source's own kustomization
                target = Path(tmp) / "overlay"
                target.mkdir()
                (target / "kustomization.yaml").write_text(yaml.safe_dump(
                    {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": ["../src"], **overlay_fields}))
            done = subprocess.run([self.rt.kubectl, "kustomize", str(target)], capture_output=True, text=True,
                                  timeout=120, check=False)
        if done.returncode < 0:  # killed, e.g. with this process's group when its kernel shut down: no verdict
            raise InterruptedError(f"kubectl kustomize stopped by signal {-done.returncode}; the next pass retries")
        if done.returncode != 0:
            message = done.stderr.strip().removeprefix("error: ").replace(tmp + "/src", str(folder))
            raise Failure("BuildFailed", f"kustomize build failed: {message[:400]}")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        objects = [d for d in yaml.load_all(done.stdout, Loader=loader) if isinstance(d, dict)]  # noqa: S506
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
            typed = [(obj, self._type(obj, revision)) for obj in stage]
            failures = []
            for obj, t in typed:
                try:
                    self.rt.api.patch(t, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                      "application/apply-patch+yaml", json.dumps(obj).encode(), manager=MANAGER,
                                      force=True, dry_run=True)
                except ApiError as e:
                    failures.append(f"{ref(obj)} dry-run failed ({e.reason}): {e.message}")
            if failures:
                raise Failure("ReconciliationFailed", "\n".join(failures), revision=revision)
            for obj, t in typed:
                meta = obj["metadata"]
                before = self.rt.api.store.get(t.key, meta.get("namespace", "") if t.namespaced else "", meta["name"])
                try:
                    _, after = self.rt.api.patch(t, meta.get("namespace"), meta["name"], "application/apply-patch+yaml",
                                                 json.dumps(obj).encode(), manager=MANAGER, force=True)
                except ApiError as e:
                    raise Failure("ReconciliationFailed", f"{ref(obj)} apply failed ({e.reason}): {e.message}",
                                  revision=revision) from e
                action = "created" if before is None else (
                    "unchanged" if str(before.rv) == after["metadata"]["resourceVersion"] else "configured")
                changes[ref(obj)] = action
                inventory.append({"id": entry_id(obj), "v": t.version})
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

    def _prune(self, ks: dict[str, Any], inventory: list[dict[str, str]]) -> dict[str, str]:
        if not (ks.get("spec") or {}).get("prune"):
            return {}
        keep = {e["id"] for e in inventory}
        out = {}
        for entry in ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []:
            if entry["id"] in keep:
                continue
            ns, name, group, kind = entry["id"].split("_", 3) if entry["id"].count("_") >= 3 else ("", "", "", "")
            t = next((x for x in self.rt.api.registry().types if x.group == group and x.kind == kind), None)
            if t is None:
                continue
            name = name.replace("__", ":")
            live = self.rt.get(kind, ns or None, name)
            if live is None:
                continue
            meta = live["metadata"]
            if (meta.get("annotations") or {}).get("kustomize.toolkit.fluxcd.io/prune") == "disabled" or \
                    (meta.get("labels") or {}).get(NAME_LABEL) != ks["metadata"]["name"]:
                continue
            try:
                self.rt.api.delete(t, ns or None, name)
                out[ref(live)] = "deleted"
            except ApiError:
                pass
        return out

    # --- health checks --------------------------------------------------------------------------

    def _timeout(self, ks: dict[str, Any]) -> float:
        spec = ks.get("spec") or {}
        if spec.get("timeout"):
            return interval_of(ks, "timeout")
        return max(30.0, interval_of(ks) - 30.0)

    def _health_checks(self, ks: dict[str, Any], objects: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
        spec = ks.get("spec") or {}
        if spec.get("wait"):
            return [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
        return [(c.get("kind", ""), c.get("namespace") or ks["metadata"]["namespace"], c.get("name", ""))
                for c in spec.get("healthChecks") or []]

    def _check_health(self, ks: dict[str, Any], pending: dict[str, Any]) -> None:
        waiting = []
        for kind, ns, name in pending["checks"]:
            obj = self.rt.get(kind, ns, name)
            current, word = workload_current(obj) if obj else (False, "NotFound")
            if not current:
                waiting.append(f"{kind}/{ns}/{name} status: '{word}'" if ns else f"{kind}/{name} status: '{word}'")
        if not waiting:
            self.health.pop(ks["metadata"]["uid"], None)
            took = self.rt.now() - pending["sim_started"]
            self._succeed(ks, pending["revision"], pending["inventory"], {}, pending["started"],
                          health=f"Health check passed in {_fmt(took)}", announce=False)
        elif self.rt.now() >= pending["deadline"]:
            self.health.pop(ks["metadata"]["uid"], None)
            message = f"timeout waiting for: [{', '.join(waiting)}]"
            self._fail(ks, Failure("HealthCheckFailed", message, revision=pending["revision"],
                                   event=f"health check failed after {_fmt(pending['timeout'])}: {message}"),
                       pending["started"], inventory=pending["inventory"])

    # --- reporting ------------------------------------------------------------------------------

    def _announce(self, ks: dict[str, Any], changes: dict[str, str], revision: str) -> None:
        changed = {k: v for k, v in changes.items() if v != "unchanged"}
        if changed:
            self.rt.event(ks, "Normal", "Progressing", "\n".join(f"{k} {v}" for k, v in changed.items()), COMPONENT,
                          annotations={"kustomize.toolkit.fluxcd.io/revision": revision})
            self.rt.log(COMPONENT, "info", "server-side apply completed", ks, revision=revision, output=changed)

    def _succeed(self, ks: dict[str, Any], revision: str, inventory: list[dict[str, str]], changes: dict[str, str],
                 started: float, *, health: str | None, announce: bool = True) -> None:
        stamp = self.rt.stamp()
        generation = ks["metadata"].get("generation", 1)
        status = ks.get("status") or {}
        conds = drop_condition(drop_condition(status.get("conditions"), RECONCILING), STALLED)
        conds = set_condition(conds, READY, "True", "ReconciliationSucceeded", f"Applied revision: {revision}",
                              now=stamp, generation=generation)
        if health:
            conds = set_condition(conds, HEALTHY, "True", "Succeeded", health, now=stamp, generation=generation)
        new: dict[str, Any] = {"conditions": conds, "observedGeneration": generation, "lastAppliedRevision": revision,
                               "lastAttemptedRevision": revision, "inventory": {"entries": inventory}}
        if self.schedule.requested(ks):
            new["lastHandledReconcileAt"] = self.schedule.requested(ks)
        self.rt.patch_status(ks, new, COMPONENT)
        if announce:
            self._announce(ks, changes, revision)
        took = time.monotonic() - started
        interval = Duration(interval_of(ks)).go()
        finished = f"Reconciliation finished in {_fmt(took)}, next run in {interval}"
        if status.get("lastAppliedRevision") != revision or any(v != "unchanged" for v in changes.values()) or health:
            self.rt.event(ks, "Normal", "ReconciliationSucceeded", finished, COMPONENT,
                          annotations={"kustomize.toolkit.fluxcd.io/revision": revision})
        self.rt.log(COMPONENT, "info", finished, ks, revision=revision)
        self.schedule.done(ks)

    def _fail(self, ks: dict[str, Any], failure: Failure, started: float,
              inventory: list[dict[str, str]] | None = None) -> None:
        stamp = self.rt.stamp()
        generation = ks["metadata"].get("generation", 1)
        status = ks.get("status") or {}
        conds = set_condition(status.get("conditions"), READY, "False", failure.reason, failure.message, now=stamp,
                              generation=generation)
        conds = set_condition(conds, RECONCILING, "True", "ProgressingWithRetry", failure.message, now=stamp,
                              generation=generation)
        if failure.reason == "HealthCheckFailed":
            conds = set_condition(conds, HEALTHY, "False", "HealthCheckFailed", failure.message, now=stamp,
                                  generation=generation)
        new: dict[str, Any] = {"conditions": conds}
        if failure.revision:
            new["lastAttemptedRevision"] = failure.revision
        if inventory is not None:
            new["inventory"] = {"entries": inventory}
        if self.schedule.requested(ks):
            new["lastHandledReconcileAt"] = self.schedule.requested(ks)
        self.rt.patch_status(ks, new, COMPONENT)
        retry = failure.retry if failure.retry is not None else interval_of(
            ks, "retryInterval", str((ks.get("spec") or {}).get("interval") or "10m"))
        self.rt.event(ks, "Warning", failure.reason, failure.event, COMPONENT,
                      annotations={"kustomize.toolkit.fluxcd.io/revision": failure.revision} if failure.revision else None)
        took = time.monotonic() - started
        self.rt.log(COMPONENT, "error", f"Reconciliation failed after {_fmt(took)}, next try in {Duration(retry).go()}",
                    ks, revision=failure.revision, error=failure.event)
        self.schedule.done(ks, failed=True, retry=retry)


def _generate_kustomization(folder: Path) -> None:
    """What kustomize-controller generates for a folder without kustomization.yaml: every manifest file,
    and every subfolder that has its own kustomization, in lexical walk order."""
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
                    docs = [d for d in yaml.safe_load_all(entry.read_text()) if d]
                except yaml.YAMLError:
                    continue
                if docs and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs):
                    resources.append(rel)

    walk(folder)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}))
