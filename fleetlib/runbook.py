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
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fleetlib import options as options_model
from fleetlib import targets, textview
from fleetlib.errors import InputError, ParameterError
from fleetlib.files import private_files
from fleetlib.fleetrepo import flux_system_files
from fleetlib.github import GitHub
from fleetlib.github import open_client as open_github
from fleetlib.kube import Kube
from fleetlib.kube import open_client as open_kube
from fleetlib.locations import fleet_home, fleet_root
from fleetlib.options import RunbookOptions
from fleetlib.parameters import (
    Catalog,
    ClusterParams,
    Layer,
    check_no_secrets,
    merge_and_validate,
    provenance,
    secret_strings,
)
from fleetlib.redact import schedule_redaction

RUNBOOK_PARAMETERS = options_model.SOURCE
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open",
                            "PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH"})  # papermill's --inject-paths


@dataclass(frozen=True)
class Run:
    """A resolved runbook run: the cluster's parameters, the runbook's options, and where they came from."""

    name: str
    catalog: Catalog
    params: ClusterParams
    options: RunbookOptions
    """The runbook's options, validated (`run.options.dry_run` is a bool)."""
    layers: tuple[Layer, ...]

    def summary(self) -> str:
        p = self.params
        return (f"{self.name}: {p.id} target={p.target} context={targets.context_of(p)} flux={p.version}\n"
                f"  repository {p.repo_slug}@{p.branch}\n  folder {p.path}")

    def parameter_table(self) -> pd.DataFrame:
        """Every resolved parameter with the file or flag that set it."""
        origin = provenance(self.layers)
        data = self.params.as_yaml_data()
        rows = [{"key": k, "value": v, "source": origin.get(k, "(selection)" if k in ("cluster", "stage") else
                                                              "(model default)")}
                for k, v in data.items()]
        return pd.DataFrame(rows, columns=["key", "value", "source"])

    @functools.cached_property
    def where(self) -> targets.Endpoints:
        """Where this run talks to (fleetlib.targets, resolved once a run): for target sandbox this starts the
        sandbox in this process; for live it needs the GitHub token."""
        return targets.resolve(self.params, home=fleet_home())

    @functools.cached_property
    def kube(self) -> Kube:
        """The cluster's API client, through `where`; a live run that only reads the cluster needs no token."""
        if "where" not in self.__dict__:
            found = targets.kube_only(self.params, home=fleet_home())
            if found.github_api:  # the whole endpoints (a stand-in): the run's, resolved once
                self.__dict__["where"] = found
            return open_kube(found)
        return open_kube(self.where)

    @functools.cached_property
    def hub(self) -> GitHub:
        """The fleet's GitHub, through `where`."""
        return open_github(self.where)

    def cluster_facts(self) -> pd.DataFrame:
        """Where the run is connected and what answers there (Kubernetes version, nodes, flux-system)."""
        facts = self.kube.facts()
        return pd.DataFrame({"fact": list(facts), "value": [str(v) for v in facts.values()]})

    def repo_files(self) -> pd.DataFrame:
        """The fleet-repo files this cluster's Flux installation lives in."""
        return pd.DataFrame({"file": flux_system_files(self.params.path)})

    def inspection(self) -> dict[str, Any]:
        """What the inspect runbook showed, for its record (`fleet results`): every parameter with its source, the
        fleet-repo files, and what answers at the cluster."""
        table = self.parameter_table()
        return {"cluster": str(self.params.id), "target": self.params.target,
                "context": targets.context_of(self.params),
                "parameters": {r["key"]: {"value": r["value"], "source": r["source"]} for r in table.to_dict("records")},
                "repo_files": list(flux_system_files(self.params.path)),
                "facts": {k: str(v) for k, v in self.kube.facts().items()}}


_LITERALS = (str, int, float, bool, list, dict, tuple, type(None))


def _user_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Names a run may have been given: papermill injects literals only, so imports and objects are skipped."""
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _IPYTHON_NAMES and isinstance(v, _LITERALS)}


def start(name: str, namespace: Mapping[str, Any], *, catalog: Catalog | None = None) -> Run:
    """Resolve a runbook's parameters from the notebook namespace (`globals()`).

    Every value is checked before anything happens: unknown names, secrets given as values, each option
    against the runbook's model (types, choices, bounds), then the cluster's layered parameters with the
    run's overrides. The first problem raises a ParameterError naming the parameter."""
    private_files()
    model = options_model.model(name)
    given = _user_names(namespace)
    unknown = sorted(set(given) - set(model.model_fields))
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            source=RUNBOOK_PARAMETERS,
            hint=f"runbook {name!r} takes: " + ", ".join(model.model_fields),
        )
    try:
        check_no_secrets(Layer(RUNBOOK_PARAMETERS, given))
    except ParameterError as e:
        where = schedule_redaction(secret_strings(given))
        if where is not None:
            raise ParameterError(e.message, hint=f"{e.hint}; papermill wrote the value into {where.name}'s parameters "
                                                 "cell: fleetlib replaces it there when papermill exits") from None
        raise
    catalog = catalog or Catalog.load(fleet_root())
    options = options_model.parse(name, given)
    params, layers = resolve(catalog, options, source=RUNBOOK_PARAMETERS)
    show_text_whole()
    textview.install()
    return Run(name=name, catalog=catalog, params=params, options=options, layers=layers)


def resolve(catalog: Catalog, options: RunbookOptions, *, source: str) -> tuple[ClusterParams, tuple[Layer, ...]]:
    """The cluster's parameters with the run's overrides, and whether the options can work on that cluster: the
    same checks for a notebook's first cell and for `fleet run` before any job starts."""
    cid = catalog.find(options.cluster, stage=options.stage)
    layers = (*catalog.layers(cid), Layer(source, options.override_values()))
    params = merge_and_validate(cid, layers)
    try:
        targets.require(params.target)
    except InputError as e:
        raise ParameterError(f"key 'target': {e.message}", source=source, hint=e.hint) from None
    problem = options.against(params)
    if problem:  # "field: text", as the options' checks across fields name their field
        key, _, text = problem.partition(": ")
        raise ParameterError(f"key '{key}': {text}", source=source, hint="nothing was run; fix it and run again")
    return params, layers


def show_text_whole() -> None:
    """Tables in a runbook show evidence and remediations whole: no cell cut at 50 characters with '...'."""
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.width", 250)
