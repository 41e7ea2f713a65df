"""Authorization in the sandbox API server, as kube-apiserver's RBAC authorizer decides it.

Who asks: a `User` (name and groups). The kubeconfig's user is `ADMIN`, in `system:masters`, bound to
`cluster-admin` as on every cluster; a request with `Impersonate-User`/`Impersonate-Group` headers, and
the mini-Flux acting as a Kustomization's or HelmRelease's `serviceAccountName`, ask as someone else.

What they may do: the rules of the Roles and ClusterRoles bound to the user, any of its groups, or (for
`system:serviceaccount:<ns>:<name>`) its ServiceAccount subject, through ClusterRoleBindings everywhere and
RoleBindings in their namespace. A ClusterRole with an `aggregationRule` carries the rules of the
ClusterRoles its selectors match (the controller-manager's clusterrole-aggregation controller writes them;
`aggregate` does it on every ClusterRole write). A binding to a role that does not exist grants nothing
and says so in the refusal's reason, as `RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`.

The bootstrap policy a new cluster gets (kube-apiserver's bootstrappolicy, Kubernetes v1.34): the
`cluster-admin`, `admin`, `edit`, `view` roles and the `system:aggregate-to-*` roles they aggregate,
`system:discovery`, `system:basic-user`, `system:public-info-viewer` and their bindings.

    decision = Authorizer(read).decide(User.service_account("apps", "dev-team"),
                                       Attributes("patch", "", "configmaps", namespace="kube-system", name="x"))
    decision.allowed, decision.reason     # False, ""
    raise forbidden(user, attrs)          # 403: configmaps "x" is forbidden: User "system:serviceaccount:..."
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetlab.kubernetes.errors import ApiError
from fleetlab.kubernetes.selectors import label_selector

GROUP = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = f"{GROUP}/roles", f"{GROUP}/clusterroles"
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = f"{GROUP}/rolebindings", f"{GROUP}/clusterrolebindings"
RBAC_KEYS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)

MASTERS, AUTHENTICATED = "system:masters", "system:authenticated"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class User:
    """Who a request is from: kube-apiserver's user.Info (name and groups)."""

    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)

    @classmethod
    def impersonated(cls, name: str, groups: Sequence[str] = ()) -> User:
        """The user an `Impersonate-User` header names, with the groups kube-apiserver's impersonation filter gives
        it: a service account's two groups when none are asked for, and always system:authenticated."""
        given = list(groups)
        if name.startswith(SA_PREFIX) and not given:
            namespace = name[len(SA_PREFIX):].split(":", 1)[0]
            given = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        if name != "system:anonymous" and AUTHENTICATED not in given:
            given.append(AUTHENTICATED)
        return cls(name, tuple(given))

    @classmethod
    def service_account(cls, namespace: str, name: str) -> User:
        return cls.impersonated(f"{SA_PREFIX}{namespace}:{name}")

    @property
    def service_account_ref(self) -> tuple[str, str] | None:
        """(namespace, name) of a service account user, else None."""
        if not self.name.startswith(SA_PREFIX):
            return None
        namespace, _, name = self.name[len(SA_PREFIX):].partition(":")
        return (namespace, name) if namespace and name else None


ADMIN = User("kubernetes-admin", ("kubeadm:cluster-admins", MASTERS, AUTHENTICATED))
"""The kubeconfig's user (kind's): cluster-admin through system:masters."""


