"""The kube and github adapters: one code path, the target only changes where they connect."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetlib import github as gh
from fleetlib import kube
from fleetlib.errors import InputError
from fleetlib.parameters import Catalog, Layer
from fleetlib.targets import api_url

from .conftest import REPO


@pytest.fixture()
def params():  # type: ignore[no-untyped-def]
    return Catalog.load(REPO).resolve("services-amer", stage="dev")


def test_sandbox_target_starts_what_it_needs(params, sandbox) -> None:  # type: ignore[no-untyped-def]
    k = kube.connect(params, home=sandbox.home)
    assert k.context == "sandbox-dev-services-amer"
    facts = k.facts()
    assert facts["kubernetes"].startswith("v1.") and facts["nodes"] == 1 and facts["target"] == "sandbox"
    hub = gh.connect(params, home=sandbox.home)
    assert hub.user() == "JiwooL0920"
    assert hub.token() not in repr(hub)


def test_live_target_needs_a_usable_context(params, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none.yaml"))
    live = Catalog.load(REPO).resolve("services-amer", overrides=[Layer("-p", {"target": "live"})])
    with pytest.raises(InputError, match="kube context 'kind-services-amer' of cluster dev/services-amer cannot be used"):
        kube.connect(live, home=tmp_path)


def test_live_github_reads_the_token_from_the_environment(tmp_path: Path) -> None:
    live = Catalog.load(REPO).resolve("services-amer", overrides=[Layer("-p", {"target": "live"})])
    with pytest.raises(InputError, match="the environment variable GITHUB_TOKEN is empty or unset"):
        gh.connect(live, home=tmp_path, env={})
    secret = "ghp_" + "z" * 36
    hub = gh.connect(live, home=tmp_path, env={"GITHUB_TOKEN": secret})
    assert hub.web_url == "https://github.com" and secret not in repr(hub)
    assert api_url("github.example.com") == "https://github.example.com/api/v3"
