"""Hostile and careless requests against the sandbox, as raw HTTP (what curl would send) and through the
official client: each gets the real server's status code with a `Status` body (GitHub: its JSON error),
the server stays up, its memory stays bounded, and nothing is written outside FLEET_HOME."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from fleetlab.kubernetes.protobuf import MAGIC
from fleetlab.release.manifests import install_objects
from fleetlab.sandbox import Sandbox

from .conftest import SandboxCluster, new_cluster

KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/default/kustomizations"
GITREPOS = "/apis/source.toolkit.fluxcd.io/v1/namespaces/default/gitrepositories"
CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def c(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    cluster = new_cluster(sandbox, "hostile", tmp_path_factory.mktemp("hostile"))
    for crd in [o for o in install_objects("v2.5.1") if o["kind"] == "CustomResourceDefinition"]:
        k8s.ApiextensionsV1Api(cluster.client).create_custom_resource_definition(crd)
    k8s.CoreV1Api(cluster.client).create_namespaced_config_map("default", {"metadata": {"name": "victim"},
                                                                          "data": {"a": "b"}})
    yield cluster
    sandbox.forget_cluster(cluster.id)


def connect(c: SandboxCluster) -> http.client.HTTPSConnection:
    cfg = c.client.configuration
    host, port = cfg.host.removeprefix("https://").split("/")[0].split(":")
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)


def prefix(c: SandboxCluster) -> str:
    return "/" + c.client.configuration.host.split("/", 3)[3]


def token(c: SandboxCluster) -> str:
    cfg = c.client.configuration
    return str(cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization"))


def send(c: SandboxCluster, method: str, path: str, body: bytes | dict[str, Any] | None = None, *,
         headers: dict[str, str] | None = None, auth: str | None = "own", raw_path: bool = False) -> tuple[int, Any]:
    conn = connect(c)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if auth == "own":
        hdrs["Authorization"] = token(c)
    elif auth is not None:
        hdrs["Authorization"] = auth
    conn.putrequest(method, path if raw_path else prefix(c) + path, skip_accept_encoding=True)
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if data is not None and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    if data:
        conn.send(data)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(payload)
    except ValueError:
        return resp.status, payload


def cm(name: Any = "x", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


def ks(**spec: Any) -> dict[str, Any]:
    base = {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "src"}}
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "k"},
            "spec": {**base, **spec}}


def deploy(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}


CONTAINERS = {"containers": [{"name": "c", "image": "nginx"}]}

# (id, method, path, body, headers, code, reason or None for any)
CASES: list[tuple[str, str, str, Any, dict[str, str], int, str | None]] = [
    ("bad-content-length-negative", "POST", CM, b"{}", {"Content-Length": "-1"}, 400, "BadRequest"),
    ("bad-content-length-text", "POST", CM, b"{}", {"Content-Length": "abc"}, 400, "BadRequest"),
    ("body-over-limit", "POST", CM, b"", {"Content-Length": str(4 * 1024 * 1024)}, 413, "RequestEntityTooLarge"),
    ("text-plain", "POST", CM, b"a: b", {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType"),
    ("not-json", "POST", CM, b"{nope", {}, 400, "BadRequest"),
    ("json-array", "POST", CM, b"[1, 2]", {}, 400, "BadRequest"),
    ("chunked-malformed", "POST", CM, b"zz\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"}, 400, "BadRequest"),
    ("name-colon", "POST", CM, cm("a:b"), {}, 422, "Invalid"),
    ("name-integer", "POST", CM, cm(7), {}, 400, "BadRequest"),
    ("name-upper", "POST", CM, cm("Upper"), {}, 422, "Invalid"),
    ("name-too-long", "POST", CM, cm("a" * 254), {}, 422, "Invalid"),
    ("name-missing", "POST", CM, {"metadata": {}}, {}, 422, "Invalid"),
    ("namespace-64", "POST", "/api/v1/namespaces", {"metadata": {"name": "n" * 64}}, {}, 422, "Invalid"),
    ("namespace-dot", "POST", "/api/v1/namespaces", {"metadata": {"name": "a.b"}}, {}, 422, "Invalid"),
    ("service-digit", "POST", "/api/v1/namespaces/default/services", {"metadata": {"name": "1abc"},
                                                                      "spec": {"ports": [{"port": 80}]}}, {}, 422,
     "Invalid"),
    ("label-value", "POST", CM, cm(metadata={"name": "l", "labels": {"a": "b c!"}}), {}, 422, "Invalid"),
    ("label-key", "POST", CM, cm(metadata={"name": "l", "labels": {"a/b/c": "x"}}), {}, 422, "Invalid"),
    ("label-value-64", "POST", CM, cm(metadata={"name": "l", "labels": {"a": "v" * 64}}), {}, 422, "Invalid"),
    ("labels-list", "POST", CM, cm(metadata={"name": "l", "labels": ["a"]}), {}, 400, "BadRequest"),
    ("annotation-int", "POST", CM, cm(metadata={"name": "l", "annotations": {"a": 1}}), {}, 400, "BadRequest"),
    ("finalizer-bad", "POST", CM, cm(metadata={"name": "l", "finalizers": ["a b"]}), {}, 422, "Invalid"),
    ("metadata-string", "POST", CM, {"metadata": "x"}, {}, 400, "BadRequest"),
    ("data-list", "POST", CM, cm(data=[1, 2]), {}, 400, "BadRequest"),
    ("data-int-value", "POST", CM, cm(data={"a": 1}), {}, 400, "BadRequest"),
    ("data-bad-key", "POST", CM, cm(data={"a b": "x"}), {}, 422, "Invalid"),
    ("data-over-1mib", "POST", CM, cm(data={"a": "x" * (1024 * 1024 + 10)}), {}, 422, "Invalid"),
    ("secret-not-base64", "POST", "/api/v1/namespaces/default/secrets",
     {"metadata": {"name": "s"}, "data": {"a": "%%%"}}, {}, 400, "BadRequest"),
    ("apiversion-int", "POST", CM, {"apiVersion": 1, "kind": "ConfigMap", "metadata": {"name": "v"}}, {}, 400,
     "BadRequest"),
    ("kind-mismatch", "POST", CM, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "v"}}, {}, 400,
     "BadRequest"),
    ("group-mismatch", "POST", CM, {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "v"}}, {}, 400,
     "BadRequest"),
    ("deployment-no-selector", "POST", "/apis/apps/v1/namespaces/default/deployments",
     deploy({"template": {"metadata": {"labels": {"a": "b"}}, "spec": CONTAINERS}}), {}, 422, "Invalid"),
    ("deployment-selector-mismatch", "POST", "/apis/apps/v1/namespaces/default/deployments",
     deploy({"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "c"}},
                                                                   "spec": CONTAINERS}}), {}, 422, "Invalid"),
    ("deployment-no-image", "POST", "/apis/apps/v1/namespaces/default/deployments",
     deploy({"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                                                                   "spec": {"containers": [{"name": "c"}]}}}), {}, 422,
     "Invalid"),
    ("pod-no-containers", "POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {}}, {}, 422,
     "Invalid"),
    ("ks-spec-string", "POST", KS, {**ks(), "spec": "garbage"}, {}, 422, "Invalid"),
    ("ks-missing-required", "POST", KS, {**ks(), "spec": {"path": "./x"}}, {}, 422, "Invalid"),
    ("ks-interval-pattern", "POST", KS, ks(interval="1x"), {}, 422, "Invalid"),
    ("ks-prune-string", "POST", KS, ks(prune="yes"), {}, 422, "Invalid"),
    ("ks-source-kind-enum", "POST", KS, ks(sourceRef={"kind": "Foo", "name": "x"}), {}, 422, "Invalid"),
    ("ks-target-namespace-long", "POST", KS, ks(targetNamespace="n" * 64), {}, 422, "Invalid"),
    ("ks-strict-unknown-field", "POST", KS + "?fieldValidation=Strict", ks(bogus=1), {}, 400, "BadRequest"),
    ("gitrepo-url-scheme", "POST", GITREPOS, {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                                             "metadata": {"name": "g"}, "spec": {"interval": "1m", "url": "ftp://x"}},
     {}, 422, "Invalid"),
    ("gitrepo-ref-branch-int", "POST", GITREPOS, {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                                                 "metadata": {"name": "g"},
                                                 "spec": {"interval": "1m", "url": "ssh://git@github.com/a/b",
                                                          "ref": {"branch": 5}}}, {}, 422, "Invalid"),
    ("helmrelease-chart-and-chartref", "POST", "/apis/helm.toolkit.fluxcd.io/v2/namespaces/default/helmreleases",
     {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "h"},
      "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "o"},
               "chart": {"spec": {"chart": "c", "sourceRef": {"kind": "HelmRepository", "name": "r"}}}}}, {}, 422,
     "Invalid"),
    ("limit-text", "GET", CM + "?limit=abc", None, {}, 400, "BadRequest"),
    ("limit-negative", "GET", CM + "?limit=-1", None, {}, 400, "BadRequest"),
    ("tail-lines-text", "GET", "/api/v1/namespaces/default/pods/p/log?tailLines=abc", None, {}, 400, "BadRequest"),
    ("since-seconds-text", "GET", "/api/v1/namespaces/default/pods/p/log?sinceSeconds=x", None, {}, 400, "BadRequest"),
    ("watch-bad-rv", "GET", CM + "?watch=true&resourceVersion=abc", None, {}, 400, "BadRequest"),
    ("watch-bad-timeout", "GET", CM + "?watch=true&timeoutSeconds=abc", None, {}, 400, "BadRequest"),
    ("watch-bad-selector", "GET", CM + "?watch=true&labelSelector=a%20in%20(", None, {}, 400, "BadRequest"),
    ("watch-bad-bool", "GET", CM + "?watch=maybe", None, {}, 400, "BadRequest"),
    ("list-bad-selector", "GET", CM + "?labelSelector=a%20in%20(", None, {}, 400, "BadRequest"),
    ("field-validation-bogus", "POST", CM + "?fieldValidation=Bogus", cm("fv"), {}, 400, "BadRequest"),
    ("dry-run-bogus", "POST", CM + "?dryRun=Bogus", cm("dr"), {}, 400, "BadRequest"),
    ("propagation-bogus", "DELETE", CM + "/victim?propagationPolicy=Bogus", None, {}, 422, "Invalid"),
    ("propagation-bogus-body", "DELETE", CM + "/victim", {"propagationPolicy": "Bogus"}, {}, 422, "Invalid"),
    ("patch-remove-metadata", "PATCH", CM + "/victim", b'[{"op":"remove","path":"/metadata"}]',
     {"Content-Type": "application/json-patch+json"}, 400, "BadRequest"),
    ("patch-rename", "PATCH", CM + "/victim", b'[{"op":"replace","path":"/metadata/name","value":"other"}]',
     {"Content-Type": "application/json-patch+json"}, 400, "BadRequest"),
    ("patch-kind", "PATCH", CM + "/victim", b'[{"op":"replace","path":"/kind","value":"Secret"}]',
     {"Content-Type": "application/json-patch+json"}, 400, "BadRequest"),
    ("patch-uid", "PATCH", CM + "/victim", b'[{"op":"replace","path":"/metadata/uid","value":"u"}]',
     {"Content-Type": "application/json-patch+json"}, 409, "Conflict"),
    ("patch-namespace", "PATCH", CM + "/victim", b'{"metadata":{"namespace":"kube-system"}}',
     {"Content-Type": "application/merge-patch+json"}, 400, "BadRequest"),
    ("patch-missing-path", "PATCH", CM + "/victim", b'[{"op":"replace","path":"/nope/x","value":1}]',
     {"Content-Type": "application/json-patch+json"}, 422, "Invalid"),
    ("patch-bad-label", "PATCH", CM + "/victim", b'{"metadata":{"labels":{"a":"b c!"}}}',
     {"Content-Type": "application/merge-patch+json"}, 422, "Invalid"),
    ("patch-unknown-type", "PATCH", CM + "/victim", b"{}", {"Content-Type": "application/x-whatever"}, 415,
     "UnsupportedMediaType"),
    ("patch-not-json", "PATCH", CM + "/victim", b"{nope", {"Content-Type": "application/merge-patch+json"}, 400,
     "BadRequest"),
    ("strategic-on-cr", "PATCH", KS + "/nothing", b"{}", {"Content-Type": "application/strategic-merge-patch+json"},
     404, "NotFound"),
    ("protobuf-unknown-kind", "POST", "/apis/apps/v1/namespaces/default/statefulsets",
     MAGIC + b"\x0a\x13\x0a\x07apps/v1\x12\x0bStatefulSet\x12\x00", {"Content-Type": "application/vnd.kubernetes.protobuf"},
     415, "UnsupportedMediaType"),
    ("protobuf-garbage", "POST", CM, b"not protobuf", {"Content-Type": "application/vnd.kubernetes.protobuf"}, 415,
     "UnsupportedMediaType"),
    ("unknown-resource", "GET", "/api/v1/namespaces/default/gizmos", None, {}, 404, "NotFound"),
    ("unknown-group", "GET", "/apis/nope.example.com/v1", None, {}, 404, "NotFound"),
    ("replace-no-rv", "PUT", CM + "/victim", cm("victim", data={"a": "c"}), {}, 422, "Invalid"),
    ("replace-rename", "PUT", CM + "/victim", cm("other"), {}, 400, "BadRequest"),
]


@pytest.mark.parametrize(("case", "method", "path", "body", "headers", "code", "reason"), CASES,
                         ids=[case[0] for case in CASES])
def test_hostile_request_gets_the_real_status(c: SandboxCluster, case: str, method: str, path: str, body: Any,
                                              headers: dict[str, str], code: int, reason: str | None) -> None:
    status, doc = send(c, method, path, body, headers=headers)
    assert status == code, (status, doc)
    assert isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("status") == "Failure", doc
    assert doc["code"] == code and (reason is None or doc["reason"] == reason), doc
    assert send(c, "GET", "/version")[0] == 200  # the server is still up
    assert send(c, "GET", CM + "/victim")[0] == 200  # and nothing was deleted or renamed


def test_invalid_kustomization_names_every_cause(c: SandboxCluster) -> None:
    status, doc = send(c, "POST", KS, {**ks(), "spec": {"path": "./x", "interval": "1x"}})
    assert status == 422
    fields = {cause["field"] for cause in doc["details"]["causes"]}
    assert fields == {"spec.interval", "spec.prune", "spec.sourceRef"}
    assert doc["message"].startswith('Kustomization.kustomize.toolkit.fluxcd.io "k" is invalid: [')  # as kube-apiserver words it


def test_unknown_fields_are_pruned_without_strict(c: SandboxCluster) -> None:
    status, doc = send(c, "POST", KS, {**ks(bogus=1), "metadata": {"name": "pruned"}})
    assert status == 201 and "bogus" not in doc["spec"] and doc["spec"]["force"] is False  # pruned, defaulted


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer "], ids=["none", "wrong",
                                                                                               "basic", "empty"])
def test_unauthenticated_is_401(c: SandboxCluster, auth: str | None) -> None:
    status, doc = send(c, "GET", "/api/v1/namespaces", auth=auth)
    assert status == 401 and doc["reason"] == "Unauthorized"


def test_a_clusters_token_opens_only_that_cluster(c: SandboxCluster, sandbox: Sandbox,
                                                  tmp_path: Path) -> None:
    other = new_cluster(sandbox, "hostile2", tmp_path)
    status, doc = send(c, "GET", "/api/v1/namespaces", auth=token(other))
    assert status == 401
    assert send(other, "GET", "/api/v1/namespaces")[0] == 200


def test_paths_outside_a_cluster_are_404(c: SandboxCluster) -> None:
    assert send(c, "GET", "/api", raw_path=True)[0] == 404
    assert send(c, "GET", "/clusters/nope/nothing/api", raw_path=True)[0] == 404


def rss_kib() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])


def test_an_unauthenticated_huge_body_is_refused_unread(c: SandboxCluster) -> None:
    before = rss_kib()
    conn = connect(c)
    conn.putrequest("POST", prefix(c) + CM)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(300 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"{" + b" " * 65536)  # a start of the 300 MB the server must not wait for
    started = time.monotonic()
    resp = conn.getresponse()
    assert resp.status == 401 and json.loads(resp.read())["reason"] == "Unauthorized"
    assert time.monotonic() - started < 10 and rss_kib() - before < 50 * 1024
    conn.close()
    assert send(c, "GET", "/version")[0] == 200


def test_a_huge_configmap_is_refused(c: SandboxCluster) -> None:
    status, doc = send(c, "POST", CM, cm("huge", data={"a": "x" * (10 * 1024 * 1024)}))
    assert status == 413 and doc["reason"] == "RequestEntityTooLarge"


def test_chunked_bodies_work(c: SandboxCluster) -> None:
    body = json.dumps(cm("chunked", data={"a": "b"})).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    status, doc = send(c, "POST", CM, chunked, headers={"Transfer-Encoding": "chunked"})
    assert status == 201 and doc["data"] == {"a": "b"}


def test_the_official_client_sees_the_same_statuses(c: SandboxCluster) -> None:
    core = k8s.CoreV1Api(c.client)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "bad:name"}})
    assert info.value.status == 422 and json.loads(info.value.body)["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map("default", limit=-1)
    assert info.value.status == 400
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_config_map("victim", "default", propagation_policy="Bogus")
    assert info.value.status == 422
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map("victim", "default", [{"op": "replace", "path": "/metadata/name",
                                                               "value": "x"}])
    assert info.value.status == 400
    co = k8s.CustomObjectsApi(c.client)
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", "default", "kustomizations",
                                           {**ks(), "spec": "garbage"})
    assert info.value.status == 422 and "spec in body must be of type object" in info.value.body
    assert core.read_namespaced_config_map("victim", "default").data == {"a": "b"}


# --- the sandbox GitHub ----------------------------------------------------------------------------


def hub_send(sandbox: Sandbox, method: str, path: str, body: bytes | dict[str, Any] | None = None, *,
             auth: bool = True, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    port = sandbox.hub_server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.putrequest(method, path)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if auth:
        hdrs["Authorization"] = f"token {sandbox.hub.token}"
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if data is not None and "Content-Length" not in hdrs:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    if data:
        conn.send(data)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(payload)
    except ValueError:
        return resp.status, payload


@pytest.mark.parametrize("name", ["../../../../tmp/fleetlib-traversal", "a b;$(id)", "..", ".", "x/y", "",
                                  "evil.git", "a" * 101])
def test_github_refuses_repository_names_github_refuses(sandbox: Sandbox, name: str) -> None:
    status, doc = hub_send(sandbox, "POST", "/api/v3/user/repos", {"name": name})
    assert status == 422 and doc["message"] == "Repository creation failed.", doc
    assert not Path("/tmp/fleetlib-traversal.git").exists()
    assert not any(p.name.startswith("a b") for p in sandbox.hub.root.rglob("*"))


@pytest.mark.parametrize("path", ["/api/v3/repos/../x", "/api/v3/repos/a/..%2F..%2Fetc", "/a/../../etc/passwd.git/info/refs",
                                  "/api/v3/repos/%2E%2E/x/keys"])
def test_github_paths_with_dot_segments_are_not_found(sandbox: Sandbox, path: str) -> None:
    assert hub_send(sandbox, "GET", path)[0] == 404


def test_github_authenticates_before_reading_the_body(sandbox: Sandbox) -> None:
    port = sandbox.hub_server.server_address[1]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /api/v3/user/repos HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\n{" + b" " * 4096)
    started = time.monotonic()
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 401") and time.monotonic() - started < 10
    sock.close()


@pytest.mark.parametrize(("headers", "code"), [({"Content-Length": "-1"}, 400), ({"Content-Length": "x"}, 400),
                                              ({"Content-Length": str(2 << 20)}, 413)])
def test_github_checks_content_length(sandbox: Sandbox, headers: dict[str, str], code: int) -> None:
    assert hub_send(sandbox, "POST", "/api/v3/user/repos", b"{}", headers=headers)[0] == code


def test_github_checks_refs_and_deploy_keys(sandbox: Sandbox) -> None:
    owner = sandbox.hub.user
    hub_send(sandbox, "POST", "/api/v3/user/repos", {"name": "hostile-refs", "auto_init": True})
    sha = sandbox.hub.bare(owner, "hostile-refs").branch_sha("main")
    status, _ = hub_send(sandbox, "POST", f"/api/v3/repos/{owner}/hostile-refs/git/refs",
                         {"ref": "refs/heads/a..b", "sha": sha})
    assert status == 422
    status, doc = hub_send(sandbox, "POST", f"/api/v3/repos/{owner}/hostile-refs/keys",
                           {"title": "a\nb",
                            "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"})
    assert status == 422 and doc["errors"][0]["field"] == "title"
    status, doc = hub_send(sandbox, "POST", f"/api/v3/repos/{owner}/hostile-refs/keys",
                           {"title": "k", "key": "ssh-ed25519 not-base64!!"})
    assert status == 422 and doc["errors"][0]["field"] == "key"


ALIAS_BOMB = ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))).encode()


@pytest.mark.parametrize(("media", "body", "says"), [
    ("application/yaml", ALIAS_BOMB, "excessive aliasing"),
    ("application/json", b"[" * 100_000 + b"]" * 100_000, "exceeded max depth"),
    ("application/yaml", b"a: " + b"[" * 5000 + b"]" * 5000, "exceeded max depth"),
])
def test_bombs_and_deep_nesting_are_a_fast_400(c: SandboxCluster, media: str, body: bytes, says: str) -> None:
    status, doc = send(c, "POST", CM, body, headers={"Content-Type": media})  # bench/sandbox_api.py times it
    assert status == 400 and doc["reason"] == "BadRequest" and says in doc["message"], doc
    patched = send(c, "PATCH", CM + "/victim?fieldManager=t", body, headers={
        "Content-Type": "application/apply-patch+yaml"})
    assert patched[0] == 400 and says in patched[1]["message"]
    assert send(c, "GET", "/version")[0] == 200


def test_an_unknown_method_is_405_with_a_status(c: SandboxCluster) -> None:
    status, doc = send(c, "FROB", CM)
    assert status == 405 and doc["kind"] == "Status" and doc["reason"] == "MethodNotAllowed"


def test_a_stalled_body_times_out(c: SandboxCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetlab.kubernetes import kubehttp

    monkeypatch.setattr(kubehttp, "BODY_TIMEOUT", 0.5)
    conn = connect(c)
    conn.putrequest("POST", prefix(c) + CM)
    conn.putheader("Authorization", token(c))
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "1000")
    conn.endheaders()
    conn.send(b'{"metadata": ')  # and nothing more
    resp = conn.getresponse()
    assert resp.status == 408 and json.loads(resp.read())["reason"] == "Timeout"
    conn.close()


def test_continue_pages_come_from_the_first_pages_snapshot(c: SandboxCluster) -> None:
    core = k8s.CoreV1Api(c.client)
    core.create_namespace({"metadata": {"name": "paging"}})
    for i in range(6):
        core.create_namespaced_config_map("paging", {"metadata": {"name": f"cm-{i}"}, "data": {"v": "before"}})
    first = core.list_namespaced_config_map("paging", limit=3)
    core.create_namespaced_config_map("paging", {"metadata": {"name": "cm-9-later"}})
    core.delete_namespaced_config_map("cm-4", "paging")
    core.patch_namespaced_config_map("cm-5", "paging", {"data": {"v": "after"}})
    rest = core.list_namespaced_config_map("paging", limit=10, _continue=first.metadata._continue)
    items = {m.metadata.name: m for m in first.items + rest.items if m.metadata.name != "kube-root-ca.crt"}
    assert list(items) == [f"cm-{i}" for i in range(6)]  # cm-4 still there, cm-9-later not yet
    assert items["cm-5"].data == {"v": "before"}
    assert rest.metadata.resource_version == first.metadata.resource_version
