"""The sandbox's served Flux v2.5.1 release against the real install manifests in
../shared/fixtures/flux-v2.5.1 (read here only, never by fleetlib)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml

from fleetlib.sandbox.release import install_objects

from .conftest import REPO

FIXTURE = REPO.parent / "shared" / "fixtures" / "flux-v2.5.1" / "install-default-components.yaml"
DEFAULT = {"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}

pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason="the shared Flux fixtures are not beside this checkout")


@functools.cache
def real() -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(FIXTURE.read_text(), Loader=loader) if d]  # noqa: S506 - a safe loader


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
