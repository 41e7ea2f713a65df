"""The promote runbook's flow: compare a cluster's folder across two stages, show what promoting chosen files
would do to the second stage's cluster, then promote them as a commit or a pull request.

1. `plan`: clone the fleet repository (each stage's, when they differ); every file of the cluster's folder in
   both stages (promote.compare: `agree`, `differ`, `only in <stage>`), the objects each folder gives its cluster
   with that cluster's post-build substitutions (promote.render.build), and for the chosen apps and paths what
   the second stage would hold (each stage keeps its own values), as one change of files.
2. `effect`: the second stage's folder built before and after the change, and what applying the objects that
   change would do on its cluster: a server-side dry run compared with the live objects (created, drifted with
   a diff, deleted), as `flux diff kustomization` says it. Nothing is pushed.
3. `check`: every refusal at once: the second stage's cluster not bootstrapped, the changed folder not building,
   the API server refusing an object.
4. `apply`: `none` shows the change; `commit` pushes it to the second stage's branch; `pr` pushes a branch
   `promote/<from>-to-<to>-<cluster>` and opens (or updates) a pull request whose body holds the diff.
5. `wait` (after a commit): the second stage's flux-system sync at the pushed revision, then every Flux
   Kustomization and HelmRelease the change adds or changes Ready at its generation (failing fast with the
   condition's message); then the stages are compared again: "stages agree for app hello".

    change = PromoteChange.from_run(run)
    plan = change.plan(); change.effect(plan); change.check(plan); change.apply(plan); change.wait()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fleetlib import targets
from fleetlib.apps.waits import AppWait, synced, wait_ready
from fleetlib.errors import FleetError, InputError
from fleetlib.git import Checkout
from fleetlib.github import GitHub
from fleetlib.github import open_client as open_github
from fleetlib.kube import Kube
from fleetlib.kube import open_client as open_kube
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.model import Duration
from fleetlib.objects import Ref
from fleetlib.options import SOURCE, PromoteOptions
from fleetlib.parameters import Catalog, ClusterParams, Layer, merge_and_validate
from fleetlib.promote.charts import release_changes
from fleetlib.promote.compare import Item, chosen, compare, folder_files
from fleetlib.promote.render import Built, Change, build, changed, cluster_diff
from fleetlib.repochange import FileChange, Plan
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.troubleshoot.operate import request_reconcile

FLUX_WORKLOADS = ("Kustomization", "HelmRelease")


class Stage:
    """One side of the promotion: a cluster's parameters, its clients, and its folder in a checkout."""

    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, where: targets.Endpoints) -> None:
        self.params, self.kube, self.hub, self.where = params, kube, hub, where
        self.checkout: Checkout | None = None

    @property
    def path(self) -> str:
        return self.params.path.strip("/").removeprefix("./")

    @property
    def name(self) -> str:
        return self.params.stage

    def folder(self) -> Path:
        return self.checkout_path() / self.path

    def built(self, root: Path | None = None) -> Built:
        folder = (root or self.checkout_path()) / self.path
        return build(folder, self.path, kube=self.kube, namespace=self.params.namespace)

    def checkout_path(self) -> Path:
        assert self.checkout is not None
        return self.checkout.path


