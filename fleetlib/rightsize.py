"""Right-size one cluster's Flux controllers: what the tune-resources runbook calls, step by step.

1. `gather`: usage per controller from the cluster's Prometheus (the sandbox's, or `prometheus_url`) or
   by sampling metrics.k8s.io; the Flux load; the live Deployments; and the fleet repository's
   `flux-system` folder as kustomize builds it (so existing patches count).
2. `recommendations`: the chosen strategy per controller (fleetlib.tuning), compared with the
   repository's values, plus `--concurrent`/`--requeue-dependency` suggestions and the drift between
   live and repository.
3. `proposal`: fleetlib's patches in `kustomization.yaml` (fleetlib.kustomization), built with kustomize
   to check that the Deployments come out with the proposed values, and shown as a diff.
4. `apply`: `none` (show only), `commit` (to the cluster's branch), or `pr` (a branch
   `tune/<stage>-<cluster>-<yyyymmdd>` and a pull request). Nothing proposed: "up to date".

    tuning = Tuning.from_run(run)
    tuning.gather()
    tuning.recommendations()
"""

from __future__ import annotations

import difflib
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fleetlib import charts, targets
from fleetlib import kustomization as kfile
from fleetlib import options as options_model
from fleetlib.errors import ClusterError, FleetError, GitError, ParameterError
from fleetlib.fleetrepo import FLUX_SYSTEM_DIR, KUSTOMIZATION_FILE, normalise_path
from fleetlib.git import PUSH_ATTEMPTS, Checkout, NonFastForward
from fleetlib.github import GitHub
from fleetlib.github import connect as github_connect
from fleetlib.kube import Kube
from fleetlib.locations import fleet_home
from fleetlib.manifests import parse_release
from fleetlib.metrics import (
    ControllerUsage,
    FluxLoad,
    MetricsServerSource,
    Prometheus,
    PrometheusSource,
    UsageSource,
)
from fleetlib.options import TuneResourcesOptions
from fleetlib.parameters import ClusterParams
from fleetlib.quantity import format_cpu, format_memory
from fleetlib.tuning import (
    STRATEGIES,
    VALUES,
    ContainerState,
    FlagSuggestion,
    Recommendation,
    Settings,
    Usage,
    drift,
    parse_window,
    quantity_text,
    recommendation_rows,
    states,
    suggest_flags,
)

RUNBOOK = "tune-resources"


TuneOptions = TuneResourcesOptions
"""The runbook's options (fleetlib.options): `tune_options(strategy="vpa")` builds one, checked."""


def tune_options(**values: Any) -> TuneResourcesOptions:
    """Tuning options from keyword values, checked as the runbook checks its parameters."""
    parsed = options_model.parse(RUNBOOK, values)
    assert isinstance(parsed, TuneResourcesOptions)
    return parsed


def settings_of(options: TuneResourcesOptions) -> Settings:
    """The strategy settings the options stand for."""
    return Settings(cpu_percentile=float(options.cpu_percentile), memory_buffer=float(options.memory_buffer),
                    base=options.base, min_change=float(options.min_change))


def usage_source(params: ClusterParams, kube: Kube, options: TuneOptions, *, home: Path) -> UsageSource:
    """Prometheus when there is one (the sandbox always has one), else metrics.k8s.io sampling."""
    where = targets.kube_only(params, home=home)
    url = where.prometheus_url
    if options.usage_source == "metrics-server" or (options.usage_source == "auto" and url is None):
        return MetricsServerSource(kube, parse_window(options.sample_window), parse_window(options.sample_interval))
    if url is None:
        raise ParameterError("usage_source 'prometheus' needs a Prometheus", source=str(params.id), key="prometheus_url",
                             hint="set prometheus_url in the cluster's parameters, or use usage_source='metrics-server'")
    token = os.environ.get(params.prometheus_token_env) or None
    return PrometheusSource(Prometheus(url, token=token), history=parse_window(options.history),
                            step=parse_window(options.step), end=options.end())


