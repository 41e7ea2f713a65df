"""fleetlib's patches in flux-system/kustomization.yaml: everything else of the file stays as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from fleetlib.errors import InputError
from fleetlib.kustomization import managed, managed_flags, resources_patch, set_patches

from .conftest import _kubectl

INDENTED = """# customised
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml  # generated
  - gotk-sync.yaml
patches:
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --concurrent=10
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller)"
"""
FLAT = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n"
RESOURCES = {"requests": {"cpu": "20m", "memory": "128Mi"}, "limits": {"cpu": "1000m", "memory": "128Mi"}}


@pytest.mark.parametrize("text", [INDENTED, FLAT], ids=["indented", "flat"])
def test_patch_is_appended_then_replaced_in_place(text: str) -> None:
    patch = resources_patch(0, RESOURCES, {"concurrent": "8"}, controller="helm-controller")
    once = set_patches(text, {"helm-controller": patch})
    assert once.startswith(text.rstrip("\n"))  # the file as it was, then fleetlib's entry
    twice = set_patches(once, {"helm-controller": patch.replace("20m", "30m")})
    assert twice == once.replace("20m", "30m")
    assert set_patches(twice, {"helm-controller": patch.replace("20m", "30m")}) == twice
    assert list(managed(twice)) == ["helm-controller"] and managed_flags(managed(twice)["helm-controller"]) == {
        "concurrent": "8"}


def test_the_patched_file_builds_with_kustomize(tmp_path: Path) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "helm-controller"},
                  "spec": {"template": {"spec": {"containers": [{"name": "manager", "args": ["--log-level=info"],
                                                                 "resources": {"limits": {"cpu": "1000m"}}}]}}}}
    (tmp_path / "gotk-components.yaml").write_text(yaml.safe_dump(deployment))
    (tmp_path / "gotk-sync.yaml").write_text("")
    patch = resources_patch(0, RESOURCES, {"concurrent": "8"}, controller="helm-controller")
    (tmp_path / "kustomization.yaml").write_text(set_patches(INDENTED, {"helm-controller": patch}))
    built = yaml.safe_load(subprocess.run([_kubectl(), "kustomize", str(tmp_path)], check=True, capture_output=True,
                                          text=True).stdout)
    container = built["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == RESOURCES
    assert container["args"] == ["--log-level=info", "--concurrent=10", "--concurrent=8"]  # the user's, then fleetlib's


@pytest.mark.parametrize(("text", "message"), [
    ("kind: Kustomization\npatches: [\n", "not valid YAML"),
    ("- a\n- b\n", "not a kustomize Kustomization"),
    ("kind: Kustomization\npatches: {}\n", "patches is not a list"),
])
def test_bad_files_are_named(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        set_patches(text, {"x": "y"}, shown="clusters/x/flux-system/kustomization.yaml")
    assert message in str(e.value) and "clusters/x/flux-system/kustomization.yaml" in str(e.value)