class PromoteChange:
    def __init__(self, source: Stage, target: Stage | None, options: PromoteOptions, *, echo: bool = True) -> None:
        self.source, self.target, self.options = source, target, options
        self.log = StepLog(echo=echo)
        self.repo = FileChange(target.params, target.hub, self.log) if target else None
        self.items: list[Item] = []
        self.picked: list[Item] = []
        self.objects: pd.DataFrame = pd.DataFrame()
        self.changes: list[Change] = []
        self.touched: list[dict[str, Any]] = []
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.revision: str | None = None

    @classmethod
    def from_run(cls, run: RunContext) -> PromoteChange:
        o = run.options.expect(PromoteOptions)
        source = Stage(run.params, run.kube, run.hub, run.where)
        catalog = Catalog.load(fleet_root())
        try:
            cid = catalog.find(o.target_cluster, stage=o.to_stage)
        except InputError:
            return cls(source, None, o)
        overrides = {k: v for k, v in o.override_values().items() if k in ("target", "branch")}
        params = merge_and_validate(cid, [*catalog.layers(cid), Layer(SOURCE, overrides)])
        where = targets.resolve(params, home=fleet_home())
        return cls(source, Stage(params, open_kube(where), open_github(where), where), o)

    def say(self, mark: str, text: str) -> None:
        self.log.say(mark, text)

    @property
    def what(self) -> str:
        """The promoted things, as a person names them: `app hello`, `apps/web.yaml`."""
        o = self.options
        return ", ".join([*(f"app {a}" for a in o.apps), *o.paths]) or "nothing chosen"

    @property
    def direction(self) -> str:
        t = self.target
        return f"{self.source.params.id} to {t.params.id if t else f'{self.options.to_stage}/{self.options.target_cluster}'}"

    # --- 1. plan -----------------------------------------------------------------------------------

    def plan(self, *, strict: bool = True) -> Plan | None:
        """The change promoting the chosen files (None: nothing chosen, or no cluster to promote to). A name
        neither stage has is refused (`strict`), or after a promotion that removed it, agreed on."""
        if self.target is None or self.repo is None:
            self.say("►", f"{self.options.to_stage} has no cluster {self.options.target_cluster}: "
                          f"{self.source.params.id} has nothing to be compared with")
            self.outcome = {"status": "no counterpart"}
            return None
        s, t = self.source, self.target
        t.checkout = self.repo.clone()
        same_repo = (s.params.repo_slug, s.params.branch, s.params.hostname) == \
            (t.params.repo_slug, t.params.branch, t.params.hostname)
        s.checkout = t.checkout if same_repo else s.hub.clone()
        self.items = compare(folder_files(s.checkout_path(), s.path), folder_files(t.checkout_path(), t.path),
                             from_path=s.path, to_path=t.path, stages=(s.name, t.name))
        o = self.options
        self.picked = chosen(self.items, apps=o.apps, paths=o.paths, strict=strict) if (o.apps or o.paths) else []
        self.objects = self._objects()
        if not self.picked:
            return None
        return self.repo.plan_files({f"{t.path}/{i.path}": i.carried for i in self.picked})

    def _objects(self) -> pd.DataFrame:
        """Each object either folder gives its cluster, with that cluster's substitutions: in which stage it is,
        and whether the two agree."""
        assert self.target is not None
        rows = []
        try:
            before, after = self.source.built(), self.target.built()
        except FleetError as e:
            self.say("✗", f"the folders do not build: {e.message}")
            return pd.DataFrame(columns=["object", "state"])
        for note in {*before.notes, *after.notes}:
            self.say("►", note)
        s, t = self.source.name, self.target.name
        for ref in sorted(set(before.objects) | set(after.objects)):
            a, b = before.objects.get(ref), after.objects.get(ref)
            rows.append({"object": ref, "state": "agree" if a == b else f"only in {s}" if b is None else
                         f"only in {t}" if a is None else "differ"})
        return pd.DataFrame(rows, columns=["object", "state"])

    def files(self) -> pd.DataFrame:
        """Every file of the cluster's folder in both stages, and whether they agree (what a person reads first)."""
        s, t = self.source.name, self.options.to_stage
        frame = pd.DataFrame([{"file": i.path, "state": i.state(s, t), "chosen": i in self.picked}
                              for i in self.items], columns=["file", "state", "chosen"])
        frame.attrs["empty"] = f"neither {s} nor {t} has files in the cluster's folder besides flux-system"
        return frame

    # --- 2. the effect on the second stage's cluster -----------------------------------------------

    def effect(self, plan: Plan | None) -> list[Change]:
        """What the change would do on the second stage's cluster (nothing is pushed)."""
        if plan is None or self.target is None or self.repo is None:
            return []
        if not plan.changed:
            self.say("✔", f"stages agree for {self.what}: {self.direction} is up to date")
            return []
        t = self.target
        try:
            before = t.built()
            with self.repo.trial(plan) as root:
                after = t.built(root)
        except FleetError as e:
            self.changes = [Change(t.path, "refused", e.message)]
            self.say("✗", f"{t.path} would not build: {e.message}")
            return self.changes
        new, gone = changed(before, after)
        self.touched = new
        self.changes = cluster_diff(t.kube, new, gone=gone, namespace=t.params.namespace)
        for hr in (o for o in new if o.get("kind") == "HelmRelease"):
            rendered, notes = release_changes(t.kube, t.where, hr, after.objects)
            self.changes += rendered
            for note in notes:
                self.say("►", note)
        for c in self.changes:
            self.say("►", f"{c.ref} {c.action}" + (f": {c.diff}" if c.action == "refused" else ""))
            if c.diff and c.action in ("created", "drifted") and self.log.echo:
                print(c.diff)
        if not self.changes:
            self.say("✔", f"cluster {t.params.id} would not change (its objects already match)")
        return self.changes

    # --- 3. check ----------------------------------------------------------------------------------

    def check(self, plan: Plan | None) -> None:
        """Every refusal at once, before anything is pushed."""
        if plan is None or not plan.changed or self.target is None:
            return
        t = self.target
        problems = []
        if not (t.folder() / "flux-system").is_dir():
            problems.append(f"{t.params.repo_slug}@{t.params.branch} has no {t.path}/flux-system: bootstrap "
                            f"{t.params.id} first")
        problems += [f"{c.ref}: {c.diff}" for c in self.changes if c.action == "refused"]
        if problems and self.options.apply != "none":
            raise InputError(f"promoting {self.what} from {self.direction} is refused: " + "; ".join(problems),
                             hint="nothing was pushed; fix the first stage's files and run again")
        for p in problems:
            self.say("►", p)
        if not problems:
            self.say("✔", f"checks passed: {t.path} builds with the change and the API server of {t.params.id} "
                          f"accepts every changed object (dry run)")

    # --- 4. apply ----------------------------------------------------------------------------------

    def apply(self, plan: Plan | None) -> dict[str, Any]:
        o = self.options
        if plan is None:
            if self.target is not None:
                self.outcome = {"status": "compared", "detail": "no apps or paths chosen"}
            return self.outcome
        if not plan.changed:
            self.outcome = {"status": "up to date", "detail": f"stages agree for {self.what}"}
            return self.outcome
        assert self.target is not None and self.repo is not None
        if o.apply == "none":
            self.say("~", f"would commit to {self.target.params.repo_slug}@{self.target.params.branch}:")
            if self.log.echo:
                print(plan.diff)
            self.outcome = {"status": "proposed", "detail": f"apply='none': would promote {self.what}"}
            return self.outcome
        title = f"Promote {self.what} from {self.direction}"
        self.outcome = self.repo.send(plan, o.apply, title=title, branch=f"promote/{self.source.name}-to-"
                                                                         f"{self.target.name}-{self.target.params.cluster}")
        self.revision = self.outcome.get("revision")
        return self.outcome

    # --- 5. wait -----------------------------------------------------------------------------------

    def wait(self) -> None:
        """After a commit: the second stage's cluster applies it, what it changed is Ready, the stages agree."""
        if self.options.apply != "commit" or self.outcome.get("status") != "committed" or self.target is None:
            return
        t = self.target
        request_reconcile(t.kube, "GitRepository", t.params.namespace, t.params.namespace)
        timeout = Duration.parse(self.options.timeout).seconds
        synced(AppWait(t.params, t.kube, self.log, "Kustomization", t.params.namespace, timeout, self.revision,
                       self.repo.checkout if self.repo else None))
        for obj in self.touched:
            if obj.get("kind") in FLUX_WORKLOADS:
                ref = Ref.of(obj)
                wait_ready(AppWait(t.params, t.kube, self.log, ref.kind, ref.name, timeout, None, None,
                                   object_namespace=ref.namespace))
        self.repo = FileChange(t.params, t.hub, self.log)
        again = self.plan(strict=False)
        if again is None or not again.changed:
            self.say("✔", f"stages agree for {self.what}: {self.direction}")
        else:
            raise FleetError(f"after the commit the stages still differ for {self.what}",
                             hint="someone changed the branch meanwhile; run the runbook again")

    def changes_table(self) -> pd.DataFrame:
        frame = pd.DataFrame([{"object": c.ref, "would be": c.action} for c in self.changes],
                             columns=["object", "would be"])
        frame.attrs["empty"] = ("no object of the second stage's cluster would change" if self.picked else
                                "name apps or paths (-p apps, -p paths) to see what promoting them would do")
        return frame

    def result(self) -> dict[str, Any]:
        t = self.target
        return {"cluster": str(self.source.params.id), "from": self.source.name, "to": self.options.to_stage,
                "to_cluster": str(t.params.id) if t else None, "chosen": [i.path for i in self.picked],
                "what": self.what, "files": [{"file": i.path, "state": i.state(self.source.name, self.options.to_stage)}
                                             for i in self.items],
                "objects": self.objects.to_dict("records"),
                "changes": [{"object": c.ref, "action": c.action} for c in self.changes],
                "revision": self.revision, **self.outcome}

