"""ipywidgets dashboards for JupyterLab, built here so notebooks only display them and tests drive them
headless (set `.value`, call `.click()`, read the outcome).

- `FleetOverview`: stage and cluster pickers (the clusters follow the stage), the Flux objects and the
  diagnosis of the selected cluster, and reconcile / suspend / resume of a selected object behind a
  confirmation step, with the outcome shown and the tables refreshed.
- `ControllerUsage`: a cluster and controller, sliders for percentile, buffer and history that redraw the
  usage chart and the recommendation at once (the usage is read once, for the longest history, and cut
  locally as the sliders move).

    overview = FleetOverview(stage="dev", cluster="services-amer")
    overview.widget          # display it
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from fleetlib import troubleshoot, tuning
from fleetlib.charts import usage_over_time
from fleetlib.errors import FleetError
from fleetlib.kube import connect as kube_connect
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.metrics import ControllerUsage as Samples
from fleetlib.metrics import PodSeries
from fleetlib.objects import Ref, container_statuses, terminated, timestamp
from fleetlib.parameters import Catalog, ClusterParams
from fleetlib.troubleshoot import fluxview, operate
from fleetlib.troubleshoot.diagnose import diagnose
from fleetlib.tuning.strategies import STRATEGIES, Recommendation, Settings, container_state, quantity_text

ACTIONS = ("reconcile", "suspend", "resume")


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    if frame.empty:
        return "<i>none</i>"
    return frame.loc[:, columns].to_html(index=False, escape=True, border=0)


class _ClusterPicker:
    """Stage and cluster dropdowns; the cluster list follows the stage."""

    def __init__(self, catalog: Catalog | None, stage: str, cluster: str | None) -> None:
        self.catalog = catalog or Catalog.load(fleet_root())
        self.stage = w.Dropdown(options=self.catalog.stages, value=stage, description="stage")
        self.cluster = w.Dropdown(options=self._clusters(stage), description="cluster")
        if cluster is not None:
            self.cluster.value = cluster
        self._switching = False
        self.stage.observe(self._stage_changed, names="value")
        self.cluster.observe(self._cluster_changed, names="value")

    def _clusters(self, stage: str) -> list[str]:
        return [c.cluster for c in self.catalog.clusters if c.stage == stage]

    def _stage_changed(self, change: dict[str, Any]) -> None:
        self._switching = True  # one load for the new stage, even when the cluster name stays the same
        try:
            self.cluster.options = self._clusters(change["new"])
        finally:
            self._switching = False
        self.load()

    def _cluster_changed(self, _: dict[str, Any]) -> None:
        if not self._switching:
            self.load()

    def load(self) -> None:
        raise NotImplementedError

    def params(self) -> ClusterParams:
        return self.catalog.resolve(self.cluster.value, stage=self.stage.value)


class FleetOverview(_ClusterPicker):
    def __init__(self, catalog: Catalog | None = None, *, stage: str = "dev", cluster: str | None = None,
                 home: Path | None = None) -> None:
        super().__init__(catalog, stage, cluster)
        self.home = home or fleet_home()
        self.refresh = w.Button(description="Refresh", icon="refresh")
        self.show = w.ToggleButtons(options=["all", "not ready"], value="all",
                                    tooltips=["every Flux object", "as flux get all --status-selector ready=false"])
        self.summary = w.HTML()
        self.objects = w.HTML()
        self.findings = w.HTML()
        self.target = w.Dropdown(description="object", options=[])
        self.action = w.ToggleButtons(options=list(ACTIONS), value="reconcile")
        self.apply = w.Button(description="Apply…", button_style="warning")
        self.question = w.HTML()
        self.confirm = w.Button(description="Confirm", button_style="danger")
        self.cancel = w.Button(description="Cancel")
        self.confirmation = w.HBox([self.question, self.confirm, self.cancel], layout=w.Layout(display="none"))
        self.outcome = w.HTML()
        self.kube: Any = None
        self.refresh.on_click(lambda _: self.load())
        self.show.observe(lambda _: self.load(), names="value")
        self.apply.on_click(self._ask)
        self.confirm.on_click(self._do)
        self.cancel.on_click(lambda _: self._hide("cancelled: nothing was changed"))
        self.widget = w.VBox([w.HBox([self.stage, self.cluster, self.refresh]), self.summary, self.show,
                              w.HTML("<b>Flux objects</b>"), self.objects, w.HTML("<b>Diagnosis</b>"), self.findings,
                              w.HBox([self.target, self.action, self.apply]), self.confirmation, self.outcome])
        self.load()

    @property
    def confirming(self) -> bool:
        return self.confirmation.layout.display != "none"

    def load(self) -> None:
        """Read the selected cluster again and redraw the tables."""
        if self.cluster.value is None:
            self.summary.value, self.objects.value, self.findings.value = "<i>no cluster in this stage</i>", "", ""
            self.target.options = []
            return
        try:
            params = self.params()
            self.kube = kube_connect(params, home=self.home)
            facts = troubleshoot.gather_cluster(params, self.kube)
        except FleetError as e:
            self.summary.value = f"<span style='color:#c62828'>✗ {html.escape(str(e))}</span>"
            self.objects.value = self.findings.value = ""
            self.target.options = []
            return
        objects = fluxview.get(facts)
        found = diagnose(facts)
        self.summary.value = (f"{params.id} ({params.target}): {len(objects)} Flux objects, "
                              f"{int((objects['ready'] != 'True').sum()) if len(objects) else 0} not ready, "
                              f"{len(found)} finding(s)")
        shown = objects[objects["ready"] != "True"] if self.show.value == "not ready" and len(objects) else objects
        self.objects.value = _table(shown, ["kind", "namespace", "name", "ready", "suspended", "revision", "message"])
        self.findings.value = _table(troubleshoot.findings_table(found), ["id", "severity", "count", "objects", "remediation"])
        keep = self.target.value
        self.target.options = [str(Ref(str(r.kind), str(r.namespace), str(r.name))) for r in objects.itertuples()]
        if keep in self.target.options:
            self.target.value = keep

    def _ask(self, _: Any = None) -> None:
        if not self.target.value:
            self.outcome.value = "pick an object first"
            return
        self.question.value = f"{self.action.value} <b>{html.escape(self.target.value)}</b> on {self.params().id}?"
        self.confirmation.layout.display = "flex"
        self.outcome.value = ""

    def _hide(self, message: str) -> None:
        self.confirmation.layout.display = "none"
        self.outcome.value = html.escape(message)

    def _do(self, _: Any = None) -> None:
        if not self.confirming:
            return
        target = Ref.parse(str(self.target.value))
        kind, namespace, name = target.kind, str(target.namespace), target.name
        action = self.action.value
        try:
            if action == "suspend":
                done = operate.suspend(self.kube, kind, namespace, name)
            elif action == "resume":
                done = operate.resume(self.kube, kind, namespace, name, timeout=60)
            else:
                done = operate.reconcile(self.kube, kind, namespace, name, timeout=60)
        except FleetError as e:
            self._hide(f"✗ {action} failed: {e}")
            return
        self._hide(done)
        self.load()


class ControllerUsage(_ClusterPicker):
    def __init__(self, catalog: Catalog | None = None, *, stage: str = "dev", cluster: str | None = None,
                 controller: str = "kustomize-controller", max_days: int = 14, home: Path | None = None,
                 until: str | None = None) -> None:
        super().__init__(catalog, stage, cluster)
        self.home = home or fleet_home()
        self.until = until
        self.max_days = max_days
        self.controller = w.Dropdown(options=[], description="controller")
        self.strategy = w.Dropdown(options=list(STRATEGIES), value="flux", description="strategy")
        self.percentile = w.FloatSlider(value=95.0, min=50.0, max=100.0, step=1.0, description="percentile")
        self.buffer = w.FloatSlider(value=0.15, min=0.0, max=1.0, step=0.05, description="buffer")
        self.days = w.IntSlider(value=max_days, min=1, max=max_days, description="history (d)")
        self.chart = w.Output()
        self.recommendation = w.HTML()
        self.samples: dict[str, Samples] = {}
        self.current: dict[str, dict[str, float | None]] = {}
        self.kills: dict[str, list[float]] = {}
        """controller -> when its manager container was last OOM-killed (epoch seconds), as its pods say."""
        """controller -> its manager container's requests and limits now (`cpu_request`...: cores, bytes)."""
        self.figures: list[Figure] = []
        self.result: Recommendation | None = None
        """The recommendation drawn last (the sliders' current values)."""
        self._controller_wanted = controller
        for control in (self.strategy, self.percentile, self.buffer, self.days, self.controller):
            control.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([w.HBox([self.stage, self.cluster, self.controller]),
                              w.HBox([self.strategy, self.percentile, self.buffer, self.days]),
                              self.recommendation, self.chart])
        self.load()

    def load(self) -> None:
        """Read the usage of every controller of the cluster, once, for the longest history."""
        if self.cluster.value is None:
            self.recommendation.value, self.samples, self.result = "<i>no cluster in this stage</i>", {}, None
            return
        try:
            params = self.params()
            options = tuning.tune_options(history=f"{self.max_days}d", until=self.until)
            kube = kube_connect(params, home=self.home)
            source = tuning.usage_source(params, kube, options, home=self.home)
            self.samples = source.usage(params.namespace, params.all_components)
            self.current = {name: _manager_resources(kube, params.namespace, name) for name in self.samples}
            self.kills = {name: _oom_kills(kube, params.namespace, name) for name in self.samples}
        except FleetError as e:
            self.recommendation.value = f"<span style='color:#c62828'>✗ {html.escape(str(e))}</span>"
            self.samples, self.result = {}, None
            return
        wanted = self.controller.value or self._controller_wanted
        self.controller.options = list(self.samples)
        self.controller.value = wanted if wanted in self.samples else next(iter(self.samples), None)
        self.redraw()

    def settings(self) -> Settings:
        return Settings(cpu_percentile=float(self.percentile.value), memory_buffer=float(self.buffer.value))

    def window(self) -> Samples | None:
        """The selected controller's samples over the last `days` of the loaded history."""
        full = self.samples.get(self.controller.value or "")
        if full is None:
            return None
        end = max((float(s.timestamps[-1]) for s in full.cpu if len(s.timestamps)), default=0.0)
        start = end - self.days.value * 86400.0

        def cut(series: tuple[PodSeries, ...]) -> tuple[PodSeries, ...]:
            return tuple(PodSeries(s.pod, s.timestamps[s.timestamps > start], s.values[s.timestamps > start])
                         for s in series)
        return replace(full, cpu=cut(full.cpu), memory=cut(full.memory), seconds=self.days.value * 86400.0)

    def redraw(self) -> None:
        usage = self.window()
        if usage is None:
            return
        rec = self.result = STRATEGIES[self.strategy.value](tuning.to_usage(usage), self.settings())
        now = self.current.get(self.controller.value or "", {})
        if rec.enough_data:
            parts = [f"{res} {kind} {_advice(res, getattr(rec, f'{res}_{kind}'), now.get(f'{res}_{kind}'))}"
                     for res in ("cpu", "memory") for kind in ("request", "limit")]
            extra = f" ({'; '.join(rec.info)})" if rec.info else ""
            self.recommendation.value = f"<b>{self.controller.value}</b>: " + ", ".join(parts) + html.escape(extra)
        else:
            self.recommendation.value = (f"<b>{self.controller.value}</b>: not enough data "
                                         f"({tuning.samples(usage)} samples)")
        self.figures = [
            usage_over_time(usage.cpu, resource="cpu", lines={
                "request": now.get("cpu_request"), "limit": now.get("cpu_limit"),
                "recommended request": rec.cpu_request, "recommended limit": rec.cpu_limit},
                title=f"{self.controller.value}: CPU, last {self.days.value} d, p{self.percentile.value:g}"),
            usage_over_time(usage.memory, resource="memory", lines={
                "request": now.get("memory_request"), "limit": now.get("memory_limit"),
                "recommended request": rec.memory_request, "recommended limit": rec.memory_limit},
                title=f"{self.controller.value}: memory, last {self.days.value} d, +{self.buffer.value:.0%}",
                kills=self.kills.get(self.controller.value or "", []))]
        self.chart.clear_output(wait=True)
        with self.chart:
            from IPython.display import display

            for figure in self.figures:
                display(figure)

    @property
    def recommendation_values(self) -> dict[str, float | None]:
        rec = self.result
        if rec is None:
            return {}
        return {"cpu_request": rec.cpu_request, "cpu_limit": rec.cpu_limit, "memory_request": rec.memory_request,
                "memory_limit": rec.memory_limit}


