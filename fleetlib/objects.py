"""The vocabulary of Kubernetes objects as plain data, shared by the domain modules, the Kubernetes
adapter and the sandbox: references (kind, namespace, name: that order everywhere), safe accessors
for an object's metadata, spec and status (an object from a cluster may hold anything: a spec that is a
string must not crash a runbook), conditions, the Flux kinds and their plurals, Flux inventory ids, and
the references one Flux object holds to others (dependsOn, its source, its HelmChart, its inventory).

    ref = Ref.of(obj)                     # Ref("Kustomization", "flux-system", "apps")
    str(ref)                              # "Kustomization/flux-system/apps"
    spec_of(obj).get("suspend")              # {} when the spec is missing or not a mapping
    condition(obj, "Ready").get("status") # {} when there is no such condition
    inventory_id(obj)                     # "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FLUX_KINDS: dict[str, str] = {
    "GitRepository": "source.toolkit.fluxcd.io/v1", "OCIRepository": "source.toolkit.fluxcd.io/v1beta2",
    "Bucket": "source.toolkit.fluxcd.io/v1", "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "HelmChart": "source.toolkit.fluxcd.io/v1", "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
    "HelmRelease": "helm.toolkit.fluxcd.io/v2", "Provider": "notification.toolkit.fluxcd.io/v1beta3",
    "Alert": "notification.toolkit.fluxcd.io/v1beta3", "Receiver": "notification.toolkit.fluxcd.io/v1",
}
"""The Flux kinds the runbooks read, in `flux get all` order, each at the API version they read it in
(OCIRepository: v1beta2 in Flux v2.5; the API server converts for newer Flux)."""
IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")
SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart")


def plural(kind: str) -> str:
    """The resource name of a Flux kind: GitRepository -> gitrepositories, Kustomization -> kustomizations."""
    return kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"


def group_of(api_version: str) -> str:
    """`apps/v1` -> `apps`; `v1` (the core group) -> ``."""
    return api_version.rpartition("/")[0]


# --- accessors ---------------------------------------------------------------------------------------


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def meta_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("metadata"))


def spec_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("spec"))


def status_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _mapping((obj or {}).get("status"))


def labels_of(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return _mapping(meta_of(obj).get("labels"))


def conditions(obj: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found = status_of(obj).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def condition(obj: Mapping[str, Any] | None, kind: str = "Ready") -> dict[str, Any]:
    """The condition of type `kind`, or {}."""
    return next((c for c in conditions(obj) if c.get("type") == kind), {})


def is_true(obj: Mapping[str, Any] | None, kind: str = "Ready") -> bool:
    return condition(obj, kind).get("status") == "True"


def deployment_ready(deployment: Mapping[str, Any] | None) -> bool:
    """As many replicas ready as the Deployment asks for (`flux check`'s "deployment ready"; more while a rollout
    surges, none for one scaled to 0); a Deployment without a status yet is not."""
    if deployment is None:
        return False
    wanted = spec_of(deployment).get("replicas")
    return int(status_of(deployment).get("readyReplicas") or 0) >= (1 if wanted is None else int(wanted))


def container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = status_of(pod).get("containerStatuses")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def containers(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Pod spec (or a Deployment's pod template spec)."""
    found = pod_spec.get("containers")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def terminated(container_status: Mapping[str, Any]) -> dict[str, Any]:
    """The last termination of a container (reason, exitCode...), or {}."""
    return _mapping(_mapping(container_status.get("lastState")).get("terminated"))


def waiting(container_status: Mapping[str, Any]) -> dict[str, Any]:
    return _mapping(_mapping(container_status.get("state")).get("waiting"))


