"""Scenarios of everyday kubectl commands and of the official Python client: outputs, tables, status codes and
Status reasons, as a user or a runbook sees them.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from fleetlab.fidelity.harness import Case
from fleetlab.fidelity.normalize import table
from fleetlab.fidelity.suite import scenario


def deployment(name: str, *, replicas: int = 1, image: str = "nginx:1.27", labels: dict[str, str] | None = None
               ) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {"a": "1"}}


def _run(case: Case, *args: str, input: str | None = None) -> dict[str, Any]:
    done = case.side.kubectl(*args, input=input)
    return {"code": done.code, "out": done.out.strip(), "err": done.err.strip()}


def _status(e: ApiException) -> dict[str, Any]:
    """What the client raises: the HTTP status and the Status body's reason, message and details."""
    try:
        body = json.loads(e.body or "{}")
    except ValueError:
        body = {"unparsed": e.body}
    return {"http": e.status, "reason": body.get("reason"), "message": body.get("message"),
            "details": body.get("details"), "kind": body.get("kind"), "status": body.get("status")}


def _call(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """An API call's HTTP status (its `_with_http_info` twin) or its Status error."""
    twin = getattr(fn.__self__, f"{fn.__name__}_with_http_info")
    try:
        return {"http": twin(*args, **kwargs)[1]}
    except ApiException as e:
        return _status(e)


def _raw(case: Case, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
         query: list[tuple[str, str]] | None = None) -> tuple[int, Any]:
    """One request as the client sends it (no client-side model validation): (status, parsed body)."""
    api = case.side.api
    request = api.param_serialize(method, path, query_params=query or [],
                                  header_params={"Content-Type": content_type, "Accept": "application/json"},
                                  body=body, auth_settings=["BearerToken"])
    response = api.call_api(*request)
    response.read()
    try:
        return response.status, json.loads(response.data or b"null")
    except ValueError:
        return response.status, bytes(response.data or b"").decode(errors="replace")


def _raw_status(status: int, body: Any) -> dict[str, Any]:
    if 200 <= status < 300 or not isinstance(body, dict):
        return {"http": status}
    return {"http": status, "reason": body.get("reason"), "message": body.get("message"),
            "details": body.get("details"), "kind": body.get("kind"), "status": body.get("status")}


def _wait_available(case: Case, name: str, replicas: int = 1) -> None:
    apps = case.side.apps()
    def available() -> bool:
        status = apps.read_namespaced_deployment(name, case.ns).status
        return bool(status and (status.available_replicas or 0) >= replicas)
    case.wait(f"deployment {name} available", available, timeout=90)


# --- kubectl -----------------------------------------------------------------------------------------------


@scenario("kubectl-get-namespace", "kubectl")
def kubectl_get_namespace(case: Case) -> dict[str, Any]:
    """`kubectl get namespace` as a table and as JSON."""
    obj = case.json("get", "namespace", case.ns)
    return {"table": table(case.side.kubectl("get", "namespace", case.ns).out),
            "labels": obj["metadata"].get("labels"), "phase": obj["status"].get("phase"), "spec": obj.get("spec")}


@scenario("kubectl-create-configmap", "kubectl")
def kubectl_create_configmap(case: Case) -> dict[str, Any]:
    """`kubectl create configmap --from-literal`, then get it as a table and as YAML."""
    created = _run(case, "create", "configmap", "settings", "-n", case.ns, "--from-literal=a=1", "--from-literal=b=2")
    got = yaml.safe_load(case.side.kubectl("get", "configmap", "settings", "-n", case.ns, "-o", "yaml").out)
    return {"created": created, "yaml": got, "table": table(case.side.kubectl("get", "cm", "settings", "-n",
                                                                                case.ns).out)}


@scenario("kubectl-apply-client-side", "kubectl")
def kubectl_apply_client_side(case: Case) -> dict[str, Any]:
    """Client-side apply: created, unchanged, configured; the last-applied annotation."""
    doc = yaml.safe_dump(configmap("app"))
    first = _run(case, "apply", "-n", case.ns, "-f", "-", input=doc)
    again = _run(case, "apply", "-n", case.ns, "-f", "-", input=doc)
    changed = _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(configmap("app", {"a": "2"})))
    obj = case.json("get", "configmap", "app", "-n", case.ns)
    return {"first": first, "again": again, "changed": changed,
            "annotation": json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])}


