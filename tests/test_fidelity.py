"""The differential suite (bench/fidelity.py) as a test: every scenario on the sandbox and on a local cluster at
once, compared after normalising; each must be `same`, or differ only where fleetlib/fidelity/known.py says
why (and the README's sandbox section lists each of those). The per-scenario figures are printed; nothing here
asserts a duration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetlab.fidelity.harness import Sides
from fleetlab.fidelity.known import KNOWN
from fleetlab.fidelity.normalize import first_difference, normalize, table
from fleetlab.fidelity.scenarios import select
from fleetlab.fidelity.suite import REGISTRY, Outcome, judge, render, run_suite

from .conftest import REPO


def test_there_are_at_least_sixty_scenarios_in_every_group() -> None:
    groups = {sc.group for sc in REGISTRY.values()}
    assert len(REGISTRY) >= 60 and groups == {"kubectl", "client", "flux", "helm"}
    assert all(sc.doc for sc in REGISTRY.values())


def test_normalising_blanks_what_differs_by_nature_and_keeps_the_rest() -> None:
    text = ("Applied revision: fid/x@sha1:0123456789abcdef0123456789abcdef01234567 at 2026-11-26T15:58:38Z, "
            "Reconciliation finished in 1.234567ms, next run in 10m0s; pod web-7d4b9c8f6d-x2v5b; stat "
            "/tmp/kustomization-1214669623/app")
    assert normalize(text, {"fidelity-local": "<repo>"}) == (
        "Applied revision: fid/x@sha1:<sha> at <time>, Reconciliation finished in <elapsed>, next run in 10m0s; pod "
        "web-<rs>-<pod>; stat /tmp/kustomization-<n>/app")
    assert normalize({"metadata": {"uid": "u", "name": "a"}}) == {"metadata": {"name": "a"}}
    assert table("NAME   READY   AGE\nweb    1/1     5s\n") == [["NAME", "READY", "AGE"], ["web", "1/1", "<age>"]]
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == "/a[1]: sandbox 2 != local 3"


def test_a_verdict_is_same_known_differs_or_failed() -> None:
    assert judge("x", "kubectl", {"sandbox": {"a": 1}, "local": {"a": 1}}, {"sandbox": None, "local": None}).verdict \
        == "same"
    out = judge("x", "kubectl", {"sandbox": {"a": 1}, "local": {"a": 2}}, {"sandbox": None, "local": None})
    assert out.verdict == "differs" and out.difference == "/a: sandbox 1 != local 2"
    scenario, key = next(iter(KNOWN))
    out = judge(scenario, "helm", {"sandbox": {key: 1}, "local": {key: 2}}, {"sandbox": None, "local": None})
    assert out.verdict == "known" and out.reasons == [KNOWN[(scenario, key)]]
    out = judge("x", "flux", {"sandbox": None, "local": {}}, {"sandbox": "boom", "local": None})
    assert out.verdict == "failed" and "sandbox: boom" in str(out.difference)


def test_every_known_difference_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for (scenario, key), reason in KNOWN.items():
        assert f"`{scenario}`" in readme, f"README: list the known difference of {scenario} ({key}): {reason}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Outcome]]:
    # a home of its own: the session's sandbox runs at FLEET_SANDBOX_SPEED, the suite's at the controllers' pace
    home = tmp_path_factory.mktemp("fidelity-home")
    with Sides(home, say=print) as sides:
        results = run_suite(sides, select())
    print("\n" + render(results))
    yield results


def test_the_sandbox_agrees_with_the_local_stack_on_every_scenario(outcomes: list[Outcome]) -> None:
    bad = [f"{o.scenario}: {o.verdict}: {o.difference}" for o in outcomes if o.verdict not in ("same", "known")]
    assert bad == [], "\n".join(bad)
    assert len(outcomes) == len(REGISTRY)
