"""What the real API server does to a built-in object on every write before it stores it: quantities in their
canonical form (resource.Quantity: `1000m` -> `1`, `"1000"` -> `1k`, `1024Mi` -> `1Gi`) and the defaults of the
kinds' `SetDefaults_*` functions (k8s.io/kubernetes pkg/apis/{apps,core}/v1/defaults.go) and of their Go types'
serialisation (a `resourceFieldRef` always carries `divisor`, a container `resources: {}`).

Without them a server-side dry-run of a normalised object (what `flux diff` and kustomize-controller send,
fluxcd/pkg/ssa/normalize) differs from what was stored, and the sandbox reports drift a real cluster has not.
Covered: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod templates; ResourceQuota and
LimitRange quantities. Other built-in kinds are stored as sent (as before), which `flux diff` on them shows.

    canonical_quantity("1000m")      # "1"
    builtin_defaults("Deployment", obj)
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fleetlib.objects import image_tag

_QUANTITY = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}


def canonical_quantity(text: Any) -> Any:
    """resource.Quantity's canonical string of a quantity (anything that is not one is returned as given)."""
    m = _QUANTITY.fullmatch(str(text).strip()) if isinstance(text, (str, int, float)) else None
    if m is None or isinstance(text, bool):
        return text
    sign, number, suffix, exponent = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    value = Fraction(Decimal(number))
    if suffix in _BINARY:
        value *= 2 ** _BINARY[suffix]
    elif exponent is not None:
        value *= Fraction(10) ** int(exponent)
    else:
        value *= Fraction(10) ** _DECIMAL[suffix]
    negative = sign == "-" and value != 0
    if suffix in _BINARY and value.denominator == 1 and value >= 1024:
        n, shift = int(value), 0
        while shift < 60 and n % (1 << (shift + 10)) == 0:
            shift += 10
        return f"{'-' if negative else ''}{n >> shift}{_BINARY_SUFFIX[shift] if shift else ''}"
    n, power = math.ceil(value * 10**9), -9  # finer than nano rounds up, as Quantity does
    if n == 0:
        return "0"
    while n % 1000 == 0 and power < 18:
        n //= 1000
        power += 3
    unit = (f"e{power}" if power else "") if exponent is not None else _DECIMAL_SUFFIX[power]
    return f"{'-' if negative else ''}{n}{unit}"


def _canonical_map(values: Any) -> Any:
    return {k: canonical_quantity(v) for k, v in values.items()} if isinstance(values, dict) else values


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def _pull_policy(image: str) -> str:
    return "Always" if "@" not in image and image_tag(image) in ("", "latest") else "IfNotPresent"


def _container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("image"):
        c.setdefault("imagePullPolicy", _pull_policy(str(c["image"])))
    resources = c.setdefault("resources", {})
    if isinstance(resources, dict):
        for key in ("limits", "requests"):
            if key in resources:
                resources[key] = _canonical_map(resources[key])
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))
    for env in c.get("env") or []:
        source = env.get("valueFrom") if isinstance(env, dict) else None
        if not isinstance(source, dict):
            continue
        if isinstance(source.get("fieldRef"), dict):
            source["fieldRef"].setdefault("apiVersion", "v1")
        if isinstance(source.get("resourceFieldRef"), dict):
            ref = source["resourceFieldRef"]
            ref["divisor"] = canonical_quantity(ref.get("divisor", "0"))


def pod_spec_defaults(spec: Any) -> None:
    """SetDefaults_PodSpec, _Container, _Probe, _HTTPGetAction, _ObjectFieldSelector, the volume sources' modes."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        _container(c)
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        for source in ("secret", "configMap", "projected"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def _template(obj: dict[str, Any], *path: str) -> None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    pod_spec_defaults(node)


def builtin_defaults(kind: str, obj: dict[str, Any]) -> None:
    """The API server's defaulting and canonical quantities for a built-in object, in place."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Pod":
        pod_spec_defaults(spec)
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        _template(obj, "spec", "template", "spec")
    elif kind == "CronJob":
        _template(obj, "spec", "jobTemplate", "spec", "template", "spec")
    elif kind == "ResourceQuota":
        spec["hard"] = _canonical_map(spec.get("hard"))
    elif kind == "LimitRange":
        for limit in spec.get("limits") or []:
            for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                if isinstance(limit, dict) and key in limit:
                    limit[key] = _canonical_map(limit[key])
    if kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        given = spec.get("strategy")
        strategy: dict[str, Any] = given if isinstance(given, dict) else {}
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec["strategy"] = strategy
