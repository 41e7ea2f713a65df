"""The sandbox Kubernetes API, driven over HTTPS by the official client and kubectl."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from .conftest import SandboxCluster, _kubectl

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def raw(c: SandboxCluster, method: str, path: str, *, body: bytes | None = None, token: bool = True,
        headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    cfg = c.client.configuration
    pool = urllib3.PoolManager(ca_certs=cfg.ssl_ca_cert)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    return pool.request(method, cfg.host + path, body=body, headers=hdrs)


def error(e: ApiException) -> dict:
    return json.loads(e.body)


def deployment(name: str, *, image: str = "nginx:1", labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "manager", "image": image,
                                                           "env": [{"name": "A", "value": "1"}]},
                                                          {"name": "sidecar", "image": "busybox"}]}}}}


# --- discovery -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/version", "/api", "/api/", "/api/v1", "/api/v1/", "/apis", "/apis/",
                                  "/apis/apps", "/apis/apps/v1/", "/apis/metrics.k8s.io/v1beta1"])
def test_discovery_with_and_without_trailing_slash(cluster: SandboxCluster, path: str) -> None:
    resp = raw(cluster, "GET", path)
    assert resp.status == 200, resp.data
    doc = json.loads(resp.data)
    if path.startswith("/version"):
        assert doc["major"] == "1" and doc["gitVersion"].startswith("v1.") and doc["platform"]
    elif path.rstrip("/") in ("/api/v1", "/apis/apps/v1", "/apis/metrics.k8s.io/v1beta1"):
        assert doc["kind"] == "APIResourceList"
        for r in doc["resources"]:
            assert {"name", "singularName", "namespaced", "kind", "verbs"} <= set(r)


def test_builtin_kinds_in_discovery(cluster: SandboxCluster) -> None:
    core = {r["name"]: r for r in json.loads(raw(cluster, "GET", "/api/v1").data)["resources"]}
    for name in ("namespaces", "pods", "pods/log", "pods/status", "services", "secrets", "configmaps",
                 "serviceaccounts", "events", "nodes"):
        assert name in core, name
    assert core["pods"]["shortNames"] == ["po"] and core["namespaces"]["namespaced"] is False
    groups = {g["name"] for g in json.loads(raw(cluster, "GET", "/apis").data)["groups"]}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "scheduling.k8s.io",
            "apiextensions.k8s.io", "events.k8s.io", "metrics.k8s.io", "coordination.k8s.io"} <= groups


def test_crd_registers_and_unregisters(cluster: SandboxCluster) -> None:
    ext = k8s.ApiextensionsV1Api(cluster.client)
    crd = ext.create_custom_resource_definition(CRD)
    assert {c.type: c.status for c in crd.status.conditions} == {"NamesAccepted": "True", "Established": "True"}
    doc = json.loads(raw(cluster, "GET", "/apis/example.com/v1").data)
    widget = next(r for r in doc["resources"] if r["name"] == "widgets")
    assert widget["kind"] == "Widget" and widget["shortNames"] == ["wd"] and widget["namespaced"] is True
    assert any(r["name"] == "widgets/status" for r in doc["resources"])
    co = k8s.CustomObjectsApi(cluster.client)
    made = co.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                              {"apiVersion": "example.com/v1", "kind": "Widget",
                                               "metadata": {"name": "w1"}, "spec": {"size": 1}})
    assert made["metadata"]["generation"] == 1
    assert "widgets.example.com" in cluster.kubectl("get", "crds", "-o", "name")
    ext.delete_custom_resource_definition("widgets.example.com")
    assert raw(cluster, "GET", "/apis/example.com/v1").status == 404
    assert "example.com" not in {g["name"] for g in json.loads(raw(cluster, "GET", "/apis").data)["groups"]}


def test_bad_crd_name_is_invalid(cluster: SandboxCluster) -> None:
    body = json.loads(json.dumps(CRD))
    body["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as info:
        k8s.ApiextensionsV1Api(cluster.client).create_custom_resource_definition(body)
    assert info.value.status == 422 and error(info.value)["reason"] == "Invalid"


# --- create, get, list ---------------------------------------------------------------------------


def test_create_201_conflict_409_and_generate_name(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    resp = raw(cluster, "POST", "/api/v1/namespaces/default/configmaps",
               body=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}).encode(),
               headers={"Content-Type": "application/json"})
    assert resp.status == 201
    with pytest.raises(ApiException) as info:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    st = error(info.value)
    assert info.value.status == 409 and st["kind"] == "Status" and st["reason"] == "AlreadyExists"
    assert st["details"] == {"name": "a", "kind": "configmaps"}  # the core group is left out, as the server does
    made = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9


def test_metadata_uid_rv_timestamp(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    a = v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    b = v1.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    assert a.metadata.uid != b.metadata.uid
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    assert a.metadata.creation_timestamp is not None


def test_create_in_missing_namespace_is_404(cluster: SandboxCluster) -> None:
    with pytest.raises(ApiException) as info:
        k8s.CoreV1Api(cluster.client).create_namespaced_config_map("nowhere", {"metadata": {"name": "a"}})
    assert info.value.status == 404 and 'namespaces "nowhere" not found' in error(info.value)["message"]


def test_list_kinds_and_scopes(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    v1.create_namespace({"metadata": {"name": "other"}})
    for ns in ("default", "other"):
        v1.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    resp = json.loads(raw(cluster, "GET", "/api/v1/namespaces/default/configmaps").data)
    assert resp["kind"] == "ConfigMapList" and resp["apiVersion"] == "v1" and int(resp["metadata"]["resourceVersion"])
    # every namespace also has kube-root-ca.crt, as kube-controller-manager's root-ca-cert-publisher makes it
    assert sorted(i["metadata"]["name"] for i in resp["items"]) == ["cm", "kube-root-ca.crt"]
    assert [c.metadata.name for c in v1.list_config_map_for_all_namespaces().items].count("cm") == 2
    assert v1.read_namespaced_config_map("kube-root-ca.crt", "other").data["ca.crt"].startswith("-----BEGIN")
    assert {n.metadata.name for n in v1.list_namespace().items} >= {"default", "other", "kube-system"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("tier=web", {"a", "b"}), ("tier==web", {"a", "b"}), ("tier!=web", {"c", "d", "kube-root-ca.crt"}),
     ("tier in (web,db)", {"a", "b", "c"}), ("tier notin (web)", {"c", "d", "kube-root-ca.crt"}), ("canary", {"b"}),
     ("!canary", {"a", "c", "d", "kube-root-ca.crt"}), ("tier=web,!canary", {"a"})],
)
def test_label_selectors(cluster: SandboxCluster, selector: str, expected: set[str]) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    for name, labels in (("a", {"tier": "web"}), ("b", {"tier": "web", "canary": "yes"}), ("c", {"tier": "db"}),
                         ("d", {})):
        v1.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})
    got = {c.metadata.name for c in v1.list_namespaced_config_map("default", label_selector=selector).items}
    assert got == expected


def test_field_selectors(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    for name in ("p1", "p2"):
        v1.create_namespaced_pod("default", {"metadata": {"name": name},
                                             "spec": {"containers": [{"name": "c", "image": "x"}]}})
    v1.patch_namespaced_pod_status("p2", "default", {"status": {"phase": "Running"}})
    assert [p.metadata.name for p in v1.list_namespaced_pod("default", field_selector="status.phase=Running").items] == ["p2"]
    assert [p.metadata.name for p in v1.list_namespaced_pod("default", field_selector="metadata.name=p1").items] == ["p1"]
    assert [p.metadata.name for p in v1.list_namespaced_pod("default", field_selector="status.phase!=Running").items] == ["p1"]
    for i, kind in enumerate(("Kustomization", "GitRepository")):
        v1.create_namespaced_event("default", {"metadata": {"name": f"e{i}"}, "type": "Warning" if i else "Normal",
                                               "reason": "R", "message": "m",
                                               "involvedObject": {"kind": kind, "name": "flux-system",
                                                                  "namespace": "default"}})
    got = v1.list_namespaced_event("default", field_selector="involvedObject.kind=GitRepository,type=Warning").items
    assert [e.metadata.name for e in got] == ["e1"]
    with pytest.raises(ApiException) as info:
        v1.list_namespaced_pod("default", field_selector="spec.bogus=1")
    assert info.value.status == 400 and error(info.value)["reason"] == "BadRequest"


def test_limit_and_continue(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    for i in range(25):
        v1.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{i:02d}", "labels": {"page": "y"}}})
    names, token, pages = [], None, 0
    while True:
        page = v1.list_namespaced_config_map("default", limit=10, _continue=token, label_selector="page=y")
        names += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 25 - len(names)
    assert pages == 3 and names == [f"cm-{i:02d}" for i in range(25)]


# --- update and patch ----------------------------------------------------------------------------


def test_replace_conflicts_on_stale_resource_version(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    cm = v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}, "data": {"n": "0"}})
    fresh = v1.replace_namespaced_config_map("a", "default", {"metadata": {"name": "a", "resourceVersion":
                                                                            cm.metadata.resource_version},
                                                              "data": {"n": "1"}})
    assert fresh.data == {"n": "1"}
    with pytest.raises(ApiException) as info:
        v1.replace_namespaced_config_map("a", "default", {"metadata": {"name": "a", "resourceVersion":
                                                                        cm.metadata.resource_version}, "data": {"n": "2"}})
    assert info.value.status == 409 and error(info.value)["reason"] == "Conflict"
    assert "the object has been modified" in error(info.value)["message"]


def test_strategic_merge_merges_containers_and_env_by_key(cluster: SandboxCluster) -> None:
    apps = k8s.AppsV1Api(cluster.client)
    apps.create_namespaced_deployment("default", deployment("web"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "nginx:2",
                                                            "env": [{"name": "B", "value": "2"}]}]}}}}
    d = apps.patch_namespaced_deployment("web", "default", patch)
    containers = {c.name: c for c in d.spec.template.spec.containers}
    assert set(containers) == {"manager", "sidecar"}
    assert containers["manager"].image == "nginx:2"
    # apimachinery's order: the patch's items first, then the live-only ones (normalizeElementOrder)
    assert [(e.name, e.value) for e in containers["manager"].env] == [("B", "2"), ("A", "1")]
    assert d.metadata.generation == 2


def test_json_patch_and_merge_patch(cluster: SandboxCluster) -> None:
    apps = k8s.AppsV1Api(cluster.client)
    apps.create_namespaced_deployment("default", deployment("web"))
    d = apps.patch_namespaced_deployment("web", "default", [
        {"op": "add", "path": "/spec/template/spec/containers/0/args", "value": []},
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--concurrent=10"},
        {"op": "replace", "path": "/spec/replicas", "value": 3}])
    assert d.spec.template.spec.containers[0].args == ["--concurrent=10"] and d.spec.replicas == 3
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", "default", [{"op": "remove", "path": "/spec/nothing"}])
    assert info.value.status == 422
    k8s.ApiextensionsV1Api(cluster.client).create_custom_resource_definition(CRD)
    co = k8s.CustomObjectsApi(cluster.client)
    co.create_namespaced_custom_object("example.com", "v1", "default", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1, "b": 2}})
    got = co.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w", {"spec": {"b": None, "c": 3}})
    assert got["spec"] == {"a": 1, "c": 3}


def test_generation_moves_only_with_spec_and_status_is_kept_apart(cluster: SandboxCluster) -> None:
    k8s.ApiextensionsV1Api(cluster.client).create_custom_resource_definition(CRD)
    co = k8s.CustomObjectsApi(cluster.client)
    w = co.create_namespaced_custom_object("example.com", "v1", "default", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1},
        "status": {"ignored": True}})
    assert "status" not in w
    w = co.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w",
                                          {"metadata": {"labels": {"x": "y"}}, "status": {"ready": True}})
    assert w["metadata"]["generation"] == 1 and "status" not in w
    w = co.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w",
                                                 {"status": {"observedGeneration": 1}, "spec": {"a": 99}})
    assert w["status"] == {"observedGeneration": 1} and w["spec"] == {"a": 1} and w["metadata"]["generation"] == 1
    w = co.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w", {"spec": {"a": 2}})
    assert w["metadata"]["generation"] == 2 and w["status"] == {"observedGeneration": 1}


def test_server_side_apply_creates_updates_and_detects_conflicts(cluster: SandboxCluster) -> None:
    apps = k8s.AppsV1Api(cluster.client)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", **deployment("web")}
    made = apps.patch_namespaced_deployment("web", "default", body, field_manager="flux",
                                            _content_type="application/apply-patch+yaml")
    assert made.metadata.managed_fields[0].manager == "flux"
    assert made.metadata.managed_fields[0].operation == "Apply"
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 5}}, field_manager="kubectl-edit")
    body["spec"]["replicas"] = 2
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", "default", body, field_manager="flux",
                                         _content_type="application/apply-patch+yaml")
    assert info.value.status == 409
    assert 'Apply failed with 1 conflict: conflict with "kubectl-edit"' in error(info.value)["message"]
    assert ".spec.replicas" in error(info.value)["message"]
    forced = apps.patch_namespaced_deployment("web", "default", body, field_manager="flux", force=True,
                                              _content_type="application/apply-patch+yaml")
    assert forced.spec.replicas == 2
    # a field the manager stops applying is removed
    del body["metadata"]["labels"]
    body["metadata"]["labels"] = {"app": "web", "team": "a"}
    apps.patch_namespaced_deployment("web", "default", body, field_manager="flux",
                                     _content_type="application/apply-patch+yaml")
    body["metadata"]["labels"] = {"app": "web"}
    now = apps.patch_namespaced_deployment("web", "default", body, field_manager="flux",
                                           _content_type="application/apply-patch+yaml")
    assert now.metadata.labels == {"app": "web"}


def test_apply_needs_a_field_manager(cluster: SandboxCluster) -> None:
    resp = raw(cluster, "PATCH", "/api/v1/namespaces/default/configmaps/x",
               body=b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
               headers={"Content-Type": "application/apply-patch+yaml"})
    assert resp.status == 422 and "fieldManager: Required value" in json.loads(resp.data)["message"]


def test_unsupported_patch_type_is_415(cluster: SandboxCluster) -> None:
    k8s.CoreV1Api(cluster.client).create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    resp = raw(cluster, "PATCH", "/api/v1/namespaces/default/configmaps/x", body=b"{}",
               headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and json.loads(resp.data)["reason"] == "UnsupportedMediaType"


# --- delete --------------------------------------------------------------------------------------


def test_finalizers_hold_deletion(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    v1.delete_namespaced_config_map("held", "default")
    held = v1.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    v1.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as info:
        v1.read_namespaced_config_map("held", "default")
    assert info.value.status == 404


def test_namespace_delete_removes_contents(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    v1.create_namespace({"metadata": {"name": "gone"}})
    v1.create_namespaced_config_map("gone", {"metadata": {"name": "a"}})
    v1.create_namespaced_secret("gone", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    v1.delete_namespace("gone")
    with pytest.raises(ApiException):
        v1.read_namespace("gone")
    assert v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=gone").items == []


def test_owner_references_cascade(cluster: SandboxCluster) -> None:
    apps, v1 = k8s.AppsV1Api(cluster.client), k8s.CoreV1Api(cluster.client)
    d = apps.create_namespaced_deployment("default", deployment("web"))
    rs = apps.create_namespaced_replica_set("default", {
        "metadata": {"name": "web-1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": "web", "uid": d.metadata.uid}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": deployment("web")["spec"]["template"]}})
    v1.create_namespaced_pod("default", {"metadata": {"name": "web-1-abc", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": rs.metadata.uid}]},
        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    apps.delete_namespaced_deployment("web", "default")
    assert apps.list_namespaced_replica_set("default").items == [] or _eventually_empty(apps, v1)
    assert v1.list_namespaced_pod("default").items == [] or _eventually_empty(apps, v1)


def _eventually_empty(apps: k8s.AppsV1Api, v1: k8s.CoreV1Api) -> bool:
    """The cascade is synchronous, but the sandbox's controller-manager may have been creating a ReplicaSet
    for the Deployment at that moment; its garbage collector removes such orphans, as the real one does."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if not apps.list_namespaced_replica_set("default").items and not v1.list_namespaced_pod("default").items:
            return True
        time.sleep(0.2)
    return False


