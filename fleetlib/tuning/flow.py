"""The tuning run's flow, step by step; what it computes lives beside it (usage, proposal, publish, present).

    tuning = Tuning.from_run(run)
    tuning.gather()
    tuning.recommendations()
    tuning.apply(tuning.proposal())
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from fleetlib.errors import ClusterError
from fleetlib.fleetrepo import FLUX_SYSTEM_DIR, KUSTOMIZATION_FILE, normalise_path
from fleetlib.git import Checkout
from fleetlib.github import GitHub
from fleetlib.kube import Kube
from fleetlib.kubectl import kustomize
from fleetlib.locations import fleet_home
from fleetlib.manifests import parse_release
from fleetlib.metrics import ControllerUsage, FluxLoad, UsageSource
from fleetlib.objects import containers, spec_of
from fleetlib.options import TuneResourcesOptions
from fleetlib.parameters import ClusterParams
from fleetlib.runcontext import RunContext
from fleetlib.steplog import StepLog
from fleetlib.tuning import present, publish
from fleetlib.tuning import proposal as change
from fleetlib.tuning.options import settings_of
from fleetlib.tuning.proposal import Proposal
from fleetlib.tuning.strategies import (
    STRATEGIES,
    ContainerState,
    FlagSuggestion,
    Recommendation,
    drift,
    recommendation_rows,
    states,
    suggest_flags,
)
from fleetlib.tuning.usage import samples, to_usage, usage_source


class Tuning:
    """Right-size one cluster's Flux controllers: gather, recommend, propose, apply."""

    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, options: TuneResourcesOptions, *,
                 home: Path | None = None, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.options = params, kube, hub, options
        self.settings = settings_of(options)
        self.home = home or fleet_home()
        self.log = StepLog(echo=echo)
        self.say = self.log.say  # the one way fleetlib's flows print their lines (fleetlib.steplog)
        self.controllers = list(params.all_components)
        self.usage: dict[str, ControllerUsage] = {}
        self.load: dict[str, FluxLoad] = {}
        self.live: dict[str, ContainerState] = {}
        self.repo: dict[str, ContainerState] = {}
        self.container_index: dict[str, int] = {}
        self.results: dict[str, Recommendation] = {}
        self.checkout: Checkout | None = None
        self.kustomization_text = ""
        self.source_name = ""
        self.outcome: dict[str, Any] = {"status": "not applied"}
        self.file = f"{normalise_path(params.path)}/{FLUX_SYSTEM_DIR}/{KUSTOMIZATION_FILE}".removeprefix("./")

    @classmethod
    def from_run(cls, run: RunContext) -> Tuning:
        options = run.options.expect(TuneResourcesOptions)
        return cls(run.params, run.kube, run.hub, options)

    # --- 1. gather --------------------------------------------------------------------------------

    def source(self) -> UsageSource:
        return usage_source(self.params, self.kube, self.options, home=self.home)

    def gather(self) -> None:
        ns = self.params.namespace
        self._refuse_unbootstrapped()
        source = self.source()
        self.source_name = source.name
        started = time.monotonic()
        self.usage = source.usage(ns, self.controllers)
        self.load = source.flux_load(ns, self.controllers)
        self.say("✔", f"usage of {len(self.controllers)} controllers from {source.name} "
                      f"({sum(samples(u) for u in self.usage.values()):,} CPU samples, {time.monotonic() - started:.1f} s)")
        self.live = states(self.kube.list("apps/v1", "Deployment", ns), self.controllers)
        self._read_repository(self.hub.clone())
        self.results = {c: STRATEGIES[self.options.strategy](to_usage(u), self.settings) for c, u in self.usage.items()}

    def _refuse_unbootstrapped(self) -> None:
        """Tuning needs Flux's controllers: a cluster without them was never bootstrapped, and that is what we say."""
        p = self.params
        found = {d["metadata"]["name"] for d in self.kube.list("apps/v1", "Deployment", p.namespace)}
        if not found & set(self.controllers):
            raise ClusterError(f"{p.id} was never bootstrapped: no Flux controller runs in namespace {p.namespace}, "
                               "so there is nothing to tune",
                               hint=f"bootstrap it first: `papermill runbooks/bootstrap.ipynb out.ipynb -p cluster "
                                    f"{p.cluster} -p stage {p.stage}`")

    def _read_repository(self, checkout: Checkout) -> None:
        self.checkout = checkout
        text = checkout.read(self.file)
        if text is None:
            raise ClusterError(f"{self.params.repo_slug}@{self.params.branch}: {self.file} does not exist",
                               hint="bootstrap the cluster first (runbooks/bootstrap.ipynb)")
        self.kustomization_text = text
        built = self._build()
        self.repo = states(built, self.controllers)
        for obj in built:
            if obj.get("kind") == "Deployment" and obj["metadata"]["name"] in self.controllers:
                names = [c.get("name") for c in containers(spec_of(spec_of(obj).get("template")))]
                self.container_index[obj["metadata"]["name"]] = names.index("manager") if "manager" in names else 0

    def _build(self) -> list[dict[str, Any]]:
        assert self.checkout is not None
        return parse_release(kustomize((self.checkout.path / self.file).parent))

    def current(self) -> dict[str, ContainerState]:
        """What the recommendation is compared with: the repository's values (the change goes there)."""
        return {c: self.repo.get(c) or self.live.get(c) or ContainerState(c, "manager", {})
                for c in self.controllers}

    # --- 2. recommendations -----------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        current = self.current()
        out = []
        for c in self.controllers:
            out += recommendation_rows(str(self.params.id), current[c], self.results[c], self.settings,
                                       samples=samples(self.usage[c]))
        return out

    def recommendations(self) -> pd.DataFrame:
        cols = ["controller", "resource", "kind", "current", "recommended", "severity", "change", "reason"]
        return pd.DataFrame(self.rows(), columns=["cluster", "container", *cols]).loc[:, cols]

    def not_enough_data(self) -> list[str]:
        """A line per controller the strategy could not recommend for."""
        return [f"{c}: not enough data ({samples(self.usage[c])} samples, {self.settings.points_required} required)"
                for c in self.controllers if not self.results[c].enough_data]

    def flag_suggestions(self) -> list[FlagSuggestion]:
        current = self.current()
        out = []
        for c, load in self.load.items():
            out += suggest_flags(current[c], load.reconciles_per_second, load.mean_reconcile_seconds, load.queue_depth_p95)
        return out

    def flags(self) -> pd.DataFrame:
        rows = [s.as_dict() for s in self.flag_suggestions()]
        return pd.DataFrame(rows, columns=["controller", "flag", "current", "suggested", "reason"])

    def load_table(self) -> pd.DataFrame:
        current = self.current()
        rows = [{"controller": c, "reconciles/s": round(load.reconciles_per_second, 3),
                 "mean reconcile (s)": None if load.mean_reconcile_seconds is None else round(load.mean_reconcile_seconds, 2),
                 "queue depth p95": load.queue_depth_p95, "queue depth max": load.queue_depth_max,
                 "--concurrent": current[c].flag("concurrent"), "--requeue-dependency": current[c].flag("requeue-dependency")}
                for c, load in self.load.items()]
        return pd.DataFrame(rows)

    def drift(self) -> pd.DataFrame:
        return pd.DataFrame(drift(self.live, self.repo), columns=["controller", "field", "live", "repository"])

    # --- 3. the change ----------------------------------------------------------------------------

    def proposal(self) -> Proposal:
        """The new kustomization.yaml, built with kustomize and checked against the proposed values."""
        want = change.desired(self.controllers, self.rows(), self.flag_suggestions(), self.kustomization_text, self.file)
        proposal = change.propose(want, self.kustomization_text, self.file, self.container_index)
        if proposal.changed:
            change.check_built(self.file, want, lambda: self._built_with(proposal))
        return proposal

    def _built_with(self, proposal: Proposal) -> dict[str, ContainerState]:
        assert self.checkout is not None
        self.checkout.write(self.file, proposal.after)
        try:
            return states(self._build(), self.controllers)
        finally:
            self.checkout.write(self.file, proposal.before)

    # --- 4. apply ---------------------------------------------------------------------------------

    def commit_message(self, proposal: Proposal) -> str:
        return (f"Tune Flux controller resources of {self.params.id}\n\n"
                f"{self.options.strategy} strategy over {self.options.history} of usage from {self.source_name}; "
                f"controllers: {', '.join(proposal.controllers)}.\n")

    def apply(self, proposal: Proposal | None = None) -> dict[str, Any]:
        """`none` shows, `commit` commits to the cluster's branch, `pr` opens or updates a pull request."""
        proposal = proposal or self.proposal()
        mode = self.options.apply
        assert self.checkout is not None
        if not proposal.changed:
            self.outcome = {"status": "up to date", "detail": "nothing to change"}
            self.say("✔", "controller resources are up to date: nothing to propose")
        elif mode == "none":
            self.outcome = {"status": "proposed",
                            "detail": f"apply='none': {len(proposal.controllers)} controller(s) would change"}
            self.say("~", f"would change {', '.join(proposal.controllers)}; run with apply='pr' or apply='commit'")
        elif mode == "commit":
            self.checkout, self.outcome = publish.commit_to_branch(
                self.checkout, proposal, params=self.params, hub=self.hub, message=self.commit_message(proposal),
                repropose=self._repropose, say=self.say)
        else:
            self.outcome = publish.pull_request(self.checkout, proposal, params=self.params, hub=self.hub,
                                                message=self.commit_message(proposal),
                                                body=present.pr_body(self.findings(), proposal), say=self.say)
        return self.outcome

    def _repropose(self, checkout: Checkout) -> Proposal:
        self._read_repository(checkout)
        return self.proposal()

    def branch_name(self) -> str:
        return publish.branch_name(self.params)

    # --- what the runbook shows and records -------------------------------------------------------

    def findings(self) -> present.Findings:
        """What this run found, as the values its charts, records, exports and pull request are made from."""
        return present.Findings(params=self.params, options=self.options, settings=self.settings,
                                source=self.source_name, controllers=list(self.controllers), usage=self.usage,
                                results=self.results, current=self.current(), rows=self.rows(),
                                flags=self.flag_suggestions())

    def usage_charts(self) -> Figure:
        return present.usage_charts(self.findings())

    def distribution_charts(self) -> Figure:
        return present.distribution_charts(self.findings())

    def records(self) -> list[dict[str, Any]]:
        return present.records(self.findings())

    def usage_records(self) -> list[dict[str, Any]]:
        return present.usage_records(self.findings())

    def export(self, out_dir: Path | None = None) -> dict[str, Path]:
        return present.export(self.findings(), out_dir or present.exports_dir(self.home))

    def result(self) -> dict[str, Any]:
        changes = [r for r in self.rows() if r["change"]]
        counts = pd.Series([r["severity"] for r in changes]).value_counts().to_dict()
        return {"cluster": str(self.params.id), "strategy": self.options.strategy, "source": self.source_name,
                "changes": len(changes), "severity": counts,
                "not_enough_data": [c for c in self.controllers if not self.results[c].enough_data], **self.outcome}