@dataclass(frozen=True)
class Attributes:
    """What is asked: a verb on a resource (group, resource, subresource, namespace, name) or on a URL path."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path


@dataclass
class Decision:
    allowed: bool
    reason: str = ""


@dataclass
class _Rules:
    """The rules found for a user, with the errors met on the way (a binding to a missing role)."""

    matched: str = ""
    errors: list[str] = field(default_factory=list)


Read = Callable[[str, "str | None"], list[dict[str, Any]]]
"""(resource key, namespace or None for all) -> the stored objects."""


class Authorizer:
    """RBAC decisions over the cluster's stored roles and bindings (read fresh for each decision)."""

    def __init__(self, read: Read) -> None:
        self.read = read

    def decide(self, user: User, attrs: Attributes) -> Decision:
        if MASTERS in user.groups:  # kube-apiserver's privileged group, authorized before RBAC
            return Decision(True, "")
        found = _Rules()
        for binding, rules in self._bound_rules(user, attrs.namespace, found):
            if any(_allows(rule, attrs) for rule in rules):
                return Decision(True, f"RBAC: allowed by {binding}")
        return Decision(False, f"RBAC: {', '.join(found.errors)}" if found.errors else "")

    def rules_for(self, user: User, namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Every rule that applies to `user` in `namespace` (SelfSubjectRulesReview), and the errors met."""
        if MASTERS in user.groups:
            return list(_BOOTSTRAP_RULES["cluster-admin"]), []
        found = _Rules()
        rules = [rule for _, bound in self._bound_rules(user, namespace, found) for rule in bound]
        return rules, found.errors

    def _bound_rules(self, user: User, namespace: str, found: _Rules
                     ) -> Iterable[tuple[str, list[dict[str, Any]]]]:
        cluster_roles = {o["metadata"]["name"]: o for o in self.read(CLUSTER_ROLES, None)}
        for binding in sorted(self.read(CLUSTER_ROLE_BINDINGS, None), key=_name):
            subject = _subject_of(binding, user, "")
            if subject is None:
                continue
            rules = self._role_rules(binding, cluster_roles, {}, found)
            if rules is not None:
                yield f'ClusterRoleBinding "{_name(binding)}" of {_role_ref(binding)} to {subject}', rules
        if not namespace:
            return
        roles = {o["metadata"]["name"]: o for o in self.read(ROLES, namespace)}
        for binding in sorted(self.read(ROLE_BINDINGS, namespace), key=_name):
            subject = _subject_of(binding, user, namespace)
            if subject is None:
                continue
            rules = self._role_rules(binding, cluster_roles, roles, found)
            if rules is not None:
                yield (f'RoleBinding "{_name(binding)}/{namespace}" of {_role_ref(binding)} to {subject}', rules)

    @staticmethod
    def _role_rules(binding: Mapping[str, Any], cluster_roles: Mapping[str, Any], roles: Mapping[str, Any],
                    found: _Rules) -> list[dict[str, Any]] | None:
        ref = binding.get("roleRef") or {}
        kind, name = ref.get("kind"), ref.get("name", "")
        role = (cluster_roles if kind == "ClusterRole" else roles).get(name)
        if role is None:
            what = "clusterrole" if kind == "ClusterRole" else "role"
            found.errors.append(f'{what}.{GROUP} "{name}" not found')
            return None
        return list(role.get("rules") or [])


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _role_ref(binding: Mapping[str, Any]) -> str:
    ref = binding.get("roleRef") or {}
    return f'{ref.get("kind")} "{ref.get("name")}"'


def _subject_of(binding: Mapping[str, Any], user: User, namespace: str) -> str | None:
    """How the binding names `user` (`User "x"`, `Group "y"`, `ServiceAccount "n/ns"`), or None."""
    for s in binding.get("subjects") or []:
        kind, name = s.get("kind"), s.get("name")
        if kind == "User" and name == user.name:
            return f'User "{name}"'
        if kind == "Group" and name in user.groups:
            return f'Group "{name}"'
        if kind == "ServiceAccount":
            sa_ns = s.get("namespace") or namespace
            if user.service_account_ref == (sa_ns, name):
                return f'ServiceAccount "{name}/{sa_ns}"'
    return None


def _allows(rule: Mapping[str, Any], a: Attributes) -> bool:
    if not _has(rule.get("verbs"), a.verb):
        return False
    if not a.is_resource:
        return any(u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return False
    if not _has(rule.get("apiGroups"), a.group):
        return False
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    resources = rule.get("resources") or []
    if not any(r == "*" or r == combined or (a.subresource and r == f"*/{a.subresource}") for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _has(values: Sequence[str] | None, wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values or [])


def forbidden(user: User, a: Attributes, reason: str = "") -> ApiError:
    """The 403 kube-apiserver answers a refused request with, in its words."""
    if not a.is_resource:
        message = f'User "{user.name}" cannot {a.verb} path "{a.path}"'
    else:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        message = f'User "{user.name}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    if reason:
        message += f": {reason}"
    if not a.is_resource:
        return ApiError(403, "Forbidden", f"forbidden: {message}", {})
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    subject = f'{qualified} "{a.name}"' if a.name else qualified
    details = {**({"name": a.name} if a.name else {}), **({"group": a.group} if a.group else {}), "kind": a.resource}
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {message}", details)


# --- aggregation ---------------------------------------------------------------------------------------------


def aggregated_rules(role: Mapping[str, Any], roles: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """The rules the clusterrole-aggregation controller gives a ClusterRole with an aggregationRule (the rules of
    every other ClusterRole its selectors match, by name, without repeats), or None for a role without one."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, Mapping):
        return None
    out: list[dict[str, Any]] = []
    for selector in rule.get("clusterRoleSelectors") or []:
        match = label_selector(selector)
        for other in sorted(roles, key=_name):
            if _name(other) == _name(role) or not match(other["metadata"].get("labels") or {}):
                continue
            for r in other.get("rules") or []:
                if r not in out:
                    out.append(dict(r))
    return out


# --- the bootstrap policy --------------------------------------------------------------------------------------

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(verbs: Sequence[str], groups: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    # rbacv1helpers.NewRule sorts verbs and resources
    return {"verbs": sorted(verbs), "apiGroups": list(groups), "resources": sorted(resources)}


_VIEW = [
    _rule(READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                       "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                       "configmaps"]),
    _rule(READ, [""], ["limitranges", "resourcequotas", "bindings", "events", "pods/status", "resourcequotas/status",
                       "namespaces/status", "replicationcontrollers/status", "pods/log"]),
    _rule(READ, [""], ["namespaces"]),
    _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
                           "daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale",
                           "replicasets", "replicasets/status", "replicasets/scale"]),
    _rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    _rule(READ, ["batch"], ["jobs", "cronjobs", "cronjobs/status", "jobs/status"]),
    _rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                 "deployments/status", "ingresses", "ingresses/status", "replicasets",
                                 "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
                                 "networkpolicies"]),
    _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    _rule(READ, ["networking.k8s.io"], ["networkpolicies", "ingresses", "ingresses/status"]),
    _rule(READ, ["resource.k8s.io"], ["resourceclaims", "resourceclaims/status", "resourceclaimtemplates"]),
]
_EDIT = [
    _rule(READ, [""], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"]),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
    _rule(["create"], [""], ["pods/eviction"]),
    _rule(WRITE, [""], ["replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                        "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(WRITE, ["apps"], ["statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
                            "deployments/rollback", "replicasets", "replicasets/scale"]),
    _rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    _rule(WRITE, ["batch"], ["jobs", "cronjobs"]),
    _rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/scale", "deployments/rollback",
                                  "ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale",
                                  "networkpolicies"]),
    _rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
    _rule(WRITE, ["networking.k8s.io"], ["networkpolicies", "ingresses"]),
    _rule(READ_WRITE, ["coordination.k8s.io"], ["leases"]),
    _rule(WRITE, ["resource.k8s.io"], ["resourceclaims", "resourceclaimtemplates"]),
]
_ADMIN = [
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    _rule(READ_WRITE, [GROUP], ["roles", "rolebindings"]),
]
_BOOTSTRAP_RULES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                      {"verbs": ["*"], "nonResourceURLs": ["*"]}],
    "system:discovery": [{"verbs": ["get"], "nonResourceURLs": sorted([
        "/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*", "/api", "/api/*", "/apis",
        "/apis/*"])}],
    "system:basic-user": [_rule(["create"], ["authorization.k8s.io"],
                                ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                          _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])],
    "system:public-info-viewer": [{"verbs": ["get"], "nonResourceURLs": sorted(
        ["/livez", "/readyz", "/healthz", "/version", "/version/"])}],
    "system:aggregate-to-admin": _ADMIN,
    "system:aggregate-to-edit": _EDIT,
    "system:aggregate-to-view": _VIEW,
}
_AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
_AGGREGATED = {"admin": ("admin", None), "edit": ("edit", "admin"), "view": ("view", "edit")}
"""name -> (the label its selector matches, the role it aggregates into)."""
_LABEL_OF = {"system:aggregate-to-admin": "admin", "system:aggregate-to-edit": "edit",
             "system:aggregate-to-view": "view"}
