"""Every version fact of the stand-ins, in one module: what the local stack builds, pinned (upstream Kubernetes,
etcd, kwok and a Flux release's controllers, all from the Go module proxy with the `go` command), the Flux
releases the sandbox serves (RELEASES), and where built binaries live (cache_dir, bin_dir, flux_cli, assembled_release).

Flux v2.5.1's source-controller v1.5.0, kustomize-controller v1.5.1 and helm-controller v1.2.0 are not
served by the module proxy these machines reach (403 "not available" for their `.mod` or `.zip`; only their
`api` modules and notification-controller v1.5.0 are). No v2.6, v2.7 or v2.8 release is served whole either
(v2.7.3's notification-controller v1.7.4, v2.6.4's source-controller v1.6.2, no notification-controller v1.7.x
or v1.8.x at all), nor v2.9.0 (its notification-controller v1.9.1) or v2.9.1 (its kustomize-controller v1.9.2)
(checked again 2026-12-06). The oldest release whose four controllers, `api` modules included, are all served
is v2.9.2 (flux2's manifests/bases pin source v1.9.3, kustomize v1.9.3, helm v1.6.2, notification v1.9.2). A
bootstrap on `target: local` installs it and says so; the sandbox and live keep the cluster's own version.
v2.9 serves only the GA API versions (OCIRepository v1, no v1beta2), which fleetlib reads through discovery.

    LOCAL.flux.version          # "v2.9.2"
    LOCAL.key                   # the cache folder's name: every pinned version in one string
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fleetlib.locations import fleet_home

GO_MIN = (1, 26)
"""The go command these builds need (kwok v0.8.0 says `go 1.26.0`)."""


@dataclass(frozen=True)
class FluxRelease:
    version: str
    controllers: dict[str, str]
    """controller -> module version (github.com/fluxcd/<controller>, and its `api` module at the same tag)."""


@dataclass(frozen=True)
class LocalVersions:
    kubernetes: str
    """k8s.io/kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler."""
    etcd: str
    """go.etcd.io/etcd/server/v3, the version that Kubernetes release requires."""
    kwok: str
    flux: FluxRelease
    helm: str = "v4.2.2"
    """helm.sh/helm/v4: the helm CLI, at the version the release's helm-controller links (the sandbox renders
    charts with its `helm template`)."""
    requested_flux: str = "v2.5.1"
    """The release the fleet's parameters name; `flux.version` is what the proxy lets us build."""
    unavailable: tuple[str, ...] = field(default=())
    """Why `flux` differs from `requested_flux`: the modules the proxy refused."""

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}_flux-{self.flux.version}"

    @property
    def helm_module(self) -> str:
        return f"helm.sh/helm/v{self.helm.lstrip('v').split('.')[0]}"

    @property
    def kubernetes_minor(self) -> str:
        major, minor, _ = self.kubernetes.lstrip("v").split(".")
        return f"v0.{minor}.{self.kubernetes.rsplit('.', 1)[1]}"


LOCAL = LocalVersions(
    kubernetes="v1.34.4",
    etcd="v3.6.4",
    kwok="v0.8.0",
    flux=FluxRelease("v2.9.2", {"source-controller": "v1.9.3", "kustomize-controller": "v1.9.3",
                                "helm-controller": "v1.6.2", "notification-controller": "v1.9.2"}),
    unavailable=("github.com/fluxcd/source-controller@v1.5.0", "github.com/fluxcd/kustomize-controller@v1.5.1",
                 "github.com/fluxcd/helm-controller@v1.2.0"),
)


RELEASES: dict[str, dict[str, str]] = {
    "v2.6.4": {
        "source-controller": "v1.6.2",
        "kustomize-controller": "v1.6.1",
        "helm-controller": "v1.3.0",
        "notification-controller": "v1.6.0",
        "image-reflector-controller": "v0.35.2",
        "image-automation-controller": "v0.41.2",
    },
    "v2.5.1": {
        "source-controller": "v1.5.0",
        "kustomize-controller": "v1.5.1",
        "helm-controller": "v1.2.0",
        "notification-controller": "v1.5.0",
        "image-reflector-controller": "v0.34.0",
        "image-automation-controller": "v0.40.0",
    },
}
"""Flux release -> the controller versions it bundles (flux2 manifests/bases at the tag): the releases the
sandbox serves written from these facts (fleetlab.release.manifests). v2.6.4 is there as the step an upgrade
from v2.5 to v2.7 or later takes (the first release storing OCIRepository at v1 while serving v1beta2); the
sandbox also serves the local stack's built v2.9.2."""


FLUX_CLI_VERSIONS = ("v2.5.1", LOCAL.flux.version)
"""The flux CLIs `fleet local build` makes: the sandbox's default clusters' release and the local stack's."""


# --- where the build puts what it makes (read by the sandbox's helm-controller and the release assembly) ---


def cache_dir() -> Path:
    """Where built binaries live: $FLEET_LOCAL_CACHE (shared by test sessions and CI runs of one checkout), else
    FLEET_HOME/cache/local."""
    explicit = os.environ.get("FLEET_LOCAL_CACHE")
    return Path(explicit).expanduser() if explicit else fleet_home() / "cache" / "local"


def bin_dir(versions: LocalVersions = LOCAL, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / versions.key / "bin"


def flux_cli(version: str, versions: LocalVersions = LOCAL, cache: Path | None = None) -> Path:
    """The flux CLI of a Flux release, built from `github.com/fluxcd/flux2/v2` (FLUX_CLI_VERSIONS)."""
    return bin_dir(versions, cache) / f"flux-{version}"


def assembled_release(versions: LocalVersions = LOCAL, cache: Path | None = None) -> Path:
    """The folder of the built release's real install manifests (fleetlab.release.assembled): install.yaml and
    the CLI's bundle/."""
    return (cache or cache_dir()) / versions.key / "release" / versions.flux.version
