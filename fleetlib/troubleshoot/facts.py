"""Everything troubleshooting reasons over, gathered from one cluster in a few requests: one list per
Flux kind (kinds whose CRD is absent are skipped), the controllers' Deployments, Pods and JSON logs,
core Events of Flux objects, the Flux CRDs, and the fleet repository's branch heads.

    facts = gather(run.kube, hub=github_connect(params, home=fleet_home()), namespace="flux-system")
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from fleetlib.errors import FleetError
from fleetlib.kube import Kube
from fleetlib.objects import FLUX_KINDS, Ref, meta_of, status_of

FLUX_CRDS: dict[str, tuple[str, ...]] = {
    "source-controller": tuple(f"{p}.source.toolkit.fluxcd.io" for p in (
        "buckets", "gitrepositories", "helmcharts", "helmrepositories", "ocirepositories")),
    "kustomize-controller": ("kustomizations.kustomize.toolkit.fluxcd.io",),
    "helm-controller": ("helmreleases.helm.toolkit.fluxcd.io",),
    "notification-controller": tuple(f"{p}.notification.toolkit.fluxcd.io" for p in ("alerts", "providers",
                                                                                       "receivers")),
    "image-reflector-controller": ("imagepolicies.image.toolkit.fluxcd.io", "imagerepositories.image.toolkit.fluxcd.io"),
    "image-automation-controller": ("imageupdateautomations.image.toolkit.fluxcd.io",),
}
"""The CRDs each Flux component installs (v2.5)."""
DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
CONTROLLER_LOG_TAIL = 2000


@dataclass
class ClusterFacts:
    cluster: str
    namespace: str
    kubernetes: str | None = None
    unreachable: str | None = None
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crds: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    heads: dict[str, str] = field(default_factory=dict)
    """GitRepository `namespace/name` -> the sha its branch points at in the repository."""
    head_times: dict[str, float] = field(default_factory=dict)
    """When each head in `heads` was committed (epoch seconds), where GitHub says: a source behind a commit younger
    than its interval is lag, not a fault."""
    now: float = field(default_factory=time.time)
    """When the facts were gathered."""
    github_error: str | None = None
    """Why the branch heads could not be read (no token, rate limited, unreachable), or None."""
    namespace_present: bool | None = None
    """Whether the Flux namespace exists (None: not read)."""
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    """The Flux components the cluster's parameters say are installed."""
    requests: int = 0
    _latest: dict[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def all_objects(self) -> list[dict[str, Any]]:
        return [o for items in self.objects.values() for o in items]

    def latest_events(self) -> dict[str, dict[str, Any]]:
        """Each object's latest event (by last timestamp; a warning wins a tie), keyed by its reference; read once
        however many rules ask."""
        if self._latest is None:
            out: dict[str, tuple[str, dict[str, Any]]] = {}
            for event in self.events:
                about = event.get("involvedObject") or {}
                key = str(Ref(str(about.get("kind")), about.get("namespace"), str(about.get("name"))))
                when = str(event.get("lastTimestamp") or event.get("eventTime")
                           or meta_of(event).get("creationTimestamp") or "")
                if key not in out or when > out[key][0] or (when == out[key][0] and event.get("type") == "Warning"):
                    out[key] = (when, event)
            self._latest = {k: v for k, (_, v) in out.items()}
        return self._latest


def _parse_log(controller: str, pod: str, text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        entry["controller_pod"] = pod
        entry.setdefault("component", controller)
        out.append(entry)
    return out


def gather(kube: Kube, *, namespace: str = "flux-system", heads: dict[str, str] | None = None,
           components: tuple[str, ...] = DEFAULT_COMPONENTS) -> ClusterFacts:
    """Read the cluster; an unreachable API server is a fact too (`unreachable`), not an exception."""
    facts = ClusterFacts(cluster=str(kube.params.id), namespace=namespace, components=tuple(components))
    try:
        facts.kubernetes = kube.version()
        facts.namespace_present = kube.get("v1", "Namespace", None, namespace) is not None
        facts.requests += 2
        for kind, api_version in FLUX_KINDS.items():
            items = kube.list(api_version, kind)
            facts.requests += 1
            if items:
                facts.objects[kind] = items
        facts.crds = kube.list("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                               label_selector="app.kubernetes.io/part-of=flux")
        facts.deployments = kube.list("apps/v1", "Deployment", namespace, label_selector="app.kubernetes.io/part-of=flux")
        facts.pods = kube.list("v1", "Pod", namespace)
        facts.events = [e for e in kube.list("v1", "Event") if (e.get("involvedObject") or {}).get("kind") in FLUX_KINDS]
        facts.requests += 4
        for pod in facts.pods:
            app = ((pod["metadata"].get("labels") or {}).get("app")) or ""
            statuses = status_of(pod).get("containerStatuses") or []
            if app.endswith("-controller") and statuses:
                facts.requests += 1
                try:
                    text = kube.pod_log(namespace, pod["metadata"]["name"], "manager", tail=CONTROLLER_LOG_TAIL)
                except FleetError:  # a container waiting to start, or a pod going away, has no log to read:
                    continue        # a fact about that pod (its status says why), not about the API server
                facts.logs += _parse_log(app, pod["metadata"]["name"], text)
    except FleetError as e:
        facts.unreachable = e.message
    facts.heads = dict(heads or {})
    return facts
