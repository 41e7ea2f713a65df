"""The Flux objects a cluster stores, and their migration to the storage versions, as `flux migrate` (flux2 v2.9
cmd/flux/migrate.go, cluster mode) does it.

What a cluster says of its storage, through the API: each Flux CRD's `status.storedVersions` (every version some
object may still be stored at) and its storage version; each object's `managedFields`, whose `apiVersion` names
the version each manager wrote it with (a server-side apply of a later version fails on a managedFields entry of a
version the CRD no longer serves).

`migrate`, per Flux CRD (labelled `app.kubernetes.io/part-of: flux`): every object read at the storage version
and written back: a JSON patch setting each managedFields entry's `apiVersion` to the storage version (fluxcd/pkg
ssa.PatchMigrateToVersion), or an empty merge patch when none differs (the write stores it at the storage
version); then `status.storedVersions` set to the storage version alone.

    rows = inventory(kube, release_apis(install_text), "v2.9.2")
    migrate(kube, say=print)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetlib.errors import FleetError
from fleetlib.kube import Kube
from fleetlib.objects import Ref, meta_of, spec_of, status_of
from fleetlib.upgrade.apis import KindApis, state

CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
FLUX_LABEL = "app.kubernetes.io/part-of=flux"


def flux_crds(kube: Kube) -> list[dict[str, Any]]:
    return [c for c in kube.list(*CRD, label_selector=FLUX_LABEL)
            if str(spec_of(c).get("group", "")).endswith(".toolkit.fluxcd.io")]


def storage_version(crd: dict[str, Any]) -> str:
    return next(str(v["name"]) for v in spec_of(crd).get("versions") or [] if v.get("storage"))


def key_of(crd: dict[str, Any]) -> tuple[str, str]:
    spec = spec_of(crd)
    return str(spec["group"]), str((spec.get("names") or {}).get("kind"))


def storage_now(kube: Kube) -> dict[tuple[str, str], str]:
    """Per Flux kind, the version its CRD stores objects at now."""
    return {key_of(c): storage_version(c) for c in flux_crds(kube)}


def _objects(kube: Kube, crd: dict[str, Any]) -> list[dict[str, Any]]:
    group, kind = key_of(crd)
    return kube.list(f"{group}/{storage_version(crd)}", kind)


def _old_entries(obj: dict[str, Any], api_version: str) -> list[int]:
    """The managedFields entries written at another version of the object's group."""
    group = api_version.rpartition("/")[0]
    return [i for i, entry in enumerate(meta_of(obj).get("managedFields") or [])
            if str(entry.get("apiVersion", "")).rpartition("/")[0] == group and entry.get("apiVersion") != api_version]


def inventory(kube: Kube, apis: Mapping[tuple[str, str], KindApis], release: str) -> list[dict[str, Any]]:
    """Per Flux CRD with something to migrate before or after `release`: its storage version, the versions it says
    are stored, how many objects it holds and how many carry managedFields of another version, and what `release`
    makes of what is stored (`removed in v2.9.2`)."""
    rows = []
    for crd in flux_crds(kube):
        group, kind = key_of(crd)
        storage = storage_version(crd)
        stored = [str(v) for v in status_of(crd).get("storedVersions") or []]
        objects = _objects(kube, crd)
        old = [o for o in objects if _old_entries(o, f"{group}/{storage}")]
        target = apis.get((group, kind))
        states = sorted({s for v in stored if (s := state(f"{group}/{v}", kind, apis, release)) is not None}) \
            if target is not None else []
        writers = sorted({f"{e.get('manager')} {str(e.get('apiVersion')).rpartition('/')[2]}" for o in old
                          for i, e in enumerate(meta_of(o).get("managedFields") or [])
                          if i in _old_entries(o, f"{group}/{storage}")})
        if stored != [storage] or old or states:
            rows.append({"kind": kind, "storage": storage, "stored": ", ".join(stored), "objects": len(objects),
                         "old managedFields": len(old), "written by": ", ".join(writers),
                         "state": "; ".join(states) or "to migrate"})
    return rows


def migrate(kube: Kube, *, say: Callable[[str], None]) -> int:
    """Every Flux object written back at its CRD's storage version, then each CRD's storedVersions set to it alone;
    returns how many objects were written. A failure is a FleetError naming the object."""
    written = 0
    for crd in flux_crds(kube):
        group, kind = key_of(crd)
        storage = storage_version(crd)
        api_version = f"{group}/{storage}"
        objects = _objects(kube, crd)
        for obj in objects:
            ref = Ref.of(obj)
            patch: Any = [{"op": "replace", "path": f"/metadata/managedFields/{i}/apiVersion", "value": api_version}
                          for i in _old_entries(obj, api_version)] or {}
            try:
                kube.patch(api_version, kind, ref.namespace, ref.name, patch, json_patch=isinstance(patch, list))
            except FleetError as e:
                if "not found" not in e.message.lower():
                    raise FleetError(f"{ref} failed to migrate to {api_version}: {e.message}",
                                     hint="fix what the API server says, then run again") from None
            written += 1
        stored = [str(v) for v in status_of(crd).get("storedVersions") or []]
        if stored != [storage]:
            kube.patch(*CRD, None, str(meta_of(crd)["name"]), {"status": {"storedVersions": [storage]}}, status=True)
            say(f"{meta_of(crd)['name']} migrated to storage version {storage}")
    return written
