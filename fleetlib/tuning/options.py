"""The tune-resources runbook's options and the strategy settings they stand for."""

from __future__ import annotations

from typing import Any

from fleetlib import options as options_model
from fleetlib.options import TuneResourcesOptions
from fleetlib.tuning.strategies import Settings

RUNBOOK = "tune-resources"

def tune_options(**values: Any) -> TuneResourcesOptions:
    """Tuning options from keyword values, checked as the runbook checks its parameters."""
    parsed = options_model.parse(RUNBOOK, values)
    assert isinstance(parsed, TuneResourcesOptions)
    return parsed


def settings_of(options: TuneResourcesOptions) -> Settings:
    """The strategy settings the options stand for."""
    return Settings(cpu_percentile=float(options.cpu_percentile), memory_buffer=float(options.memory_buffer),
                    base=options.base, min_change=float(options.min_change))
