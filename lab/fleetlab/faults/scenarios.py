"""Fault scenarios to rehearse troubleshooting, for both stand-ins: one registry, each scenario one object
defined once: what it is, how it is made the way the failure happens for real and undone, what the cluster
shows once it has happened (and once it has recovered), and the first finding the troubleshooting runbook must
give. A scenario's record (what it changed, to undo it) is kept with the cluster's fault records.

    rehearsal = Rehearsal(InProcess(api), hub, "sandbox cluster dev/services-amer")
    rehearsal.inject("deploy-key-revoked", wait=True); rehearsal.clear("deploy-key-revoked", wait=True)
    SCENARIOS["deploy-key-revoked"].finding        # "source-auth-failed"
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from fleetlab.charts.artifacts import CHARTS_URL, publish_demo_chart
from fleetlab.faults.cluster import (
    BAD_FLAG,
    FAULT_DIR,
    LOW_MEMORY,
    NAMESPACE,
    OTHER_HOST_KEY,
    STALE_INTERVAL,
    ClusterOps,
    Kube,
    as_kube,
    commit_patch,
    fault_files,
    kustomization_object,
    manager_container,
    rate_limit,
    replace_container_field,
    source_at_head,
)
from fleetlab.github.hub import Hub
from fleetlab.kubernetes.apiserver import ClusterApi
from fleetlib.errors import InputError
from fleetlib.objects import condition, deployment_ready, meta_of, spec_of, status_of

Record = dict[str, Any]
Change = Callable[[ClusterOps, Hub, Record], None]
Check = Callable[[ClusterOps, Record], bool]
SETTLE_TIMEOUT = 180.0
"""Wall-clock seconds `settle` waits (a health check times out after its own 1m0s first)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    """One line for `fleet sandbox fault --list`."""
    finding: str
    """The first finding the troubleshooting runbook must give, on every target..."""
    object: str | None
    """...and the object it names (None: the cluster)."""
    make: Change
    """Inject it the way it happens for real, recording in the record what to undo."""
    undo: Change
    shows: str
    """What the cluster shows once it has happened, in words (progress lines)."""
    shown: Check
    recovered: Check = lambda c, record: source_at_head(c)
    """The scenario's own objects healthy again (or gone); every Kustomization and HelmRelease Ready is added."""
    target: str | None = None
    """The object a scenario acts on when none is named (a controller, a Kustomization, a release)."""
    kustomization: str | None = None
    """The Kustomization it adds: nudged until it has tried the branch head."""
    refetch: bool = False
    """Reconcile the source right after injecting (the change is in its credentials)."""
    quiet: bool = False
    """Nothing to nudge while it is on (what it breaks is outside Flux's objects)."""
    field: str | None = None
    """The controller's container field it changes: while its clearing settles, put back again should a
    reconcile of an older revision (one already running when it was put back) have changed it."""


SCENARIOS: dict[str, Scenario] = {}


def register(s: Scenario) -> Scenario:
    SCENARIOS[s.name] = s
    return s


def _scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise InputError(f"unknown fault scenario {name!r}", hint="scenarios: " + ", ".join(SCENARIOS))
    return SCENARIOS[name]


# --- what the checks look at ---------------------------------------------------------------------------------


def _ks_shows(name: str, test: Callable[[dict[str, Any]], bool]) -> Check:
    def check(c: ClusterOps, record: Record) -> bool:
        ks = c.get("Kustomization", name)
        if ks is None or not source_at_head(c):
            return False
        attempted = str((status_of(ks).get("lastAttemptedRevision")) or "")
        return attempted.endswith(str(c.head())) and test(condition(ks))
    return check


def _source_shows(text: str) -> Check:
    return lambda c, record: text in str(condition(c.get("GitRepository", "flux-system")).get("message", ""))


def _pod_shows(test: Callable[[dict[str, Any]], bool]) -> Check:
    return lambda c, record: any(test(s) for p in c.pods(str(record.get("target")))
                                 for s in status_of(p).get("containerStatuses") or [])


