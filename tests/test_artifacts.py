"""The offline artifact store and the chart server: a Helm repository and an OCI registry published to with
`fleet charts` / `fleet oci`, served for two host names only (directly and as an HTTP proxy), SemVer ranges
resolved as Helm resolves them, and charts rendered by `helm template` or, without a helm binary, by the
documented subset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fleetlab.charts.artifacts import ArtifactStore, write_demo_chart
from fleetlab.charts.server import ChartServer
from fleetlab.flux.helmrender import SUBSET, RenderError, helm_binary, render
from fleetlib.errors import InputError
from fleetlib.semver import resolve_version


@pytest.fixture()
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "home")


@pytest.fixture()
def server(store: ArtifactStore) -> Iterator[ChartServer]:
    srv = ChartServer(("127.0.0.1", 0), store)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def via(server: ChartServer, url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET `url` through the chart server as an HTTP proxy, as source-controller does with HTTP_PROXY."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.proxy_url}))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers.items())
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers.items())


def test_publish_writes_an_index_helm_can_read_and_is_idempotent(store: ArtifactStore, tmp_path: Path) -> None:
    chart = store.publish_chart(write_demo_chart(tmp_path, "hello", "1.2.3"))
    again = store.publish_chart(write_demo_chart(tmp_path, "hello", "1.2.3"))
    assert chart == again and chart.url == "http://charts.fleet.internal/hello-1.2.3.tgz"
    index = yaml.safe_load((store.charts / "index.yaml").read_text())
    entry = index["entries"]["hello"][0]
    assert index["apiVersion"] == "v1" and entry["version"] == "1.2.3" and entry["urls"] == ["hello-1.2.3.tgz"]
    archive = (store.charts / "hello-1.2.3.tgz").read_bytes()
    assert entry["digest"] == hashlib.sha256(archive).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert "hello/Chart.yaml" in tar.getnames() and "hello/templates/deployment.yaml" in tar.getnames()
    other = write_demo_chart(tmp_path / "changed", "hello", "1.2.3")
    (other / "values.yaml").write_text("replicaCount: 9\n")
    with pytest.raises(InputError, match="already published with other content"):
        store.publish_chart(other)
    store.publish_chart(write_demo_chart(tmp_path, "hello", "1.10.0"))
    assert [e["version"] for e in store.index()["entries"]["hello"]] == ["1.10.0", "1.2.3"]  # newest first


@pytest.mark.parametrize(("chart_yaml", "problem"), [
    (None, "has no Chart.yaml"), ("apiVersion: v1\nname: x\nversion: 1.0.0\n", "apiVersion must be v2"),
    ("apiVersion: v2\nname: Bad_Name\nversion: 1.0.0\n", "must be lower-case"),
    ("apiVersion: v2\nname: x\nversion: one\n", "is not SemVer 2"), ("apiVersion: v2\nname: [x\n", "not valid YAML")])
def test_bad_charts_are_refused_with_the_file_named(store: ArtifactStore, tmp_path: Path, chart_yaml: str | None,
                                                    problem: str) -> None:
    folder = tmp_path / "chart"
    folder.mkdir()
    if chart_yaml is not None:
        (folder / "Chart.yaml").write_text(chart_yaml)
    with pytest.raises(InputError, match=problem):
        store.publish_chart(folder)
    assert not (store.charts / "index.yaml").exists()  # nothing half-written


def test_the_server_answers_for_its_two_hosts_only(store: ArtifactStore, server: ChartServer,
                                                   tmp_path: Path) -> None:
    store.publish_chart(write_demo_chart(tmp_path, "hello", "1.0.0"))
    code, body, _ = via(server, "http://charts.fleet.internal/index.yaml")
    assert code == 200 and "hello" in yaml.safe_load(body)["entries"]
    code, body, _ = via(server, "http://charts.fleet.internal/hello-1.0.0.tgz")
    assert code == 200 and body == (store.charts / "hello-1.0.0.tgz").read_bytes()
    assert via(server, "http://charts.fleet.internal/../../etc/passwd")[0] == 404
    code, body, _ = via(server, "http://charts.example.com/index.yaml")
    assert code == 403 and b"not reachable from here (offline)" in body


def test_the_registry_serves_flux_artifacts_and_helm_charts(store: ArtifactStore, server: ChartServer,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    digest = store.push_artifact(folder, "fleet/apps", "v1", source="https://github.com/x/y", revision="main@sha1:1")
    code, body, headers = via(server, "http://registry.fleet.internal/v2/fleet/apps/manifests/v1")
    manifest = json.loads(body)
    assert code == 200 and headers["Docker-Content-Digest"] == digest
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip"
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "main@sha1:1"
    code, blob, _ = via(server, f"http://registry.fleet.internal/v2/fleet/apps/blobs/{manifest['layers'][0]['digest']}")
    assert code == 200 and hashlib.sha256(blob).hexdigest() == manifest["layers"][0]["digest"].split(":")[1]
    tag, _ = store.push_chart(write_demo_chart(tmp_path, "hello", "2.0.0"), "charts/hello")
    code, body, _ = via(server, "http://registry.fleet.internal/v2/charts/hello/tags/list")
    assert tag == "2.0.0" and json.loads(body) == {"name": "charts/hello", "tags": ["2.0.0"]}
    code, body, _ = via(server, "http://registry.fleet.internal/v2/charts/hello/manifests/9.9.9")
    assert code == 404 and json.loads(body)["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    with pytest.raises(InputError, match="OCI repository name"):
        store.push_artifact(folder, "Bad/Name", "v1")


@pytest.mark.parametrize(("constraint", "expected"), [
    ("0.1.x", "0.1.1"), ("1.x", "1.2.3"), ("*", "1.2.3"), ("^0.1", "0.1.1"), ("~1.2", "1.2.3"), ("0.2.0", "0.2.0"),
    (">=0.1.1 <1.0.0", "0.2.0"), ("1.x || 0.1.x", "1.2.3"), ("9.x", None), ("2.0.0-rc.1", "2.0.0-rc.1"),
    (">=2.0.0", None)])
def test_semver_ranges_resolve_as_helm_resolves_them(constraint: str, expected: str | None) -> None:
    assert resolve_version(constraint, ["0.1.0", "0.1.1", "0.2.0", "1.0.0", "1.2.3", "2.0.0-rc.1"]) == expected


def _archive(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name.split("-")[0])
    return buf.getvalue()


def test_without_helm_the_subset_renders_substitutions_and_refuses_the_rest(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_HELM", str(tmp_path / "no-helm-here"))
    assert helm_binary() is None
    manifests, renderer = render(_archive(write_demo_chart(tmp_path, "hello", "1.0.0")), release="web",
                                 namespace="apps", values={"replicaCount": 3})
    assert renderer == SUBSET
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "web" and deployment["spec"]["replicas"] == 3
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment"]  # Helm's install order
    fancy = write_demo_chart(tmp_path / "fancy", "fancy", "1.0.0",
                             {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"x\" . }}\n"})
    with pytest.raises(RenderError, match="outside it; run `fleet local build`"):
        render(_archive(fancy), release="web", namespace="apps", values={})


@pytest.fixture(scope="module")
def helm() -> str:
    """The local stack's helm, built (with the rest of the stack, cached) when this test comes first."""
    if helm_binary() is None:
        from fleetlab.local.build import build, cache_dir
        from fleetlab.versions import LOCAL

        build(cache_dir(), LOCAL, say=print)
    found = helm_binary()
    assert found is not None, "fleet local build did not leave a helm binary"
    return found


