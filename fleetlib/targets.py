"""Targets in one place: `sandbox`, `local` or `live` turned into the endpoints every adapter needs, so no
other module compares `target` and nothing above the adapters imports the sandbox or the local stack.

- **sandbox**: this process's sandbox servers (started on first use): its API server and kubeconfig
  context `sandbox-<stage>-<cluster>`, its GitHub (REST, git over HTTP, release downloads), its Prometheus.
- **local**: the running local cluster (fleetlib.local: real Kubernetes and Flux controllers), its context
  `local-<stage>-<cluster>` in the fleet kubeconfig and its Prometheus; GitHub is the sandbox GitHub (the
  controllers reach its SSH endpoint as github.com). The Flux release is the one the local stack builds.
- **live**: the cluster's kube context, github.com (or the GitHub Enterprise `hostname`) with the token from
  the environment variable `token_env`, and `prometheus_url`.

    endpoints = resolve(params, home=fleet_home())
    kube = kube.connect(endpoints); hub = github.connect(endpoints)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetlib.errors import ClusterError, InputError
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
    http_proxy: str | None = None
    """The HTTP proxy the cluster's source-controller reaches Helm repositories and OCI registries through (the
    stand-ins' chart server: charts.fleet.internal, registry.fleet.internal); None: direct."""
    _token: str = field(default="", repr=False)

    def token(self) -> str:
        return self._token

    @property
    def cache_releases(self) -> bool:
        """Releases from github.com are cached with a checksum; the stand-ins serve theirs locally."""
        return self.target == "live"


def _sandbox_github(home: Path, params: ClusterParams) -> dict[str, Any]:
    from fleetlib.sandbox import Sandbox
    from fleetlib.sandbox.server import github_token

    sandbox = Sandbox.running(home)
    sandbox.hub.ensure_account(params.owner, personal=params.personal)
    web = sandbox.github_url
    return {"github_api": sandbox.github_api_url, "github_web": web,
            "github_where": f"the sandbox GitHub at {web} (as {params.hostname})", "token_env": None,
            "_token": github_token(home),
            "github_options": {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None}}


def resolve(params: ClusterParams, *, home: Path, env: Mapping[str, str] = os.environ) -> Endpoints:
    """The endpoints of a cluster's target; for the stand-ins this starts or finds them."""
    if params.target == "sandbox":
        from fleetlib.sandbox import Sandbox, context_name

        sandbox = Sandbox.running(home)
        sandbox.add_cluster(params.id)
        kubeconfig = sandbox.write_kubeconfig(current=params.id)
        hub = _sandbox_github(home, params)
        return Endpoints("sandbox", params, kubeconfig, context_name(params.id),
                         f"the sandbox API server at {sandbox.server_url(params.id)} (context {context_name(params.id)})",
                         flux_version=params.version,
                         release_url=f"{hub['github_web']}/fluxcd/flux2/releases/download/{params.version}/install.yaml",
                         prometheus_url=sandbox.prometheus_url(params.id), prometheus_token_env=None,
                         http_proxy=sandbox.charts.proxy_url if sandbox.charts else None, **hub)
    if params.target == "local":
        from fleetlib.local.cluster import LocalCluster, fleet_kubeconfig
        from fleetlib.local.cluster import context_name as local_context
        from fleetlib.local.release import release_asset as local_release
        from fleetlib.local.versions import LOCAL
        from fleetlib.sandbox.release import EXTRA_RELEASES

        cluster = LocalCluster(home, params.id)
        if not cluster.running():
            raise ClusterError(f"local cluster {params.id} is not running",
                               hint=f"start it: fleet local up --stage {params.stage} --cluster {params.cluster} "
                                    "(after `fleet local build`)")
        if local_release not in EXTRA_RELEASES:
            EXTRA_RELEASES.append(local_release)  # the sandbox GitHub serves the release the local stack built
        hub = _sandbox_github(home, params)
        version = LOCAL.flux.version
        notes = () if version == params.version else (
            f"the local stack runs Flux {version}: the nearest release the Go module proxy serves whole "
            f"(the parameters say {params.version})",)
        return Endpoints("local", params, fleet_kubeconfig(home), local_context(params.id),
                         f"the local cluster at {cluster.server()} (context {local_context(params.id)})",
                         flux_version=version,
                         release_url=f"{hub['github_web']}/fluxcd/flux2/releases/download/{version}/install.yaml",
                         prometheus_url=f"http://127.0.0.1:{cluster.ports()['prometheus']}/clusters/{params.stage}/"
                                        f"{params.cluster}",
                         prometheus_token_env=None, notes=notes,
                         http_proxy=f"http://127.0.0.1:{cluster.ports()['charts']}", **hub)
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
                     params.prometheus_url, params.prometheus_token_env, _token=token)


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
    """The fault scenarios of a stand-in cluster (fleetlib.sandbox.flux.faults.Rehearsal): the sandbox's, in
    this process; a local cluster's, through its Kubernetes API and the supervisor's records. A live cluster
    is refused: faults are rehearsed, never made on a real one."""
    from fleetlib.sandbox import Sandbox
    from fleetlib.sandbox.flux.faults import InProcess, Rehearsal

    if params.target == "sandbox":
        sandbox = Sandbox.running(home)
        return Rehearsal(InProcess(sandbox.add_cluster(params.id)), sandbox.hub, f"sandbox cluster {params.id}")
    if params.target == "local":
        from fleetlib.local.cluster import LocalCluster

        cluster = LocalCluster(home, params.id)
        if not cluster.running():
            raise ClusterError(f"local cluster {params.id} is not running",
                               hint=f"start it: fleet local up --stage {params.stage} --cluster {params.cluster}")
        return Rehearsal(cluster.fault_kube(), Sandbox.running(home).hub, f"local cluster {params.id}")
    raise InputError(f"{params.id} has target live: fault scenarios are rehearsed on the sandbox or a local cluster, "
                     "never made on a live one", hint="run it with -p target sandbox")
