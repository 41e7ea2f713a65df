"""The tenants runbook's flow: plan the tenant's file, check it, apply it as `none`, `commit` or `pr`, wait,
then prove the fence.

1. `plan`: clone the fleet repository; the tenant's file (`<cluster path>/tenants/<tenant>.yaml`, see
   tenants.manifests) as it is and as it should be (gone, with `remove`), the diff, and which lockdown flags
   the cluster's flux-system/kustomization.yaml lacks. Same text: "up to date".
2. `check` (adding only): every refusal at once before any effect: an object the file would take over, the
   team's repository and branch missing, the folder not building, the API server refusing an object.
3. `apply`: `none` shows the diff, the objects, the deploy key and the access checks to come; `commit` writes
   the deploy key (its Secret in the tenant's namespace, which the runbook creates first when the file declares
   it, labelled as fleetlib's), then commits and pushes; `pr` does the same on a branch `tenant/<stage>-<cluster>-
   <tenant>` and opens a pull request.
4. `wait` (after a commit): the flux-system sync at the pushed revision, then the tenant's Kustomization Ready
   (failing fast with its condition's message: a refusal of its service account is the real controller's), or,
   removing, its objects pruned and then its deploy key and Secret gone.
5. `fence`: SubjectAccessReviews (tenants.fence): the tenant may act in each of its namespaces and nowhere else;
   a hole is an error.

    change = TenantChange.from_run(run)
    plan = change.plan(); change.check(plan); change.apply(plan); change.wait(); change.fence()
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fleetlib import deploykeys, targets
from fleetlib.apps.checks import dry_run, folder_builds
from fleetlib.apps.manifests import git_repo_slug, owns_namespace
from fleetlib.apps.waits import AppWait, wait_ready
from fleetlib.errors import ClusterError, FleetError, InputError
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.model import Duration
from fleetlib.objects import Ref
from fleetlib.options import TenantsOptions
from fleetlib.ownership import MANAGED_BY, created_by_fleetlib, foreign_in_namespace, taken_over
from fleetlib.parameters import ClusterParams
from fleetlib.repochange import FileChange, Plan
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.tenants import fence
from fleetlib.tenants.manifests import (
    HEADER,
    Lockdown,
    file_text,
    missing_lockdown,
    say_lockdown,
    secret_name,
    sync_removed,
    tenant_file,
    tenant_objects,
    with_lockdown,
)
from fleetlib.tenants.waits import wait_gone
from fleetlib.troubleshoot.operate import request_reconcile


class TenantChange:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: targets.Endpoints,
                 options: TenantsOptions, *, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.where, self.options = params, kube, hub, where, options
        self.log = StepLog(echo=echo)
        self.file = tenant_file(params.path, options.tenant)
        self.repo = FileChange(params, hub, self.log)
        self.declared: list[str] = []
        self.objects: list[dict[str, Any]] = []
        self.lockdown: list[Lockdown] = []
        self.lockdown_said = False
        self.removing_sync = False
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.revision: str | None = None
        self.fence_checks: list[dict[str, Any]] = []

    @classmethod
    def from_run(cls, run: RunContext) -> TenantChange:
        return cls(run.params, run.kube, run.hub, run.where, run.options.expect(TenantsOptions))

    def say(self, mark: str, text: str) -> None:
        self.log.say(mark, text)

    @property
    def home(self) -> str:
        """The tenant's first namespace: its service account, Git source, Kustomization and deploy key Secret."""
        return self.options.tenant_namespaces[0]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.home}:{self.options.tenant}"

    @property
    def url(self) -> str:
        return self.options.url or f"ssh://git@{self.params.hostname}/{self.params.owner}/{self.options.tenant}"

    def repo_slug(self) -> str:
        try:
            return git_repo_slug(self.url, self.params.hostname)
        except ValueError as e:
            raise InputError(f"url: {e}", hint="a tenant's source is a repository on the fleet's GitHub") from None

    def deploy_key(self) -> deploykeys.DeployKey:
        return deploykeys.DeployKey(f"{self.home}-{self.params.cluster}-{self.options.tenant}", self.repo_slug(),
                                    self.home, secret_name(self.options))

    # --- 1. plan -----------------------------------------------------------------------------------

    def plan(self) -> Plan:
        self.repo_slug()  # refused now, before any clone
        o = self.options
        checkout = self.repo.clone()
        folder = checkout.path / self.params.path
        if not (folder / "flux-system").is_dir():
            raise InputError(f"{self.params.repo_slug}@{self.params.branch} has no {self.params.path}/flux-system",
                             hint=f"bootstrap the cluster first: papermill runbooks/bootstrap.ipynb out.ipynb -p "
                                  f"cluster {self.params.cluster} -p stage {self.params.stage}")
        before = checkout.read(self.file)
        if before is not None and not before.startswith(HEADER):
            raise InputError(f"{self.file} exists and was not written by the tenants runbook",
                             hint="pick another tenant name, or move that file away first")
        self.declared = [n for n in o.tenant_namespaces if self._declares(before, n)]
        self.objects = [{**x, "apiVersion": self.kube.served_version(x["apiVersion"], x["kind"])}
                        for x in tenant_objects(o, url=self.url, declared=self.declared)]
        sync_file = f"{self.params.path.strip('/').removeprefix('./')}/flux-system/kustomization.yaml"
        self.lockdown = missing_lockdown(checkout.read(sync_file))
        if not o.remove:
            for n in o.tenant_namespaces:
                if n not in self.declared and before is None:
                    self.say("►", f"Namespace {n} exists already: the tenant is given it and does not declare it, so "
                                  f"removing the tenant leaves it and what it holds")
            taken = taken_over(self.kube, [x for x in self.objects if not _created_namespace(self.kube, x)],
                               before=before)
            if taken:
                raise InputError(f"tenant {o.tenant} on {self.params.id} is refused: " + "; ".join(taken),
                                 hint="pick another tenant name; nothing was pushed or created")
        elif before is not None:
            for n in self.declared:
                strays = [s for s in foreign_in_namespace(self.kube, n, app=o.tenant, flux_namespace=self.home)
                          if not _tenant_made(s, o.tenant)]
                if strays:
                    raise InputError(f"removing tenant {o.tenant} would delete Namespace {n}, which holds what the "
                                     f"tenant's file did not create: {', '.join(strays[:10])}"
                                     f"{f' and {len(strays) - 10} more' if len(strays) > 10 else ''}",
                                     hint="move those objects to another namespace first; nothing was pushed or "
                                          "deleted")
        after = (sync_removed(before) if before is not None else None) if o.remove else file_text(self.objects)
        self.removing_sync = o.remove and after is not None
        files = {self.file: after}
        if o.lockdown and self.lockdown and not o.remove:
            files[sync_file] = with_lockdown(checkout.read(sync_file) or "", self.lockdown, shown=sync_file)
        return self.repo.plan_files(files)

    def _declares(self, before: str | None, namespace: str) -> bool:
        """Whether the tenant's file declares (and Flux prunes) `namespace`: what an earlier run decided, else
        whether the cluster lacks it (or holds it only because this runbook created it for a pending change)."""
        existing = self.kube.get("v1", "Namespace", None, namespace) if before is None else None
        return owns_namespace(before, namespace, exists_in_cluster=existing is not None
                              and not created_by_fleetlib(existing))

    # --- 2. check ----------------------------------------------------------------------------------

    def check(self, plan: Plan) -> None:
        """Every refusal at once, before anything is pushed or created (nothing to check for a removal)."""
        if self.options.remove or not plan.changed:
            return
        missing = self._source_exists()
        if missing and self.options.apply == "none":  # a dry run shows what applying needs first
            self.say("►", missing)
            missing = None
        if self.options.lockdown and any(e.name == "--default-service-account" for e in self.lockdown):
            alone = fence.unaccounted(self.kube)
            if alone:
                missing = "; ".join(filter(None, [missing, f"the lockdown would make {', '.join(alone[:5])} act as "
                                                           f"their namespace's default service account: give them "
                                                           f"serviceAccountName first"]))
        with self.repo.trial(plan) as root:
            problems = [folder_builds(root / self.params.path, self.params.path, self.objects), missing,
                        dry_run(self.kube, [x for x in self.objects if x["kind"] == "Namespace"
                                            or x["metadata"].get("namespace") not in self.declared])]
        found = [p for p in problems if p]
        if found:
            raise InputError(f"tenant {self.options.tenant} on {self.params.id} is refused: " + "; ".join(found),
                             hint="nothing was pushed or created; fix the parameters and run again")
        self.say("✔", f"checks passed: the folder builds, {self.repo_slug()} has branch "
                      f"{self.options.tenant_branch}, the API server accepts the objects (dry run)")

    def _source_exists(self) -> str | None:
        try:
            self.hub.branch_head(self.repo_slug(), self.options.tenant_branch)
        except FleetError as e:
            return (f"the team's repository {self.repo_slug()} has no branch {self.options.tenant_branch} on "
                    f"{self.params.hostname} ({e.message}): create it and push the team's manifests first")
        return None

    # --- 3. apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> dict[str, Any]:
        o, mode = self.options, self.options.apply
        verb = "remove" if o.remove else "add"
        if not self.lockdown_said:
            say_lockdown(self.log, self.lockdown, written=o.lockdown and not o.remove)
            self.lockdown_said = True
        if not plan.changed:
            self.outcome = {"status": "up to date",
                            "detail": f"{self.file} already {'gone' if o.remove else 'holds the tenant'}"}
            self.say("✔", f"tenant {o.tenant} is up to date on {self.params.id}")
            if o.remove:
                self._forget()
            return self.outcome
        if mode == "none":
            self._show(plan)
            self.outcome = {"status": "proposed", "detail": f"apply='none': would {verb} {self.file}"}
            return self.outcome
        if not o.remove:
            self._prepare_home()  # the Secret exists before Flux sees the GitRepository (also for a PR)
        self.outcome = self.repo.send(plan, mode, branch=f"tenant/{self.params.stage}-{self.params.cluster}-"
                                                         f"{o.tenant}", title=f"{verb.title()} tenant {o.tenant} on "
                                                                              f"{self.params.id}")
        self.revision = self.outcome.get("revision")
        return self.outcome

    def _show(self, plan: Plan) -> None:
        self.repo.show(plan, self.objects)
        if plan.after is not None:
            self.say("~", self.deploy_key().would())
            self.say("~", f"then check that {self.user} may act in {', '.join(self.options.tenant_namespaces)} "
                          f"and nowhere else (SubjectAccessReview)")

    def _prepare_home(self) -> None:
        """The tenant's first namespace (created now, labelled fleetlib's, when its file will declare it: Flux
        takes it over) and its deploy key Secret in it."""
        if self.home in self.declared and self.kube.get("v1", "Namespace", None, self.home) is None:
            self.kube.apply([{"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": self.home, "labels": dict(MANAGED_BY)}}], manager="fleetlib")
        deploykeys.ensure(self.deploy_key(), self.kube, self.hub, self.log,
                          refusal_hint="pick another tenant name; nothing was pushed")

    def _forget(self) -> None:
        """After a removal (Git up to date): the deploy key goes, and the Secret when its namespace stays."""
        if self.home not in self.declared or self.kube.get("v1", "Namespace", None, self.home) is None:
            deploykeys.forget(self.deploy_key(), self.kube, self.hub)

    # --- 4. wait -----------------------------------------------------------------------------------

    def wait(self) -> None:
        """After a commit, or when Git was already up to date (the cluster may still be catching up). A removal
        goes in two commits: first the tenant's sync (GitRepository, Kustomization), waiting until the
        Kustomization is gone, which kustomize-controller lets happen only after it deleted what the team applied,
        as the team's service account; then the rest (namespaces, service account, binding). In one commit the
        service account could go first, and kustomize-controller then skips that garbage collection."""
        if self.outcome.get("status") not in ("committed", "up to date") or self.options.apply != "commit":
            return
        if self.revision is not None:
            request_reconcile(self.kube, "GitRepository", self.params.namespace, self.params.namespace)
        o = self.options
        waiting = AppWait(self.params, self.kube, self.log, "Kustomization", o.tenant, Duration.parse(o.timeout).seconds,
                          self.revision, self.repo.checkout, object_namespace=self.home)
        if not o.remove:
            wait_ready(waiting)
            return
        if not self.removing_sync:
            wait_gone(waiting, namespaces=self.declared, kept=[n for n in o.tenant_namespaces
                                                              if n not in self.declared])
            deploykeys.forget(self.deploy_key(), self.kube, self.hub)
            return
        wait_gone(waiting, namespaces=[], kept=[])
        self.apply(self.plan())  # the second commit: the file goes
        self.wait()

    # --- 5. the fence ------------------------------------------------------------------------------

    def fence(self) -> list[dict[str, Any]]:
        """The tenant's permissions, asked of the API server (tenants.fence); a hole or a missing grant is a
        ClusterError."""
        if self.options.remove or self.options.apply != "commit" or self.outcome.get("status") not in (
                "committed", "up to date"):
            return []
        ns = self.options.tenant_namespaces
        self.fence_checks, wrong = fence.review(self.kube, self.user, ns, flux_namespace=self.params.namespace)
        if wrong:
            raise ClusterError(f"tenant {self.options.tenant}'s fence on {self.params.id} is wrong: " + "; ".join(wrong),
                               hint=f"kubectl auth can-i --list --as {self.user} -n {self.home}")
        self.say("✔", f"{self.user} may act in {', '.join(ns)} and is refused in "
                      f"{fence.refused_in(self.params.namespace)} and cluster-wide ({len(self.fence_checks)} access "
                      f"reviews)")
        return self.fence_checks

    def fence_table(self) -> pd.DataFrame:
        """The access reviews the fence asked, one row each (what a person reads after the run)."""
        frame = pd.DataFrame(self.fence_checks, columns=["can", "allowed", "expected", "reason"])
        frame.attrs["empty"] = (f"tenant {self.options.tenant}: {self.outcome.get('status')}; no access reviews "
                                f"(they follow a commit)")
        return frame

    def result(self) -> dict[str, Any]:
        o = self.options
        return {"cluster": str(self.params.id), "tenant": o.tenant, "namespaces": o.tenant_namespaces,
                "namespaces_owned": self.declared, "service_account": self.user, "source": self.url,
                "action": "remove" if o.remove else "add", "file": self.file, "revision": self.revision,
                "objects": [str(Ref.of(x)) for x in self.objects],
                "lockdown_missing": [e.name for e in self.lockdown],
                "fence": self.fence_checks, **self.outcome}


def _created_namespace(kube: Kube, obj: dict[str, Any]) -> bool:
    """A Namespace this runbook created for a pending change (labelled fleetlib's): its own, not taken over."""
    return obj["kind"] == "Namespace" and created_by_fleetlib(kube.get("v1", "Namespace", None,
                                                                       obj["metadata"]["name"]))


def _tenant_made(ref: str, tenant: str) -> bool:
    """What the tenant's file put in its namespace (its ServiceAccount, RoleBinding, Git source, Kustomization, the
    deploy key's Secret): not a stray."""
    kind, _, rest = ref.partition("/")
    name = rest.rpartition("/")[2]
    return (kind, name) in {("ServiceAccount", tenant), ("RoleBinding", f"{tenant}-reconciler"),
                            ("GitRepository", tenant), ("Kustomization", tenant), ("Secret", f"{tenant}-git")}
