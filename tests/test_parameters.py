"""Layered parameters: the shipped clusters, the layer order, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetlib.errors import InputError, ParameterError
from fleetlib.model import ClusterId
from fleetlib.parameters import Catalog, Layer, provenance

from .conftest import REPO

SHIPPED = [
    ClusterId("dev", "other-dev-cluster"),
    ClusterId("dev", "services-amer"),
    ClusterId("prod", "services-amer"),
    ClusterId("staging", "services-amer"),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(REPO)


def test_the_four_shipped_clusters(catalog: Catalog) -> None:
    assert list(catalog.clusters) == SHIPPED
    assert catalog.stages == ["dev", "prod", "staging"]


def test_services_amer_is_our_first_cluster_exactly(catalog: Catalog) -> None:
    p = catalog.resolve("services-amer", stage="dev")
    assert (p.stage, p.cluster, p.target, p.context) == ("dev", "services-amer", "sandbox", "kind-services-amer")
    assert (p.owner, p.repository, p.personal, p.branch) == ("JiwooL0920", "fleet-infra", True, "main")
    assert p.path == "./clusters/stages/dev/clusters/services-amer"
    assert p.version == "v2.5.1" and p.namespace == "flux-system"
    assert p.components == ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"]
    assert (p.interval, p.kustomization_interval, p.prune) == ("1m", "10m", True)
    assert (p.read_write_key, p.ssh_key_algorithm, p.ssh_ecdsa_curve) == (False, "ecdsa", "p384")
    assert p.token_env == "GITHUB_TOKEN"
    res = {name: (r.requests.cpu, r.requests.memory, r.limits.cpu, r.limits.memory) for name, r in p.resources.items()}
    assert res == {
        "source-controller": ("50m", "64Mi", "1000m", "1Gi"),
        "kustomize-controller": ("100m", "64Mi", "1000m", "1Gi"),
        "helm-controller": ("100m", "64Mi", "1000m", "1Gi"),
        "notification-controller": ("100m", "64Mi", "1000m", "1Gi"),
    }


@pytest.mark.parametrize("cid", SHIPPED, ids=str)
def test_every_shipped_cluster_has_its_own_path(catalog: Catalog, cid: ClusterId) -> None:
    p = catalog.resolve(cid.cluster, stage=cid.stage)
    assert p.path == f"./clusters/stages/{cid.stage}/clusters/{cid.cluster}"
    assert p.target == "sandbox"


def test_layers_later_wins_and_provenance_names_the_layer(catalog: Catalog) -> None:
    cid = catalog.find("services-amer", stage="dev")
    layers = [*catalog.layers(cid), Layer("-p", {"branch": "feature"})]
    origin = provenance(layers)
    assert origin["branch"] == "-p"
    assert origin["distribution"] == "parameters/dev/stage.yaml"
    assert origin["context"] == "parameters/dev/services-amer.yaml"
    assert origin["owner"] == "parameters/defaults.yaml"
    p = catalog.resolve("services-amer", stage="dev", overrides=[Layer("-p", {"branch": "feature"})])
    assert p.branch == "feature"


def test_mappings_merge_key_by_key(catalog: Catalog) -> None:
    override = Layer("-y", {"resources": {"helm-controller": {"limits": {"cpu": "2000m", "memory": "2Gi"}}}})
    p = catalog.resolve("services-amer", stage="dev", overrides=[override])
    assert p.resources["helm-controller"].limits.cpu == "2000m"
    assert p.resources["helm-controller"].requests.cpu == "100m"
    assert p.resources["source-controller"].requests.cpu == "50m"


def test_path_is_cleaned_as_flux_cleans_it(catalog: Catalog) -> None:
    p = catalog.resolve("services-amer", overrides=[Layer("-p", {"path": "clusters/x/"})])
    assert p.path == "./clusters/x"


def test_ambiguous_name_takes_the_default_stage(catalog: Catalog) -> None:
    assert catalog.find("services-amer") == ClusterId("dev", "services-amer")
    assert catalog.find("other-dev-cluster") == ClusterId("dev", "other-dev-cluster")


def test_ambiguous_outside_the_default_stage_needs_a_stage(fleet_copy: Path) -> None:
    for stage in ("staging", "prod"):
        (fleet_copy / "parameters" / stage / "edge.yaml").write_text("target: sandbox\n")
    catalog = Catalog.load(fleet_copy)
    with pytest.raises(InputError, match="exists in stages prod, staging"):
        catalog.find("edge")
    assert catalog.find("edge", stage="prod") == ClusterId("prod", "edge")


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        ({"brnach": "main"}, "brnach", "unknown key"),
        ({"prune": "yes"}, "prune", "must be true or false"),
        ({"interval": 60}, "interval", "must be a string"),
        ({"interval": "soon"}, "interval", "not a positive duration"),
        ({"target": "staging"}, "target", "must be one of: sandbox, local, live"),
        ({"components": ["helm-controller"]}, None, "must include source-controller"),
        ({"components_extra": ["helm-controller"]}, "components_extra.0", "must be one of"),
        ({"path": "../other"}, "path", "must not contain '..'"),
        ({"path": "/etc"}, "path", "relative path"),
        ({"owner": "bad owner"}, "owner", "GitHub user or organisation"),
        ({"ssh_rsa_bits": 1024}, "ssh_rsa_bits", "must be greater than or equal to 2048"),
        ({"ssh_rsa_bits": 3000}, "ssh_rsa_bits", "must be a multiple of 1024"),
        ({"resources": {"helm-controller": {"requests": {"cpu": "lots", "memory": "1Mi"}}}},
         "resources.helm-controller.requests.cpu", "not a quantity"),
        ({"resources": {"my-controller": {}}}, "resources.my-controller", "unknown controller"),
        ({"target": "live", "context": None}, None, "needs a kube context"),
    ],
)
def test_bad_values_name_the_layer_and_key(catalog: Catalog, values: dict, key: str | None, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        catalog.resolve("services-amer", overrides=[Layer("-y", values)])
    err = info.value
    assert message in str(err)
    assert err.key == key
    if key is not None:
        assert err.source == "-y"


def test_bad_value_in_a_file_names_that_file(fleet_copy: Path) -> None:
    path = fleet_copy / "parameters" / "dev" / "stage.yaml"
    path.write_text("distribution: kind\nprune: maybe\n")
    with pytest.raises(ParameterError) as info:
        Catalog.load(fleet_copy).resolve("services-amer")
    assert info.value.source == "parameters/dev/stage.yaml" and info.value.key == "prune"


@pytest.mark.parametrize(
    "values",
    [
        {"token": "anything"},
        {"github_token": "x"},
        {"description": "gh" + "p_" + "A" * 36},
        {"author_name": "github_pat_" + "B" * 40},
        {"description": "-----BEGIN OPENSSH " + "PRIVATE KEY-----"},
    ],
)
def test_tokens_are_never_values_and_never_echoed(catalog: Catalog, values: dict) -> None:
    with pytest.raises(ParameterError, match="never parameter values") as info:
        catalog.resolve("services-amer", overrides=[Layer("-y", values)])
    secret = next(iter(values.values()))
    if len(secret) > 20:
        assert secret not in str(info.value)
    assert "GITHUB_TOKEN" in str(info.value)


def test_stage_and_cluster_come_from_the_file_place(fleet_copy: Path) -> None:
    (fleet_copy / "parameters" / "dev" / "services-amer.yaml").write_text("target: sandbox\ncluster: other\n")
    with pytest.raises(ParameterError, match="'cluster' is not a parameter here"):
        Catalog.load(fleet_copy).resolve("services-amer")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("target: [sandbox\n", "malformed YAML at line"),
        ("- a\n- b\n", "must hold a mapping"),
        ("target: sandbox\ntarget: live\n", "duplicate key 'target'"),
    ],
)
def test_broken_files_are_named(fleet_copy: Path, text: str, message: str) -> None:
    (fleet_copy / "parameters" / "dev" / "services-amer.yaml").write_text(text)
    with pytest.raises(ParameterError, match=message) as info:
        Catalog.load(fleet_copy).resolve("services-amer")
    assert info.value.source == "parameters/dev/services-amer.yaml"


def test_missing_defaults_file(fleet_copy: Path) -> None:
    (fleet_copy / "parameters" / "defaults.yaml").unlink()
    with pytest.raises(ParameterError, match="parameters/defaults.yaml: no such file"):
        Catalog.load(fleet_copy)


@pytest.mark.parametrize(
    ("cluster", "stage", "message"),
    [
        ("../services-amer", None, "not a DNS-1123 label"),
        ("services-amer", "../dev", "not a DNS-1123 label"),
        ("Services-Amer", None, "not a DNS-1123 label"),
        ("a/b", None, "not a DNS-1123 label"),
        ("stage", None, "reserved"),
        ("nowhere", None, "known clusters: dev/other-dev-cluster, dev/services-amer"),
        ("nowhere", "dev", "clusters in dev: other-dev-cluster, services-amer"),
        ("services-amer", "qa", "known stages: dev, prod, staging"),
    ],
)
def test_bad_names_and_unknown_clusters(catalog: Catalog, cluster: str, stage: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        catalog.find(cluster, stage=stage)


@pytest.mark.parametrize("name", ["Bad_Name.yaml", "stage-.yaml"])
def test_badly_named_cluster_files_are_refused(fleet_copy: Path, name: str) -> None:
    (fleet_copy / "parameters" / "dev" / name).write_text("target: sandbox\n")
    with pytest.raises(ParameterError, match="not a DNS-1123 cluster name"):
        Catalog.load(fleet_copy)
