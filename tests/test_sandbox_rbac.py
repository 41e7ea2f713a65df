"""Authorization in the sandbox API server, driven by kubectl and the official client over the wire: the
bootstrap roles, a default ServiceAccount per namespace, impersonation, RoleBindings that open one namespace
only, ClusterRole aggregation (flux-view into view) and the access reviews answered truthfully."""

from __future__ import annotations

import json

from kubernetes import client as k8s

from .conftest import SandboxCluster

TENANT = "system:serviceaccount:apps:dev-team"

TENANT_RBAC = """
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dev-team, namespace: apps}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: gotk-reconciler, namespace: apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: User, name: "gotk:apps:reconciler"}
- {kind: ServiceAccount, name: dev-team, namespace: apps}
"""


def can_i(cluster: SandboxCluster, *args: str) -> str:
    return cluster.kubectl("auth", "can-i", *args, check=False).strip()


def test_a_new_cluster_has_the_bootstrap_roles_and_default_service_accounts(cluster: SandboxCluster) -> None:
    names = cluster.kubectl("get", "clusterroles", "-o", "name").split()
    for role in ("cluster-admin", "admin", "edit", "view", "system:aggregate-to-view", "system:basic-user"):
        assert f"clusterrole.rbac.authorization.k8s.io/{role}" in names
    view = json.loads(cluster.kubectl("get", "clusterrole", "view", "-o", "json"))
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} in view["rules"]
    edit = json.loads(cluster.kubectl("get", "clusterrole", "edit", "-o", "json"))
    assert all(rule in edit["rules"] for rule in view["rules"])  # view aggregates into edit
    cluster.kubectl("create", "namespace", "team-a")
    assert cluster.kubectl("get", "serviceaccount", "default", "-n", "team-a", "-o", "name").strip() == \
        "serviceaccount/default"
    assert "serviceaccount/default" in cluster.kubectl("get", "sa", "-n", "kube-system", "-o", "name")


def test_a_tenant_service_account_is_admin_in_its_namespace_only(cluster: SandboxCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=TENANT_RBAC)
    assert can_i(cluster, "create", "configmaps", "-n", "apps", "--as", TENANT) == "yes"
    assert can_i(cluster, "create", "configmaps", "-n", "kube-system", "--as", TENANT) == "no"
    assert can_i(cluster, "create", "namespaces", "--as", TENANT) == "no"
    assert can_i(cluster, "get", "pods", "-n", "apps", "--as", "system:serviceaccount:apps:default") == "no"
    assert can_i(cluster, "*", "*") == "yes"  # the kubeconfig's user stays cluster-admin
    cluster.kubectl("create", "configmap", "ok", "-n", "apps", "--as", TENANT)
    err = _stderr(cluster, "create", "configmap", "escape", "-n", "kube-system", "--as", TENANT)
    assert 'configmaps is forbidden: User "system:serviceaccount:apps:dev-team" cannot create resource ' \
           '"configmaps" in API group "" in the namespace "kube-system"' in err
    err = _stderr(cluster, "get", "namespace", "kube-system", "--as", TENANT)
    assert 'namespaces "kube-system" is forbidden: User "system:serviceaccount:apps:dev-team" cannot get ' \
           'resource "namespaces" in API group "" in the namespace "kube-system"' in err  # a namespace is in itself
    assert cluster.kubectl("get", "namespace", "apps", "--as", TENANT, "-o", "name").strip() == "namespace/apps"
    err = _stderr(cluster, "get", "namespaces", "--as", TENANT)
    assert 'cannot list resource "namespaces" in API group "" at the cluster scope' in err


def _stderr(cluster: SandboxCluster, *args: str) -> str:
    import subprocess

    from .conftest import _kubectl

    done = subprocess.run([_kubectl(), "--kubeconfig", str(cluster.kubeconfig), *args], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_subject_access_reviews_answer_with_the_binding_that_allows(cluster: SandboxCluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=TENANT_RBAC)
    authz = k8s.AuthorizationV1Api(cluster.client)

    def review(namespace: str) -> k8s.V1SubjectAccessReviewStatus:
        body = k8s.V1SubjectAccessReview(spec=k8s.V1SubjectAccessReviewSpec(
            user=TENANT, groups=["system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"],
            resource_attributes=k8s.V1ResourceAttributes(verb="patch", resource="deployments", group="apps",
                                                         namespace=namespace, name="web")))
        return authz.create_subject_access_review(body).status

    allowed = review("apps")
    assert allowed.allowed is True
    assert allowed.reason == 'RBAC: allowed by RoleBinding "gotk-reconciler/apps" of ClusterRole "cluster-admin" ' \
                             'to ServiceAccount "dev-team/apps"'
    assert review("default").allowed is False


def test_a_binding_to_a_missing_role_grants_nothing_and_says_so(cluster: SandboxCluster) -> None:
    cluster.kubectl("create", "namespace", "apps")
    cluster.kubectl("create", "rolebinding", "r", "-n", "apps", "--role", "nope", "--user", "jane")
    err = _stderr(cluster, "get", "pods", "-n", "apps", "--as", "jane")
    assert 'cannot list resource "pods" in API group "" in the namespace "apps": RBAC: ' \
           'role.rbac.authorization.k8s.io "nope" not found' in err


def test_a_role_labelled_aggregate_to_view_adds_its_rules_to_view(cluster: SandboxCluster) -> None:
    """As flux-view-flux-system does for the Flux kinds (a built-in resource here: kubectl names a kind the cluster
    does not serve by its full name, which no rule matches)."""
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flux-view-flux-system
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [""], resources: [podtemplates], verbs: [get, list, watch]}
""")
    cluster.kubectl("create", "namespace", "apps")
    cluster.kubectl("create", "rolebinding", "viewer", "-n", "apps", "--clusterrole", "view", "--user", "jane")
    assert can_i(cluster, "list", "podtemplates", "-n", "apps", "--as", "jane") \
        == "yes"
    assert can_i(cluster, "list", "podtemplates", "-n", "default", "--as", "jane") \
        == "no"
    cluster.kubectl("delete", "clusterrole", "flux-view-flux-system")
    assert can_i(cluster, "list", "podtemplates", "-n", "apps", "--as", "jane") \
        == "no"
    listed = cluster.kubectl("auth", "can-i", "--list", "-n", "apps", "--as", "jane")
    assert "configmaps" in listed and "secrets" not in listed.split()
