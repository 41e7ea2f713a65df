"""The install manifests of the Flux release the local stack builds: the release's own `install.yaml`,
assembled by `fleet local build` from flux2's `manifests/` and each controller module's `config/` at the
pinned tags (fleetlab.release.assembled), so every object (CRDs, RBAC with its real names, Deployments, quota,
network policies) is upstream's. The controller Deployments get kwok pods; their containers run on the host
(fleetlab.local.supervisor), the binary chosen by the version the image names.

    text = install_yaml()        # what the sandbox GitHub serves as fluxcd/flux2 <version>/install.yaml
"""

from __future__ import annotations

from fleetlab.versions import LOCAL, LocalVersions, assembled_release


def install_yaml(versions: LocalVersions = LOCAL) -> str:
    path = assembled_release(versions) / "install.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no install manifests of Flux {versions.flux.version} in the local build; "
                                "run `fleet local build`")
    return path.read_text()


def release_asset(repo_at_tag: str, asset: str, versions: LocalVersions = LOCAL) -> bytes | None:
    repo, _, tag = repo_at_tag.partition("@")
    if repo == "fluxcd/flux2" and asset == "install.yaml" and tag == versions.flux.version:
        try:
            return install_yaml(versions).encode()
        except FileNotFoundError:
            return None
    return None
