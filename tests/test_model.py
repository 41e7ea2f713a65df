"""Pure value types: durations as Flux writes them, quantities, identities."""

from __future__ import annotations

import pytest

from fleetlib.errors import InputError
from fleetlib.model import ClusterId, Duration
from fleetlib.objects import Ref
from fleetlib.quantity import format_cpu, format_memory, parse_quantity


@pytest.mark.parametrize(
    ("text", "seconds", "go"),
    [("1m", 60, "1m0s"), ("10m", 600, "10m0s"), ("30s", 30, "30s"), ("1h30m", 5400, "1h30m0s"),
     ("10m0s", 600, "10m0s"), ("500ms", 0.5, "500ms"), ("2h", 7200, "2h0m0s")],
)
def test_durations_format_as_go(text: str, seconds: float, go: str) -> None:
    d = Duration.parse(text)
    assert d.seconds == seconds and d.go() == go


@pytest.mark.parametrize("text", ["", "1", "m", "1x", "-1m", "1m ", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        Duration.parse(text)


@pytest.mark.parametrize(
    ("text", "value"), [("50m", 0.05), ("1", 1.0), ("1000m", 1.0), ("64Mi", 64 * 2**20), ("1Gi", 2**30), ("1k", 1000.0)]
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["lots", "1Qi", "", "1.2.3"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_formatting() -> None:
    assert format_cpu(0.05) == "50m" and format_cpu(1.0) == "1000m"
    assert format_memory(2**30) == "1Gi" and format_memory(64 * 2**20) == "64Mi" and format_memory(1.5 * 2**20) == "2Mi"


def test_identities_print_as_people_write_them() -> None:
    assert str(ClusterId("dev", "services-amer")) == "dev/services-amer"
    assert ClusterId.parse("prod/services-amer") == ClusterId("prod", "services-amer")
    assert str(Ref("Kustomization", "flux-system", "flux-system")) == "Kustomization/flux-system/flux-system"
    assert str(Ref("Namespace", None, "flux-system")) == "Namespace/flux-system"
    with pytest.raises(InputError):
        ClusterId("dev", "../x")
    with pytest.raises(InputError, match="STAGE/CLUSTER"):
        ClusterId.parse("services-amer")
