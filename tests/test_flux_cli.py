"""The real flux CLI, built by `fleet local build` from github.com/fluxcd/flux2/v2 at each release the stand-ins
serve, judges what nobody here wrote the rules for: bootstrap's gotk-components.yaml must hold the objects
`flux install --export` writes for the same options (names, labels, args, order), for v2.5.1 (the CLI embedding
the sandbox's written release, so this holds fleetlib's generator) and v2.9.2 (the CLI embedding the release
assembled from the controllers' modules, so this holds the data too)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from fleetlab.local.build import build
from fleetlab.release import built
from fleetlab.release.manifests import install_yaml
from fleetlab.versions import FLUX_CLI_VERSIONS, LOCAL, cache_dir, flux_cli
from fleetlib.manifests import components_yaml
from fleetlib.parameters import Catalog, Layer
from fleetlib.troubleshoot.diagnose import FLUX_NOUNS, NOT_RECONCILABLE

from .conftest import REPO


@pytest.fixture(scope="module")
def clis() -> dict[str, str]:
    build(cache_dir(), LOCAL, say=print)
    return {v: str(flux_cli(v)) for v in FLUX_CLI_VERSIONS}


def release_text(version: str) -> str:
    return built.install_yaml() if version == LOCAL.flux.version else install_yaml(version)


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("version", FLUX_CLI_VERSIONS)
def test_each_cli_says_its_release(clis: dict[str, str], version: str) -> None:
    done = subprocess.run([clis[version], "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"flux version {version.lstrip('v')}"


OPTIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "defaults": ({}, []),
    "options": ({"namespace": "gitops", "log_level": "debug", "network_policy": False, "watch_all_namespaces": False,
                 "registry": "registry.example.com/fluxcd", "cluster_domain": "k8s.internal",
                 "toleration_keys": ["CriticalAddonsOnly", "node.example.com/gitops"],
                 "components_extra": ["image-reflector-controller", "image-automation-controller"]},
                ["--namespace=gitops", "--log-level=debug", "--network-policy=false", "--watch-all-namespaces=false",
                 "--registry=registry.example.com/fluxcd", "--cluster-domain=k8s.internal",
                 "--toleration-keys=CriticalAddonsOnly,node.example.com/gitops",
                 "--components-extra=image-reflector-controller,image-automation-controller"]),
}


@pytest.mark.parametrize("version", FLUX_CLI_VERSIONS)
@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_gotk_components_hold_what_flux_install_writes(clis: dict[str, str], version: str, case: str) -> None:
    values, flags = OPTIONS[case]
    params = Catalog.load(REPO).resolve("services-amer", stage="dev", overrides=[Layer("-p", {**values,
                                                                                               "version": version})])
    done = subprocess.run([clis[version], "install", "--export", *flags], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    real, ours = objects(done.stdout), objects(components_yaml(release_text(version), params))

    def key(o: dict[str, Any]) -> tuple[str, str, str]:
        return o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")

    assert [key(o) for o in ours] == [key(o) for o in real]  # the same objects in the same order
    assert [(key(a), d) for a, b in zip(ours, real, strict=True) for d in differences(a, b)] == []


def differences(ours: Any, real: Any, path: str = "") -> list[str]:
    """Each field path where two objects differ, with both values."""
    if isinstance(ours, dict) and isinstance(real, dict):
        return [d for k in sorted(set(ours) | set(real)) for d in differences(ours.get(k), real.get(k), f"{path}.{k}")]
    if isinstance(ours, list) and isinstance(real, list) and len(ours) == len(real):
        return [d for i, (a, b) in enumerate(zip(ours, real, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if ours == real else [f"{path}: ours {ours!r}, flux {real!r}"]


@pytest.mark.parametrize("version", FLUX_CLI_VERSIONS)
@pytest.mark.parametrize("verb", ["reconcile", "suspend", "resume"])
def test_every_noun_a_remediation_prints_is_a_flux_command(clis: dict[str, str], version: str, verb: str) -> None:
    """The troubleshooting runbook prints `flux <verb> <noun> <name> -n <ns>`: each noun is one the CLI knows."""
    for kind, noun in FLUX_NOUNS.items():
        if verb == "reconcile" and kind in NOT_RECONCILABLE:
            continue  # diagnose prints the requestedAt annotation for them
        done = subprocess.run([clis[version], verb, *noun.split(), "--help"], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0 and f"flux {verb} {noun}" in done.stdout, (kind, done.stderr)
