"""Diagnosis: rules over a cluster's facts that return findings, ranked root causes first.

Each rule is a pure function registered by name with `@rule`; it reads `ClusterFacts` (conditions,
events, logs, pod states, repository heads) and returns findings with the exact evidence, the probable
cause and a concrete remediation. The catch-all rules (`stalled`, `reconcile-failed`) run last and see
only the objects no specific rule claimed, so a new specific rule needs no edit of them. A finding is a
symptom of another when its object needs the other's object through a reference that explains its
failure (spec.dependsOn for a dependency not ready, the source for a failed reconcile, the applied Flux
objects for a failed health check); symptoms rank after their causes.

    findings = diagnose(gather(kube, heads=heads))
    findings[0].id       # e.g. "source-auth-failed"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from fleetlib.model import Duration
from fleetlib.objects import (
    Ref,
    condition,
    container_statuses,
    containers,
    deployment_ready,
    labels_of,
    meta_of,
    ref,
    references,
    spec_of,
    status_of,
    terminated,
    timestamp,
    waiting,
)
from fleetlib.troubleshoot.facts import FLUX_CRDS, ClusterFacts

SEVERITY = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    object: str
    evidence: str
    cause: str
    remediation: str
    symptom_of: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Rule = Callable[[ClusterFacts], list[Finding]]
CatchAll = Callable[[ClusterFacts, set[str]], list[Finding]]
RULES: dict[str, Rule] = {}
"""The specific rules, in rank order for findings of equal severity."""
CATCH_ALL: dict[str, CatchAll] = {}
"""Rules for what no specific rule explained; they receive the objects already claimed."""
CAUSES: dict[str, tuple[str, ...]] = {
    "dependency-not-ready": ("dependsOn",),
    "reconcile-failed": ("source", "chart"),
    "health-check-failed": ("inventory",),
}
"""Which references of its object can explain a finding (objects.references' relations)."""


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def catch_all(name: str) -> Callable[[CatchAll], CatchAll]:
    def register(fn: CatchAll) -> CatchAll:
        CATCH_ALL[name] = fn
        return fn

    return register


def _failing(facts: ClusterFacts, kinds: Iterable[str], test: Callable[[dict[str, Any], dict[str, Any]], bool]
             ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, its Ready condition) for the objects of `kinds` that are Ready=False and pass `test`; an object
    that is Ready=Unknown (being reconciled again) counts with its last failure while its latest event is a
    warning, so a fault that has shown stays found while the controller retries."""
    latest = facts.latest_events()
    out = []
    for kind in kinds:
        for obj in facts.objects.get(kind, []):
            ready = condition(obj)
            if ready.get("status") == "Unknown":
                event = latest.get(str(ref(obj)))
                if event is not None and event.get("type") == "Warning":
                    ready = {"type": "Ready", "status": "False", "reason": event.get("reason"),
                             "message": str(event.get("message") or "")}
            if ready.get("status") == "False" and test(obj, ready):
                out.append((obj, ready))
    return out


def _message_has(text: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    return lambda _obj, ready: text in str(ready.get("message", ""))


def _reason_is(reason: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    return lambda _obj, ready: ready.get("reason") == reason


def runbook_cmd(facts: ClusterFacts, runbook: str, *extra: str) -> str:
    """The papermill line that runs a runbook on this very cluster."""
    stage, _, cluster = facts.cluster.partition("/")
    return " ".join(["papermill", f"runbooks/{runbook}.ipynb", "out.ipynb", "-p", "cluster", cluster, "-p", "stage",
                     stage, *extra])


FLUX_NOUNS = {"GitRepository": "source git", "HelmRepository": "source helm", "OCIRepository": "source oci",
              "Bucket": "source bucket", "HelmChart": "source chart", "Kustomization": "kustomization",
              "HelmRelease": "helmrelease", "Alert": "alert", "Provider": "alert-provider", "Receiver": "receiver"}
"""Kind -> the flux CLI's words for it (`flux reconcile source oci ...`, `flux resume alert-provider ...`)."""


NOT_RECONCILABLE = ("Alert", "Provider")
"""Kinds `flux reconcile` has no sub-command for (notification v1beta3 objects are static)."""


def _reconcile_cmd(obj: dict[str, Any]) -> str:
    """How to ask for a reconcile, as a user types it: `flux reconcile ...`, or for the kinds flux cannot reconcile,
    the annotation `flux reconcile` sets."""
    if obj["kind"] not in NOT_RECONCILABLE:
        return f"`flux reconcile {_flux_cmd(obj)}`"
    meta = obj["metadata"]
    return (f"`kubectl -n {meta['namespace']} annotate --overwrite {obj['kind'].lower()} {meta['name']} "
            f"reconcile.fluxcd.io/requestedAt=\"$(date +%s)\"`")


def _flux_cmd(obj: dict[str, Any]) -> str:
    kind = FLUX_NOUNS.get(obj["kind"], obj["kind"].lower())
    return f"{kind} {obj['metadata']['name']} -n {obj['metadata']['namespace']}"


def _secret_of(obj: dict[str, Any]) -> str:
    return str((spec_of(obj).get("secretRef") or {}).get("name") or obj["metadata"]["name"])


@rule("api-unreachable")
def api_unreachable(facts: ClusterFacts) -> list[Finding]:
    if not facts.unreachable:
        return []
    return [Finding("api-unreachable", "critical", f"cluster {facts.cluster}", facts.unreachable,
                    "the Kubernetes API server did not answer, or answered with errors",
                    "check the kube context and the API server: `kubectl get --raw /readyz`; retry when it is healthy")]


def _installation(facts: ClusterFacts) -> tuple[list[str], list[str], list[str]] | None:
    """What of Flux is present: (missing namespace, missing CRDs, missing controllers), None when unknown."""
    if facts.unreachable or facts.namespace_present is None:
        return None
    crds = {c["metadata"]["name"] for c in facts.crds}
    controllers = {d["metadata"]["name"] for d in facts.deployments}
    wanted = [name for component in facts.components for name in FLUX_CRDS.get(component, ())]
    return ([] if facts.namespace_present else [facts.namespace], [n for n in wanted if n not in crds],
            [c for c in facts.components if c not in controllers])


@rule("flux-not-installed")
def flux_not_installed(facts: ClusterFacts) -> list[Finding]:
    found = _installation(facts)
    if found is None or not (found[0] and not facts.crds and not facts.deployments):
        return []
    wanted = sum(len(FLUX_CRDS.get(c, ())) for c in facts.components)
    return [Finding("flux-not-installed", "critical", f"cluster {facts.cluster}",
                    f"no namespace {facts.namespace}, none of the {wanted} Flux CRDs, no Flux controller Deployment",
                    "Flux was never bootstrapped on this cluster, or it was uninstalled",
                    f"bootstrap it: `{runbook_cmd(facts, 'bootstrap')}`")]


@rule("flux-partially-installed")
def flux_partially_installed(facts: ClusterFacts) -> list[Finding]:
    found = _installation(facts)
    if found is None or not any(found) or flux_not_installed(facts):
        return []
    namespace, crds, controllers = found
    parts = [f"namespace {namespace[0]} missing" if namespace else "",
             f"CRDs missing: {', '.join(crds)}" if crds else "",
             f"controllers missing: {', '.join(controllers)}" if controllers else ""]
    return [Finding("flux-partially-installed", "error", f"cluster {facts.cluster}", "; ".join(p for p in parts if p),
                    "part of Flux was deleted, or an install or upgrade stopped half-way",
                    f"re-run the bootstrap, which installs what is missing: `{runbook_cmd(facts, 'bootstrap')}`")]


CRASHLOOP_WINDOW = 600.0
"""Seconds since a container's last failed exit within which, restarted and not yet ready, it counts as still
crash-looping (the kubelet's back-off grows to 5 minutes, so a loop restarts it at least that often)."""


def _crash_looping(s: Mapping[str, Any], now: float) -> bool:
    """In CrashLoopBackOff, or between two of its back-offs: each time the kubelet restarts the container its state
    says running (or terminated) for a moment, so a loop is also a restart after a recent failed exit, not ready
    (the kubelet's back-off, and its CrashLoopBackOff, start at the first failed exit)."""
    last = terminated(s)
    if last.get("reason") == "OOMKilled":
        return False  # that one's own finding
    if waiting(s).get("reason") == "CrashLoopBackOff":
        return True
    exited = timestamp(last.get("finishedAt"))
    return (int(s.get("restartCount") or 0) >= 1 and last.get("exitCode") not in (None, 0) and not s.get("ready")
            and exited is not None and now - exited < CRASHLOOP_WINDOW)


@rule("controller-crashloop")
def controller_crashloop(facts: ClusterFacts) -> list[Finding]:
    out = []
    for pod in facts.pods:
        app = labels_of(pod).get("app", "")
        for s in container_statuses(pod):
            last = terminated(s)
            if _crash_looping(s, facts.now):
                out.append(Finding(
                    "controller-crashloop", "critical", str(Ref("Deployment", facts.namespace, app)),
                    f"{waiting(s).get('message') or 'restarted, not ready'}; last exit {last.get('reason')} "
                    f"({last.get('exitCode')}), {s.get('restartCount')} restarts",
                    f"{app} keeps crashing, so the objects it reconciles are not updated",
                    f"`kubectl -n {facts.namespace} logs deploy/{app} --previous`; fix its arguments or resources in "
                    "flux-system/kustomization.yaml"))
    return out


@rule("controller-oomkilled")
def controller_oomkilled(facts: ClusterFacts) -> list[Finding]:
    out = []
    for pod in facts.pods:
        app = labels_of(pod).get("app", "")
        for s in container_statuses(pod):
            if terminated(s).get("reason") != "OOMKilled":
                continue
            container = next((c for c in containers(spec_of(pod)) if c.get("name") == s.get("name")), {})
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory", "unset")
            looping = waiting(s).get("reason") == "CrashLoopBackOff"
            out.append(Finding(
                "controller-oomkilled", "critical" if looping else "error", str(Ref("Deployment", facts.namespace, app)),
                f"container {s.get('name')} OOMKilled (exit 137), {s.get('restartCount')} restarts, memory limit "
                f"{limit}",
                f"{app} needs more memory than its limit",
                "raise its memory limit with a patch in flux-system/kustomization.yaml (the resource-tuning "
                "runbook writes it)"))
    return out


@rule("source-auth-failed")
def source_auth_failed(facts: ClusterFacts) -> list[Finding]:
    return [Finding("source-auth-failed", "error", ref(obj), ready["message"],
                    "the deploy key was removed or revoked on GitHub (or the token that made it was)",
                    f"rotate the key: `{runbook_cmd(facts, 'bootstrap', '-p', 'rotate_key', 'True')}` (or delete the "
                    f"Secret {obj['metadata']['namespace']}/{_secret_of(obj)} and re-run the bootstrap)")
            for obj, ready in _failing(facts, ("GitRepository",), _message_has("unable to authenticate"))]


@rule("known-hosts-mismatch")
def known_hosts_mismatch(facts: ClusterFacts) -> list[Finding]:
    return [Finding("known-hosts-mismatch", "error", ref(obj), ready["message"],
                    "the Git host presents a key the Secret's known_hosts does not hold (rotated host key or proxy)",
                    f"refresh known_hosts: delete the Secret {obj['metadata']['namespace']}/{_secret_of(obj)} and re-run "
                    f"`{runbook_cmd(facts, 'bootstrap')}`, or `flux create secret git {_secret_of(obj)} "
                    f"--url={spec_of(obj).get('url')}`")
            for obj, ready in _failing(facts, ("GitRepository",), _message_has("knownhosts: key mismatch"))]


@rule("kustomize-build-failed")
def kustomize_build_failed(facts: ClusterFacts) -> list[Finding]:
    return [Finding("kustomize-build-failed", "error", ref(obj), ready["message"],
                    "the Kustomization's path does not build: a missing file, bad YAML or a broken overlay",
                    f"build it locally: `kubectl kustomize {spec_of(obj).get('path')}` in a checkout, fix, commit")
            for obj, ready in _failing(facts, ("Kustomization",), _reason_is("BuildFailed"))]


_NO_MATCH = re.compile(r'no matches for kind "([^"]+)" in version "(?:([^"/]+)/)?([^"]+)"')


def served_versions(facts: ClusterFacts, message: str) -> tuple[str, str, list[str]] | None:
    """(kind, the group/version refused, the versions its CRD serves) when a `no matches for kind` names a kind the
    cluster has, in a version it does not serve (a manifest older than the installed Flux)."""
    m = _NO_MATCH.search(message)
    if m is None:
        return None
    kind, group, version = m.group(1), m.group(2) or "", m.group(3)
    for crd in facts.crds:
        spec = spec_of(crd)
        if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
            served = [str(v.get("name")) for v in spec.get("versions") or [] if v.get("served")]
            return (kind, f"{group}/{version}", served) if version not in served else None
    return None


@rule("api-version-not-served")
def api_version_not_served(facts: ClusterFacts) -> list[Finding]:
    out = []
    for obj, ready in _failing(facts, ("Kustomization",), _message_has("no matches for kind")):
        found = served_versions(facts, ready["message"])
        if found is not None:
            kind, refused, served = found
            group = refused.rpartition("/")[0]
            out.append(Finding(
                "api-version-not-served", "error", ref(obj), ready["message"],
                f"the cluster's Flux serves {kind} as {', '.join(f'{group}/{v}' for v in served)}, not {refused}: "
                "the manifest is older than the installed Flux",
                f"move the manifest to {group}/{served[-1] if served else '?'} (`flux migrate -f <folder>` rewrites a "
                "folder), commit, then `flux reconcile " + _flux_cmd(obj) + " --with-source`"))
    return out


_REFUSED = re.compile(r'User "system:serviceaccount:([^:"]+):([^"]+)" cannot (\S+) resource "([^"]+)" in API group '
                      r'"([^"]*)" (?:in the namespace "([^"]+)"|at the cluster scope)')


@rule("rbac-refused")
def rbac_refused(facts: ClusterFacts) -> list[Finding]:
    """A Kustomization or HelmRelease acting as a service account (spec.serviceAccountName, or the controller's
    --default-service-account) that the API server refused: who, what, where, and the binding that would allow it."""
    out = []
    for obj, ready in _failing(facts, ("Kustomization", "HelmRelease"), _message_has("forbidden: User")):
        m = _REFUSED.search(str(ready.get("message", "")))
        if m is None:
            continue
        sa_ns, sa, verb, resource, group, where = m.groups()
        what = f'{verb} {resource}{"." + group if group else ""}'
        scope = f"namespace {where}" if where else "the cluster scope"
        named = spec_of(obj).get("serviceAccountName")
        account = f"service account {sa_ns}/{sa}" + ("" if named else " (the controller's --default-service-account)")
        if where and where != sa_ns:
            cause = (f"the {account} may not {what} in {scope}: it acts for the tenant in {sa_ns}, and this object "
                     f"reaches outside it")
            fix = (f"keep the tenant's objects in namespace {sa_ns}; if {where} is really the tenant's, the platform "
                   f"binds the account there: `kubectl create rolebinding {sa}-{sa_ns} -n {where} "
                   f"--clusterrole=edit --serviceaccount={sa_ns}:{sa}`")
        elif where:
            cause = f"the {account} has no RoleBinding that lets it {what} in its own namespace {where}"
            fix = (f"bind it: `kubectl create rolebinding {sa} -n {where} --clusterrole=edit "
                   f"--serviceaccount={sa_ns}:{sa}` (or cluster-admin, as fluxcd/flux2-multi-tenancy binds tenants), "
                   f"or set spec.serviceAccountName to an account that has one")
        else:
            cause = (f"the {account} may not {what} at {scope}: a RoleBinding never reaches cluster-scoped objects "
                     f"(Namespaces, ClusterRoles, CRDs)")
            fix = ("apply cluster-scoped objects from the platform's Kustomization (in flux-system, acting as "
                   f"kustomize-controller), or bind the account with a ClusterRoleBinding: `kubectl create "
                   f"clusterrolebinding {sa}-{sa_ns} --clusterrole=<role> --serviceaccount={sa_ns}:{sa}`")
        out.append(Finding("rbac-refused", "error", ref(obj), ready["message"], cause, fix))
    return out


@rule("cross-namespace-ref-blocked")
def cross_namespace_ref_blocked(facts: ClusterFacts) -> list[Finding]:
    return [Finding("cross-namespace-ref-blocked", "error", ref(obj), ready["message"],
                    "the controllers run with --no-cross-namespace-refs=true (a multi-tenancy lockdown) and this "
                    "object refers to a source in another namespace",
                    f"give the tenant a source of its own in {obj['metadata']['namespace']} and point spec.sourceRef "
                    f"at it; the object stays Stalled until its spec changes")
            for obj, ready in _failing(facts, ("Kustomization", "HelmRelease"), _reason_is("AccessDenied"))]


@rule("sandbox-unsupported")
def sandbox_unsupported(facts: ClusterFacts) -> list[Finding]:
    """An object the sandbox's mini-Flux reconciles without a field it does not implement (its Unsupported
    condition): what real Flux would do with it is not what the rehearsal shows."""
    out = []
    for kind, objects in facts.objects.items():
        for obj in objects:
            marked = condition(obj, "Unsupported")
            if marked.get("status") == "True" and marked.get("reason") == "NotImplementedInSandbox":
                stage, _, cluster = facts.cluster.partition("/")
                out.append(Finding(
                    "sandbox-unsupported", "warning", ref(obj), str(marked.get("message", "")),
                    f"the sandbox does not implement a field this {kind} sets, so the rehearsal differs from real Flux "
                    "here (the README's \"What the sandbox does not implement\")",
                    f"rehearse it on the real controllers: `target: local` in parameters/{stage}/{cluster}.yaml, then "
                    f"`{runbook_cmd(facts, 'bootstrap')}`"))
    return out


@rule("crd-missing")
def crd_missing(facts: ClusterFacts) -> list[Finding]:
    return [Finding("crd-missing", "error", ref(obj), ready["message"],
                    "a custom resource is applied before (or without) its CustomResourceDefinition",
                    "install the CRD first: move it to its own Kustomization and add `dependsOn` to this one")
            for obj, ready in _failing(facts, ("Kustomization",), _message_has("no matches for kind"))
            if served_versions(facts, ready["message"]) is None]


@rule("health-check-failed")
def health_check_failed(facts: ClusterFacts) -> list[Finding]:
    return [Finding("health-check-failed", "error", ref(obj), ready["message"],
                    "applied workloads did not become ready within the timeout",
                    "inspect the workloads named in the evidence (`kubectl describe`, pod events), or raise spec.timeout")
            for obj, ready in _failing(facts, ("Kustomization",), _reason_is("HealthCheckFailed"))]


@rule("helm-retries-exhausted")
def helm_retries_exhausted(facts: ClusterFacts) -> list[Finding]:
    out = []
    for obj in facts.objects.get("HelmRelease", []):
        stalled = condition(obj, "Stalled")
        if stalled.get("status") == "True" and stalled.get("reason") == "RetriesExceeded":
            out.append(Finding("helm-retries-exhausted", "error", ref(obj),
                               f"{stalled.get('message')}; {condition(obj).get('message', '')}",
                               "the Helm install or upgrade failed as many times as remediation allows",
                               f"`kubectl describe helmrelease {obj['metadata']['name']} -n {obj['metadata']['namespace']}`;"
                               f" fix the chart or values, then `flux reconcile {_flux_cmd(obj)} --force`"))
    return out


@rule("dependency-not-ready")
def dependency_not_ready(facts: ClusterFacts) -> list[Finding]:
    out = []
    for obj, ready in _failing(facts, ("Kustomization", "HelmRelease"), _reason_is("DependencyNotReady")):
        missing = "not found" in ready.get("message", "")
        deps = ", ".join(f"{d.namespace}/{d.name}" for d in references(obj)["dependsOn"])
        out.append(Finding(
            "dependency-not-ready", "error" if missing else "warning", ref(obj), ready["message"],
            f"it depends on {obj['kind']} {deps or 'objects'} that does not exist" if missing else
            "it waits on a dependency that is not ready yet",
            f"create the dependency or correct spec.dependsOn of {ref(obj)}" if missing else
            f"fix the dependency ({deps}); {obj['kind']} {obj['metadata']['name']} follows on its own"))
    return out


@rule("suspended")
def suspended(facts: ClusterFacts) -> list[Finding]:
    return [Finding("suspended", "warning", ref(obj), "spec.suspend: true", "reconciliation is suspended",
                    f"resume it when intended: `flux resume {_flux_cmd(obj)}`")
            for obj in facts.all_objects() if spec_of(obj).get("suspend")]


@rule("stale-revision")
def stale_revision(facts: ClusterFacts) -> list[Finding]:
    out = []
    for obj in facts.objects.get("GitRepository", []):
        head = facts.heads.get(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        revision = str((status_of(obj).get("artifact") or {}).get("revision", ""))
        if head and revision and condition(obj).get("status") == "True" and not revision.endswith(head):
            where = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            interval = _seconds(str(spec_of(obj).get("interval") or "1m"))
            age = facts.now - facts.head_times[where] if where in facts.head_times else None
            if age is not None and age < interval + LAG_GRACE:  # it polls every interval: not fetched yet is normal
                out.append(Finding("stale-revision", "info", ref(obj),
                                   f"cluster has {revision}, the repository branch is at {head[:12]}, committed "
                                   f"{age:.0f} s ago",
                                   f"normal Flux lag: the source fetches every {spec_of(obj).get('interval') or '1m'}, "
                                   "and the newest commit is younger than that",
                                   f"nothing to do; `flux reconcile {_flux_cmd(obj)}` fetches it now"))
                continue
            out.append(Finding("stale-revision", "warning", ref(obj),
                               f"cluster has {revision}, the repository branch is at {head[:12]}",
                               "the source has not fetched the latest commit yet",
                               f"`flux reconcile {_flux_cmd(obj)}`; if it stays behind, check the source-controller"))
    return out


LAG_GRACE = 60.0
"""Seconds a source may take past its interval to fetch a new commit before being behind is a warning."""


def _seconds(interval: str) -> float:
    try:
        return Duration.parse(interval).seconds
    except ValueError:
        return 60.0


@rule("github-rate-limited")
def github_rate_limited(facts: ClusterFacts) -> list[Finding]:
    if not facts.github_error or "rate limit" not in facts.github_error:
        return []
    return [Finding("github-rate-limited", "warning", f"cluster {facts.cluster}", facts.github_error,
                    "GitHub refuses API requests until the rate limit resets, so whether the cluster is behind its "
                    "repository (stale revisions) was not judged; bootstraps and pull requests fail too",
                    "wait for the reset (GitHub's X-RateLimit-Reset), or use a token of an account with a higher limit")]


@rule("github-unavailable")
def github_unavailable(facts: ClusterFacts) -> list[Finding]:
    if not facts.github_error or "rate limit" in facts.github_error:
        return []
    return [Finding("github-unavailable", "info", f"cluster {facts.cluster}", facts.github_error,
                    "the fleet repository's branch heads could not be read, so stale revisions were not judged",
                    "export the token in the variable named by token_env, or check access to the repository host")]


@catch_all("stalled")
def stalled(facts: ClusterFacts, claimed: set[str]) -> list[Finding]:
    """Objects the controller stopped retrying (Stalled=True) that no specific rule explained."""
    out = []
    for obj in facts.all_objects():
        cond = condition(obj, "Stalled")
        if cond.get("status") == "True" and ref(obj) not in claimed:
            out.append(Finding("stalled", "error", ref(obj), f"{cond.get('reason')}: {cond.get('message', '')}",
                               f"the controller stopped retrying {obj['kind']} {obj['metadata']['name']} until its spec "
                               "changes",
                               f"fix its spec (`kubectl -n {obj['metadata'].get('namespace')} get {obj['kind'].lower()} "
                               f"{obj['metadata']['name']} -o yaml`), or delete and recreate it from Git"))
    return out


@catch_all("reconcile-failed")
def reconcile_failed(facts: ClusterFacts, claimed: set[str]) -> list[Finding]:
    """Any other Flux object not ready, with its own message."""
    return [Finding("reconcile-failed", "error", ref(obj), ready.get("message", ""),
                    f"{obj['kind']} failed with {ready.get('reason')}",
                    f"`kubectl describe` it and read the controller logs; then {_reconcile_cmd(obj)}")
            for obj, ready in _failing(facts, tuple(facts.objects), lambda o, _r: ref(o) not in claimed)]


@catch_all("controller-not-ready")
def controller_not_ready(facts: ClusterFacts, claimed: set[str]) -> list[Finding]:
    """A Flux controller's Deployment not ready (as `flux check` says it) that no rule explained: what its pods
    show, so the check's "not ready" never comes without a finding."""
    out = []
    for d in facts.deployments:
        name = meta_of(d).get("name", "")
        obj = str(Ref("Deployment", facts.namespace, name))
        if deployment_ready(d) or obj in claimed:
            continue
        shown = [_container_shown(s) for pod in facts.pods if labels_of(pod).get("app") == name
                 for s in container_statuses(pod)]
        ready = status_of(d).get("readyReplicas") or 0
        out.append(Finding(
            "controller-not-ready", "error", obj,
            f"{ready}/{spec_of(d).get('replicas', 1)} replicas ready; " + ("; ".join(shown) or "no pod"),
            f"{name} is not running ready, so the objects it reconciles are not updated",
            f"`kubectl -n {facts.namespace} describe deploy/{name}` and `kubectl -n {facts.namespace} logs "
            f"deploy/{name}`; `flux check` says when it is ready again"))
    return out


def _container_shown(s: Mapping[str, Any]) -> str:
    """One container's state in words: `running, not ready, 1 restarts, last exit Error (1)`."""
    state = next((k for k in ("running", "waiting", "terminated") if (s.get("state") or {}).get(k) is not None),
                 "unknown")
    reason = waiting(s).get("reason")
    last = terminated(s)
    return ", ".join(p for p in (
        f"{state}{f' ({reason})' if reason else ''}", "ready" if s.get("ready") else "not ready",
        f"{s.get('restartCount') or 0} restarts",
        f"last exit {last.get('reason')} ({last.get('exitCode')})" if last else "") if p)


def _claims(findings: Iterable[Finding]) -> set[str]:
    return {f.object for f in findings if f.id not in ("suspended", "stale-revision")}


def diagnose(facts: ClusterFacts) -> list[Finding]:
    """Every rule's findings, symptoms linked to their causes, ranked: roots first, then by severity."""
    findings = [f for fn in RULES.values() for f in fn(facts)]
    for fn in CATCH_ALL.values():
        findings += fn(facts, _claims(findings))
    linked = link(facts, findings)
    order = [*RULES, *CATCH_ALL]
    return sorted(linked, key=lambda f: (f.symptom_of is not None, -SEVERITY[f.severity], order.index(f.id), f.object))


def link(facts: ClusterFacts, findings: list[Finding]) -> list[Finding]:
    """Mark each finding whose object needs a failing object (through the references CAUSES allows for its
    rule) a symptom of the root of that chain; a cycle leaves its findings roots."""
    objects = {ref(o): o for o in facts.all_objects()}
    failing = {f.object for f in findings if f.id not in ("suspended", "stale-revision", "github-unavailable")}
    cause_of: dict[str, str] = {}
    for f in findings:
        obj = objects.get(f.object)
        if obj is None or f.object in cause_of:
            continue
        relations = references(obj)
        for relation in CAUSES.get(f.id, ()):
            cause = next((str(r) for r in relations[relation] if str(r) in failing and str(r) != f.object), None)
            if cause is not None:
                cause_of[f.object] = cause
                break
    out = []
    for f in findings:
        root, seen = cause_of.get(f.object), {f.object}
        while root in cause_of and root not in seen:
            seen.add(root)
            root = cause_of[root]
        out.append(f if root is None or root in seen else replace(f, symptom_of=root))  # in seen: a cycle
    return out


GROUP_EXAMPLES = 3
"""Objects named in a grouped row; the rest are counted."""
GROUPED_COLUMNS = ["id", "severity", "count", "objects", "evidence", "cause", "remediation", "symptom_of"]


def grouped(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Findings (as dicts, in rank order) with the same id and cause folded into one row: the first finding's
    evidence, every distinct remediation (up to GROUP_EXAMPLES, then a count: each names its own dependency or
    object), a count, and up to GROUP_EXAMPLES objects (the record keeps every one)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (str(row["id"]), str(row["cause"]))
        group = groups.setdefault(key, {**row, "count": 0, "examples": [], "fixes": []})
        group["count"] += 1
        if len(group["examples"]) < GROUP_EXAMPLES:
            group["examples"].append(str(row["object"]))
        if str(row["remediation"]) not in group["fixes"]:
            group["fixes"].append(str(row["remediation"]))
    out = []
    for group in groups.values():
        more = group["count"] - len(group["examples"])
        objects = ", ".join(group["examples"]) + (f" and {more} more" if more else "")
        fixes, extra = group["fixes"][:GROUP_EXAMPLES], len(group["fixes"]) - GROUP_EXAMPLES
        remediation = "; ".join(fixes) + (f"; and {extra} more (see the record)" if extra > 0 else "")
        out.append({k: group.get(k) for k in GROUPED_COLUMNS} | {"objects": objects, "remediation": remediation})
    return out


def summary(findings: list[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.severity] = out.get(f.severity, 0) + 1
    return out
