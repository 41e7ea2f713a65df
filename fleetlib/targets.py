"""Targets in one place: `sandbox`, `local` or `live` turned into the endpoints every adapter needs, so no
other module compares `target`. fleetlib never imports the stand-ins: `sandbox` and `local` are registered
by fleetlab (a second distribution, lab/) under the `fleetlib.stand_ins` entry points, found on first use, and
a target whose stand-in is not installed is refused in one line saying what to install.

- **sandbox**: the process's sandbox servers (started on first use): its API server and kubeconfig
  context `sandbox-<stage>-<cluster>`, its GitHub (REST, git over HTTP, release downloads), its Prometheus.
- **local**: the running local cluster (real Kubernetes and Flux controllers), its context
  `local-<stage>-<cluster>` in the fleet kubeconfig and its Prometheus; GitHub is the sandbox GitHub (the
  controllers reach its SSH endpoint as github.com). The Flux release is the one the local stack builds.
- **live**: the cluster's kube context, github.com (or the GitHub Enterprise `hostname`) with the token from
  the environment variable `token_env`, and `prometheus_url`.

    endpoints = resolve(params, home=fleet_home())
    kube = kube.connect(endpoints); hub = github.connect(endpoints)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from fleetlib.errors import InputError
from fleetlib.parameters import ClusterParams


@dataclass(frozen=True)
class Endpoints:
    """Where one cluster's runbook talks to, and how."""

    target: str
    params: ClusterParams
    kubeconfig: Path | None
    """None: the user's kubeconfig ($KUBECONFIG or ~/.kube/config)."""
    context: str
    kube_where: str
    """What the API client talks to, for progress lines."""
    github_api: str
    github_web: str
    github_where: str
    token_env: str | None
    """The variable the GitHub token came from; None when no real token is used."""
    flux_version: str
    """The Flux release a bootstrap installs (the local stack's may differ from the parameters')."""
    release_url: str
    """Where `install.yaml` of that release is downloaded from."""
    prometheus_url: str | None
    prometheus_token_env: str | None
    notes: tuple[str, ...] = ()
    """What a runbook should say about this target (e.g. a substituted Flux version)."""
    github_options: Mapping[str, Any] = field(default_factory=dict)
    review: str | None = None
    """How a person opens a pull request after the run, with {repo} and {number}: the stand-ins' GitHub lives only as
    long as a process, so it is a `fleet` command there; None: the pull request's web page."""
    http_proxy: str | None = None
    """The HTTP proxy the cluster's source-controller reaches Helm repositories and OCI registries through (the
    stand-ins' chart server: charts.fleet.internal, registry.fleet.internal); None: direct."""
    releases_hint: str = "check the version and network access to github.com"
    """What to do when a release's install.yaml cannot be had here (the stand-ins say which releases they serve)."""
    helm: str | None = None
    """The helm CLI that renders charts as helm-controller does (the promote runbook's HelmRelease diff): the
    stand-ins' build, or $FLEET_HELM or `helm` on PATH for live; None: there is none."""
    _token: str = field(default="", repr=False)

    def release(self, version: str) -> Endpoints:
        """These endpoints for another Flux release (its install.yaml from the same place)."""
        return replace(self, flux_version=version, release_url=self.release_url.replace(self.flux_version, version))

    def token(self) -> str:
        return self._token

    @property
    def cache_releases(self) -> bool:
        """Releases from github.com are cached with a checksum; the stand-ins serve theirs locally."""
        return self.target == "live"


class StandIn(Protocol):
    """A stand-in target (`sandbox`, `local`): what fleetlab registers under the `fleetlib.stand_ins` entry points."""

    def endpoints(self, params: ClusterParams, *, home: Path) -> Endpoints:
        """The endpoints of the cluster on this stand-in, starting or finding it."""

    def rehearsal(self, params: ClusterParams, *, home: Path) -> Any:
        """The cluster's fault scenarios (fleetlab.faults.scenarios.Rehearsal)."""

    def context_name(self, params: ClusterParams) -> str:
        """The kube context the stand-in's kubeconfig gives the cluster (nothing is started)."""