def to_usage(cu: ControllerUsage) -> Usage:
    """The strategies' input from a source's samples (NaN gaps dropped)."""
    def clean(a: np.ndarray) -> np.ndarray:
        return a[np.isfinite(a)]
    return Usage([clean(p.values) for p in cu.cpu], [clean(p.values) for p in cu.memory], cu.oom_limits,
                 days=cu.seconds / 86400.0)


def samples(cu: ControllerUsage) -> int:
    return int(sum(np.isfinite(p.values).sum() for p in cu.cpu))


@dataclass(frozen=True)
class Proposal:
    """fleetlib's patches for the controllers whose values change, as a file change."""

    path: str
    before: str
    after: str
    controllers: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                            f"a/{self.path}", f"b/{self.path}"))


class Tuning:
    def __init__(self, params: ClusterParams, kube: Kube, hub: GitHub, options: TuneOptions, *,
                 home: Path | None = None, echo: bool = True) -> None:
        self.params, self.kube, self.hub, self.options = params, kube, hub, options
        self.settings = settings_of(options)
        self.home = home or fleet_home()
        self.echo = echo
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
        self._work = Path(tempfile.mkdtemp(prefix="fleet-tune-"))
        self.file = f"{normalise_path(params.path)}/{FLUX_SYSTEM_DIR}/{KUSTOMIZATION_FILE}".removeprefix("./")

    @classmethod
    def from_run(cls, run: Any) -> Tuning:
        assert isinstance(run.options, TuneResourcesOptions)
        return cls(run.params, run.kube, github_connect(run.params, home=fleet_home()), run.options)

    def say(self, mark: str, text: str) -> None:
        if self.echo:
            print(f"{mark} {text}", flush=True)

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
        deployments = self.kube.list("apps/v1", "Deployment", ns)
        self.live = states(deployments, self.controllers)
        self._read_repository()
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

    def _read_repository(self) -> None:
        self.checkout = self.hub.clone(self._work)
        text = self.checkout.read(self.file)
        if text is None:
            raise ClusterError(f"{self.params.repo_slug}@{self.params.branch}: {self.file} does not exist",
                               hint="bootstrap the cluster first (runbooks/bootstrap.ipynb)")
        self.kustomization_text = text
        built = self._build()
        self.repo = states(built, self.controllers)
        for obj in built:
            if obj.get("kind") == "Deployment" and obj["metadata"]["name"] in self.controllers:
                names = [c.get("name") for c in obj["spec"]["template"]["spec"].get("containers") or []]
                self.container_index[obj["metadata"]["name"]] = names.index("manager") if "manager" in names else 0

    def _build(self) -> list[dict[str, Any]]:
        assert self.checkout is not None
        return parse_release(self.kube.kustomize((self.checkout.path / self.file).parent))

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

    def desired(self) -> dict[str, tuple[dict[str, dict[str, str]], dict[str, str]]]:
        """Per controller with a change: its full resources and the flags fleetlib's patch carries."""
        rows = self.rows()
        managed = kfile.managed(self.kustomization_text, shown=self.file)
        suggestions = self.flag_suggestions()
        out = {}
        for c in self.controllers:
            mine = [r for r in rows if r["controller"] == c]
            flags = kfile.managed_flags(managed.get(c, ""))
            new_flags = {s.flag: s.suggested for s in suggestions if s.controller == c}
            if not any(r["change"] for r in mine) and not new_flags:
                continue
            resources: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
            for r in mine:
                value = r["recommended_value"] if r["change"] else r["current_value"]
                if value is not None:
                    resources[r["kind"] + "s"][r["resource"]] = quantity_text(r["resource"], value) or ""
            out[c] = (resources, {**flags, **new_flags})
        return out

    def proposal(self) -> Proposal:
        """The new kustomization.yaml, built with kustomize and checked against the proposed values."""
        desired = self.desired()
        patches = {c: kfile.resources_patch(self.container_index.get(c, 0), res, flags, controller=c)
                   for c, (res, flags) in desired.items()}
        after = kfile.set_patches(self.kustomization_text, patches, shown=self.file) if patches else self.kustomization_text
        proposal = Proposal(self.file, self.kustomization_text, after, tuple(desired))
        if proposal.changed:
            self._validate(proposal, desired)
        return proposal

    def _validate(self, proposal: Proposal, desired: Mapping[str, tuple[dict[str, dict[str, str]], dict[str, str]]]) -> None:
        assert self.checkout is not None
        self.checkout.write(self.file, proposal.after)
        try:
            built = states(self._build(), self.controllers)
        finally:
            self.checkout.write(self.file, proposal.before)
        for c, (resources, flags) in desired.items():
            got = built.get(c)
            for resource, kind in VALUES:
                want = resources[kind + "s"].get(resource)
                have = got.text(resource, kind) if got else None
                if want != have:
                    raise FleetError(f"kustomize build of the proposed {self.file}: Deployment {c} has {resource} {kind} "
                                     f"{have}, not {want}", hint="another patch in the file overrides fleetlib's; "
                                                                  "move fleetlib's patch last")
            for name, value in flags.items():
                if got is None or got.flags.get(name) != value:
                    raise FleetError(f"kustomize build of the proposed {self.file}: Deployment {c} has --{name}="
                                     f"{got.flags.get(name) if got else None}, not {value}")

    # --- 4. apply ---------------------------------------------------------------------------------

    def branch_name(self) -> str:
        return f"tune/{self.params.stage}-{self.params.cluster}-{datetime.now(UTC):%Y%m%d}"

    def commit_message(self, proposal: Proposal) -> str:
        return (f"Tune Flux controller resources of {self.params.id}\n\n"
                f"{self.options.strategy} strategy over {self.options.history} of usage from {self.source_name}; "
                f"controllers: {', '.join(proposal.controllers)}.\n")

    def apply(self, proposal: Proposal | None = None) -> dict[str, Any]:
        proposal = proposal or self.proposal()
        mode = self.options.apply
        if not proposal.changed:
            self.outcome = {"status": "up to date", "detail": "nothing to change"}
            self.say("✔", "controller resources are up to date: nothing to propose")
        elif mode == "none":
            self.outcome = {"status": "proposed",
                            "detail": f"apply='none': {len(proposal.controllers)} controller(s) would change"}
            self.say("~", f"would change {', '.join(proposal.controllers)}; run with apply='pr' or apply='commit'")
        elif mode == "commit":
            self.outcome = self._commit_to_branch(proposal)
        else:
            self.outcome = self._pull_request(proposal)
        return self.outcome

    def _commit_to_branch(self, proposal: Proposal) -> dict[str, Any]:
        """Commit to the cluster's branch; when it moved meanwhile, start again from a fresh clone (the file as
        it is now, others' changes included) and propose again."""
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                sha = self._commit_and_push(proposal, self.params.branch)
            except NonFastForward as e:
                if attempt == PUSH_ATTEMPTS:
                    raise GitError(f"pushing to {self.params.repo_slug}@{self.params.branch}: the branch kept moving",
                                   hint="run the runbook again") from e
                self.say("►", "the branch moved meanwhile: proposing again from a fresh clone")
                time.sleep(random.uniform(0.1, 0.5) * attempt)
                self._read_repository()
                proposal = self.proposal()
                if not proposal.changed:
                    self.say("✔", "controller resources are up to date: someone else made the same change")
                    return {"status": "up to date", "detail": "the branch already holds the change"}
                continue
            self.say("✔", f"committed {sha[:8]} to {self.params.branch}; Flux applies it at the next reconcile")
            return {"status": "committed", "commit": sha, "branch": self.params.branch}
        raise AssertionError("unreachable")

    def _commit_and_push(self, proposal: Proposal, branch: str, *, force: bool = False) -> str:
        assert self.checkout is not None
        self.checkout.write(self.file, proposal.after)
        sha = self.checkout.commit(self.commit_message(proposal), author=self.params.commit_author, paths=[self.file])
        assert sha is not None  # the proposal changed the file
        try:
            self.checkout.push(branch=branch, force=force)
        except NonFastForward:
            self.checkout.reset_to_remote()
            raise
        except GitError as e:
            self.checkout.reset_to_remote()
            raise GitError(f"pushing to {self.params.repo_slug}@{branch}: {e.message}",
                           hint="the branch moved while tuning ran; run the runbook again") from e
        return sha

    def _pull_request(self, proposal: Proposal) -> dict[str, Any]:
        branch = self.branch_name()
        existing = self.hub.pull_request_for(branch)
        remote = self.checkout.remote_text(branch, self.file) if self.checkout else None
        if existing and remote == proposal.after:
            self.say("✔", f"pull request #{existing.number} already proposes this change: up to date")
            return {"status": "up to date", "pull_request": existing.number, "url": existing.url, "branch": branch}
        sha = self._commit_and_push(proposal, branch, force=True)
        pr = self.hub.open_pull_request(branch, title=f"Tune Flux controller resources of {self.params.id}",
                                        body=self.pr_body(proposal))
        self.say("✔", f"{pr.action} pull request #{pr.number} from {branch}: {pr.url}")
        return {"status": f"pull request {pr.action}", "pull_request": pr.number, "url": pr.url, "branch": branch,
                "commit": sha}

    def pr_body(self, proposal: Proposal) -> str:
        """The change as a reviewer wants it: the table, a text summary of the charts, how it was computed."""
        rows = [r for r in self.rows() if r["change"]]
        lines = [f"Right-sizes the Flux controllers of **{self.params.id}** from {self.options.history} of usage "
                 f"({self.source_name}), strategy `{self.options.strategy}`"
                 f"{' from ' + self.options.base if self.options.strategy == 'flux' else ''}, "
                 f"CPU p{self.settings.cpu_percentile:g}, memory buffer {self.settings.memory_buffer:.0%}.", "",
                 "| controller | resource | kind | current | recommended | severity | reason |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['controller']} | {r['resource']} | {r['kind']} | {r['current'] or 'unset'} | "
                  f"{r['recommended'] or 'unset'} | {r['severity']} | {r['reason']} |" for r in rows]
        flags = self.flag_suggestions()
        if flags:
            lines += ["", "| controller | flag | current | suggested | why |", "|---|---|---|---|---|"]
            lines += [f"| {s.controller} | --{s.flag} | {s.current} | {s.suggested} | {s.reason} |" for s in flags]
        lines += ["", "Usage over the window (daily peaks):", "", "```"]
        for c in proposal.controllers:
            u = self.usage[c]
            lines.append(f"{c:<24} cpu {sparkline(daily_peaks(u.cpu))}  max {format_cpu(peak(u.cpu))}   "
                         f"memory {sparkline(daily_peaks(u.memory))}  max {format_memory(peak(u.memory))}")
        lines += ["```", "", f"Generated by fleetlib's `runbooks/{RUNBOOK}.ipynb`; the patch is validated with kustomize."]
        return "\n".join(lines)

    # --- charts ---------------------------------------------------------------------------------

    def chart_lines(self, controller: str, resource: str) -> dict[str, float | None]:
        current = self.current()[controller]
        rec = self.results[controller]
        return {"request": current.values.get((resource, "request")), "limit": current.values.get((resource, "limit")),
                "recommended request": getattr(rec, f"{resource}_request"),
                "recommended limit": getattr(rec, f"{resource}_limit")}

    def _grid(self, draw: Any) -> Figure:
        fig, axes = plt.subplots(len(self.controllers), 2, figsize=(13, 2.6 * len(self.controllers)), squeeze=False)
        for row, c in zip(axes, self.controllers, strict=True):
            for ax, resource in zip(row, ("cpu", "memory"), strict=True):
                draw(c, resource, ax)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def usage_charts(self) -> Figure:
        """Per controller and resource: usage over time with request, limit and recommendation lines."""
        def draw(c: str, resource: str, ax: Any) -> None:
            u = self.usage[c]
            charts.usage_over_time(u.cpu if resource == "cpu" else u.memory, resource=resource,
                                   lines=self.chart_lines(c, resource), title=f"{c}: {resource}", ax=ax)
        return self._grid(draw)

    def distribution_charts(self) -> Figure:
        """Per controller and resource: the samples' distribution with the percentile (CPU) or peak marked."""
        def draw(c: str, resource: str, ax: Any) -> None:
            u = self.usage[c]
            charts.usage_distribution(u.cpu if resource == "cpu" else u.memory, resource=resource,
                                      percentile=self.settings.cpu_percentile,
                                      recommended=getattr(self.results[c], f"{resource}_request"),
                                      title=f"{c}: {resource}", ax=ax)
        return self._grid(draw)

    # --- exports and records ----------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        keys = ("cluster", "controller", "container", "resource", "kind", "current", "recommended", "severity", "reason")
        return [{k: r[k] for k in keys} for r in self.rows()]

    def krr_json(self) -> dict[str, Any]:
        """krr's JSON shape: scans[] with object.allocations and recommended.{requests,limits}.{cpu,memory}."""
        current, rows = self.current(), self.rows()
        scans = []
        for c in self.controllers:
            mine = {(r["resource"], r["kind"]): r for r in rows if r["controller"] == c}
            scans.append({
                "object": {"cluster": str(self.params.id), "name": c, "container": "manager",
                           "namespace": self.params.namespace, "kind": "Deployment",
                           "pods": [p.pod for p in self.usage[c].cpu],
                           "allocations": {f"{kind}s": {res: current[c].values.get((res, kind)) for res in ("cpu", "memory")}
                                           for kind in ("request", "limit")}},
                "recommended": {f"{kind}s": {res: {"value": mine[(res, kind)]["recommended_value"],
                                                   "severity": mine[(res, kind)]["severity"]} for res in ("cpu", "memory")}
                                for kind in ("request", "limit")},
                "info": list(self.results[c].info)})
        return {"strategy": {"name": self.options.strategy, "settings": asdict(self.settings)}, "scans": scans,
                "flags": [s.as_dict() for s in self.flag_suggestions()]}

    def export(self, out_dir: Path | None = None) -> dict[str, Path]:
        from fleetlib.files import write_atomic

        out = Path(out_dir) if out_dir else self.home / "exports" / RUNBOOK
        stem = f"{self.params.stage}-{self.params.cluster}"
        paths = {"csv": out / f"{stem}.csv", "json": out / f"{stem}.json"}
        frame = pd.DataFrame(self.rows()).drop(columns=["change"])
        write_atomic(paths["csv"], frame.to_csv(index=False))
        write_atomic(paths["json"], json.dumps(self.krr_json(), indent=2, default=float) + "\n")
        return paths

    def result(self) -> dict[str, Any]:
        changes = [r for r in self.rows() if r["change"]]
        counts = pd.Series([r["severity"] for r in changes]).value_counts().to_dict()
        return {"cluster": str(self.params.id), "strategy": self.options.strategy, "source": self.source_name,
                "changes": len(changes), "severity": counts,
                "not_enough_data": [c for c in self.controllers if not self.results[c].enough_data], **self.outcome}


def exported_rows(home: Path | None = None, out_dir: Path | None = None) -> pd.DataFrame:
    """Every cluster's last exported recommendations (for the fleet view)."""
    folder = Path(out_dir) if out_dir else (home or fleet_home()) / "exports" / RUNBOOK
    frames = [pd.read_csv(p) for p in sorted(folder.glob("*.csv"))] if folder.is_dir() else []
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["cluster", "controller", "resource", "kind", "current_value", "recommended_value"])


# --- text summaries of series ----------------------------------------------------------------------

_BARS = "▁▂▃▄▅▆▇█"


def daily_peaks(series: Any) -> list[float]:
    """The highest sample of each UTC day over all pods."""
    peaks: dict[int, float] = {}
    for s in series:
        for day, value in zip((s.timestamps // 86400).astype(int), s.values, strict=True):
            if math.isfinite(value):
                peaks[day] = max(peaks.get(day, value), value)
    return [peaks[d] for d in sorted(peaks)]


def peak(series: Any) -> float:
    values = [float(np.nanmax(s.values)) for s in series if len(s.values)]
    return max(values) if values else 0.0


def sparkline(values: list[float]) -> str:
    if not values:
        return "(no data)"
    top = max(values) or 1.0
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1) + 0.5))] for v in values)
