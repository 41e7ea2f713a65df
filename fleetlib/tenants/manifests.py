"""A tenant's Flux objects and the file that holds them in the cluster's folder, after fluxcd/flux2-multi-tenancy.

Layout: `<cluster path>/tenants/<tenant>.yaml`, one file per tenant and cluster, synced (applied and pruned) by
the flux-system Kustomization as add-app's files are. It holds, each labelled `toolkit.fluxcd.io/tenant`:
- the tenant's Namespaces (those the cluster does not have yet: a namespace that exists before belongs to
  someone else, and removing the tenant must leave it);
- a ServiceAccount named as the tenant, in its first namespace;
- in each namespace a RoleBinding of that account to the ClusterRole `admin` (flux2-multi-tenancy binds
  `cluster-admin`; a RoleBinding confines either to the namespace, and `admin` also keeps the tenant from
  editing its own ResourceQuotas);
- its GitRepository and a Kustomization that runs as the service account (`serviceAccountName`), both in the
  first namespace, so with `--no-cross-namespace-refs` it can reach nothing else.
The deploy key's private half is a Secret written to the cluster, never to Git.

The lockdown (`LOCKDOWN`) is the cluster-wide half of the model, the patches flux2-multi-tenancy puts in
`flux-system/kustomization.yaml`: the runbook says which are missing and shows them; it writes them only when
asked (`-p lockdown True`, `with_lockdown`), because they change how every other Kustomization and HelmRelease
of the cluster runs (one without a service account would run as `default` in its namespace). Removing a tenant
never takes them out: they are the cluster's, and other tenants rely on them.

    objects = tenant_objects(options, url="ssh://git@github.com/owner/dev-team", declared=["dev-team"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from fleetlib.kustomization import add_patches
from fleetlib.objects import FLUX_KINDS
from fleetlib.options import TenantsOptions
from fleetlib.steplog import StepLog

HEADER = ("# Managed by fleetlib's tenants runbook (runbooks/tenants.ipynb): change the runbook's\n"
          "# parameters and run it again, or remove the tenant with -p remove True.\n")
TENANTS_DIR = "tenants"
TENANT_LABEL = "toolkit.fluxcd.io/tenant"
ROLE = "admin"

@dataclass(frozen=True)
class Lockdown:
    """One of flux2-multi-tenancy's lockdown patches in `flux-system/kustomization.yaml`."""

    name: str
    """The flag it adds (or the field it sets), as said to a person; the file lacks the patch when it lacks this."""
    value: str
    path: str
    target: dict[str, str]
    why: str

    @property
    def body(self) -> str:
        return f"- op: add\n  path: {self.path}\n  value: {self.value}\n"


_ARGS = "/spec/template/spec/containers/0/args/-"
LOCKDOWN: list[Lockdown] = [
    Lockdown("--no-cross-namespace-refs", "--no-cross-namespace-refs=true", _ARGS, {
        "kind": "Deployment", "name": "(kustomize|helm|notification|image-reflector|image-automation)-controller"},
        "a tenant's objects cannot name a source or secret in another namespace"),
    Lockdown("--no-remote-bases", "--no-remote-bases=true", _ARGS, {"kind": "Deployment", "name": "kustomize-controller"},
             "a tenant's kustomization cannot pull remote bases"),
    Lockdown("--default-service-account", "--default-service-account=default", _ARGS,
             {"kind": "Deployment", "name": "(kustomize-controller|helm-controller)"},
             "a tenant's Kustomization or HelmRelease without serviceAccountName runs as its namespace's `default`"),
    Lockdown("/spec/serviceAccountName", "kustomize-controller", "/spec/serviceAccountName",
             {"kind": "Kustomization", "name": "flux-system"},
             "the flux-system sync itself keeps acting as kustomize-controller"),
]
"""flux2-multi-tenancy's lockdown (clusters/production/flux-system/kustomization.yaml), in its order; its list of
five controllers is written as one shorter regex, which kustomize matches the same."""


def secret_name(o: TenantsOptions) -> str:
    return f"{o.tenant}-git"


