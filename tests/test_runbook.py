"""fleetlib.runbook.start: a notebook namespace in, a resolved run out."""

from __future__ import annotations

import pytest

from fleetlib.errors import InputError, ParameterError
from fleetlib.parameters import Catalog
from fleetlib.runbook import start

from .conftest import REPO

IPYTHON_NOISE = {"In": [], "Out": {}, "_": None, "_i1": "", "get_ipython": print, "exit": None, "quit": None}


def test_start_resolves_and_ignores_none_overrides() -> None:
    ns = {**IPYTHON_NOISE, "cluster": "services-amer", "stage": "prod", "target": None, "context": None,
          "branch": "hotfix", "path": None, "runbook": pytest}
    run = start("inspect", ns, catalog=Catalog.load(REPO))
    assert str(run.params.id) == "prod/services-amer"
    assert run.params.branch == "hotfix" and run.params.target == "sandbox"
    table = run.parameter_table().set_index("key")
    assert table.loc["branch", "source"] == "runbook parameters"
    assert table.loc["context", "source"] == "parameters/prod/services-amer.yaml"
    assert table.loc["owner", "source"] == "parameters/defaults.yaml"
    assert table.loc["stage", "source"] == "(selection)"
    assert run.repo_files()["file"].iloc[0] == "clusters/stages/prod/clusters/services-amer/flux-system/gotk-components.yaml"
    assert "prod/services-amer target=sandbox context=sandbox-prod-services-amer" in run.summary()
    shown = run.inspection()  # what the inspect runbook records (`fleet results`), the sandbox answering
    assert shown["context"] == "sandbox-prod-services-amer" and shown["parameters"]["branch"] == {
        "value": "hotfix", "source": "runbook parameters"}
    assert shown["repo_files"][0].endswith("flux-system/gotk-components.yaml") and shown["facts"]


def test_unknown_injected_parameter_is_refused() -> None:
    ns = {"cluster": "services-amer", "stage": "dev", "brnach": "x"}
    with pytest.raises(ParameterError, match="runbook parameters: unknown parameter brnach; runbook 'inspect' takes"):
        start("inspect", ns, catalog=Catalog.load(REPO))


def test_bad_override_names_the_runbook_layer() -> None:
    ns = {"cluster": "services-amer", "stage": "dev", "target": "prod"}
    with pytest.raises(ParameterError, match="runbook parameters: key 'target': must be one of sandbox, local, live, not 'prod'"):
        start("inspect", ns, catalog=Catalog.load(REPO))


def test_unknown_cluster_in_the_default_stage() -> None:
    with pytest.raises(InputError, match="unknown cluster 'nope' in stage 'dev'"):
        start("inspect", {"cluster": "nope", "stage": "dev"}, catalog=Catalog.load(REPO))


@pytest.mark.parametrize(("runbook", "flow"), [("bootstrap", "fleetlib.bootstrap:Bootstrap"),
                                               ("add-app", "fleetlib.apps:AppChange"),
                                               ("alerts", "fleetlib.alerts:AlertsChange"),
                                               ("tune-resources", "fleetlib.tuning:Tuning")])
def test_every_flow_starts_from_a_run_and_resolves_its_target_once(runbook: str, flow: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from fleetlib import targets

    calls: list[str] = []
    real = targets.resolve

    def counted(params, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(params.id))
        return real(params, **kwargs)

    monkeypatch.setattr(targets, "resolve", counted)
    run = start(runbook, {"cluster": "services-amer", "stage": "dev"}, catalog=Catalog.load(REPO))
    module, _, name = flow.partition(":")
    change = getattr(importlib.import_module(module), name).from_run(run)
    assert change.params == run.params and change.kube is run.kube
    assert run.hub is run.hub and calls == ["dev/services-amer"]
