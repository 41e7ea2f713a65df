"""The sandbox's served Flux v2.5.1 release against the real install manifests in
../shared/fixtures/flux-v2.5.1 (read here only, never by fleetlib)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml

from fleetlab.release.manifests import install_objects

from .conftest import REPO

FIXTURE = REPO.parent / "shared" / "fixtures" / "flux-v2.5.1" / "install-default-components.yaml"
DEFAULT = {"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}

pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason="the shared Flux fixtures are not beside this checkout")


@functools.cache
def real() -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(FIXTURE.read_text(), Loader=loader) if d]  # a safe loader


def served_default() -> list[dict[str, Any]]:
    """The served release without the two image-automation controllers, as the fixture was built."""
    out = []
    for obj in install_objects("v2.5.1"):
        component = obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component is None or component in DEFAULT:
            out.append(obj)
    return out


def ids(objs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((o["kind"], o["metadata"]["name"]) for o in objs)


def test_same_kinds_and_names() -> None:
    assert ids(served_default()) == ids(real())


def test_same_labels() -> None:
    ours = {(o["kind"], o["metadata"]["name"]): o["metadata"].get("labels") for o in served_default()}
    for o in real():
        assert ours[(o["kind"], o["metadata"]["name"])] == o["metadata"].get("labels"), o["metadata"]["name"]


@pytest.mark.parametrize("name", sorted(DEFAULT))
def test_controller_deployments_match(name: str) -> None:
    def find(objs: list[dict[str, Any]]) -> dict[str, Any]:
        return next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)

    ours, theirs = find(served_default()), find(real())
    c_ours, c_theirs = ours["spec"]["template"]["spec"]["containers"][0], theirs["spec"]["template"]["spec"]["containers"][0]
    for key in ("args", "ports", "readinessProbe", "livenessProbe", "resources", "securityContext", "image",
                "env", "volumeMounts", "name"):
        assert c_ours[key] == c_theirs[key], key
    assert ours["spec"] == theirs["spec"]


@pytest.mark.parametrize("kind", ["Service", "NetworkPolicy", "ResourceQuota", "ClusterRole", "ClusterRoleBinding",
                                  "Namespace", "ServiceAccount"])
def test_other_objects_match(kind: str) -> None:
    ours = {o["metadata"]["name"]: o for o in served_default() if o["kind"] == kind}
    theirs = {o["metadata"]["name"]: o for o in real() if o["kind"] == kind}
    assert ours == theirs


def test_crds_match_in_names_versions_and_subresources() -> None:
    def shape(objs: list[dict[str, Any]]) -> dict[str, Any]:
        return {o["metadata"]["name"]: (o["spec"]["group"], o["spec"]["names"], o["spec"]["scope"],
                                        [(v["name"], v["served"], v["storage"], sorted(v.get("subresources", {})),
                                          v.get("deprecated", False)) for v in o["spec"]["versions"]])
                for o in objs if o["kind"] == "CustomResourceDefinition"}

    assert shape(served_default()) == shape(real())


def _crd_version(objs: list[dict[str, Any]], kind: str, version: str) -> dict[str, Any]:
    crd = next(o for o in objs if o["kind"] == "CustomResourceDefinition" and o["spec"]["names"]["kind"] == kind)
    return next(v for v in crd["spec"]["versions"] if v["name"] == version)


def _shape(schema: dict[str, Any], path: str = "") -> dict[str, Any]:
    """What validation and `kubectl explain` read of a schema, by field path: type, enum, required, pattern, default,
    bounds (descriptions aside: they are written in our own words)."""
    keys = ("type", "enum", "pattern", "default", "minLength", "maxLength", "minimum", "maximum", "format",
            "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "nullable")
    out = {path: {k: schema[k] for k in keys if k in schema} | {"required": sorted(schema.get("required") or [])}}
    for name, sub in (schema.get("properties") or {}).items():
        out.update(_shape(sub, f"{path}.{name}"))
    if isinstance(schema.get("items"), dict):
        out.update(_shape(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        out.update(_shape(schema["additionalProperties"], f"{path}{{}}"))
    return out


SERVED = [("GitRepository", "v1"), ("OCIRepository", "v1beta2"), ("Bucket", "v1"), ("HelmRepository", "v1"),
          ("HelmChart", "v1"), ("Kustomization", "v1"), ("HelmRelease", "v2"), ("Provider", "v1beta3"),
          ("Alert", "v1beta3"), ("Receiver", "v1")]


@pytest.mark.parametrize(("kind", "version"), SERVED, ids=[f"{k}-{v}" for k, v in SERVED])
def test_crd_spec_schema_and_printer_columns_match(kind: str, version: str) -> None:
    ours, theirs = _crd_version(served_default(), kind, version), _crd_version(real(), kind, version)
    assert ours["additionalPrinterColumns"] == theirs["additionalPrinterColumns"]
    spec_ours = _shape(ours["schema"]["openAPIV3Schema"]["properties"]["spec"], "spec")
    spec_theirs = _shape(theirs["schema"]["openAPIV3Schema"]["properties"]["spec"], "spec")
    assert sorted(set(spec_ours) ^ set(spec_theirs)) == []
    assert {p: v for p, v in spec_ours.items() if v != spec_theirs[p]} == \
        {p: spec_theirs[p] for p, v in spec_ours.items() if v != spec_theirs[p]}
