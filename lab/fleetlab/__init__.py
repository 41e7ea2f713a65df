"""fleetlab: everything that stands in for the outside world, so fleetlib's runbooks can be rehearsed with no
cluster and no token. Each folder plays one system and opens with how real it is:

- `kubernetes/`: a Kubernetes API server on the real wire protocol (HTTPS, discovery, watch, server-side apply,
  validation, tables, protobuf for a few kinds), over SQLite.
- `github/`: GitHub's REST API as PyGithub calls it, git over smart HTTP and SSH, an Enterprise host behind a proxy.
- `charts/`: the fleet's offline Helm repository and OCI registry, and the chart server in front of them.
- `metrics/`: a Prometheus-compatible API and metrics.k8s.io from a deterministic usage model; the local stack's
  scrapes.
- `release/`: the Flux release's install manifests (v2.5.1 written from its facts; the built release's CRDs).
- `flux/`: the mini-Flux: source-, kustomize-, helm- and notification-controller and a kubelet.
- `faults/`: the fault scenarios, for both stand-ins.
- `sandbox/`: the pure-Python stand-in assembled from the above (`target: sandbox`).
- `local/`: upstream Kubernetes, kwok and the real Flux controllers built from the Go module proxy (`target: local`).
- `fidelity/`: the differential suite that holds the sandbox against the local stack.
- `cli/`: the `fleet sandbox`, `fleet local`, `fleet charts` and `fleet oci` verbs.

fleetlib never imports fleetlab: it finds the stand-ins through the entry points in lab/pyproject.toml
(`fleetlab.plugin`): targets `sandbox` and `local`, and the CLI verbs.
"""
