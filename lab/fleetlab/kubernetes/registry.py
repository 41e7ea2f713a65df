"""The resource types a sandbox cluster serves: the built-in kinds we use plus every applied CRD.

A CRD written to the server registers its group, versions, kind, scope, shortNames and
subresources; deleting it removes them. Discovery documents are built from the same table.

    types = Registry.with_crds(crd_bodies)
    rt = types.lookup("apps", "v1", "deployments")      # -> ResourceType or None
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    versions: tuple[str, ...] = field(default=())
    """Every served version (CRDs); the object is stored once and served in any of them."""

    @property
    def key(self) -> str:
        """Storage key, one per group and plural whatever the version."""
        return f"{self.group}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def at_version(self, version: str) -> ResourceType:
        from dataclasses import replace

        return replace(self, version=version)

    def discovery_entries(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub in self.subresources:
            verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
            entry = {"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                     "kind": self.kind, "verbs": verbs}
            if sub == "scale":
                entry.update({"group": "autoscaling", "version": "v1", "kind": "Scale"})
            out.append(entry)
        return out


def _rt(group: str, version: str, plural: str, kind: str, *, ns: bool = True, short: tuple[str, ...] = (),
        sub: tuple[str, ...] = (), verbs: tuple[str, ...] = ALL_VERBS, cat: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind, kind.lower(), ns, short, sub, verbs, cat, (version,))


BUILTINS: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", ns=False, short=("ns",), sub=("status",)),
    _rt("", "v1", "pods", "Pod", short=("po",), sub=("status", "log"), cat=("all",)),
    _rt("", "v1", "services", "Service", short=("svc",), sub=("status",), cat=("all",)),
    _rt("", "v1", "endpoints", "Endpoints", short=("ep",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _rt("", "v1", "events", "Event", short=("ev",)),
    _rt("", "v1", "nodes", "Node", ns=False, short=("no",), sub=("status",)),
    _rt("", "v1", "resourcequotas", "ResourceQuota", short=("quota",), sub=("status",)),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), sub=("status",)),
    _rt("apps", "v1", "deployments", "Deployment", short=("deploy",), sub=("status", "scale"), cat=("all",)),
    _rt("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), sub=("status", "scale"), cat=("all",)),
    _rt("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), sub=("status", "scale"), cat=("all",)),
    _rt("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), sub=("status",), cat=("all",)),
    _rt("batch", "v1", "jobs", "Job", sub=("status",), cat=("all",)),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", ns=False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", ns=False),
    _rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", ns=False, short=("pc",)),
    _rt("coordination.k8s.io", "v1", "leases", "Lease"),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", ns=False,
        short=("crd", "crds"), sub=("status",)),
    _rt("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", ns=False,
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", ns=False,
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", ns=False, verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", verbs=("create",)),
    _rt("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=READ_VERBS),
    _rt("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", ns=False, verbs=READ_VERBS),
)

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"


def crd_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types one CRD body declares, one per served version (storage version first)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not versions or not spec.get("group") or not names.get("plural") or not names.get("kind"):
        return []
    served = tuple(v["name"] for v in versions)
    out = []
    for v in sorted(versions, key=lambda v: not v.get("storage", False)):
        subs = tuple(s for s in ("status", "scale") if s in (v.get("subresources") or {}))
        out.append(ResourceType(
            group=spec["group"], version=v["name"], plural=names["plural"], kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), subresources=subs,
            categories=tuple(names.get("categories") or ()), versions=served,
        ))
    return out


def crd_versions(crd: Mapping[str, Any]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """(group, version, plural) -> that version's entry in the CRD (schema, printer columns)."""
    spec = crd.get("spec") or {}
    plural = (spec.get("names") or {}).get("plural")
    return {(str(spec.get("group")), str(v.get("name")), str(plural)): v
            for v in spec.get("versions") or [] if isinstance(v, dict)}


@dataclass(frozen=True)
class Registry:
    """Every type a cluster serves, by (group, version, plural), with the CRDs' per-version schemas and columns."""

    types: tuple[ResourceType, ...]
    versions: Mapping[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def with_crds(cls, crds: Iterable[Mapping[str, Any]]) -> Registry:
        crds = list(crds)
        extra = [t for crd in crds for t in crd_types(crd)]
        versions = {k: v for crd in crds for k, v in crd_versions(crd).items()}
        return cls(BUILTINS + tuple(extra), versions)

    def schema(self, rt: ResourceType) -> Mapping[str, Any] | None:
        """The CRD's `openAPIV3Schema` for this version, or None (built-in kinds; CRDs without a schema)."""
        entry = self.versions.get((rt.group, rt.version, rt.plural)) or {}
        return (entry.get("schema") or {}).get("openAPIV3Schema")

    def printer_columns(self, rt: ResourceType) -> list[Mapping[str, Any]] | None:
        """The CRD's `additionalPrinterColumns` for this version, or None for built-in kinds."""
        entry = self.versions.get((rt.group, rt.version, rt.plural))
        return None if entry is None else list(entry.get("additionalPrinterColumns") or [])

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self.types:
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for t in self.types:
            if t.group == group and t.version == version and t.kind == kind:
                return t
        return None

    def groups(self) -> dict[str, list[str]]:
        """Group name -> versions, preferred (storage) version first; the core group is ''."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    # --- discovery documents --------------------------------------------------------------------

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not versions or not group:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def api_group_list(self) -> dict[str, Any]:
        groups = [g for g in (self.api_group(name) for name in self.groups() if name) if g]
        for g in groups:
            g.pop("kind")
            g.pop("apiVersion")
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        entries = [e for t in self.types if t.group == group and t.version == version for e in t.discovery_entries()]
        if not entries:
            return None
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}