# --- logs and watch ------------------------------------------------------------------------------


def _pod_with_logs(c: SandboxCluster) -> None:
    k8s.CoreV1Api(c.client).create_namespaced_pod("default", {
        "metadata": {"name": "src-1", "labels": {"app": "source-controller"}},
        "spec": {"containers": [{"name": "manager", "image": "x"}]}})
    now = time.time()
    c.api.store.append_logs("default", "src-1", "manager",
                            [(now - 3600, '{"level":"info","msg":"old"}')] +
                            [(now - 5 + i, json.dumps({"level": "info", "msg": f"line {i}"})) for i in range(5)])


def test_pod_logs(cluster: SandboxCluster) -> None:
    _pod_with_logs(cluster)
    v1 = k8s.CoreV1Api(cluster.client)
    text = v1.read_namespaced_pod_log("src-1", "default")
    assert text.count("\n") == 6 and "old" in text
    assert v1.read_namespaced_pod_log("src-1", "default", tail_lines=2).splitlines()[-1].endswith('"line 4"}')
    assert len(v1.read_namespaced_pod_log("src-1", "default", since_seconds=60).splitlines()) == 5
    stamped = v1.read_namespaced_pod_log("src-1", "default", container="manager", timestamps=True, tail_lines=1)
    assert stamped[:4].isdigit() and "Z {" in stamped
    out = cluster.kubectl("logs", "-n", "default", "-l", "app=source-controller", "--tail=2")
    assert out.splitlines() == ['{"level": "info", "msg": "line 3"}', '{"level": "info", "msg": "line 4"}']