@scenario("kubectl-apply-server-side", "kubectl")
def kubectl_apply_server_side(case: Case) -> dict[str, Any]:
    """Server-side apply: serverside-applied, then a conflict with another field manager, then --force-conflicts."""
    doc = yaml.safe_dump(configmap("app"))
    first = _run(case, "apply", "--server-side", "--field-manager", "alice", "-n", case.ns, "-f", "-", input=doc)
    other = yaml.safe_dump(configmap("app", {"a": "2"}))
    conflict = _run(case, "apply", "--server-side", "--field-manager", "bob", "-n", case.ns, "-f", "-", input=other)
    forced = _run(case, "apply", "--server-side", "--field-manager", "bob", "--force-conflicts", "-n", case.ns, "-f",
                  "-", input=other)
    managers = sorted(m["manager"] for m in case.json("get", "cm", "app", "-n", case.ns, "--show-managed-fields")
                      ["metadata"]["managedFields"])
    return {"first": first, "conflict": conflict, "forced": forced, "managers": managers}


@scenario("kubectl-deployment-tables", "kubectl")
def kubectl_deployment_tables(case: Case) -> dict[str, Any]:
    """A Deployment until available: `get deploy`, `get deploy -o wide`, `get rs`, `get pods`."""
    _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(deployment("web")))
    _wait_available(case, "web")
    out = {}
    for name, args in {"deploy": ("get", "deploy"), "wide": ("get", "deploy", "-o", "wide"), "rs": ("get", "rs"),
                       "pods": ("get", "pods")}.items():
        out[name] = table(case.side.kubectl(*args, "-n", case.ns).out)
    return out


@scenario("kubectl-rollout-status", "kubectl")
def kubectl_rollout_status(case: Case) -> dict[str, Any]:
    """`kubectl rollout status` waits for the rollout and says so (the progress lines before the last depend on
    timing on any cluster; the outcome is compared)."""
    _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(deployment("web")))
    done = _run(case, "rollout", "status", "deployment/web", "-n", case.ns, "--timeout=90s")
    return {"code": done["code"], "last": done["out"].splitlines()[-1:], "err": done["err"]}


@scenario("kubectl-scale", "kubectl")
def kubectl_scale(case: Case) -> dict[str, Any]:
    """`kubectl scale` then the Deployment's replicas once available."""
    _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(deployment("web")))
    scaled = _run(case, "scale", "deployment/web", "--replicas=2", "-n", case.ns)
    _wait_available(case, "web", 2)
    return {"scaled": scaled, "table": table(case.side.kubectl("get", "deploy", "web", "-n", case.ns).out)}


@scenario("kubectl-describe-configmap", "kubectl")
def kubectl_describe_configmap(case: Case) -> dict[str, Any]:
    """`kubectl describe configmap`."""
    _run(case, "create", "configmap", "settings", "-n", case.ns, "--from-literal=a=1")
    return {"describe": _run(case, "describe", "configmap", "settings", "-n", case.ns)}


@scenario("kubectl-delete", "kubectl")
def kubectl_delete(case: Case) -> dict[str, Any]:
    """`kubectl delete` of an object, then of the same object again, then with --ignore-not-found."""
    _run(case, "create", "configmap", "gone", "-n", case.ns)
    return {"delete": _run(case, "delete", "configmap", "gone", "-n", case.ns),
            "again": _run(case, "delete", "configmap", "gone", "-n", case.ns),
            "ignored": _run(case, "delete", "configmap", "gone", "-n", case.ns, "--ignore-not-found")}


@scenario("kubectl-get-missing", "kubectl")
def kubectl_get_missing(case: Case) -> dict[str, Any]:
    """`kubectl get` of a missing object, of an unknown resource type and in a missing namespace."""
    return {"object": _run(case, "get", "configmap", "nope", "-n", case.ns),
            "type": _run(case, "get", "nosuchthings", "-n", case.ns),
            "namespace": _run(case, "get", "configmap", "nope", "-n", "no-such-namespace"),
            "empty": _run(case, "get", "configmaps", "-n", case.ns, "-l", "app=none")}


