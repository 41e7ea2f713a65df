"""The install manifests of the Flux release the local stack builds, assembled at run time: the real CRDs
of the downloaded controller modules (`config/crd/bases`, so `kubectl explain`, printer columns and schema
validation are upstream's), and the release's other objects as fleetlib generates them for the sandbox
(namespace, RBAC, services, controller Deployments with the built versions' images, network policies). The
controller Deployments get kwok pods; their containers run on the host (fleetlab.local.supervisor).

    text = install_yaml()        # what the sandbox GitHub serves as fluxcd/flux2 <version>/install.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fleetlab.release.manifests import crd_labels, install_objects
from fleetlab.versions import LOCAL, LocalVersions, crd_files

IMAGE_CONTROLLERS = {"image-reflector-controller": "v1.2.3", "image-automation-controller": "v1.2.3"}
"""Listed in the release (bootstrap installs them only on request); the local stack does not build them."""


def _component(path: Path) -> str:
    return path.parts[-5].split("@")[0]  # .../flux/<controller>@<version>/config/crd/bases/<file>


def crds(versions: LocalVersions = LOCAL) -> list[dict[str, Any]]:
    out = []
    for path in crd_files(versions):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                doc.setdefault("metadata", {}).setdefault("labels", {}).update(crd_labels(_component(path)))
                out.append(doc)
    return sorted(out, key=lambda d: d["metadata"]["name"])


_ASSEMBLED: dict[str, str] = {}


def install_yaml(versions: LocalVersions = LOCAL) -> str:
    if versions.key in _ASSEMBLED:
        return _ASSEMBLED[versions.key]
    definitions = crds(versions)
    if not definitions:
        raise FileNotFoundError(f"no CRDs of Flux {versions.flux.version} in the local build; run `fleet local build`")
    objects = install_objects(versions.flux.version, controllers={**versions.flux.controllers, **IMAGE_CONTROLLERS},
                              crds=definitions)
    _ASSEMBLED[versions.key] = "".join("---\n" + yaml.safe_dump(obj, sort_keys=False) for obj in objects)
    return _ASSEMBLED[versions.key]


def release_asset(repo_at_tag: str, asset: str, versions: LocalVersions = LOCAL) -> bytes | None:
    repo, _, tag = repo_at_tag.partition("@")
    if repo == "fluxcd/flux2" and asset == "install.yaml" and tag == versions.flux.version:
        try:
            return install_yaml(versions).encode()
        except FileNotFoundError:
            return None
    return None