def test_follow_streams_new_lines(cluster: SandboxCluster) -> None:
    _pod_with_logs(cluster)
    v1 = k8s.CoreV1Api(cluster.client)
    resp = v1.read_namespaced_pod_log("src-1", "default", follow=True, tail_lines=1, _preload_content=False)
    first = resp.read1() if hasattr(resp, "read1") else resp.read(64)
    assert b"line 4" in first
    threading.Timer(0.3, lambda: cluster.api.store.append_logs("default", "src-1", "manager",
                                                               [(time.time(), "fresh")])).start()
    seen = b""
    deadline = time.time() + 5
    while b"fresh" not in seen and time.time() < deadline:
        seen += resp.read1() if hasattr(resp, "read1") else resp.read(8)
    resp.release_conn()
    assert b"fresh" in seen


def test_watch_from_resource_version(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    start = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", {"metadata": {"name": "w"}})
    v1.patch_namespaced_config_map("w", "default", {"data": {"a": "1"}})
    v1.delete_namespaced_config_map("w", "default")
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        v1.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=1)]
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_too_old_is_gone(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "w"}})
    with cluster.api.store.write() as tx:
        tx.db.execute("DELETE FROM changes WHERE rv < (SELECT MAX(rv) FROM changes)")
    with pytest.raises(ApiException) as info:
        list(watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version="1", timeout_seconds=1))
    assert info.value.status == 410