@scenario("kubectl-label-annotate", "kubectl")
def kubectl_label_annotate(case: Case) -> dict[str, Any]:
    """`kubectl label` and `kubectl annotate`, with and without --overwrite; selecting by the label."""
    _run(case, "create", "configmap", "c", "-n", case.ns)
    out = {"label": _run(case, "label", "configmap", "c", "tier=web", "-n", case.ns),
           "relabel": _run(case, "label", "configmap", "c", "tier=db", "-n", case.ns),
           "overwrite": _run(case, "label", "configmap", "c", "tier=db", "--overwrite", "-n", case.ns),
           "annotate": _run(case, "annotate", "configmap", "c", "note=hi", "-n", case.ns),
           "unlabel": _run(case, "label", "configmap", "c", "tier-", "-n", case.ns)}
    _run(case, "label", "configmap", "c", "tier=web", "-n", case.ns)
    out["selected"] = _run(case, "get", "configmaps", "-n", case.ns, "-l", "tier=web", "-o", "name")
    out["not-selected"] = _run(case, "get", "configmaps", "-n", case.ns, "-l", "tier!=web", "-o", "name")
    return out


@scenario("kubectl-patch", "kubectl")
def kubectl_patch(case: Case) -> dict[str, Any]:
    """`kubectl patch` merge, no-op, JSON with a failing test, strategic on a Deployment's containers."""
    _run(case, "create", "configmap", "c", "-n", case.ns, "--from-literal=a=1")
    _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(deployment("web")))
    out: dict[str, Any] = {"merge": _run(case, "patch", "cm", "c", "-n", case.ns, "--type", "merge", "-p", '{"data":{"b":"2"}}'),
           "noop": _run(case, "patch", "cm", "c", "-n", case.ns, "--type", "merge", "-p", '{"data":{"b":"2"}}'),
           "json-test": _run(case, "patch", "cm", "c", "-n", case.ns, "--type", "json", "-p",
                             '[{"op":"test","path":"/data/a","value":"9"}]'),
           "json": _run(case, "patch", "cm", "c", "-n", case.ns, "--type", "json", "-p",
                        '[{"op":"remove","path":"/data/a"}]'),
           "strategic": _run(case, "patch", "deploy", "web", "-n", case.ns, "-p",
                             '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}')}
    out["containers"] = [c["name"] for c in case.json("get", "deploy", "web", "-n", case.ns)["spec"]["template"]
                         ["spec"]["containers"]]
    out["data"] = case.json("get", "cm", "c", "-n", case.ns)["data"]
    return out


@scenario("kubectl-create-duplicate", "kubectl")
def kubectl_create_duplicate(case: Case) -> dict[str, Any]:
    """`kubectl create` of an object that exists."""
    _run(case, "create", "configmap", "c", "-n", case.ns)
    return {"again": _run(case, "create", "configmap", "c", "-n", case.ns)}


@scenario("kubectl-auth-can-i", "kubectl")
def kubectl_auth_can_i(case: Case) -> dict[str, Any]:
    """`kubectl auth can-i` for the admin user (SelfSubjectAccessReview)."""
    return {"create": _run(case, "auth", "can-i", "create", "deployments", "-n", case.ns),
            "everything": _run(case, "auth", "can-i", "*", "*")}


@scenario("kubectl-auth-impersonation", "kubectl")
def kubectl_auth_impersonation(case: Case) -> dict[str, Any]:
    """RBAC as a tenant's service account meets it: a namespace's default ServiceAccount, a RoleBinding that opens
    one namespace only, `kubectl auth can-i --as`, and the refusals kubectl prints."""
    sa = f"system:serviceaccount:{case.ns}:dev-team"
    _run(case, "create", "serviceaccount", "dev-team", "-n", case.ns)
    _run(case, "create", "rolebinding", "dev-team", "-n", case.ns, "--clusterrole", "edit",
         f"--serviceaccount={case.ns}:dev-team")
    return {"accounts": _run(case, "get", "serviceaccounts", "-n", case.ns, "-o", "name"),
            "in": _run(case, "auth", "can-i", "create", "configmaps", "-n", case.ns, "--as", sa),
            "secrets": _run(case, "auth", "can-i", "get", "secrets", "-n", case.ns, "--as", sa),
            "roles": _run(case, "auth", "can-i", "create", "roles", "-n", case.ns, "--as", sa),
            "out": _run(case, "auth", "can-i", "create", "configmaps", "-n", "default", "--as", sa),
            "cluster": _run(case, "auth", "can-i", "list", "namespaces", "--as", sa),
            "create": _run(case, "create", "configmap", "mine", "-n", case.ns, "--as", sa),
            "refused": _run(case, "create", "configmap", "theirs", "-n", "default", "--as", sa),
            "read": _run(case, "get", "namespace", case.ns, "-o", "name", "--as", sa),
            "default": _run(case, "get", "pods", "-n", case.ns, "--as", f"system:serviceaccount:{case.ns}:default")}


