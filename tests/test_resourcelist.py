"""fleetlib.resourcelist: which kustomization file owns a new manifest, and the line edit that lists or unlists
it, keeping what a person wrote (the end-to-end case, with the real controllers, is in test_conformance)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from fleetlib.errors import InputError
from fleetlib.resourcelist import listing, owner, relisted

ROOT = "clusters/stages/dev/clusters/a"
HEAD = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


def reader(files: dict[str, str]) -> Callable[[str], str | None]:
    return files.get


def test_no_kustomization_file_means_flux_generates_the_list() -> None:
    assert owner(reader({}), ROOT, f"{ROOT}/apps/web.yaml") is None
    assert listing(reader({}), ROOT, f"{ROOT}/apps/web.yaml", present=True) is None


def test_the_nearest_file_owns_the_folder_and_the_search_stops_at_the_cluster_folder() -> None:
    files = {f"{ROOT}/kustomization.yaml": HEAD, f"{ROOT}/apps/kustomization.yml": HEAD,
             "clusters/stages/dev/kustomization.yaml": HEAD}
    assert owner(reader(files), ROOT, f"{ROOT}/apps/web.yaml") == f"{ROOT}/apps/kustomization.yml"
    assert owner(reader(files), ROOT, f"{ROOT}/alerts/slack.yaml") == f"{ROOT}/kustomization.yaml"
    del files[f"{ROOT}/kustomization.yaml"]
    assert owner(reader(files), ROOT, f"{ROOT}/alerts/slack.yaml") is None  # the stage's file is above the root
    edit = listing(reader(files), ROOT, f"{ROOT}/apps/web.yaml", present=True)
    assert edit is not None and edit.path == f"{ROOT}/apps/kustomization.yml"
    assert yaml.safe_load(edit.after or "")["resources"] == ["web.yaml"]  # relative to the owning folder


@pytest.mark.parametrize(("before", "after"), [
    (HEAD + "# mine\nresources:\n  - flux-system  # bootstrap\n",
     HEAD + "# mine\nresources:\n  - flux-system  # bootstrap\n  - apps/web.yaml\n"),
    (HEAD + "resources:\n- flux-system\n\n# later\nnamespace: x\n",
     HEAD + "resources:\n- flux-system\n- apps/web.yaml\n\n# later\nnamespace: x\n"),
    (HEAD + "resources:\nnamespace: x", HEAD + "resources:\n- apps/web.yaml\nnamespace: x\n"),
    (HEAD, HEAD + "resources:\n- apps/web.yaml\n"),
    ("", "resources:\n- apps/web.yaml\n"),
])
def test_listing_appends_one_line_at_the_items_indentation(before: str, after: str) -> None:
    assert relisted(before, "apps/web.yaml", present=True) == after
    assert relisted(after, "apps/web.yaml", present=True) == after  # already listed: unchanged


def test_unlisting_removes_only_that_line_whatever_its_spelling() -> None:
    text = HEAD + "resources:\n  - flux-system\n  - './apps/web.yaml'  # the app\n  - apps/other.yaml\n"
    assert relisted(text, "apps/web.yaml", present=False) == HEAD + "resources:\n  - flux-system\n  - apps/other.yaml\n"
    assert relisted(HEAD + "resources:\n- flux-system\n", "apps/web.yaml", present=False) == \
        HEAD + "resources:\n- flux-system\n"


def test_a_flow_style_list_is_rewritten_as_yaml_with_the_same_meaning() -> None:
    after = relisted(HEAD + "resources: [flux-system]\n", "apps/web.yaml", present=True)
    assert yaml.safe_load(after) == {**yaml.safe_load(HEAD), "resources": ["flux-system", "apps/web.yaml"]}
    again = relisted(after, "apps/web.yaml", present=False)
    assert yaml.safe_load(again)["resources"] == ["flux-system"]


@pytest.mark.parametrize(("text", "says"), [
    ("resources: [a\n", "is not valid YAML"),
    ("- a\n- b\n", "is not a mapping"),
    ("resources: flux-system\n", "resources is not a list of paths"),
    ("resources:\n- {a: 1}\n", "resources is not a list of paths"),
])
def test_a_kustomization_file_that_is_not_one_is_refused_naming_it(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as e:
        listing(reader({f"{ROOT}/kustomization.yaml": text}), ROOT, f"{ROOT}/apps/web.yaml", present=True)
    assert f"{ROOT}/kustomization.yaml" in e.value.message
