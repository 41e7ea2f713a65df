"""The upgrade runbook's flow: Flux on a cluster from its release to a later one, through Git, one step at a time.

1. `plan`: the cluster's release (the `# Flux Version` header of its gotk-components.yaml), the steps (`via`, then
   `to_version`), each step's install manifests (where the target serves releases: github.com for live, the
   stand-ins' copies), and the inventory: the Flux objects of the cluster's folder at a version the target does not
   store (`deprecated in v2.9.2`, `removed in v2.9.2`), and the cluster's storage (each Flux CRD's storedVersions,
   objects carrying managedFields of another version). The first step's change: gotk-components.yaml for the new
   release (as bootstrap writes it, the cluster's options kept), gotk-sync.yaml where its text changed, and every
   file of the folder whose Flux objects move to the step's storage versions (upgrade.apis.migrate_text).
2. `preflight`, for every step before anything is pushed: Kubernetes at least the release's minimum (as `flux check
   --pre`), the controllers available, and no stored version the step's CRDs would drop (Kubernetes refuses that
   CRD update): the runbook names the release to go through (`-p via '[v2.6.4]'`).
3. `apply`: `none` shows the inventory and the change; `commit` takes each step: commit, wait until the
   flux-system Kustomization applied it and every controller runs the release's image, migrate the storage (as
   `flux migrate`: upgrade.storage), then wait until every Flux object is Ready at its generation; `pr` opens a
   pull request for the first step (run again after merging it for the next).
4. `rollback`: what undoes each step, recorded: revert its commit; not below a release whose CRDs do not serve
   what is now stored.

    change = UpgradeChange.from_run(run)
    plan = change.plan(); change.preflight(); change.apply(plan)
"""

from __future__ import annotations

import difflib
from typing import Any

import pandas as pd

from fleetlib import targets
from fleetlib.apps.waits import AppWait, synced
from fleetlib.errors import InputError
from fleetlib.fleetrepo import COMPONENTS_FILE, FLUX_SYSTEM_DIR, SYNC_FILE, parse_components_header
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.locations import fleet_home
from fleetlib.manifests import components_yaml, sync_yaml
from fleetlib.model import Duration
from fleetlib.objects import status_of
from fleetlib.options import UpgradeOptions
from fleetlib.parameters import ClusterParams
from fleetlib.promote.compare import folder_files
from fleetlib.releases import install_manifests
from fleetlib.repochange import FileChange, Plan
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.troubleshoot.operate import request_reconcile
from fleetlib.upgrade import storage
from fleetlib.upgrade.apis import STEPS, KindApis, blocked, git_rows, migrate_text, minimum_kubernetes, release_apis
from fleetlib.upgrade.waits import all_ready, controllers_at