def _pods_fresh(c: ClusterOps, record: Record) -> bool:
    """The controller's pods ready without a last termination, and its Deployment ready (as `flux check` says)."""
    pods = c.pods(str(record.get("target")))
    return bool(pods) and all(s.get("ready") and not s.get("lastState") for p in pods
                              for s in status_of(p).get("containerStatuses") or [{}]) and deployment_ready(
        c.get("Deployment", str(record.get("target"))))


def _always(c: ClusterOps, record: Record) -> bool:
    return True


def _waited(seconds: float, record: Record) -> bool:
    """True once `seconds` passed since the fault started (servers notice a fault within half a second)."""
    return time.time() - float(record.get("cleared") or record.get("since") or 0) >= seconds


def _gone(kind: str, name: str) -> Check:
    return lambda c, record: c.get(kind, name) is None and source_at_head(c)


def _nothing(c: ClusterOps, hub: Hub, record: Record) -> None:
    return None


def _until(test: Callable[[], bool], nudge: Callable[[], None], *, timeout: float, every: float = 5.0,
           poll: float = 0.5) -> bool:
    """Poll `test` until it holds (True) or `timeout` seconds have passed (False), calling `nudge` (reconcile
    requests, as `flux reconcile` makes) at once and then every `every` seconds meanwhile."""
    deadline = time.monotonic() + timeout
    nudged = 0.0
    while not test():
        if time.monotonic() > deadline:
            return False
        if time.monotonic() - nudged > every:
            nudge()
            nudged = time.monotonic()
        time.sleep(poll)
    return True


def _reconcile(c: ClusterOps, *kinds: str) -> Callable[[], None]:
    """Reconcile requests for the flux-system objects of these kinds, in order."""
    def nudge() -> None:
        for kind in kinds:
            c.reconcile(kind, "flux-system")
    return nudge


# --- the source's credentials --------------------------------------------------------------------------------


def _revoke_key(c: ClusterOps, hub: Hub, record: Record) -> None:
    owner, name, _ = c.source_repo()
    path = str(spec_of(c.get("Kustomization", "flux-system")).get("path") or "")
    keys = hub.keys(owner, name)
    own = [k for k in keys if path and str(k["title"]).endswith(f"-{path}")]
    keys = own or keys  # this cluster's key (clusters sharing the repository keep theirs), else every key
    record["keys"] = [{"title": k["title"], "key": k["key"], "read_only": k["read_only"]} for k in keys]
    for k in keys:
        hub.delete_key(owner, name, k["id"])


def _restore_key(c: ClusterOps, hub: Hub, record: Record) -> None:
    owner, repo, _ = c.source_repo()
    present = {k["key"] for k in hub.keys(owner, repo)}
    for key in record.get("keys") or []:
        if key["key"] not in present:
            hub.add_key(owner, repo, title=key["title"], key=key["key"], read_only=key["read_only"])
    c.reconcile("GitRepository", "flux-system")


register(Scenario(
    "deploy-key-revoked", "the cluster's deploy key is deleted on GitHub (clusters sharing the repository keep theirs)",
    "source-auth-failed", "GitRepository/flux-system/flux-system", _revoke_key, _restore_key,
    "GitRepository flux-system fails authentication", _source_shows("unable to authenticate"), refetch=True))


def _wrong_host_key(c: ClusterOps, hub: Hub, record: Record) -> None:
    secret_name = str((spec_of(c.get("GitRepository", "flux-system")).get("secretRef") or {}).get("name")
                      or "flux-system")
    secret = c.get("Secret", secret_name)
    if secret is None:
        raise InputError(f"the cluster has no Secret {NAMESPACE}/{secret_name}", hint="bootstrap the cluster first")
    record.update({"secret": secret_name, "known_hosts": (secret.get("data") or {}).get("known_hosts")})
    wrong = base64.b64encode(f"github.com {OTHER_HOST_KEY}\n".encode()).decode()
    c.patch("Secret", secret_name, {"data": {"known_hosts": wrong}})


