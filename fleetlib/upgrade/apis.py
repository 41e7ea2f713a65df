"""Which API versions a Flux release serves, and what that means for manifests and stored objects. Pure.

A release's `install.yaml` holds one CRD per Flux kind: its served versions, which are deprecated, and the storage
version (what `flux migrate` moves everything to). From two releases' CRDs:

- `git_rows`: the Flux objects of a cluster's folder whose `apiVersion` is not the target's storage version:
  `deprecated in vX` (served, with a warning), `removed in vX` (the release does not serve it: kustomize-controller
  fails to apply it);
- `migrate_text`: a manifest file with those `apiVersion` lines rewritten to the storage version, every other byte
  as it was (what `flux migrate -f .` does to a repository);
- `blocked`: the kinds whose stored versions a release's CRD would drop: Kubernetes refuses such a CRD update
  (`status.storedVersions[0]: Invalid value: "v1beta2": must appear in spec.versions`) until every object is stored
  at a version it keeps; when even the current storage version is not one it serves (OCIRepository v1beta2 on
  Flux v2.5 against v2.7 or later) the upgrade goes through a release that serves both (v2.6).

    target = release_apis(install_text)
    rows = git_rows(files, target, "v2.9.2")
    text = migrate_text(text, target)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from fleetlib.manifests import parse_release
from fleetlib.objects import Ref, group_of, spec_of

FLUX_GROUP = re.compile(r"^[a-z]+\.toolkit\.fluxcd\.io$")
MIN_KUBERNETES = {(2, 5): (1, 30), (2, 6): (1, 31), (2, 7): (1, 32), (2, 8): (1, 33), (2, 9): (1, 33)}
"""The Kubernetes version each Flux minor release needs, as its `flux check --pre` checks it (flux2
cmd/flux/check.go kubernetesConstraints at v2.5.1, v2.6.4, v2.7.4, v2.8.8, v2.9.2)."""
STEPS = {("source.toolkit.fluxcd.io", "OCIRepository", "v1beta2"): "v2.6.4"}
"""A release that serves a stored version which later releases dropped, and stores the version they serve:
the step an upgrade takes first (source-controller v1.6.2: OCIRepository v1 stored, v1beta2 served)."""


@dataclass(frozen=True)
class KindApis:
    group: str
    kind: str
    plural: str
    served: tuple[str, ...]
    deprecated: tuple[str, ...]
    storage: str


def release_apis(install_text: str) -> dict[tuple[str, str], KindApis]:
    """Per (group, kind) of a release's Flux CRDs, what it serves."""
    out = {}
    for crd in parse_release(install_text):
        spec = spec_of(crd)
        if crd.get("kind") != "CustomResourceDefinition" or not FLUX_GROUP.match(str(spec.get("group", ""))):
            continue
        versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
        names = spec.get("names") or {}
        out[(spec["group"], names["kind"])] = KindApis(
            spec["group"], names["kind"], names["plural"], tuple(v["name"] for v in versions if v.get("served")),
            tuple(v["name"] for v in versions if v.get("deprecated")),
            next(v["name"] for v in versions if v.get("storage")))
    return out


def is_flux(api_version: str) -> bool:
    return bool(FLUX_GROUP.match(group_of(api_version)))


def state(api_version: str, kind: str, apis: Mapping[tuple[str, str], KindApis], release: str) -> str | None:
    """What `release` makes of a Flux object at `api_version`: None when it is the storage version."""
    group, _, version = api_version.rpartition("/")
    found = apis.get((group, kind))
    if found is None:
        return f"no {kind} in {release}"
    if version == found.storage:
        return None
    if version not in found.served:
        return f"removed in {release}"
    return f"deprecated in {release}" if version in found.deprecated else f"older than {release}'s {found.storage}"


def git_rows(files: Mapping[str, str], apis: Mapping[tuple[str, str], KindApis], release: str
             ) -> list[dict[str, str]]:
    """Every Flux object of the files at a version other than the release's storage version."""
    rows = []
    for path, text in sorted(files.items()):
        for doc in _docs(text):
            api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
            if not is_flux(api_version):
                continue
            said = state(api_version, kind, apis, release)
            if said is not None:
                found = apis.get((group_of(api_version), kind))
                rows.append({"file": path, "object": str(Ref.of(doc)), "version": api_version.rpartition("/")[2],
                             "to": found.storage if found else "", "state": said})
    return rows


def migrate_text(text: str, apis: Mapping[tuple[str, str], KindApis]) -> str:
    """The file with each Flux object's `apiVersion` line set to the release's storage version (a kind the release
    does not have is left as it is)."""
    out = []
    for chunk in re.split(r"(?m)(?=^---[ \t]*$)", text):
        doc = next(iter(_docs(chunk)), None)
        if doc is not None and is_flux(str(doc.get("apiVersion", ""))):
            group = group_of(str(doc["apiVersion"]))
            found = apis.get((group, str(doc.get("kind"))))
            if found is not None:
                chunk = re.sub(rf"(?m)^apiVersion:([ \t]*)[\"']?{re.escape(str(doc['apiVersion']))}[\"']?([ \t]*(#.*)?)$",
                               rf"apiVersion:\g<1>{group}/{found.storage}\g<2>", chunk, count=1)
        out.append(chunk)
    return "".join(out)


def blocked(storage_now: Mapping[tuple[str, str], str], apis: Mapping[tuple[str, str], KindApis]
            ) -> list[tuple[str, str, str]]:
    """(group, kind, version) a release would drop although objects stay stored at it: stored versions other than
    the current storage version go with a storage migration (this runbook's, as `flux migrate` does); the current
    storage version (`storage_now`, per kind: what the cluster's CRD stores now) cannot."""
    return [(group, kind, version) for (group, kind), version in sorted(storage_now.items())
            if (group, kind) in apis and version not in apis[(group, kind)].served]


def _docs(text: str) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []


def minimum_kubernetes(version: str) -> tuple[int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)\.", version)
    return MIN_KUBERNETES.get((int(m[1]), int(m[2]))) if m else None