# --- errors and auth -----------------------------------------------------------------------------


def test_requests_without_the_token_are_401(cluster: SandboxCluster) -> None:
    resp = raw(cluster, "GET", "/api/v1/namespaces", token=False)
    assert resp.status == 401 and json.loads(resp.data)["reason"] == "Unauthorized"


def test_not_found_and_method_not_allowed(cluster: SandboxCluster) -> None:
    with pytest.raises(ApiException) as info:
        k8s.AppsV1Api(cluster.client).read_namespaced_deployment("nope", "default")
    st = error(info.value)
    assert st["reason"] == "NotFound" and st["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    assert st["message"] == 'deployments.apps "nope" not found'
    resp = raw(cluster, "POST", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", body=b"{}",
               headers={"Content-Type": "application/json"})
    assert resp.status == 405 and json.loads(resp.data)["reason"] == "MethodNotAllowed"
    assert raw(cluster, "GET", "/apis/nothing.io/v1/things").status == 404


# --- other clients -------------------------------------------------------------------------------


def test_dynamic_client(cluster: SandboxCluster, tmp_path) -> None:
    dyn = DynamicClient(cluster.client, cache_file=str(tmp_path / "discovery.json"))
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"}}, namespace="default")
    listed = cms.get(namespace="default")
    assert listed.kind == "ConfigMapList" and [i.metadata.name for i in listed.items] == ["dyn", "kube-root-ca.crt"]
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.namespaced is True


def test_kubectl_everyday_commands(cluster: SandboxCluster) -> None:
    manifest = """apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: apps, labels: {app: demo}}
data: {a: "1"}
"""
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    assert "namespace/apps serverside-applied" in out and "configmap/settings serverside-applied" in out
    again = cluster.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    assert "configmap/settings serverside-applied" in again
    assert "settings" in cluster.kubectl("get", "cm", "-n", "apps")
    doc = json.loads(cluster.kubectl("get", "cm", "settings", "-n", "apps", "-o", "json"))
    assert doc["data"] == {"a": "1"} and doc["metadata"]["labels"] == {"app": "demo"}
    v1 = k8s.CoreV1Api(cluster.client)
    for i, stamp in enumerate(("2026-01-01T00:00:03Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z")):
        v1.create_namespaced_event("apps", {"metadata": {"name": f"ev{i}"}, "reason": f"R{i}", "message": "m",
                                            "type": "Normal", "lastTimestamp": stamp,
                                            "involvedObject": {"kind": "ConfigMap", "name": "settings"}})
    events = cluster.kubectl("get", "events", "-n", "apps", "--sort-by=.lastTimestamp", "-o",
                             "custom-columns=NAME:.metadata.name", "--no-headers")
    assert events.split() == ["ev1", "ev2", "ev0"]
    assert 'configmap "settings" deleted' in cluster.kubectl("delete", "cm", "settings", "-n", "apps")
    with pytest.raises(AssertionError, match="NotFound"):
        cluster.kubectl("get", "cm", "settings", "-n", "apps")


def test_secret_string_data_is_folded_into_data(cluster: SandboxCluster) -> None:
    v1 = k8s.CoreV1Api(cluster.client)
    v1.create_namespaced_secret("default", {"metadata": {"name": "s"}, "stringData": {"a": "one"}, "data": {"b": "dHdv"}})
    got = v1.read_namespaced_secret("s", "default")
    assert got.data == {"a": "b25l", "b": "dHdv"} and got.string_data is None
    v1.patch_namespaced_secret("s", "default", {"stringData": {"a": "uno"}})
    assert v1.read_namespaced_secret("s", "default").data["a"] == "dW5v"


def _crd(versions: list[tuple[str, bool]]) -> str:
    """A CRD of kind Gadget serving `versions` ((name, storage)), as kubectl applies it."""
    entries = "".join(f"  - name: {v}\n    served: true\n    storage: {str(s).lower()}\n    schema:\n"
                      f"      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
                      for v, s in versions)
    return ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
            "  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names:\n"
            "    kind: Gadget\n    plural: gadgets\n    singular: gadget\n    listKind: GadgetList\n"
            f"  versions:\n{entries}")


