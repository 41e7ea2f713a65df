"""The alerts runbook's address checks: one whole http(s) URL from the environment, refused with the variable's
name and never its value."""

from __future__ import annotations

import pytest

from fleetlib.alerts import secret_values
from fleetlib.errors import InputError
from fleetlib.options import AlertsOptions

GOOD = "https://hooks.example.com/flux"


@pytest.mark.parametrize("address", [f"{GOOD}\nX-Injected: 1", f"{GOOD} trailing", "https://", "ftp://x/y",
                                     "https://host:99999/x", "hooks.example.com/flux", "https://a\tb/"])
def test_an_address_that_is_not_one_url_is_refused_without_showing_it(address: str) -> None:
    options = AlertsOptions.model_validate({})
    with pytest.raises(InputError) as info:
        secret_values(options, {options.address_env: address})
    assert options.address_env in info.value.message and "example" not in info.value.message


def test_a_whole_url_is_the_secrets_address() -> None:
    options = AlertsOptions.model_validate({})
    assert secret_values(options, {options.address_env: f"  {GOOD}  "}) == {"address": GOOD}
