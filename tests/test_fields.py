"""No field silently ignored: the real Flux CRDs' schemas walked against fleetlab.flux.fields (every spec field of
every served kind is implemented, not needed on the sandbox, or unsupported and named in a condition and in the
README), and the condition seen on a sandbox cluster."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetlab.flux.fields import COMPONENT, CONDITION, IMPLEMENTED, NOT_NEEDED, UNSUPPORTED, unsupported_fields
from fleetlab.versions import assembled_release

from .conftest import REPO, SandboxCluster
from .fluxenv import apply, bootstrapped, wait_for

FIXTURE = REPO.parent / "shared" / "fixtures" / "flux-v2.5.1" / "install-default-components.yaml"


RELEASES = ("v2.5.1", "v2.9.2")
"""The real install manifests walked: v2.5.1's (the shared fixture) and v2.9.2's, assembled by the local stack's
build from the flux2 module (built, and cached, when this module comes first)."""


@pytest.fixture(scope="module")
def releases() -> dict[str, Path]:
    built = assembled_release() / "install.yaml"
    if not built.is_file():
        from fleetlab.local.build import build, cache_dir
        from fleetlab.versions import LOCAL

        build(cache_dir(), LOCAL, say=print)
    assert built.is_file(), f"the local stack's build left no assembled release at {built}"
    return {**({"v2.5.1": FIXTURE} if FIXTURE.is_file() else {}), "v2.9.2": built}


@functools.cache
def schemas(path: Path) -> dict[str, dict[str, Any]]:
    """kind -> its storage version's spec schema."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = {}
    for doc in yaml.load_all(path.read_text(), Loader=loader):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("storage") and kind in COMPONENT:
                    out[kind] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return out


def known(kind: str) -> set[str]:
    top = {path for path in UNSUPPORTED[kind] if "." not in path}
    return set(IMPLEMENTED[kind]) | set(NOT_NEEDED.get(kind, {})) | top


def has_path(schema: dict[str, Any], path: str) -> bool:
    for part in path.split("."):
        schema = (schema.get("properties") or {}).get(part) or {}
        if not schema:
            return False
    return True


@pytest.mark.parametrize("release", RELEASES)
def test_every_spec_field_is_implemented_or_named(release: str, releases: dict[str, Path]) -> None:
    if release not in releases:  # as tests/test_release.py: the shared fixtures are CI's, not every checkout's
        pytest.skip(f"the shared v2.5.1 fixture is not beside this checkout ({FIXTURE})")
    found = schemas(releases[release])
    assert set(found) == set(COMPONENT), "a served Flux kind the walk does not cover"
    for kind, spec in found.items():
        fields = set(spec.get("properties") or {})
        assert fields - known(kind) == set(), f"{kind} ({release}): fields neither implemented nor named"
        for dotted in (p for p in UNSUPPORTED[kind] if "." in p):
            assert has_path(spec, dotted.split(".")[0]), (kind, dotted)


def test_the_lists_name_only_real_fields_and_each_field_once(releases: dict[str, Path]) -> None:
    walked = [schemas(p) for p in releases.values()]
    for kind in COMPONENT:
        lists = [set(IMPLEMENTED[kind]), set(NOT_NEEDED.get(kind, {})), set(UNSUPPORTED[kind])]
        assert not (lists[0] & lists[1]) and not (lists[0] & lists[2]) and not (lists[1] & lists[2]), kind
        fields = set().union(*(set(w[kind].get("properties") or {}) for w in walked))  # a field may be new in v2.9
        stale = {f for f in known(kind) if f not in fields}
        assert stale == set(), f"{kind}: listed but in no served schema"


def test_the_readme_names_every_unsupported_field() -> None:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### What the sandbox does not implement"):]
    for kind, fields in UNSUPPORTED.items():
        line = next((line for line in section.splitlines() if line.startswith(f"- **{kind}**")), "")
        assert line, kind
        for field in fields:
            assert re.search(rf"`{re.escape(field)}`", line), (kind, field)


def test_an_object_setting_an_unsupported_field_says_so_in_a_condition(cluster: SandboxCluster) -> None:
    flux = bootstrapped(cluster)
    wait_for("flux-system ready", lambda: any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in ((flux.get("Kustomization", "flux-system") or {}).get("status") or {}).get("conditions", [])),
        timeout=60)
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": "secrets", "namespace": "flux-system"},
          "spec": {"interval": "10m", "path": "./", "prune": True, "force": False,
                   "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                   "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    assert unsupported_fields(ks) == ["spec.decryption (SOPS decryption of Secrets)"]  # force: false is the default
    apply(cluster, [ks])
    marked = wait_for("the Unsupported condition", lambda: next(
        (c for c in ((flux.get("Kustomization", "secrets") or {}).get("status") or {}).get("conditions", [])
         if c["type"] == CONDITION), None), timeout=60)
    assert marked["status"] == "True" and "spec.decryption (SOPS decryption of Secrets)" in marked["message"]
    assert "target: local" in marked["message"]
    ks["spec"].pop("decryption")
    apply(cluster, [ks])
    wait_for("the condition gone", lambda: not any(
        c["type"] == CONDITION
        for c in ((flux.get("Kustomization", "secrets") or {}).get("status") or {}).get("conditions", [])), timeout=60)
