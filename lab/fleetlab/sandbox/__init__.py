"""The sandbox (`target: sandbox`, the default): the pure-Python stand-in, instant and offline, assembled in
this process from fleetlab's systems: the Kubernetes API server (fleetlab.kubernetes) with a mini-Flux
(fleetlab.flux) per cluster, the local GitHub (fleetlab.github), the chart server (fleetlab.charts) and the
Prometheus API (fleetlab.metrics). It behaves like the local stack wherever the differential suite compares them
and says where it does not. `server` starts, finds and resets it; `seed` adds realistic apps.

    sandbox = Sandbox.running(fleet_home())
    sandbox.add_cluster(ClusterId("dev", "services-amer"))
"""

from fleetlab.sandbox.server import Sandbox, context_name, reset, status

__all__ = ["Sandbox", "context_name", "reset", "status"]
