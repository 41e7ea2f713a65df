"""kubectl's everyday commands against a bootstrapped sandbox cluster, with the kubectl the project installs:
Table output with the real columns, `explain` from the CRDs' schemas, the generators and `auth can-i`
(which send protobuf), and `wait` on an object that is already Ready (watch-list initial events)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fleetlab.sandbox import Sandbox

from .conftest import SandboxCluster, new_cluster
from .fluxenv import FluxCluster, bootstrapped, wait_for


@pytest.fixture(scope="module")
def fc(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FluxCluster]:
    cluster = bootstrapped(new_cluster(sandbox, "kubectl", tmp_path_factory.mktemp("kubectl")))
    wait_for("the sync to be Ready", lambda: any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in ((cluster.get("Kustomization", "flux-system") or {}).get("status") or {}).get("conditions", [])),
        timeout=60)
    yield cluster
    sandbox.forget_cluster(cluster.c.id)


def header(text: str) -> list[str]:
    return text.splitlines()[0].split()


def test_get_flux_objects_shows_ready_and_status(fc: FluxCluster) -> None:
    out = fc.c.kubectl("get", "gitrepositories,kustomizations", "-A")
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert header(blocks[0]) == ["NAMESPACE", "NAME", "URL", "AGE", "READY", "STATUS"]
    assert header(blocks[1]) == ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"]
    row = blocks[1].splitlines()[1].split()
    assert row[1] == "kustomization.kustomize.toolkit.fluxcd.io/flux-system" and row[3] == "True"
    assert "Applied revision: main@sha1:" in blocks[1]


def test_get_deployments_and_pods_shows_their_columns(fc: FluxCluster) -> None:
    out = fc.c.kubectl("get", "deploy,pods", "-n", "flux-system")
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert header(blocks[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert header(blocks[1]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in blocks[0].splitlines()[1:]}
    assert rows["deployment.apps/source-controller"] == ["1/1", "1", "1"]
    assert all(line.split()[1:3] == ["1/1", "Running"] for line in blocks[1].splitlines()[1:])


def test_get_events_sorted_by_last_timestamp(fc: FluxCluster) -> None:
    out = fc.c.kubectl("get", "events", "-n", "flux-system", "--sort-by=.lastTimestamp")
    assert header(out)[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"] and "MESSAGE" in header(out)
    assert "gitrepository/flux-system" in out and "NewArtifact" in out


def test_explain_reads_the_crd_schema(fc: FluxCluster) -> None:
    out = fc.c.kubectl("explain", "kustomization.spec.interval")
    assert "KIND:       Kustomization" in out and "FIELD: interval <string>" in out
    assert "The interval at which to reconcile the Kustomization" in out
    out = fc.c.kubectl("explain", "gitrepository.spec.ref")
    assert "branch\t<string>" in out and "commit\t<string>" in out


def test_generators_and_auth_can_i(fc: FluxCluster) -> None:
    c: SandboxCluster = fc.c
    assert c.kubectl("create", "configmap", "x", "--from-literal=a=b").strip() == "configmap/x created"
    assert '"a":"b"' in c.kubectl("get", "configmap", "x", "-o", "jsonpath={.data}")
    assert c.kubectl("create", "namespace", "y").strip() == "namespace/y created"
    assert c.kubectl("create", "secret", "generic", "s", "--from-literal=k=v").strip() == "secret/s created"
    assert c.kubectl("create", "deployment", "web", "--image=nginx:1.27").strip() == "deployment.apps/web created"
    assert c.kubectl("auth", "can-i", "create", "secrets", "-n", "flux-system").strip() == "yes"
    refused = c.kubectl("create", "configmap", "Bad_Name", "--from-literal=a=b", check=False)
    assert refused == ""


def test_wait_returns_at_once_for_a_ready_object(fc: FluxCluster) -> None:
    started = time.monotonic()
    out = fc.c.kubectl("wait", "--for=condition=Ready", "kustomization/flux-system", "-n", "flux-system",
                       "--timeout=10s")
    assert out.strip() == "kustomization.kustomize.toolkit.fluxcd.io/flux-system condition met"
    assert time.monotonic() - started < 8


def test_an_invalid_kustomization_is_refused_by_the_schema(fc: FluxCluster) -> None:
    manifest = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: bad\n"
                "  namespace: flux-system\nspec:\n  interval: 1x\n  prune: yes-please\n")
    import subprocess

    from .conftest import _kubectl

    done = subprocess.run([_kubectl(), "--kubeconfig", str(fc.c.kubeconfig), "apply", "-f", "-"], input=manifest,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert 'The Kustomization "bad" is invalid' in done.stderr and "spec.interval" in done.stderr
