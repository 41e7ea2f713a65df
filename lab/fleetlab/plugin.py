"""How fleetlab plugs into fleetlib: the stand-in targets `sandbox` and `local` (entry points
`fleetlib.stand_ins`, see fleetlib.targets.StandIn), each turning a cluster's parameters into the endpoints its
runbooks talk to, and its fault rehearsal. The CLI verbs are registered by fleetlab.cli (`fleetlib.commands`).

    endpoints = sandbox.endpoints(params, home=fleet_home())
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetlab.versions import LOCAL, RELEASES
from fleetlib.errors import ClusterError
from fleetlib.parameters import ClusterParams
from fleetlib.targets import Endpoints


def _sandbox_github(home: Path, params: ClusterParams) -> dict[str, Any]:
    """The sandbox GitHub, which both stand-ins use (the local stack's controllers reach it over SSH)."""
    from fleetlab.github.home import github_token
    from fleetlab.sandbox import Sandbox

    sandbox = Sandbox.running(home)
    sandbox.hub.ensure_account(params.owner, personal=params.personal)
    web = sandbox.github_url
    return {"github_api": sandbox.github_api_url, "github_web": web,
            "github_where": f"the sandbox GitHub at {web} (as {params.hostname})", "token_env": None,
            "_token": github_token(home), "review": "`fleet sandbox pr show {number} --repo {repo}` (then merge)",
            "github_options": {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None}}


RELEASES_HINT = ("the stand-ins serve Flux " + ", ".join(sorted(RELEASES)) + f", and {LOCAL.flux.version} once "
                 "`fleet local build` has built it")


def helm_binary() -> str | None:
    from fleetlab.flux.helmrender import helm_binary as built_or_found

    return built_or_found()


class SandboxStandIn:
    """`target: sandbox`: this process's sandbox servers, started on first use."""

    def endpoints(self, params: ClusterParams, *, home: Path) -> Endpoints:
        from fleetlab.sandbox import Sandbox, context_name

        sandbox = Sandbox.running(home)
        sandbox.add_cluster(params.id)
        kubeconfig = sandbox.write_kubeconfig(current=params.id)
        hub = _sandbox_github(home, params)
        return Endpoints("sandbox", params, kubeconfig, context_name(params.id),
                         f"the sandbox API server at {sandbox.server_url(params.id)} (context {context_name(params.id)})",
                         flux_version=params.version,
                         release_url=f"{hub['github_web']}/fluxcd/flux2/releases/download/{params.version}/install.yaml",
                         prometheus_url=sandbox.prometheus_url(params.id), prometheus_token_env=None,
                         http_proxy=sandbox.charts.proxy_url if sandbox.charts else None, helm=helm_binary(),
                         releases_hint=RELEASES_HINT, **hub)

    def rehearsal(self, params: ClusterParams, *, home: Path) -> Any:
        from fleetlab.faults.cluster import InProcess
        from fleetlab.faults.scenarios import Rehearsal
        from fleetlab.sandbox import Sandbox

        sandbox = Sandbox.running(home)
        return Rehearsal(InProcess(sandbox.add_cluster(params.id)), sandbox.hub, f"sandbox cluster {params.id}")

    def context_name(self, params: ClusterParams) -> str:
        from fleetlab.sandbox import context_name

        return context_name(params.id)


class LocalStandIn:
    """`target: local`: the running local cluster, and the sandbox GitHub it fetches from."""

    def _running(self, params: ClusterParams, home: Path) -> Any:
        from fleetlab.local.cluster import LocalCluster

        cluster = LocalCluster(home, params.id)
        if not cluster.running():
            raise ClusterError(f"local cluster {params.id} is not running",
                               hint=f"start it: fleet local up --stage {params.stage} --cluster {params.cluster} "
                                    "(after `fleet local build`)")
        return cluster

    def endpoints(self, params: ClusterParams, *, home: Path) -> Endpoints:
        from fleetlab.local.cluster import context_name, fleet_kubeconfig
        from fleetlab.versions import LOCAL

        cluster = self._running(params, home)
        hub = _sandbox_github(home, params)
        version = LOCAL.flux.version
        notes = () if version == params.version else (
            f"the local stack runs Flux {version}: the nearest release the Go module proxy serves whole "
            f"(the parameters say {params.version})",)
        return Endpoints("local", params, fleet_kubeconfig(home), context_name(params.id),
                         f"the local cluster at {cluster.server()} (context {context_name(params.id)})",
                         flux_version=version,
                         release_url=f"{hub['github_web']}/fluxcd/flux2/releases/download/{version}/install.yaml",
                         prometheus_url=f"http://127.0.0.1:{cluster.ports()['prometheus']}/clusters/{params.stage}/"
                                        f"{params.cluster}",
                         prometheus_token_env=None, notes=notes,
                         http_proxy=f"http://127.0.0.1:{cluster.ports()['charts']}", helm=helm_binary(),
                         releases_hint=RELEASES_HINT, **hub)

    def rehearsal(self, params: ClusterParams, *, home: Path) -> Any:
        from fleetlab.faults.scenarios import Rehearsal
        from fleetlab.sandbox import Sandbox

        cluster = self._running(params, home)
        return Rehearsal(cluster.fault_kube(), Sandbox.running(home).hub, f"local cluster {params.id}")

    def context_name(self, params: ClusterParams) -> str:
        from fleetlab.local.cluster import context_name

        return context_name(params.id)


sandbox = SandboxStandIn()
local = LocalStandIn()