def timestamp(value: Any) -> float | None:
    """An RFC 3339 time as Kubernetes writes it (`2026-12-06T06:25:57Z`) in epoch seconds; None when absent or
    not a time."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() if value else None
    except ValueError:
        return None


# --- references --------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Ref:
    """A Kubernetes object, printed as `Kind/namespace/name` (or `Kind/name` when cluster-scoped)."""

    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        m = meta_of(obj)
        return cls(str(obj.get("kind", "")), m.get("namespace") or None, str(m.get("name", "")))

    @classmethod
    def parse(cls, text: str) -> Ref:
        """`Kind/namespace/name` or `Kind/name`; ValueError otherwise."""
        parts = text.split("/")
        if len(parts) == 3 and all(parts):
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 2 and all(parts):
            return cls(parts[0], None, parts[1])
        raise ValueError(f"{text!r} is not Kind/namespace/name or Kind/name")

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def ref(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` of an object (what findings and logs name)."""
    return str(Ref.of(obj))


# --- Flux inventories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryEntry:
    """One entry of a Kustomization's `status.inventory` (fluxcd/pkg/ssa's ObjMetadata)."""

    ref: Ref
    group: str


def inventory_id(obj: Mapping[str, Any]) -> str:
    """`<namespace>_<name>_<group>_<kind>`, with `:` in names written `__`, as kustomize-controller records it."""
    m = meta_of(obj)
    name = str(m.get("name", "")).replace(":", "__")
    return f"{m.get('namespace') or ''}_{name}_{group_of(str(obj.get('apiVersion', '')))}_{obj.get('kind', '')}"


def parse_inventory_id(entry_id: str) -> InventoryEntry | None:
    """The object an inventory id names, or None when it is not one (as fluxcd/pkg/ssa parses it: the first
    segment is the namespace, the last two the group and kind, the rest the name, `__` standing for `:`)."""
    parts = entry_id.split("_")
    if len(parts) < 4:
        return None
    name = "_".join(parts[1:-2]).replace("__", ":")
    if not name or not parts[-1]:
        return None
    return InventoryEntry(Ref(parts[-1], parts[0] or None, name), parts[-2])


def inventory(obj: Mapping[str, Any]) -> list[InventoryEntry]:
    """The objects a Kustomization applied (its `status.inventory.entries`), in recorded order."""
    entries = _mapping(status_of(obj).get("inventory")).get("entries")
    found = (parse_inventory_id(str(e.get("id", ""))) for e in entries or [] if isinstance(e, dict))
    return [e for e in found if e is not None]


def references(obj: Mapping[str, Any]) -> dict[str, list[Ref]]:
    """The Flux objects this one needs, by relation: `dependsOn` (Kustomization, HelmRelease), `source`
    (spec.sourceRef, a HelmRelease's chart template source or chartRef), `chart` (a HelmRelease's HelmChart)
    and `inventory` (what a Kustomization applied). Namespaces default to the object's own."""
    kind, s, own = str(obj.get("kind", "")), spec_of(obj), meta_of(obj).get("namespace") or None
    dependent_kind = kind if kind in ("Kustomization", "HelmRelease") else ""
    depends = [Ref(dependent_kind, _mapping(d).get("namespace") or own, str(_mapping(d).get("name", "")))
               for d in s.get("dependsOn") or [] if _mapping(d).get("name")]
    source_ref = _mapping(s.get("sourceRef")) or _mapping(_mapping(_mapping(s.get("chart")).get("spec")).get(
        "sourceRef")) or _mapping(s.get("chartRef"))
    sources = [Ref(str(source_ref.get("kind", "GitRepository")), source_ref.get("namespace") or own,
                   str(source_ref["name"]))] if source_ref.get("name") else []
    chart = str(status_of(obj).get("helmChart") or "")
    charts = [Ref("HelmChart", chart.partition("/")[0], chart.partition("/")[2])] if "/" in chart else []
    applied = [e.ref for e in inventory(obj) if e.group.endswith("toolkit.fluxcd.io") and e.ref != Ref.of(obj)]
    return {"dependsOn": depends, "source": sources, "chart": charts, "inventory": applied}


def image_tag(image: str) -> str:
    """The tag of an image reference (`ghcr.io/fluxcd/source-controller:v1.9.3` -> `v1.9.3`), "" without one; a
    registry's port is not a tag, a digest is set aside."""
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