def test_a_crd_keeps_its_stored_versions_and_cannot_drop_one(cluster: SandboxCluster) -> None:
    """As apiextensions-apiserver does: a new storage version joins status.storedVersions; an update leaving out a
    stored version is refused until the status says it is no longer stored (what `flux migrate` writes)."""
    def stored() -> str:
        return cluster.kubectl("get", "crd", "gadgets.example.com", "-o", "jsonpath={.status.storedVersions}")

    cluster.kubectl("apply", "--server-side", "-f", "-", input=_crd([("v1beta2", True)]))
    assert stored() == '["v1beta2"]'
    cluster.kubectl("apply", "--server-side", "-f", "-", input=_crd([("v1", True), ("v1beta2", False)]))
    assert stored() == '["v1beta2","v1"]'
    refused = subprocess.run([_kubectl(), "--kubeconfig", str(cluster.kubeconfig), "apply", "--server-side", "-f", "-"],
                             input=_crd([("v1", True)]), capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1
    assert ('The CustomResourceDefinition "gadgets.example.com" is invalid: status.storedVersions[0]: Invalid value: '
            '"v1beta2": must appear in spec.versions') in refused.stderr  # kubectl's wording of the 422
    cluster.kubectl("patch", "crd", "gadgets.example.com", "--subresource=status", "--type=merge",
                    "-p", '{"status":{"storedVersions":["v1"]}}')
    cluster.kubectl("apply", "--server-side", "-f", "-", input=_crd([("v1", True)]))
    assert stored() == '["v1"]'