def _manager_resources(kube: Any, namespace: str, controller: str) -> dict[str, float | None]:
    """The requests and limits the controller's manager container has now (None where unset)."""
    state = container_state(kube.get("apps/v1", "Deployment", namespace, controller) or {})
    values = state.values if state is not None else {}
    return {f"{res}_{kind}": values.get((res, kind)) for res in ("cpu", "memory") for kind in ("request", "limit")}


def _oom_kills(kube: Any, namespace: str, controller: str) -> list[float]:
    """When the controller's containers were last OOM-killed (epoch seconds), from its pods' statuses."""
    out = []
    for pod in kube.list("v1", "Pod", namespace, label_selector=f"app={controller}"):
        for status in container_statuses(pod):
            last = terminated(status)
            if last.get("reason") == "OOMKilled" and (when := timestamp(last.get("finishedAt"))) is not None:
                out.append(when)
    return out


def _advice(resource: str, recommended: float | None, now: float | None) -> str:
    """What to set, beside what is set: `100m (now 50m)`, or `keep 1000m` where the strategy leaves it alone."""
    if recommended is None:
        return f"keep {quantity_text(resource, now)}" if now is not None else "unset"
    shown = quantity_text(resource, recommended)
    return f"{shown} (now {quantity_text(resource, now)})" if now is not None else f"{shown} (now unset)"


def fleet_overview(stage: str = "dev", cluster: str | None = None) -> w.VBox:
    return FleetOverview(stage=stage, cluster=cluster).widget


def controller_usage(stage: str = "dev", cluster: str | None = None, controller: str = "kustomize-controller",
                     days: int = 14) -> w.VBox:
    return ControllerUsage(stage=stage, cluster=cluster, controller=controller, max_days=days).widget


__all__ = ["ControllerUsage", "FleetOverview", "controller_usage", "fleet_overview"]