def _right_host_key(c: ClusterOps, hub: Hub, record: Record) -> None:
    if record.get("known_hosts"):
        c.patch("Secret", record["secret"], {"data": {"known_hosts": record["known_hosts"]}})
    c.reconcile("GitRepository", "flux-system")


register(Scenario(
    "known-hosts-mismatch", "github.com presents a host key the flux-system Secret's known_hosts does not hold",
    "known-hosts-mismatch", "GitRepository/flux-system/flux-system", _wrong_host_key, _right_host_key,
    "GitRepository flux-system reports the host key mismatch", _source_shows("knownhosts: key mismatch"),
    refetch=True))


# --- Kustomizations that fail ------------------------------------------------------------------------------


def _folder_kustomization(name: str, folder: str, docs: dict[str, Any] | None, message: str,
                          **spec: Any) -> tuple[Change, Change]:
    """A Kustomization of its own (and its folder, committed when it has files), and its removal."""
    def make(c: ClusterOps, hub: Hub, record: Record) -> None:
        if docs is not None:
            c.commit(fault_files(folder, docs), message)
        c.apply(kustomization_object(name, f"./{FAULT_DIR}/{folder}", **spec))

    def undo(c: ClusterOps, hub: Hub, record: Record) -> None:
        c.delete("Kustomization", name)
        if name == "fault-health-check":
            c.delete("Deployment", "fault-health", "default")
        if docs is not None:
            c.commit({f"{FAULT_DIR}/{folder}": None}, f"Remove {folder}")
    return make, undo


def _kustomization_scenario(name: str, what: str, finding: str, ks: str, folder: str,
                            docs: dict[str, Any] | None, message: str, shows: str, shown: Check,
                            **spec: Any) -> Scenario:
    make, undo = _folder_kustomization(ks, folder, docs, message, **spec)
    return register(Scenario(name, what, finding, f"Kustomization/{NAMESPACE}/{ks}", make, undo, shows, shown,
                             recovered=_gone("Kustomization", ks), kustomization=ks))


_kustomization_scenario(
    "kustomize-build-error", "a Kustomization whose folder has a kustomization.yaml listing a missing file",
    "kustomize-build-failed", "fault-build-error", "build-error",
    {"kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "resources": ["deployment.yaml"]}}, "Add apps overlay",
    "Kustomization fault-build-error reports BuildFailed",
    _ks_shows("fault-build-error", lambda r: r.get("reason") == "BuildFailed"))
_kustomization_scenario(
    "missing-crd", "a Kustomization applying a custom resource whose CRD is not installed",
    "crd-missing", "fault-missing-crd", "missing-crd",
    {"widget.yaml": {"apiVersion": "example.com/v1", "kind": "Widget",
                     "metadata": {"name": "gadget", "namespace": "default"}, "spec": {"size": 3}}}, "Add a widget",
    "Kustomization fault-missing-crd reports the missing kind",
    _ks_shows("fault-missing-crd", lambda r: "no matches for kind" in str(r.get("message"))))
_kustomization_scenario(
    "dependency-not-ready", "a Kustomization that depends on one that does not exist",
    "dependency-not-ready", "fault-dependent", "dependent", None, "",
    "Kustomization fault-dependent reports DependencyNotReady",
    lambda c, record: condition(c.get("Kustomization", "fault-dependent")).get("reason") == "DependencyNotReady",
    dependsOn=[{"name": "fault-infrastructure"}])
_kustomization_scenario(
    "health-check-timeout", "a Kustomization waiting on a Deployment whose image cannot be pulled",
    "health-check-failed", "fault-health-check", "health",
    {"deployment.yaml": {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "fault-health", "namespace": "default"},
                         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fault-health"}},
                                  "template": {"metadata": {"labels": {"app": "fault-health"}},
                                               "spec": {"containers": [{"name": "app",
                                                                        "image": "registry.invalid/example/app:0.0.0"}]}}}}},
    "Add fault-health", "Kustomization fault-health-check reports HealthCheckFailed (after its 1m0s timeout)",
    _ks_shows("fault-health-check", lambda r: r.get("reason") == "HealthCheckFailed"), wait=True, timeout="1m0s")


