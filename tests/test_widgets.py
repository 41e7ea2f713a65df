"""The dashboards driven headless, as a person would click them, against the sandbox."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetlab.sandbox import Sandbox
from fleetlib import kube
from fleetlib.bootstrap import Bootstrap
from fleetlib.parameters import Catalog
from fleetlib.widgets import ControllerUsage, FleetOverview

from .conftest import REPO

UNTIL = "2026-11-20T12:00:00Z"
KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "flux-system")


@pytest.fixture(scope="module")
def services_amer(sandbox: Sandbox) -> Iterator[Any]:
    params = Catalog.load(REPO).resolve("services-amer", stage="dev")
    home = sandbox.home
    Bootstrap.connect(params, home=home, echo=False).run()
    yield kube.connect(params, home=home)


def suspended(k: Any) -> bool:
    return bool(((k.get(*KS) or {}).get("spec") or {}).get("suspend"))


def test_fleet_overview_pickers_confirmation_and_actions(services_amer: Any, sandbox: Sandbox) -> None:
    o = FleetOverview(stage="dev", cluster="services-amer", home=sandbox.home)
    assert "dev/services-amer (sandbox): 2 Flux objects, 0 not ready" in o.summary.value
    assert "Kustomization/flux-system/flux-system" in o.target.options
    assert "Kustomization" in o.objects.value
    o.show.value = "not ready"  # flux get all --status-selector ready=false: nothing here, the summary still counts
    assert "Kustomization" not in o.objects.value and "2 Flux objects, 0 not ready" in o.summary.value
    o.show.value = "all"
    o.stage.value = "prod"  # the cluster list follows the stage, and the tables follow the cluster
    assert list(o.cluster.options) == ["services-amer"] and "prod/services-amer" in o.summary.value
    o.stage.value = "dev"
    assert list(o.cluster.options) == ["other-dev-cluster", "services-amer"]
    o.cluster.value = "services-amer"

    o.target.value, o.action.value = "Kustomization/flux-system/flux-system", "suspend"
    o.apply.click()
    assert o.confirming and "suspend <b>Kustomization/flux-system/flux-system</b> on dev/services-amer?" in o.question.value
    assert not suspended(services_amer)  # nothing happens before the confirmation
    o.cancel.click()
    assert not o.confirming and "cancelled" in o.outcome.value and not suspended(services_amer)
    o.confirm.click()  # a stale confirm button does nothing either
    assert not suspended(services_amer)

    o.apply.click()
    o.confirm.click()
    assert o.outcome.value == "✔ Kustomization flux-system/flux-system suspended" and suspended(services_amer)
    assert "<td>True</td>" in o.objects.value.split("Kustomization")[1][:400]  # the table refreshed
    o.action.value = "resume"
    o.apply.click()
    o.confirm.click()
    assert o.outcome.value == "✔ Kustomization flux-system/flux-system resumed" and not suspended(services_amer)
    o.action.value = "reconcile"
    o.apply.click()
    o.confirm.click()
    assert o.outcome.value.startswith("✔ applied revision main@sha1:")


def test_fleet_overview_shows_a_failure_instead_of_raising(sandbox: Sandbox, tmp_path: Path) -> None:
    o = FleetOverview(stage="dev", cluster="services-amer", home=sandbox.home)
    o.target.options = []
    o.apply.click()
    assert o.outcome.value == "pick an object first" and not o.confirming


def test_controller_usage_sliders_redraw_the_recommendation(services_amer: Any, sandbox: Sandbox) -> None:
    u = ControllerUsage(stage="dev", cluster="services-amer", controller="kustomize-controller", home=sandbox.home,
                        until=UNTIL)
    assert list(u.controller.options) == ["source-controller", "kustomize-controller", "helm-controller",
                                          "notification-controller"]
    window = u.window()
    assert window is not None and len(window.cpu[0].values) == 14 * 2880
    cpu = sorted(window.cpu[0].values)
    peak_memory = max(window.memory[0].values)

    u.percentile.value = 100.0  # the request becomes the highest sample, rounded up to a millicore
    millicores = math.ceil(round(cpu[-1] * 1000, 6))
    assert u.recommendation_values["cpu_request"] == millicores / 1000
    assert f"cpu request {millicores}m (now 100m)" in u.recommendation.value  # what to set, beside what is set
    assert "cpu limit keep 1" in u.recommendation.value  # the flux strategy leaves the 1000m limit alone
    legends = [t.get_text() for f in u.figures for t in f.axes[0].get_legend().get_texts()]
    notes = [t.get_text() for f in u.figures for t in f.axes[0].texts]  # a limit far above usage: a note at the top
    assert any(t.startswith("request ") for t in legends)
    assert any(t.startswith("limit ") for t in legends + notes) and all("off the scale" in t for t in notes)
    assert [f.axes[0].get_title() for f in u.figures] == ["kustomize-controller: CPU, last 14 d, p100",
                                                          "kustomize-controller: memory, last 14 d, +15%"]
    u.buffer.value = 1.0  # memory = peak x 2, rounded up to a MiB
    assert u.recommendation_values["memory_request"] == math.ceil(round(peak_memory * 2 / 2**20, 6)) * 2**20
    u.days.value = 1  # history cut locally: one day of samples
    assert len(u.window().cpu[0].values) == 2880  # type: ignore[union-attr]
    u.days.value = 14
    u.controller.value = "notification-controller"
    assert "<b>notification-controller</b>" in u.recommendation.value