@scenario("kubectl-bootstrap-roles", "kubectl")
def kubectl_bootstrap_roles(case: Case) -> dict[str, Any]:
    """The bootstrap ClusterRoles kube-apiserver creates, and their aggregation (a role labelled
    aggregate-to-view adds its rules to view, edit and admin)."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": f"{case.ns}-viewer", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": [case.ns + ".example.com"], "resources": ["widgets"], "verbs": ["get"]}]}
    case.apply([role])
    mine = {"apiGroups": [case.ns + ".example.com"], "resources": ["widgets"], "verbs": ["get"]}

    def aggregated() -> bool:
        return all(mine in (case.json("get", "clusterrole", name, "-o", "json").get("rules") or [])
                   for name in ("view", "edit", "admin"))

    case.wait("the role aggregated", aggregated, timeout=60)
    out: dict[str, Any] = {}
    for name in ("cluster-admin", "system:aggregate-to-view", "system:aggregate-to-edit", "system:aggregate-to-admin",
                 "system:basic-user", "view"):
        role_json = case.json("get", "clusterrole", name, "-o", "json")
        rules = role_json.get("rules") or []
        out[name] = {"labels": role_json["metadata"].get("labels"), "aggregationRule": role_json.get("aggregationRule"),
                     "rules": rules if name != "view" else [r for r in rules if r == mine or not any(
                         g.endswith(".example.com") or "fluxcd.io" in g for g in r.get("apiGroups") or [])]}
    _run(case, "delete", "clusterrole", f"{case.ns}-viewer")
    case.wait("the role's rules gone", lambda: not aggregated(), timeout=60)
    return out


@scenario("kubectl-jsonpath", "kubectl")
def kubectl_jsonpath(case: Case) -> dict[str, Any]:
    """`-o jsonpath` and `-o custom-columns` on a Secret and the Flux namespace."""
    return {"type": _run(case, "get", "secret", "git", "-n", case.ns, "-o", "jsonpath={.type}"),
            "keys": _run(case, "get", "secret", "git", "-n", case.ns, "-o",
                         "go-template={{range $k, $v := .data}}{{$k}} {{end}}"),
            "columns": table(case.side.kubectl("get", "secret", "git", "-n", case.ns, "-o",
                                               "custom-columns=NAME:.metadata.name,TYPE:.type").out)}


@scenario("kubectl-get-flux-crds", "kubectl")
def kubectl_get_flux_crds(case: Case) -> dict[str, Any]:
    """The Flux CRDs kubectl lists, and `kubectl api-resources` for the Flux groups."""
    names = case.side.kubectl("get", "crds", "-o", "name").out.split()
    out: dict[str, Any] = {"crds": sorted(n for n in names if "toolkit.fluxcd.io" in n)}
    for group in ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"):
        out[group] = table(case.side.kubectl("api-resources", f"--api-group={group}").out)
    return out


@scenario("kubectl-explain", "kubectl")
def kubectl_explain(case: Case) -> dict[str, Any]:
    """`kubectl explain` of Flux fields (from the CRDs' OpenAPI schemas)."""
    out = {}
    for path in ("kustomization.spec.interval", "gitrepository.spec.ref", "helmrelease.spec.chart"):
        done = case.side.kubectl("explain", path)
        out[path] = {"code": done.code, "head": done.out.strip().splitlines()[:4]}
    return out


@scenario("kubectl-apply-invalid-flux-object", "kubectl")
def kubectl_apply_invalid(case: Case) -> dict[str, Any]:
    """Applying Flux objects the CRD schema refuses: a bad interval pattern, a missing required field."""
    bad_interval = case.kustomization_object("bad", "./", interval="1x")
    missing = case.kustomization_object("missing", "./")
    del missing["spec"]["sourceRef"]
    return {"interval": _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(bad_interval)),
            "required": _run(case, "apply", "-n", case.ns, "-f", "-", input=yaml.safe_dump(missing))}