def tenant_objects(o: TenantsOptions, *, url: str, declared: list[str]) -> list[dict[str, Any]]:
    """What the tenant's file holds, in apply order; `declared` are the namespaces it creates (and so prunes)."""
    labels = {TENANT_LABEL: o.tenant}
    home = o.tenant_namespaces[0]
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
                                 for n in o.tenant_namespaces if n in declared]
    out.append({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": o.tenant, "namespace": home, "labels": labels}})
    out += [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": f"{o.tenant}-reconciler", "namespace": n, "labels": labels},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
             "subjects": [{"kind": "ServiceAccount", "name": o.tenant, "namespace": home}]}
            for n in o.tenant_namespaces]
    meta = {"name": o.tenant, "namespace": home, "labels": labels}
    out.append({"apiVersion": FLUX_KINDS["GitRepository"], "kind": "GitRepository", "metadata": dict(meta),
                "spec": {"interval": o.interval, "url": url, "ref": {"branch": o.tenant_branch},
                         "secretRef": {"name": secret_name(o)}}})
    out.append({"apiVersion": FLUX_KINDS["Kustomization"], "kind": "Kustomization", "metadata": dict(meta),
                "spec": {"interval": o.interval, "path": o.path, "prune": True, "serviceAccountName": o.tenant,
                         "sourceRef": {"kind": "GitRepository", "name": o.tenant}, "timeout": o.timeout}})
    return out


def file_text(objects: list[dict[str, Any]]) -> str:
    return HEADER + "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


def tenant_file(cluster_path: str, tenant: str) -> str:
    return f"{cluster_path.strip('/').removeprefix('./')}/{TENANTS_DIR}/{tenant}.yaml"


def missing_lockdown(kustomization_text: str | None) -> list[Lockdown]:
    """The lockdown patches `flux-system/kustomization.yaml` lacks (read as text: a patch that adds the flag or
    sets the field names it)."""
    text = kustomization_text or ""
    return [entry for entry in LOCKDOWN if entry.name not in text]


def lockdown_patch(entries: list[Lockdown]) -> str:
    """The `patches:` entries that add `entries`, as flux2-multi-tenancy writes them."""
    out = ["patches:"]
    for e in entries:
        out += ["  - patch: |", "      - op: add", f"        path: {e.path}", f"        value: {e.value}", "    target:",
                *(f'      {k}: "{v}"' if k == "name" else f"      {k}: {v}" for k, v in e.target.items())]
    return "\n".join(out)


def with_lockdown(kustomization_text: str, missing: list[Lockdown], *, shown: str) -> str:
    """`flux-system/kustomization.yaml` with flux2-multi-tenancy's patches for what it lacks appended."""
    return add_patches(kustomization_text, [(e.body, e.target) for e in missing], shown=shown)


def sync_removed(before: str) -> str | None:
    """The first step of a removal: the tenant's file without its GitRepository and Kustomization; None when it
    holds neither any more (the second step: the file goes)."""
    docs = [d for d in yaml.safe_load_all(before) if isinstance(d, dict) and d.get("kind")]
    kept = [d for d in docs if d["kind"] not in ("GitRepository", "Kustomization")]
    return file_text(kept) if len(kept) < len(docs) else None


def say_lockdown(log: StepLog, missing: list[Lockdown], *, written: bool = False) -> None:
    """Whether the cluster is locked down for tenants, and the patches that would do it (printed; with `written`
    they are in the change)."""
    if written and missing:
        log.say("►", "flux-system/kustomization.yaml gets the multi-tenancy lockdown (-p lockdown True): "
                     + "; ".join(f"{e.name} ({e.why})" for e in missing))
        return
    if not missing:
        log.say("✔", "the cluster is locked down for tenants (flux-system/kustomization.yaml sets "
                     "--no-cross-namespace-refs, --no-remote-bases and --default-service-account, and the sync's "
                     "serviceAccountName)")
        return
    log.say("►", "flux-system/kustomization.yaml lacks the multi-tenancy lockdown: "
                 + "; ".join(f"{e.name} ({e.why})" for e in missing)
                 + ". Proposed (not written: it changes how every Kustomization and HelmRelease without a "
                   "service account runs; -p lockdown True writes it):")
    if log.echo:
        print(lockdown_patch(missing))