def test_with_helm_charts_render_for_real(tmp_path: Path, helm: str) -> None:
    chart = write_demo_chart(tmp_path, "fancy", "1.0.0", {
        "_helpers.tpl": '{{- define "fancy.name" -}}{{ .Release.Name | upper }}-{{ .Chart.Name }}{{- end }}\n',
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"fancy.name\" . | lower }}\n"
                   "data:\n  n: {{ .Values.replicaCount | add 1 | quote }}\n"})
    manifests, renderer = render(_archive(chart), release="web", namespace="apps", values={"replicaCount": 2},
                                 version="1.0.0+abcdef123456")
    assert renderer.startswith("helm template")
    cm = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert cm["metadata"]["name"] == "web-fancy" and cm["data"]["n"] == "3"


def test_the_cli_publishes_and_lists(tmp_path: Path) -> None:
    env = {**os.environ, "FLEET_HOME": str(tmp_path / "home")}
    folder = write_demo_chart(tmp_path, "hello", "0.3.0")

    def fleet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fleetlib", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
    done = fleet("charts", "publish", str(folder))
    assert done.returncode == 0 and "published hello 0.3.0 to http://charts.fleet.internal/" in done.stdout
    assert "hello  0.3.0" in fleet("charts", "list").stdout
    done = fleet("oci", "push", str(folder), "--chart", "--repository", "charts/hello")
    assert done.returncode == 0 and "oci://registry.fleet.internal/charts/hello:0.3.0" in done.stdout
    bad = fleet("charts", "publish", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "has no Chart.yaml" in bad.stderr