@scenario("kubectl-wait", "kubectl")
def kubectl_wait(case: Case) -> dict[str, Any]:
    """`kubectl wait --for=condition=Ready` on a GitRepository, and `--for=delete` on a ConfigMap."""
    case.commit({"app/cm.yaml": yaml.safe_dump(configmap("c"))})
    case.git_source()
    ready = _run(case, "wait", "--for=condition=Ready", "gitrepository/src", "-n", case.ns, "--timeout=90s")
    _run(case, "create", "configmap", "doomed", "-n", case.ns)
    _run(case, "delete", "configmap", "doomed", "-n", case.ns, "--wait=false")
    deleted = _run(case, "wait", "--for=delete", "configmap/doomed", "-n", case.ns, "--timeout=30s")
    return {"ready": ready, "deleted": deleted}


# --- the official client --------------------------------------------------------------------------------------


@scenario("client-create-and-conflict", "client")
def client_create(case: Case) -> dict[str, Any]:
    """create answers 201 with the object; creating it again is 409 AlreadyExists."""
    core = case.side.core()
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c"), data={"a": "1"})
    created, code, _ = core.create_namespaced_config_map_with_http_info(case.ns, body)
    return {"code": code, "data": created.data, "generation": created.metadata.generation,
            "again": _call(core.create_namespaced_config_map, case.ns, body)}


@scenario("client-get-missing", "client")
def client_get_missing(case: Case) -> dict[str, Any]:
    """get of a missing object (404 NotFound), in a missing namespace, of a missing Flux object."""
    core = case.side.core()
    custom = case.side.custom()
    return {"configmap": _call(core.read_namespaced_config_map, "nope", case.ns),
            "namespace": _call(core.read_namespace, "no-such-namespace"),
            "kustomization": _call(custom.get_namespaced_custom_object, "kustomize.toolkit.fluxcd.io", "v1", case.ns,
                                   "kustomizations", "nope")}


@scenario("client-list-selectors", "client")
def client_list_selectors(case: Case) -> dict[str, Any]:
    """list with label selectors (equality, set, existence) and field selectors."""
    core = case.side.core()
    for i, tier in enumerate(["web", "web", "db", None]):
        labels = {"tier": tier} if tier else {}
        core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name=f"c{i}", labels=labels)))

    def names(**kw: Any) -> list[str]:
        return sorted(c.metadata.name for c in core.list_namespaced_config_map(case.ns, **kw).items)
    return {"eq": names(label_selector="tier=web"), "in": names(label_selector="tier in (web,db)"),
            "exists": names(label_selector="tier"), "not-exists": names(label_selector="!tier"),
            "field": names(field_selector="metadata.name=c2"), "field-ne": names(field_selector="metadata.name!=c2"),
            "bad-selector": _call(core.list_namespaced_config_map, case.ns, label_selector="tier in web")}


@scenario("client-list-pagination", "client")
def client_list_pagination(case: Case) -> dict[str, Any]:
    """list with limit and continue: page sizes, and whether a continue token is given."""
    core = case.side.core()
    for i in range(5):
        core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(
            name=f"c{i}", labels={"page": "yes"})))
    pages, token = [], None
    while True:
        got = core.list_namespaced_config_map(case.ns, label_selector="page=yes", limit=2, _continue=token)
        pages.append([c.metadata.name for c in got.items])
        token = got.metadata._continue
        if not token:
            break
    return {"pages": pages, "remaining": got.metadata.remaining_item_count}