ENTRY_POINTS = "fleetlib.stand_ins"
STAND_INS: dict[str, StandIn] = {}
"""The stand-ins found so far, by target name (papermill's engines registry is the model)."""
INSTALL_HINT = ("install the stand-ins: `pip install -e ./lab` in a clone of the fleetlib repository (`./dev run` and "
                "`./dev test` do it), or use target live")


def register(name: str, stand_in: StandIn) -> None:
    STAND_INS[name] = stand_in


def stand_in(target: str) -> StandIn:
    """The installed stand-in for a target; InputError saying what to install when there is none."""
    if target not in STAND_INS:
        for entry in entry_points(group=ENTRY_POINTS):
            if entry.name == target:
                register(target, entry.load())
    if target not in STAND_INS:
        raise InputError(f"target {target!r} needs fleetlab, fleetlib's stand-ins, which is not installed",
                         hint=INSTALL_HINT)
    return STAND_INS[target]


def require(target: str) -> None:
    """Nothing for live; for a stand-in target, InputError saying what to install when it is not installed."""
    if target != "live":
        stand_in(target)


def resolve(params: ClusterParams, *, home: Path, env: Mapping[str, str] = os.environ) -> Endpoints:
    """The endpoints of a cluster's target; for the stand-ins this starts or finds them."""
    if params.target != "live":
        return stand_in(params.target).endpoints(params, home=home)
    if not params.context:
        raise InputError(f"cluster {params.id} has target live but no kube context", hint="set context")
    token = env.get(params.token_env, "")
    if not token:
        raise InputError(f"the environment variable {params.token_env} is empty or unset",
                         hint=f"export {params.token_env} with a GitHub token (repo scope, admin on the repository)")
    api = api_url(params.hostname)
    return Endpoints("live", params, None, params.context, f"context {params.context}", api,
                     f"https://{params.hostname}", params.hostname, params.token_env, params.version,
                     f"https://github.com/fluxcd/flux2/releases/download/{params.version}/install.yaml",
                     params.prometheus_url, params.prometheus_token_env, _token=token,
                     helm=env.get("FLEET_HELM") or shutil.which("helm"))


def context_of(params: ClusterParams) -> str:
    """The kube context every tool uses for a cluster: its stand-in's for sandbox and local (the parameters'
    `context` is then the one a live run would use), the parameters' own for live; "-" when unknown."""
    if params.target == "live":
        return params.context or "-"
    try:
        return stand_in(params.target).context_name(params)
    except InputError:
        return "-"


def api_url(hostname: str) -> str:
    """GitHub's REST API for a host: api.github.com, or a GitHub Enterprise host's /api/v3."""
    return "https://api.github.com" if hostname == "github.com" else f"https://{hostname}/api/v3"


def kube_only(params: ClusterParams, *, home: Path) -> Endpoints:
    """Endpoints for reading a cluster without GitHub (no token needed for live)."""
    if params.target != "live":
        return resolve(params, home=home)
    return Endpoints("live", params, None, str(params.context), f"context {params.context}", "", "", params.hostname,
                     params.token_env, params.version, "", params.prometheus_url, params.prometheus_token_env)


def rehearsal(params: ClusterParams, *, home: Path) -> Any:
    """The fault scenarios of a stand-in cluster (the sandbox's in this process; a local cluster's through its
    Kubernetes API and the supervisor's records). A live cluster is refused: faults are rehearsed, never made on a
    real one."""
    if params.target == "live":
        raise InputError(f"{params.id} has target live: fault scenarios are rehearsed on the sandbox or a local "
                         "cluster, never made on a live one", hint="run it with -p target sandbox")
    return stand_in(params.target).rehearsal(params, home=home)
