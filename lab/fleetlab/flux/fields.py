"""No field silently ignored: for every field of the Flux specs the sandbox serves, whether the mini-Flux implements
it, does not need to (its behaviour cannot differ on the sandbox), or does not implement it. An object that sets a
field of the last kind (to a value other than the ones the sandbox behaves the same with) is marked with the
condition `Unsupported=True`, reason `NotImplementedInSandbox`, whose message names each field and says to rehearse
the object with `target: local`; the troubleshooting runbook reports it as `sandbox-unsupported`.
tests/test_fields.py walks the real CRDs' schemas and fails on a field in none of the three lists, and the README's
known differences name every unsupported field.

    unsupported_fields({"kind": "Kustomization", "spec": {"decryption": {"provider": "sops"}}})
    # ['spec.decryption (SOPS decryption of Secrets)']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetlab.flux.conditions import set_condition
from fleetlab.flux.flags import Flags
from fleetlab.flux.runtime import Runtime
from fleetlib.objects import spec_of, status_of

CONDITION, REASON = "Unsupported", "NotImplementedInSandbox"
COMPONENT = {"GitRepository": "source-controller", "OCIRepository": "source-controller",
             "HelmRepository": "source-controller", "HelmChart": "source-controller", "Bucket": "source-controller",
             "Kustomization": "kustomize-controller", "HelmRelease": "helm-controller",
             "Alert": "notification-controller", "Provider": "notification-controller",
             "Receiver": "notification-controller"}


@dataclass(frozen=True)
class Unsupported:
    what: str
    """What the field does, in a few words."""
    accepted: tuple[Any, ...] = ()
    """Values the sandbox behaves the same with (the field's defaults): set to one of them, nothing is marked."""


IMPLEMENTED: dict[str, frozenset[str]] = {
    "GitRepository": frozenset({"interval", "url", "ref", "secretRef", "suspend"}),
    "OCIRepository": frozenset({"interval", "url", "ref", "insecure", "layerSelector", "suspend"}),
    "HelmRepository": frozenset({"interval", "url", "type", "suspend"}),
    "HelmChart": frozenset({"interval", "chart", "version", "sourceRef", "suspend"}),
    "Bucket": frozenset(),
    "Kustomization": frozenset({
        "interval", "retryInterval", "timeout", "path", "prune", "sourceRef", "suspend", "targetNamespace",
        "namePrefix", "patches", "images", "postBuild", "dependsOn", "healthChecks", "wait", "serviceAccountName",
        "kubeConfig", "deletionPolicy"}),
    "HelmRelease": frozenset({
        "interval", "chart", "chartRef", "releaseName", "storageNamespace", "targetNamespace", "suspend", "timeout",
        "values", "install", "upgrade", "dependsOn", "serviceAccountName"}),
    "Alert": frozenset({"eventMetadata", "eventSeverity", "eventSources", "exclusionList", "providerRef", "summary",
                        "suspend"}),
    "Provider": frozenset({"address", "channel", "secretRef", "suspend", "type", "username"}),
    "Receiver": frozenset({"interval", "suspend"}),
}
"""kind -> the spec fields the mini-Flux acts on as the real controllers do."""

NOT_NEEDED: dict[str, dict[str, str]] = {
    "GitRepository": {"timeout": "the sandbox GitHub is in-process: a clone ends well within any timeout"},
    "OCIRepository": {"timeout": "the sandbox registry is local: a pull ends well within any timeout"},
    "HelmRepository": {"timeout": "the sandbox chart server is local: an index fetch ends well within any timeout"},
    "HelmRelease": {"persistentClient": "the sandbox keeps no Kubernetes client between reconciles to persist"},
    "Provider": {"timeout": "the sandbox posts to local receivers: a post ends well within any timeout",
                 "interval": "deprecated and unused by notification-controller v1beta3"},
    "Receiver": {},
}
"""kind -> fields whose effect the sandbox cannot show differently, with why."""

UNSUPPORTED: dict[str, dict[str, Unsupported]] = {
    "GitRepository": {
        "ignore": Unsupported("extra .sourceignore patterns for the artifact"),
        "include": Unsupported("other GitRepositories' artifacts included in this one"),
        "provider": Unsupported("cloud provider authentication, as azure or github app", ("generic",)),
        "proxySecretRef": Unsupported("an HTTP/S proxy for Git operations"),
        "recurseSubmodules": Unsupported("Git submodules", (False,)),
        "verify": Unsupported("commit and tag signature verification"),
        "serviceAccountName": Unsupported("workload identity of a service account"),
        "sparseCheckout": Unsupported("checking out some folders only"),
        "ref.tag": Unsupported("a tag reference; the sandbox follows branches only"),
        "ref.semver": Unsupported("a semver range of tags"),
        "ref.name": Unsupported("a full Git reference name"),
        "ref.commit": Unsupported("a pinned commit"),
    },
    "OCIRepository": {
        "certSecretRef": Unsupported("TLS client certificates"),
        "proxySecretRef": Unsupported("an HTTP/S proxy for registry operations"),
        "secretRef": Unsupported("registry credentials"),
        "serviceAccountName": Unsupported("image pull secrets of a service account"),
        "provider": Unsupported("cloud provider authentication for aws, azure or gcp", ("generic",)),
        "verify": Unsupported("signature verification with cosign or notation"),
        "ignore": Unsupported("extra .sourceignore patterns for the artifact"),
        "ref.semver": Unsupported("a semver range of tags"),
        "ref.semverFilter": Unsupported("a filter on the tags a semver range considers"),
    },
    "HelmRepository": {
        "secretRef": Unsupported("repository credentials"),
        "certSecretRef": Unsupported("TLS client certificates"),
        "passCredentials": Unsupported("credentials passed to chart hosts", (False,)),
        "provider": Unsupported("cloud provider authentication for OCI repositories", ("generic",)),
        "insecure": Unsupported("plain HTTP to an OCI registry", (False,)),
        "accessFrom": Unsupported("deprecated cross-namespace access"),
    },
    "HelmChart": {
        "valuesFiles": Unsupported("values files merged into the chart's values"),
        "ignoreMissingValuesFiles": Unsupported("missing values files tolerated", (False,)),
        "verify": Unsupported("chart signature verification"),
        "reconcileStrategy": Unsupported("a new chart artifact on each source revision", ("ChartVersion",)),
    },
    "Bucket": {field: Unsupported("S3-compatible bucket sources (the sandbox has no object storage)")
               for field in ("bucketName", "endpoint", "provider", "region", "prefix", "secretRef", "certSecretRef",
                             "proxySecretRef", "sts", "insecure", "ignore", "interval", "suspend", "timeout",
                             "serviceAccountName")},
    "Kustomization": {
        "commonMetadata": Unsupported("labels and annotations added to every applied object"),
        "components": Unsupported("kustomize components added to the build"),
        "decryption": Unsupported("SOPS decryption of Secrets"),
        "force": Unsupported("recreating objects whose immutable fields changed", (False,)),
        "healthCheckExprs": Unsupported("CEL health checks for custom resources"),
        "nameSuffix": Unsupported("a suffix added to every object's name"),
        "buildMetadata": Unsupported("build metadata as kustomize's buildMetadata"),
        "ignore": Unsupported("files of the artifact left out of the build"),
        "ignoreMissingComponents": Unsupported("missing components tolerated", (False,)),
    },
    "HelmRelease": {
        "driftDetection": Unsupported("drift detection and correction of the release's objects"),
        "kubeConfig": Unsupported("a remote cluster for the release"),
        "maxHistory": Unsupported("the number of release Secrets kept", (5,)),
        "postRenderers": Unsupported("kustomize post-renderers on the rendered chart"),
        "rollback": Unsupported("rollback settings of remediation"),
        "test": Unsupported("Helm tests after install and upgrade"),
        "uninstall": Unsupported("uninstall settings: keep history, disable hooks, deletion propagation"),
        "valuesFrom": Unsupported("values merged from ConfigMaps and Secrets"),
        "commonMetadata": Unsupported("labels and annotations added to the release's objects"),
        "healthCheckExprs": Unsupported("CEL health checks for custom resources"),
        "postRenderStrategy": Unsupported("how post-renderers are applied"),
        "waitStrategy": Unsupported("how the release's readiness is awaited"),
    },
    "Alert": {"inclusionList": Unsupported("regular expressions an event's message must match")},
    "Provider": {"certSecretRef": Unsupported("TLS client certificates for the provider's address"),
                 "proxy": Unsupported("an HTTP/S proxy for notifications"),
                 "proxySecretRef": Unsupported("an HTTP/S proxy for notifications, from a Secret"),
                 "serviceAccountName": Unsupported("workload identity for the provider"),
                 "commitStatusExpr": Unsupported("a CEL expression for Git commit statuses")},
    "Receiver": {field: Unsupported("webhooks from Git hosts and registries (the sandbox receives none)")
                 for field in ("type", "resources", "secretRef", "events", "resourceFilter", "oidcProviders")},
}
"""kind -> field (a dotted path under spec) -> what the sandbox does not do."""


FLAG_GAPS: dict[str, dict[str, str]] = {
    "HelmRelease": {"no-cross-namespace-refs": "refusing a chart source in another namespace"},
    "Alert": {"no-cross-namespace-refs": "refusing event sources in other namespaces"},
}
"""kind -> a flag of its controller the sandbox does not act on -> what it does (named when the flag is set)."""


def _value(spec: dict[str, Any], path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def unsupported_fields(obj: dict[str, Any], flags: Flags | None = None) -> list[str]:
    """`spec.<field> (<what>)` for each unsupported field the object sets to a value that matters, and
    `--<flag> of <controller>` for each flag its controller is given that the sandbox does not act on."""
    kind = str(obj.get("kind"))
    spec, out = spec_of(obj), []
    for path, gap in UNSUPPORTED.get(kind, {}).items():
        value = _value(spec, path)
        if value is not None and value not in gap.accepted and value != {} and value != []:
            out.append(f"spec.{path} ({gap.what})")
    for flag, what in FLAG_GAPS.get(kind, {}).items():
        if flags is not None and flags.text(flag) not in ("", "false", "0", "False", "f", "F", "FALSE"):
            out.append(f"{flags.controller}'s --{flag} ({what})")
    return out


def message(fields: list[str], kind: str) -> str:
    return (f"the sandbox does not implement {'; '.join(fields)}: this {kind} is reconciled without it, which real Flux "
            "would not do; rehearse it with target: local")


class FieldAudit:
    """A pass over the Flux objects that marks (and unmarks) the Unsupported condition, as each object's own
    controller would: only while that controller runs."""

    def __init__(self, rt: Runtime, *, every: int = 10) -> None:
        self.rt, self.every, self.ticks = rt, every, 0

    def step(self) -> None:
        self.ticks += 1
        if self.ticks % self.every != 1:
            return
        for kind in UNSUPPORTED:
            if self.rt.type(kind) is None or self.rt.controller_pod(COMPONENT[kind]) is None:
                continue
            flags = self.rt.flags(COMPONENT[kind])
            for obj in self.rt.list(kind):
                self._mark(obj, unsupported_fields(obj, flags))

    def _mark(self, obj: dict[str, Any], fields: list[str]) -> None:
        conditions = status_of(obj).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == CONDITION), None)
        if fields:
            text = message(fields, str(obj["kind"]))
            if current is not None and current.get("message") == text:
                return
            new = set_condition(conditions, CONDITION, "True", REASON, text, now=self.rt.stamp(),
                                generation=obj["metadata"].get("generation", 1))
        elif current is None:
            return
        else:
            new = [c for c in conditions if c.get("type") != CONDITION]
        self.rt.patch_status(obj, {"conditions": new}, COMPONENT[str(obj["kind"])])