@scenario("client-patch-merge-and-json", "client")
def client_patch_merge_and_json(case: Case) -> dict[str, Any]:
    """merge patch (null removes a key), JSON patch, and a JSON patch whose test fails."""
    core = case.side.core()
    core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c"),
                                                                 data={"a": "1", "b": "2"}))
    merged = core.patch_namespaced_config_map("c", case.ns, {"data": {"a": None, "c": "3"}})
    path = f"/api/v1/namespaces/{case.ns}/configmaps/c"
    _, json_patched = _raw(case, "PATCH", path, [{"op": "add", "path": "/data/d", "value": "4"}],
                           content_type="application/json-patch+json")
    failed = _raw_status(*_raw(case, "PATCH", path, [{"op": "test", "path": "/data/d", "value": "5"}],
                               content_type="application/json-patch+json"))
    return {"merged": merged.data, "json": json_patched["data"], "test-failed": failed}


@scenario("client-patch-strategic", "client")
def client_patch_strategic(case: Case) -> dict[str, Any]:
    """strategic merge patch on a Deployment: containers merge by name, $patch: delete removes one."""
    apps = case.side.apps()
    apps.create_namespaced_deployment(case.ns, deployment("web"))
    apps.patch_namespaced_deployment("web", case.ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.28"}, {"name": "side", "image": "busybox"}]}}}})
    patched = apps.patch_namespaced_deployment("web", case.ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}})
    return {"containers": [(c.name, c.image) for c in patched.spec.template.spec.containers],
            "generation": patched.metadata.generation}


@scenario("client-server-side-apply", "client")
def client_server_side_apply(case: Case) -> dict[str, Any]:
    """server-side apply: create, a conflicting manager (409 with the conflicts), force, managed fields."""
    path = f"/api/v1/namespaces/{case.ns}/configmaps/c"

    def apply(manager: str, data: dict[str, str], force: bool = False) -> dict[str, Any]:
        code, obj = _raw(case, "PATCH", path, json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "c"}, "data": data}),
                         content_type="application/apply-patch+yaml",
                         query=[("fieldManager", manager)] + ([("force", "true")] if force else []))
        return {"http": code, "data": obj.get("data")} if code < 300 else _raw_status(code, obj)
    out: dict[str, Any] = {"create": apply("alice", {"a": "1"}), "conflict": apply("bob", {"a": "2"}),
           "other-field": apply("bob", {"b": "2"}), "force": apply("bob", {"a": "2"}, force=True)}
    obj = case.side.core().read_namespaced_config_map("c", case.ns)
    out["managers"] = sorted((m.manager, m.operation) for m in obj.metadata.managed_fields)
    return out


@scenario("client-update-stale", "client")
def client_update_stale(case: Case) -> dict[str, Any]:
    """replace with a stale resourceVersion is 409 Conflict (optimistic concurrency)."""
    core = case.side.core()
    obj = core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c"),
                                                                       data={"a": "1"}))
    core.patch_namespaced_config_map("c", case.ns, {"data": {"a": "2"}})
    obj.data = {"a": "3"}
    return {"stale": _call(core.replace_namespaced_config_map, "c", case.ns, obj)}


@scenario("client-delete", "client")
def client_delete(case: Case) -> dict[str, Any]:
    """delete answers the Status (or the object); deleting again is 404; a bad propagationPolicy is refused."""
    core = case.side.core()
    core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c")))
    code = core.delete_namespaced_config_map_with_http_info("c", case.ns)[1]
    return {"code": code, "again": _call(core.delete_namespaced_config_map, "c", case.ns),
            "bad-policy": _call(core.delete_namespaced_config_map, "c", case.ns, propagation_policy="Sometimes")}


@scenario("client-watch", "client")
def client_watch(case: Case) -> dict[str, Any]:
    """a watch from a list's resourceVersion sees ADDED, MODIFIED, DELETED in order.

    The watch selects its one object by field: a real controller-manager publishes kube-root-ca.crt into
    the new namespace whenever it gets to it, so an unselected watch may see that ADDED in between."""
    core = case.side.core()
    rv = core.list_namespaced_config_map(case.ns).metadata.resource_version
    core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="w"), data={"a": "1"}))
    core.patch_namespaced_config_map("w", case.ns, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", case.ns)
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, case.ns, resource_version=rv, timeout_seconds=10,
                          field_selector="metadata.name=w"):
        seen.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("a")))
        if event["type"] == "DELETED":
            w.stop()
    return {"events": seen}