class UpgradeChange:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: targets.Endpoints,
                 options: UpgradeOptions, *, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.where, self.options = params, kube, hub, where, options
        self.log = StepLog(echo=echo)
        self.repo = FileChange(params, hub, self.log)
        self.current: str | None = None
        self.steps: list[str] = []
        self.releases: dict[str, str] = {}
        self.apis: dict[str, dict[tuple[str, str], KindApis]] = {}
        self.git: list[dict[str, str]] = []
        self.stored: list[dict[str, Any]] = []
        self.done: list[dict[str, Any]] = []
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.refusals: list[str] = []

    @classmethod
    def from_run(cls, run: RunContext) -> UpgradeChange:
        return cls(run.params, run.kube, run.hub, run.where, run.options.expect(UpgradeOptions))

    def say(self, mark: str, text: str) -> None:
        self.log.say(mark, text)

    @property
    def folder(self) -> str:
        return self.params.path.strip("/").removeprefix("./")

    def _file(self, name: str) -> str:
        return f"{self.folder}/{FLUX_SYSTEM_DIR}/{name}"

    # --- 1. plan -----------------------------------------------------------------------------------

    def plan(self) -> Plan | None:
        """The first step's change (None: the cluster runs the target release already)."""
        checkout = self.repo.clone()
        header = parse_components_header(checkout.read(self._file(COMPONENTS_FILE)) or "")
        if header is None:
            raise InputError(f"{self.params.repo_slug}@{self.params.branch} has no {self._file(COMPONENTS_FILE)} "
                             f"written by flux bootstrap", hint="bootstrap the cluster first: papermill "
                             f"runbooks/bootstrap.ipynb out.ipynb -p cluster {self.params.cluster}")
        self.current = header.version
        o = self.options
        if release_key(self.current) >= release_key(o.to_version):
            if self.current == o.to_version:
                self.say("✔", f"{self.params.id} runs Flux {self.current}: up to date")
                self.outcome = {"status": "up to date", "detail": f"Flux {self.current}"}
                self.steps = []
                self._inventory(o.to_version)
                return None
            raise InputError(f"{self.params.id} runs Flux {self.current}, later than {o.to_version}",
                             hint="this runbook upgrades; to go back, revert the upgrade's commits (its record says "
                                  "which)")
        self.steps = [v for v in o.via if release_key(v) > release_key(self.current)] + [o.to_version]
        for version in self.steps:
            self.releases[version] = install_manifests(self.where.release(version), home=fleet_home(),
                                                       say=lambda t: self.say("►", t))
            self.apis[version] = release_apis(self.releases[version])
        self._inventory(o.to_version)
        return self._step_plan(self.steps[0])

    def _inventory(self, version: str) -> None:
        if version not in self.apis:
            self.apis[version] = release_apis(install_manifests(self.where.release(version), home=fleet_home()))
        assert self.repo.checkout is not None
        self.git = git_rows(folder_files(self.repo.checkout.path, self.folder), self.apis[version], version)
        self.stored = storage.inventory(self.kube, self.apis[version], version)

    def _step_plan(self, version: str) -> Plan:
        checkout = self.repo.clone()
        params = self.params.model_copy(update={"version": version})
        files: dict[str, str | None] = {self._file(COMPONENTS_FILE): components_yaml(self.releases[version], params)}
        sync = sync_yaml(params)
        if checkout.read(self._file(SYNC_FILE)) != sync:
            files[self._file(SYNC_FILE)] = sync
        for rel, text in folder_files(checkout.path, self.folder).items():
            moved = migrate_text(text, self.apis[version])
            if moved != text:
                files[f"{self.folder}/{rel}"] = moved
        return self.repo.plan_files(files)

    def git_table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.git, columns=["file", "object", "version", "to", "state"])
        frame.attrs["empty"] = f"every Flux object in {self.folder} is at {self.options.to_version}'s versions"
        return frame

    def storage_table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.stored, columns=["kind", "storage", "stored", "objects", "old managedFields",
                                                   "written by", "state"])
        frame.attrs["empty"] = "every Flux object is stored at its CRD's storage version, and only there"
        return frame

    # --- 2. preflight ------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Every refusal at once, for every step, before anything is pushed."""
        if not self.steps:
            return
        problems = []
        server = release_key(self.kube.version())
        for version in self.steps:
            least = minimum_kubernetes(version)
            if least is not None and server[:2] < least:
                problems.append(f"Flux {version} needs Kubernetes >={least[0]}.{least[1]}.0-0; the cluster runs "
                                f"{self.kube.version()}")
        problems += self._unavailable()
        now = storage.storage_now(self.kube)
        for version in self.steps:
            dropped = blocked(now, self.apis[version])
            if dropped:
                group, kind, stored = dropped[0]
                step = STEPS.get((group, kind, stored))
                problems.append(
                    f"{', '.join(f'{k} {v}' for _, k, v in dropped)} stays stored, and Flux {version}'s CRDs do not "
                    f"serve it: Kubernetes refuses them (status.storedVersions[0]: Invalid value: \"{stored}\": must "
                    f"appear in spec.versions). Go through a release that serves it and stores what {version} serves"
                    + (f": -y 'via: [{step}]'" if step else ""))
                break
            now = {k: self.apis[version][k].storage for k in now if k in self.apis[version]}
        self.refusals = problems
        if problems and self.options.apply != "none":
            raise InputError(f"upgrading {self.params.id} from Flux {self.current} to {self.options.to_version} is "
                             f"refused: " + "; ".join(problems), hint="nothing was pushed")
        for problem in problems:  # a dry run shows what applying would refuse
            self.say("✗", problem)
        if problems:
            return
        self.say("✔", f"preflight passed: Kubernetes {self.kube.version()}, controllers available, every stored "
                      f"version served along {' -> '.join([str(self.current), *self.steps])}")

    def _unavailable(self) -> list[str]:
        out = []
        for name in self.params.all_components:
            deployment = self.kube.get("apps/v1", "Deployment", self.params.namespace, name)
            status = status_of(deployment)
            if deployment is None or not status.get("availableReplicas"):
                out.append(f"controller {name} is not available in {self.params.namespace}")
        return out

    # --- 3. apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan | None) -> dict[str, Any]:
        if plan is None:
            return self.outcome
        mode = self.options.apply
        if mode == "none":
            self._show(plan, self.steps[0])
            later = self.steps[1:]
            self.say("~", f"then: wait until the controllers run {self.steps[0]}, migrate the stored objects (as flux "
                          f"migrate), wait until every Flux object is Ready" +
                          (f"; then the same for {', '.join(later)}" if later else ""))
            self.outcome = {"status": "refused" if self.refusals else "proposed",
                            "detail": "; ".join(self.refusals) or f"apply='none': would upgrade {self.current} -> "
                                                                  f"{' -> '.join(self.steps)}"}
            return self.outcome
        if mode == "pr":
            self.outcome = self.repo.send(plan, "pr", branch=f"upgrade/{self.params.stage}-{self.params.cluster}-"
                                                             f"{self.steps[0]}", title=self._title(self.steps[0]))
            if self.steps[1:]:
                self.say("►", f"after merging it, run again for {', '.join(self.steps[1:])}")
            return self.outcome
        for i, version in enumerate(self.steps):
            step_plan = plan if i == 0 else self._next_plan(version)
            sent = self.repo.send(step_plan, "commit", branch="", title=self._title(version))
            self._settle(version, sent.get("revision"))
            self.done.append({"version": version, "commit": sent.get("commit"), "status": sent.get("status")})
        self.outcome = {"status": "upgraded", "detail": f"Flux {self.current} -> {' -> '.join(self.steps)}",
                        "commits": [d["commit"] for d in self.done if d["commit"]]}
        self._inventory(self.options.to_version)
        return self.outcome

    def _next_plan(self, version: str) -> Plan:
        self.repo = FileChange(self.params, self.hub, self.log)  # a fresh clone: the previous step's commit in it
        return self._step_plan(version)

    def _title(self, version: str) -> str:
        return f"Upgrade Flux on {self.params.id} to {version}"

    def _show(self, plan: Plan, version: str) -> None:
        for edit in plan.edits:
            if not edit.changed:
                continue
            if edit.path.endswith(COMPONENTS_FILE):
                lines = list(difflib.unified_diff((edit.before or "").splitlines(), (edit.after or "").splitlines(),
                                                  lineterm=""))
                self.say("~", f"would write {edit.path}: Flux {self.current} -> {version} "
                              f"(+{sum(x.startswith('+') for x in lines[2:])} -{sum(x.startswith('-') for x in lines[2:])} "
                              f"lines)")
            elif self.log.echo:
                self.say("~", f"would write {edit.path}:")
                print("".join(difflib.unified_diff((edit.before or "").splitlines(keepends=True),
                                                   (edit.after or "").splitlines(keepends=True),
                                                   f"a/{edit.path}", f"b/{edit.path}")))

    # --- waits -------------------------------------------------------------------------------------

    def _settle(self, version: str, revision: str | None) -> None:
        """After a step's commit: applied, the controllers at the release, the storage migrated, all Ready."""
        timeout = Duration.parse(self.options.timeout).seconds
        ns = self.params.namespace
        if revision is not None:
            request_reconcile(self.kube, "GitRepository", ns, ns)
            synced(AppWait(self.params, self.kube, self.log, "Kustomization", ns, timeout, revision,
                           self.repo.checkout))
        controllers_at(self.params, self.kube, self.log, self.releases[version], version, timeout)
        self.kube.rediscover()
        written = storage.migrate(self.kube, say=lambda t: self.say("✔", t))
        self.say("✔", f"{written} Flux objects written back at their storage versions (as flux migrate)")
        all_ready(self.kube, self.log, timeout)

    # --- 4. rollback and the record ----------------------------------------------------------------

    def rollback(self) -> list[str]:
        """What undoes the upgrade, newest step first."""
        notes = [f"git revert {d['commit'][:12]}  # back to the release before {d['version']}"
                 for d in reversed(self.done) if d.get("commit")]
        if self.done and self.current is not None:
            try:
                before = release_apis(install_manifests(self.where.release(self.current), home=fleet_home()))
            except Exception:  # noqa: BLE001 - a note, not a step: say what cannot be known
                before = {}
            dropped = blocked(storage.storage_now(self.kube), before) if before else []
            if dropped:
                notes.append(f"not back to {self.current}: its CRDs do not serve "
                             f"{', '.join(f'{k} {v}' for _, k, v in dropped)}, which is stored now (Kubernetes "
                             f"refuses them); stop at the first step instead")
        return notes

    def result(self) -> dict[str, Any]:
        return {"cluster": str(self.params.id), "from": self.current, "to": self.options.to_version,
                "steps": self.steps, "git": self.git, "storage": self.stored, "preflight": self.refusals,
                "done": self.done,
                "rollback": self.rollback(), **self.outcome}


def release_key(version: str) -> tuple[int, ...]:
    """`v2.9.2` (or a Kubernetes `v1.34.4+k3s1`) as (2, 9, 2), to compare; InputError for anything else."""
    try:
        return tuple(int(x) for x in version.lstrip("v").split("+")[0].split("-")[0].split("."))
    except ValueError:
        raise InputError(f"{version!r} is not a release such as v2.9.2") from None
