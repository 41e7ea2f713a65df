"""The embedded sandbox: a Kubernetes API server speaking the real wire protocol and a local GitHub,
so kubectl, the official client and PyGithub work unchanged against it.

Layout: `registry` (types and discovery), `store` (SQLite state), `apiserver` (API semantics),
`patch`/`apply`/`selectors` (pure helpers), `kubehttp` and `openapi` (HTTPS front), `hub` and `bare`
(GitHub and its bare repositories), `release` (Flux install manifests), `pki` (CA and tokens),
`server` (lifecycle).

    sandbox = Sandbox.running(fleet_home())
    sandbox.add_cluster(ClusterId("dev", "services-amer"))
"""

from fleetlib.sandbox.server import Sandbox, context_name, reset, status

__all__ = ["Sandbox", "context_name", "reset", "status"]