@scenario("client-invalid-objects", "client")
def client_invalid_objects(case: Case) -> dict[str, Any]:
    """422 Invalid for a bad name, a bad label value, and a Deployment without a selector."""
    core = case.side.core()
    bad = deployment("web")
    del bad["spec"]["selector"]
    return {"name": _call(core.create_namespaced_config_map, case.ns,
                          k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="Bad_Name"))),
            "label": _call(core.create_namespaced_config_map, case.ns,
                           k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c", labels={"a": "no spaces"}))),
            "selector": _raw_status(*_raw(case, "POST", f"/apis/apps/v1/namespaces/{case.ns}/deployments", bad))}


@scenario("client-missing-namespace", "client")
def client_missing_namespace(case: Case) -> dict[str, Any]:
    """create in a namespace that does not exist is 404 NotFound (for the namespace)."""
    return {"create": _call(case.side.core().create_namespaced_config_map, "no-such-namespace",
                            k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c")))}


@scenario("client-generate-name-and-dry-run", "client")
def client_generate_name(case: Case) -> dict[str, Any]:
    """generateName gives a 5-character suffix; a dry-run create answers 201 and stores nothing."""
    core = case.side.core()
    made = core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(generate_name="gen-")))
    code = core.create_namespaced_config_map_with_http_info(
        case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="dry")), dry_run="All")[1]
    return {"suffix": len(made.metadata.name) - len("gen-"), "dry-code": code,
            "stored": _call(core.read_namespaced_config_map, "dry", case.ns)}


@scenario("client-finalizer", "client")
def client_finalizer(case: Case) -> dict[str, Any]:
    """an object with a finalizer is only marked deleted; removing the finalizer deletes it."""
    core = case.side.core()
    core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(
        name="c", finalizers=["example.com/hold"])))
    core.delete_namespaced_config_map("c", case.ns)
    marked = core.read_namespaced_config_map("c", case.ns)
    core.patch_namespaced_config_map("c", case.ns, {"metadata": {"finalizers": None}})
    return {"marked": marked.metadata.deletion_timestamp is not None,
            "grace": marked.metadata.deletion_grace_period_seconds,
            "after": case.wait("the object to go", lambda: _call(core.read_namespaced_config_map, "c", case.ns)
                               if _call(core.read_namespaced_config_map, "c", case.ns)["http"] == 404 else None,
                               timeout=20)}


@scenario("client-flux-schema", "client")
def client_flux_schema(case: Case) -> dict[str, Any]:
    """a Kustomization the CRD schema refuses: 422 with the field causes; defaults applied to a valid one."""
    custom = case.side.custom()
    bad = case.kustomization_object("bad", "./", interval="1x")
    good = case.kustomization_object("good", "./", suspend=True)
    refused = _call(custom.create_namespaced_custom_object, "kustomize.toolkit.fluxcd.io", "v1", case.ns,
                    "kustomizations", bad)
    made = custom.create_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", case.ns, "kustomizations", good)
    return {"refused": refused, "spec": made["spec"]}


@scenario("client-immutable", "client")
def client_immutable(case: Case) -> dict[str, Any]:
    """an immutable ConfigMap refuses data changes; a Deployment's selector is immutable."""
    core = case.side.core()
    apps = case.side.apps()
    core.create_namespaced_config_map(case.ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c"), data={"a": "1"},
                                                                 immutable=True))
    apps.create_namespaced_deployment(case.ns, deployment("web"))
    return {"configmap": _call(core.patch_namespaced_config_map, "c", case.ns, {"data": {"a": "2"}}),
            "selector": _call(apps.patch_namespaced_deployment, "web", case.ns,
                              {"spec": {"selector": {"matchLabels": {"app": "other"}},
                                        "template": {"metadata": {"labels": {"app": "other"}}}}})}


@scenario("client-secret-string-data", "client")
def client_secret_string_data(case: Case) -> dict[str, Any]:
    """stringData is written into data (base64) and not kept; the type defaults to Opaque."""
    core = case.side.core()
    made = core.create_namespaced_secret(case.ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="s"),
                                                                string_data={"k": "v"}))
    return {"type": made.type, "data": made.data, "string_data": made.string_data}