# --- a release that cannot install ---------------------------------------------------------------------------


def _broken_release(c: ClusterOps, hub: Hub, record: Record) -> None:
    publish_demo_chart(c.store, "broken", "1.0.0", broken=True)
    c.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
             "metadata": {"name": "fault-charts", "namespace": NAMESPACE},
             "spec": {"interval": "1h0m0s", "url": CHARTS_URL}})
    c.apply({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
             "metadata": {"name": record["target"], "namespace": NAMESPACE},
             "spec": {"interval": "10m0s", "chart": {"spec": {"chart": "broken", "version": "1.0.0",
                      "sourceRef": {"kind": "HelmRepository", "name": "fault-charts"}}},
                      "install": {"remediation": {"retries": 2}}}})


def _remove_release(c: ClusterOps, hub: Hub, record: Record) -> None:
    c.delete("HelmRelease", record.get("target") or "fault-release")
    c.delete("HelmRepository", "fault-charts")


register(Scenario(
    "helm-install-retries-exhausted", "a HelmRelease whose install keeps failing until retries are exhausted",
    "helm-retries-exhausted", "HelmRelease/flux-system/fault-release", _broken_release, _remove_release,
    "the HelmRelease is Stalled with RetriesExceeded",
    lambda c, record: condition(c.get("HelmRelease", str(record.get("target"))), "Stalled").get("reason")
    == "RetriesExceeded",
    recovered=lambda c, record: c.get("HelmRelease", str(record.get("target"))) is None, target="fault-release"))


# --- controllers that die ------------------------------------------------------------------------------------


def _low_memory(c: ClusterOps, hub: Hub, record: Record) -> None:
    app = str(record["target"])
    container = manager_container(c, app)
    record["resources"] = container.get("resources") or {}
    low = {"limits": {**((container.get("resources") or {}).get("limits") or {}), "memory": LOW_MEMORY},
           "requests": {**((container.get("resources") or {}).get("requests") or {}), "memory": LOW_MEMORY}}
    commit_patch(c, "controller-oomkilled", app, "- op: add\n  path: /spec/template/spec/containers/0/resources\n"
                 f"  value: {json.dumps(low)}\n", record)
    _rolled_out(c, app, "resources", low)


def _bad_flag(c: ClusterOps, hub: Hub, record: Record) -> None:
    app = str(record["target"])
    container = manager_container(c, app)
    record["args"] = list(container.get("args") or [])
    commit_patch(c, "controller-crashloop", app, "- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
                 f"  value: {BAD_FLAG}\n", record)
    _rolled_out(c, app, "args", [*record["args"], BAD_FLAG])


ROLLOUT_TIMEOUT = 60.0
"""Seconds a controller's fault waits for kustomize-controller to apply it from Git before putting it in place."""


def _rolled_out(c: ClusterOps, app: str, field: str, value: Any) -> None:
    """The controller's Deployment at the committed `value` the way a commit gets there: the source fetches it and
    kustomize-controller applies it (asked as `flux reconcile ks flux-system --with-source` does). Put in place
    directly only when that did not happen in time; either way no later reconcile applies an older revision over
    it, as one still running when the field was put in place directly would (a rehearsal's fault undone by the
    rehearsal itself)."""
    if not _until(lambda: manager_container(c, app).get(field) == value,
                  _reconcile(c, "GitRepository", "Kustomization"), timeout=ROLLOUT_TIMEOUT):
        replace_container_field(c, app, field, value)


