"""One sandbox cluster's access control, on its ClusterApi: the RBAC bootstrap policy a new cluster gets, a
`default` ServiceAccount in every namespace (the serviceaccount controller's), ClusterRole aggregation (the
clusterrole-aggregation controller's), the access reviews (SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectAccessReview, SelfSubjectRulesReview) answered by the same authorizer that guards requests, and
`acting_as`: the API as one user sees it, for the mini-Flux's impersonation.

    api.policy.check(user, Attributes("patch", "", "configmaps", namespace="kube-system", name="x"))  # or 403
    tenant = api.policy.acting_as(User.service_account("apps", "dev-team"))
    tenant.patch(rt, "kube-system", "x", "application/apply-patch+yaml", body, manager="kustomize-controller")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetlab.kubernetes.errors import ApiError, invalid_causes
from fleetlab.kubernetes.rbac import (
    CLUSTER_ROLES,
    Attributes,
    Authorizer,
    User,
    aggregated_rules,
    bootstrap_policy,
    forbidden,
)
from fleetlab.kubernetes.registry import ResourceType
from fleetlab.kubernetes.validation import Cause

if TYPE_CHECKING:
    from fleetlab.kubernetes.apiserver import ClusterApi

AGGREGATOR = "clusterrole-aggregation-controller"
REVIEWS = ("subjectaccessreviews", "localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews")


class ClusterPolicy:
    def __init__(self, api: ClusterApi) -> None:
        self.api = api
        self.authorizer = Authorizer(self._read)

    def _read(self, key: str, namespace: str | None) -> list[dict[str, Any]]:
        _, rows = self.api.store.scan([key], namespace)
        return [r.obj() for r in rows]

    def _type(self, key: str) -> ResourceType:
        rt = self.api.type_for_key(key)
        assert rt is not None, key
        return rt

    # --- decisions ----------------------------------------------------------------------------------------------

    def check(self, user: User, attrs: Attributes) -> None:
        """Nothing when `user` may; the 403 kube-apiserver would answer when not."""
        decision = self.authorizer.decide(user, attrs)
        if not decision.allowed:
            raise forbidden(user, attrs, decision.reason)

    def check_resource(self, user: User, verb: str, rt: ResourceType, namespace: str | None, name: str | None,
                       subresource: str | None = None) -> None:
        if rt.key == "/namespaces" and name:  # kube-apiserver's RequestInfo: /namespaces/{name} is in that namespace
            namespace = name
        self.check(user, Attributes(verb, rt.group, rt.plural, subresource or "", namespace or "", name or ""))

    def acting_as(self, user: User) -> ActingApi:
        return ActingApi(self.api, user)

    # --- what a new cluster and a new namespace get ---------------------------------------------------------------

    def bootstrap(self) -> None:
        """The bootstrap ClusterRoles and ClusterRoleBindings, and a default ServiceAccount in every namespace (each
        created unless there; safe to repeat, and on a cluster made before the sandbox had RBAC)."""
        for key, body in bootstrap_policy():
            self._ensure(self._type(key), None, body, manager="kube-apiserver")
        for namespace in self._read("/namespaces", None):
            self.namespace_added(namespace["metadata"]["name"])
        self.aggregate()
        with self.api.store.write() as tx:
            tx.set_meta("rbac", "v1.34")

    def namespace_added(self, namespace: str) -> None:
        self._ensure(self._type("/serviceaccounts"), namespace, {"metadata": {"name": "default"}},
                     manager="kube-controller-manager")

    def _ensure(self, rt: ResourceType, namespace: str | None, body: dict[str, Any], *, manager: str) -> None:
        if self.api.store.get(rt.key, namespace or "", body["metadata"]["name"]) is not None:
            return
        try:
            self.api.create(rt, namespace, body, manager=manager)
        except ApiError as e:
            if e.code not in (404, 409):  # a namespace going away, or another process was first
                raise

    def aggregate(self) -> None:
        """Give every ClusterRole with an aggregationRule the rules of the roles it selects, until nothing changes
        (an aggregated role can itself be selected: edit into admin)."""
        rt = self._type(CLUSTER_ROLES)
        for _ in range(8):
            roles = self._read(CLUSTER_ROLES, None)
            changed = False
            for role in roles:
                rules = aggregated_rules(role, roles)
                if rules is None or rules == (role.get("rules") or []):
                    continue
                try:
                    self.api.replace(rt, None, role["metadata"]["name"], {**role, "rules": rules}, manager=AGGREGATOR)
                    changed = True
                except ApiError as e:
                    if e.code not in (404, 409):
                        raise
                    changed = True
            if not changed:
                return

    # --- access reviews ---------------------------------------------------------------------------------------------

    def review(self, rt: ResourceType, namespace: str | None, body: dict[str, Any], user: User) -> dict[str, Any]:
        """The answer to an access review, as the authorization.k8s.io API gives it (the object with its status)."""
        spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
        out = {"kind": rt.kind, "apiVersion": rt.api_version, **{k: v for k, v in body.items()
                                                                  if k not in ("kind", "apiVersion", "status")}}
        out["metadata"] = {**(body.get("metadata") or {}), "creationTimestamp": None}
        if rt.plural == "selfsubjectrulesreviews":
            out["status"] = self._rules_review(user, str(spec.get("namespace") or ""))
            return out
        if rt.plural in ("subjectaccessreviews", "localsubjectaccessreviews"):
            if not spec.get("user") and not spec.get("groups"):
                raise invalid_causes(rt, "", [Cause("spec.user", "FieldValueRequired", "Required value: at least one "
                                                                  "of user or group must be specified")])
            user = User(str(spec.get("user") or ""), tuple(spec.get("groups") or ()))
        res: dict[str, Any] = spec.get("resourceAttributes") or {}
        non: dict[str, Any] = spec.get("nonResourceAttributes") or {}
        if bool(res) == bool(non):
            raise invalid_causes(rt, "", [Cause("spec.resourceAttributes", "FieldValueInvalid", "Invalid value: \"null\": "
                                                "exactly one of nonResourceAttributes or resourceAttributes must be "
                                                "specified")])
        if res:
            ns = str(res.get("namespace") or "")
            if rt.plural == "localsubjectaccessreviews":
                ns = namespace or ""
            attrs = Attributes(str(res.get("verb") or ""), str(res.get("group") or ""), str(res.get("resource") or ""),
                               str(res.get("subresource") or ""), ns, str(res.get("name") or ""))
        else:
            attrs = Attributes(str(non.get("verb") or ""), path=str(non.get("path") or ""))
        decision = self.authorizer.decide(user, attrs)
        out["status"] = {"allowed": decision.allowed, **({"reason": decision.reason} if decision.reason else {})}
        return out

    def _rules_review(self, user: User, namespace: str) -> dict[str, Any]:
        rules, errors = self.authorizer.rules_for(user, namespace)
        resource = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k) is not None}
                    for r in rules if not r.get("nonResourceURLs")]
        non = [{"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]} for r in rules if r.get("nonResourceURLs")]
        out: dict[str, Any] = {"resourceRules": resource, "nonResourceRules": non, "incomplete": bool(errors)}
        if errors:
            out["evaluationError"] = ", ".join(errors)
        return out


class ActingApi:
    """The calls the mini-Flux makes on a cluster, each authorized for one user first (a controller impersonating
    a service account): the first refused request fails with the API server's 403."""

    def __init__(self, api: ClusterApi, user: User) -> None:
        self.api, self.user = api, user

    def _check(self, verb: str, rt: ResourceType, namespace: str | None, name: str | None,
               subresource: str | None = None) -> None:
        self.api.policy.check_resource(self.user, verb, rt, namespace, name, subresource)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes,
              **kwargs: Any) -> tuple[int, dict[str, Any]]:
        self._check("patch", rt, namespace, name, kwargs.get("subresource"))
        return self.api.patch(rt, namespace, name, content_type, body, **kwargs)

    def delete(self, rt: ResourceType, namespace: str | None, name: str, **kwargs: Any) -> dict[str, Any]:
        self._check("delete", rt, namespace, name)
        return self.api.delete(rt, namespace, name, **kwargs)
