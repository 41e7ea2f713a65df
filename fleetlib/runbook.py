"""What a runbook notebook calls: resolve its parameters into one validated object, then show it.

A runbook's `parameters` cell holds literals (papermill injects its `-p/-y/-f` values after it);
the next cell hands the notebook's namespace to `start`, which picks out the runbook's options and
the cluster-parameter overrides (a None value means "keep the parameters files' value"), rejects
any other injected name, and resolves the cluster through the layered parameters.

    from fleetlib import runbook
    run = runbook.start("inspect", globals())
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fleetlib.errors import ParameterError
from fleetlib.fleetrepo import flux_system_files
from fleetlib.kube import Kube
from fleetlib.kube import connect as kube_connect
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.model import DEFAULT_STAGE
from fleetlib.parameters import Catalog, ClusterParams, Layer, merge_and_validate, provenance

SELECTION = ("cluster", "stage")
"""Every runbook's first two parameters: which cluster it acts on."""

RUNBOOK_PARAMETERS = "runbook parameters"
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


@dataclass(frozen=True)
class RunbookSpec:
    """The parameters a runbook declares besides cluster and stage."""

    name: str
    overrides: tuple[str, ...] = ()
    """Cluster-parameter keys the runbook lets a run override."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Runbook-only options and their defaults (dry_run, force...)."""

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return (*SELECTION, *self.overrides, *self.options)


BOOTSTRAP_OVERRIDES = (
    "target", "context", "version", "components", "components_extra", "branch", "path", "interval", "personal",
    "private", "read_write_key", "ssh_key_algorithm", "ssh_ecdsa_curve", "ssh_rsa_bits", "secret_name", "namespace",
    "network_policy", "registry", "toleration_keys", "author_name", "author_email",
)

SPECS: dict[str, RunbookSpec] = {
    "inspect": RunbookSpec("inspect", overrides=("target", "context", "branch", "path")),
    "bootstrap": RunbookSpec("bootstrap", overrides=BOOTSTRAP_OVERRIDES,
                             options={"dry_run": False, "force": False, "rotate_key": False, "timeout": "5m"}),
    "troubleshoot": RunbookSpec("troubleshoot", overrides=("target", "context"),
                                options={"reconcile_failed": False, "resume_suspended": False, "fail_on": "error"}),
    "tune-resources": RunbookSpec("tune-resources", overrides=("target", "context", "branch", "prometheus_url"),
                                  options={"strategy": "flux", "base": "krr-simple", "cpu_percentile": 95.0,
                                           "memory_buffer": 0.15, "history": "14d", "step": "30s",
                                           "usage_source": "auto", "sample_window": "30m", "sample_interval": "15s",
                                           "min_change": 0.1, "until": None, "apply": "none", "out_dir": None}),
}


@dataclass(frozen=True)
class Run:
    """A resolved runbook run: the cluster's parameters, the runbook's options, and where they came from."""

    spec: RunbookSpec
    catalog: Catalog
    params: ClusterParams
    options: Mapping[str, Any]
    layers: tuple[Layer, ...]

    def summary(self) -> str:
        p = self.params
        return (f"{self.spec.name}: {p.id} target={p.target}"
                f"{' context=' + p.context if p.target == 'live' and p.context else ''}"
                f" repo={p.repo_slug}@{p.branch} path={p.path} flux={p.version}")

    def parameter_table(self) -> pd.DataFrame:
        """Every resolved parameter with the file or flag that set it."""
        origin = provenance(self.layers)
        data = self.params.as_yaml_data()
        rows = [{"key": k, "value": v, "source": origin.get(k, "(model default)" if k not in SELECTION else "(selection)")}
                for k, v in data.items()]
        return pd.DataFrame(rows, columns=["key", "value", "source"])

    @functools.cached_property
    def kube(self) -> Kube:
        """The cluster's API client; for target sandbox this starts the sandbox in this process."""
        return kube_connect(self.params, home=fleet_home())

    def cluster_facts(self) -> pd.DataFrame:
        """Where the run is connected and what answers there (Kubernetes version, nodes, flux-system)."""
        facts = self.kube.facts()
        return pd.DataFrame({"fact": list(facts), "value": [str(v) for v in facts.values()]})

    def repo_files(self) -> pd.DataFrame:
        """The fleet-repo files this cluster's Flux installation lives in."""
        return pd.DataFrame({"file": flux_system_files(self.params.path)})


_LITERALS = (str, int, float, bool, list, dict, tuple, type(None))


def _user_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Names a run may have been given: papermill injects literals only, so imports and objects are skipped."""
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _IPYTHON_NAMES and isinstance(v, _LITERALS)}


def start(name: str, namespace: Mapping[str, Any], *, catalog: Catalog | None = None) -> Run:
    """Resolve a runbook's parameters from the notebook namespace (`globals()`)."""
    spec = SPECS[name]
    given = _user_names(namespace)
    unknown = sorted(set(given) - set(spec.parameter_names))
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            source=RUNBOOK_PARAMETERS,
            hint=f"runbook {name!r} takes: " + ", ".join(spec.parameter_names),
        )
    catalog = catalog or Catalog.load(fleet_root())
    overrides = {k: given[k] for k in spec.overrides if given.get(k) is not None}
    cid = catalog.find(str(given.get("cluster", "")), stage=given.get("stage") or DEFAULT_STAGE)
    layers = (*catalog.layers(cid), Layer(RUNBOOK_PARAMETERS, overrides))
    params = merge_and_validate(cid, layers)
    options = {k: given.get(k, default) for k, default in spec.options.items()}
    return Run(spec=spec, catalog=catalog, params=params, options=options, layers=layers)