def _put_back(c: ClusterOps, field: str, record: Record) -> None:
    """The controller's container field as it was before the fault (the operator's `kubectl edit`), when it is
    not already."""
    app = str(record.get("target"))
    original = record.get(field) or ({} if field == "resources" else [])
    if manager_container(c, app).get(field) != original:
        replace_container_field(c, app, field, original)


def _revert_patch(field: str) -> Change:
    """The patch reverted in Git and, once the source has fetched the revert, the field put back at once: the
    operator's fix (the controller may be too dead to apply the revert itself; put back before the fetch, a
    reconcile of the older revision would undo it)."""
    def undo(c: ClusterOps, hub: Hub, record: Record) -> None:
        if record.get("file"):
            c.commit({record["file"]: str(record["original"]).encode()}, f"Revert the {record.get('target')} patch")
            _until(lambda: source_at_head(c), _reconcile(c, "GitRepository"), timeout=ROLLOUT_TIMEOUT)
        _put_back(c, field, record)
        c.reconcile("GitRepository", "flux-system")
    return undo


register(Scenario(
    "controller-oomkilled", "a controller's pod is OOMKilled and restarted (target: kustomize-controller)",
    "controller-oomkilled", "Deployment/flux-system/kustomize-controller", _low_memory, _revert_patch("resources"),
    "the controller's pod was OOMKilled",
    _pod_shows(lambda s: ((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"),
    recovered=_pods_fresh, target="kustomize-controller", field="resources"))
register(Scenario(
    "controller-crashloop", "a controller's pod crash-loops (target: helm-controller)",
    "controller-crashloop", "Deployment/flux-system/helm-controller", _bad_flag, _revert_patch("args"),
    "the controller's pod is in CrashLoopBackOff",
    _pod_shows(lambda s: ((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"),
    recovered=_pods_fresh, target="helm-controller", field="args"))


# --- a Kustomization suspended; a source behind --------------------------------------------------------------


def _suspend(c: ClusterOps, hub: Hub, record: Record) -> None:
    c.patch("Kustomization", record["target"], {"spec": {"suspend": True}})


def _resume(c: ClusterOps, hub: Hub, record: Record) -> None:
    c.patch("Kustomization", record.get("target") or "flux-system", {"spec": {"suspend": False}})


def _resumed(c: ClusterOps, record: Record) -> bool:
    ks = c.get("Kustomization", str(record.get("target")))
    return condition(ks).get("status") == "True" and not spec_of(ks).get("suspend")


register(Scenario(
    "suspended-kustomization", "a Kustomization is suspended (target: flux-system)", "suspended",
    "Kustomization/flux-system/flux-system", _suspend, _resume, "the Kustomization is suspended", _always,
    recovered=_resumed, target="flux-system"))


def _stale_revision(c: ClusterOps, hub: Hub, record: Record, *, timeout: float = 120.0) -> None:
    """A cluster behind HEAD, as one polling its repository hourly is: the flux-system GitRepository's interval
    set to 1h in Git (and applied), then a commit it will not fetch for an hour."""
    path = f"{c.cluster_path()}/flux-system/gotk-sync.yaml"
    original = c.read(path)
    if original is None:
        raise InputError(f"the repository has no {path}", hint="bootstrap the cluster first")
    docs = list(yaml.safe_load_all(original))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "GitRepository":
            doc["spec"]["interval"] = STALE_INTERVAL
    record.update({"file": path, "original": original})
    c.commit({path: yaml.safe_dump_all(docs, sort_keys=False).encode()}, "Poll the repository hourly")
    def polls_hourly() -> bool:  # fetched, applied, and fetched once more for the new generation
        repo = c.get("GitRepository", "flux-system") or {}
        return spec_of(repo).get("interval") == STALE_INTERVAL and status_of(repo).get("observedGeneration") == \
            meta_of(repo).get("generation") and source_at_head(c)

    if not _until(polls_hourly, _reconcile(c, "GitRepository", "Kustomization"), timeout=timeout, every=3.0):
        raise InputError(f"stale-revision: the flux-system GitRepository did not take the {STALE_INTERVAL} "
                         f"interval within {timeout:.0f} s", hint="check the cluster's Flux controllers")
    # dated two hours back: pushed longer ago than the cluster's interval (plus a grace), so being behind it is a
    # fault, not the normal lag of a commit younger than the interval (the rehearsal does not wait the hour)
    pushed = time.time() - 2 * 3600
    c.commit(fault_files("stale", {"NOTES.md": f"Pushed at {time.ctime(pushed)}; the cluster has not fetched it.\n"}),
             "Update release notes", when=pushed)




def _poll_again(c: ClusterOps, hub: Hub, record: Record) -> None:
    if record.get("file"):
        c.commit({record["file"]: str(record["original"]).encode()}, "Poll the repository every minute")
    c.reconcile("GitRepository", "flux-system")
    c.reconcile("Kustomization", "flux-system")


register(Scenario(
    "stale-revision", "the repository has a commit the cluster never fetched", "stale-revision",
    "GitRepository/flux-system/flux-system", _stale_revision, _poll_again, "the repository is ahead of the cluster",
    _always, quiet=True))


# --- outside Flux: the API server, GitHub -----------------------------------------------------------------------


register(Scenario(
    "api-flaky", "a share of Kubernetes API requests fail with 500/503 or answer slowly", "api-unreachable", None,
    _nothing, _nothing, "the API server fails a share of requests", lambda c, record: _waited(1.0, record),
    recovered=lambda c, record: _waited(1.0, record), quiet=True))
register(Scenario(
    "github-rate-limited", "the GitHub API answers 403 rate limit exceeded", "github-rate-limited", None,
    lambda c, hub, record: rate_limit(hub, add=True), lambda c, hub, record: rate_limit(hub, add=False),
    "GitHub answers 403 rate limit exceeded", _always, recovered=_always, quiet=True))


# --- injecting, clearing, and waiting until the cluster shows it -----------------------------------------------


def inject(cluster: ClusterApi | Kube, hub: Hub, scenario: str, *, target: str | None = None) -> Record:
    """Start a scenario on the cluster the way the failure happens for real; returns its record."""
    s = _scenario(scenario)
    kube = as_kube(cluster)
    faults = kube.records()
    if scenario in faults:
        return dict(faults[scenario])
    c = ClusterOps(kube, hub)
    record: Record = {"target": target or s.target, "since": time.time()}
    s.make(c, hub, record)
    faults[scenario] = record
    kube.save(faults)
    if s.refetch:
        c.reconcile("GitRepository", "flux-system")
    return record


def clear(cluster: ClusterApi | Kube, hub: Hub, scenario: str | None = None) -> list[str]:
    """End one scenario (or all of them) and undo what it changed; returns the scenarios cleared."""
    if scenario is not None:
        _scenario(scenario)
    kube = as_kube(cluster)
    faults = kube.records()
    c = ClusterOps(kube, hub)
    done = []
    for name in [scenario] if scenario else list(faults):
        record = faults.pop(name, None)
        if record is None:
            continue
        kube.save(faults)
        record["target"] = record.get("target") or SCENARIOS[name].target
        SCENARIOS[name].undo(c, hub, record)
        done.append(name)
    return done


def _all_ready(c: ClusterOps) -> bool:
    """Every Kustomization and HelmRelease Ready (not being deleted): what "none above info" needs."""
    for kind in ("Kustomization", "HelmRelease"):
        for obj in c.list(kind):
            if not meta_of(obj).get("deletionTimestamp") and condition(obj).get("status") != "True" \
                    and not (spec_of(obj) if isinstance(obj.get("spec"), dict) else {}).get("suspend"):
                return False
    return True


def _recovered(s: Scenario) -> Check:
    """The scenario's own objects healthy again (or gone), and every Kustomization and HelmRelease Ready."""
    return lambda c, record: s.recovered(c, record) and _all_ready(c)


def _checking_health(obj: dict[str, Any]) -> bool:
    """A Kustomization running its health checks: a reconcile request now would cancel them (kustomize-controller
    v1.6 and later), so it is left to finish."""
    return "health checks" in str(condition(obj, "Reconciling").get("message", ""))


def _nudge(c: ClusterOps, s: Scenario, record: Record) -> None:
    """What `flux reconcile ... --with-source` does, so the cluster shows the change now, not at its next interval."""
    if s.quiet and "cleared" not in record:
        return
    at_head = source_at_head(c)
    if "cleared" in record and s.field and at_head:
        _put_back(c, s.field, record)
    if c.get("GitRepository", "flux-system") is not None and not at_head:
        c.reconcile("GitRepository", "flux-system")
    elif "cleared" in record and not _all_ready(c):
        for obj in c.list("Kustomization"):
            if condition(obj).get("status") != "True" and not _checking_health(obj):
                c.reconcile("Kustomization", obj["metadata"]["name"], obj["metadata"]["namespace"])
    elif s.kustomization and (ks := c.get("Kustomization", s.kustomization)) is not None and \
            not str(status_of(ks).get("lastAttemptedRevision") or "").endswith(str(c.head())):
        c.reconcile("Kustomization", s.kustomization)  # only until it has tried the head revision
    elif s.name == "suspended-kustomization" and "cleared" in record:
        c.reconcile("Kustomization", str(record.get("target")))


def settle(cluster: ClusterApi | Kube, hub: Hub, scenario: str, record: Record, *, cleared: bool = False,
           timeout: float = SETTLE_TIMEOUT, progress: Callable[[str], None] | None = None,
           poll: float = 0.5) -> str:
    """Wait until the cluster shows the fault (or, `cleared`, the recovery) in its Flux conditions, requesting
    reconciles as `flux reconcile` would; the controllers of whichever process holds the cluster's lease act.
    Returns what was seen; raises InputError on timeout, naming what did not happen."""
    s = _scenario(scenario)
    c = ClusterOps(as_kube(cluster), hub)
    what, check = (f"{scenario} cleared", _recovered(s)) if cleared else (s.shows, s.shown)
    record = {**record, **({"cleared": time.time()} if cleared else {})}
    if progress:
        progress(f"waiting until {what} (up to {timeout:.0f} s)")

    def seen() -> bool:
        try:
            return check(c, record)
        except InputError:
            return False  # e.g. the source is being recreated; look again

    if not _until(seen, lambda: _nudge(c, s, record), timeout=timeout, poll=poll):
        raise InputError(f"{scenario}: the cluster did not show that {what} within {timeout:.0f} s",
                         hint="is a process running the cluster's controllers? (`fleet sandbox status`); "
                              "runbooks and `fleet sandbox serve` run them")
    return what


@dataclass
class Rehearsal:
    """The fault scenarios of one stand-in cluster (a sandbox cluster, or a local one): inject, clear and
    wait until the cluster shows it."""

    kube: Kube
    hub: Hub
    name: str
    """How progress lines name the cluster."""

    def active(self) -> dict[str, Any]:
        return self.kube.records()

    def inject(self, scenario: str, *, target: str | None = None, wait: bool = False,
               timeout: float = SETTLE_TIMEOUT, progress: Callable[[str], None] | None = None) -> Record:
        record = inject(self.kube, self.hub, scenario, target=target)
        if wait:
            settle(self.kube, self.hub, scenario, record, timeout=timeout, progress=progress)
        return record

    def clear(self, scenario: str | None = None, *, wait: bool = False, timeout: float = SETTLE_TIMEOUT,
              progress: Callable[[str], None] | None = None) -> list[str]:
        records = self.kube.records()
        cleared = clear(self.kube, self.hub, scenario)
        for name in cleared if wait else []:
            settle(self.kube, self.hub, name, records.get(name) or {}, cleared=True, timeout=timeout,
                   progress=progress)
        return cleared
