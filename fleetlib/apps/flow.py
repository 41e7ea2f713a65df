"""The add-app runbook's flow: plan the file change, check it, apply it as `none`, `commit` or `pr`, wait.

1. `plan`: clone the fleet repository; the app's file (`<cluster path>/apps/<app>.yaml`, see apps.manifests)
   as it is and as it should be (gone, with `remove`), and the diff. Same text: "up to date".
2. `check` (adding only): apps.checks, every refusal collected and raised before any effect.
3. `apply`: `none` shows the diff, the objects, and the GitHub calls and Secret a Git source needs; `commit`
   creates a Git source's deploy key and Secret (never in Git), then commits and pushes (again from a fresh
   clone when the branch moved); `pr` pushes a branch `app/<stage>-<cluster>-<app>` and opens a pull request.
4. `wait` (after a commit): the flux-system sync at the pushed revision, then the app Ready (failing fast on
   its condition's message), or, removing, its objects pruned; then the deploy key and Secret go.

    change = AppChange.from_run(run)
    print(change.plan().diff or "up to date")
    change.check(); change.apply(); change.wait()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetlib import deploykeys, targets
from fleetlib.apps import checks
from fleetlib.apps.manifests import HEADERS, app_file, app_objects, file_text, git_repo_slug, owns_namespace, secret_name
from fleetlib.apps.waits import AppWait, wait_pruned, wait_ready
from fleetlib.errors import InputError
from fleetlib.github import GitHub
from fleetlib.github import open_client as open_github
from fleetlib.kube import Kube
from fleetlib.kube import open_client as open_kube
from fleetlib.model import Duration
from fleetlib.objects import Ref
from fleetlib.options import AddAppOptions
from fleetlib.ownership import foreign_in_namespace, taken_over
from fleetlib.parameters import ClusterParams
from fleetlib.repochange import FileChange, Plan
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.troubleshoot.operate import request_reconcile


class AppChange:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: targets.Endpoints,
                 options: AddAppOptions, *, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.where, self.options = params, kube, hub, where, options
        self.log = StepLog(echo=echo)
        self.objects = [{**o, "apiVersion": kube.served_version(o["apiVersion"], o["kind"])}
                        for o in app_objects(options, flux_namespace=params.namespace)]  # OCIRepository: v1 on v2.6+
        self.file = app_file(params.path, options.app)
        self.repo = FileChange(params, hub, self.log)
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.revision: str | None = None

    @classmethod
    def connect(cls, params: ClusterParams, options: AddAppOptions, *, home: Path, echo: bool = True) -> AppChange:
        where = targets.resolve(params, home=home)
        return cls(params, open_kube(where), open_github(where), where, options, echo=echo)

    @classmethod
    def from_run(cls, run: RunContext) -> AppChange:
        options = run.options.expect(AddAppOptions)
        return cls(run.params, run.kube, run.hub, run.where, options)

    def _objects(self) -> list[dict[str, Any]]:
        return [{**o, "apiVersion": self.kube.served_version(o["apiVersion"], o["kind"])}  # OCIRepository: v1 on v2.6+
                for o in app_objects(self.options, flux_namespace=self.params.namespace,
                                     own_namespace=self.own_namespace)]

    def say(self, mark: str, text: str) -> None:
        self.log.say(mark, text)

    # --- what the app needs ------------------------------------------------------------------------

    def app_repo_slug(self) -> str:
        try:
            return git_repo_slug(self.options.url, self.params.hostname)
        except ValueError as e:
            raise InputError(f"url: {e}", hint="a Git source is a repository on the fleet's GitHub") from None

    @property
    def key_title(self) -> str:
        return f"{self.params.namespace}-{self.params.cluster}-{self.options.app}"

    # --- 1. plan -----------------------------------------------------------------------------------

    def plan(self) -> Plan:
        if self.options.source == "git":
            self.app_repo_slug()  # refused now, before any clone
        checkout = self.repo.clone()
        folder = checkout.path / self.params.path
        if not (folder / "flux-system").is_dir():
            raise InputError(f"{self.params.repo_slug}@{self.params.branch} has no {self.params.path}/flux-system",
                             hint=f"bootstrap the cluster first: papermill runbooks/bootstrap.ipynb out.ipynb -p "
                                  f"cluster {self.params.cluster} -p stage {self.params.stage}")
        o, namespace = self.options, self.options.namespace_of_app
        before = checkout.read(self.file)
        if before is not None and not before.startswith(HEADERS):
            raise InputError(f"{self.file} exists and was not written by the add-app runbook",
                             hint="pick another app name, or move that file away first")
        self.own_namespace = owns_namespace(before, namespace, exists_in_cluster=self.kube.get(
            "v1", "Namespace", None, namespace) is not None)
        self.objects = self._objects()
        if not o.remove:
            if not self.own_namespace and before is None:
                self.say("►", f"Namespace {namespace} exists already: the app uses it and does not declare it, so "
                              f"removing the app leaves it and what it holds")
            taken = taken_over(self.kube, self.objects, before=before)
            if taken:
                raise InputError(f"app {o.app} on {self.params.id} is refused: " + "; ".join(taken),
                                 hint="pick another app name; nothing was pushed or created")
        elif self.own_namespace and before is not None:
            strays = foreign_in_namespace(self.kube, namespace, app=o.app, flux_namespace=self.params.namespace)
            if strays:
                raise InputError(f"removing app {o.app} would delete Namespace {namespace}, which holds what the app "
                                 f"did not create: {', '.join(strays[:10])}"
                                 f"{f' and {len(strays) - 10} more' if len(strays) > 10 else ''}",
                                 hint="move those objects to another namespace first; nothing was pushed or deleted")
        return self.repo.plan(self.file, None if o.remove else file_text(self.objects))

    # --- 2. check ----------------------------------------------------------------------------------

    def check(self, plan: Plan) -> None:
        """Every refusal at once, before anything is pushed or created (nothing to check for a removal)."""
        if self.options.remove or not plan.changed:
            return
        o, kube, ns = self.options, self.kube, self.params.namespace
        with self.repo.trial(plan) as root:
            problems = [checks.folder_builds(root / self.params.path, self.params.path, self.objects),
                        checks.source_exists(o, proxy=self.where.http_proxy, hub=self.hub,
                                             repo_slug=self.app_repo_slug() if o.source == "git" else None),
                        checks.dependencies_exist(o, kube, ns), checks.dependency_cycle(o, kube, ns),
                        checks.dry_run(kube, self.objects)]
        found = [p for p in problems if p]
        if found:
            raise InputError(f"app {self.options.app} on {self.params.id} is refused: " + "; ".join(found),
                             hint="nothing was pushed or created; fix the parameters and run again")
        self.say("✔", "checks passed: the folder builds, the source has what it names, the dependencies exist, "
                      "the API server accepts every object (dry run)")

    # --- 3. apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> dict[str, Any]:
        mode, o = self.options.apply, self.options
        verb = "remove" if o.remove else "add"
        if not plan.changed:
            self.outcome = {"status": "up to date", "detail": f"{self.file} already {'gone' if o.remove else 'holds it'}"}
            self.say("✔", f"app {o.app} is up to date on {self.params.id}")
            if o.remove:
                self._forget_deploy_key()
            return self.outcome
        if mode == "none":
            self._show(plan)
            self.outcome = {"status": "proposed", "detail": f"apply='none': would {verb} {self.file}"}
            return self.outcome
        if o.source == "git" and not o.remove:
            self._ensure_deploy_key()  # the Secret exists before Flux sees the GitRepository (also for a PR)
        self.outcome = self.repo.send(plan, mode, branch=f"app/{self.params.stage}-{self.params.cluster}-{o.app}",
                                      title=f"{verb.title()} app {o.app} on {self.params.id}")
        self.revision = self.outcome.get("revision")
        return self.outcome

    def _show(self, plan: Plan) -> None:
        self.repo.show(plan, self.objects)
        if plan.after is not None and self.options.source == "git":
            self.say("~", self.deploy_key().would())

    # --- a Git source's deploy key, in the cluster only ---------------------------------------------

    def deploy_key(self) -> deploykeys.DeployKey:
        return deploykeys.DeployKey(self.key_title, self.app_repo_slug(), self.params.namespace,
                                    secret_name(self.options))

    def _ensure_deploy_key(self) -> None:
        deploykeys.ensure(self.deploy_key(), self.kube, self.hub, self.log,
                          refusal_hint="pick another app name; nothing was pushed or created")

    def _forget_deploy_key(self) -> None:
        """After a removal: the app's deploy key and Secret go too (no orphaned key)."""
        if self.options.source == "git":
            deploykeys.forget(self.deploy_key(), self.kube, self.hub)

    # --- 4. wait -----------------------------------------------------------------------------------

    def wait(self) -> None:
        """After a commit, or when Git was already up to date (the cluster may still be catching up)."""
        if self.outcome.get("status") not in ("committed", "up to date") or self.options.apply != "commit":
            return
        if self.revision is not None:
            ns = self.params.namespace
            request_reconcile(self.kube, "GitRepository", ns, ns)
        o = self.options
        waiting = AppWait(self.params, self.kube, self.log, "Kustomization" if o.source == "git" else "HelmRelease",
                          o.app, Duration.parse(o.timeout).seconds, self.revision, self.repo.checkout,
                          namespace=o.namespace_of_app if self.own_namespace else None,
                          stays=None if self.own_namespace else o.namespace_of_app)
        if o.remove:
            wait_pruned(waiting)
            self._forget_deploy_key()
        else:
            wait_ready(waiting)

    def result(self) -> dict[str, Any]:
        o = self.options
        return {"cluster": str(self.params.id), "app": o.app, "namespace": o.namespace_of_app,
                "namespace_owned": self.own_namespace, "source": o.source,
                "action": "remove" if o.remove else "add", "file": self.file, "revision": self.revision,
                "objects": [str(Ref.of(x)) for x in self.objects], **self.outcome}