_BINDINGS = {"cluster-admin": [MASTERS], "system:discovery": [AUTHENTICATED],
             "system:basic-user": [AUTHENTICATED],
             "system:public-info-viewer": [AUTHENTICATED, "system:unauthenticated"]}
_DEFAULTS = ({"kubernetes.io/bootstrapping": "rbac-defaults"},
             {"rbac.authorization.kubernetes.io/autoupdate": "true"})


def bootstrap_policy() -> list[tuple[str, dict[str, Any]]]:
    """(resource key, body) of every bootstrap ClusterRole and ClusterRoleBinding, roles first."""
    labels, annotations = _DEFAULTS
    out: list[tuple[str, dict[str, Any]]] = []
    for name, rules in _BOOTSTRAP_RULES.items():
        extra = {f"{_AGGREGATE}{_LABEL_OF[name]}": "true"} if name in _LABEL_OF else {}
        out.append((CLUSTER_ROLES, {"metadata": {"name": name, "labels": {**labels, **extra},
                                                 "annotations": dict(annotations)}, "rules": rules}))
    for name, (selects, into) in _AGGREGATED.items():
        extra = {f"{_AGGREGATE}{into}": "true"} if into else {}
        out.append((CLUSTER_ROLES, {"metadata": {"name": name, "labels": {**labels, **extra},
                                                 "annotations": dict(annotations)},
                                    "aggregationRule": {"clusterRoleSelectors": [
                                        {"matchLabels": {f"{_AGGREGATE}{selects}": "true"}}]}}))
    for name, groups in _BINDINGS.items():
        out.append((CLUSTER_ROLE_BINDINGS, {
            "metadata": {"name": name, "labels": dict(labels), "annotations": dict(annotations)},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups]}))
    return out
