"""Where a cluster's controller usage comes from (its Prometheus, else metrics.k8s.io sampling), and the
strategies' input made from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fleetlib import targets
from fleetlib.errors import ParameterError
from fleetlib.kube import Kube
from fleetlib.metrics import ControllerUsage, MetricsServerSource, Prometheus, PrometheusSource, UsageSource
from fleetlib.options import TuneResourcesOptions
from fleetlib.parameters import ClusterParams
from fleetlib.tuning.strategies import Usage, parse_window


def usage_source(params: ClusterParams, kube: Kube, options: TuneResourcesOptions, *, home: Path) -> UsageSource:
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
