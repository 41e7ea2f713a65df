"""An application's Flux objects and the file that holds them in the cluster's folder.

Layout: `<cluster path>/apps/<app>.yaml`, one file per app and cluster, holding the app's Namespace, its source
(GitRepository, HelmRepository or OCIRepository) and its Kustomization or HelmRelease, all but the Namespace in
the Flux namespace. Why: the flux-system Kustomization already syncs the cluster's folder (bootstrap's
`--path`), so a file there is applied and pruned by Flux with no new Kustomization, base or overlay to keep;
one file per app makes adding and removing it one change, and per-cluster files let clusters differ (a
stage-wide base would make a per-cluster value an overlay). A folder that has its own kustomization.yaml
lists the file in its resources, as a repository laid out that way expects.

    objects = app_objects(options, flux_namespace="flux-system")
    text = file_text(objects)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from fleetlib.objects import FLUX_KINDS, meta_of
from fleetlib.options import AddAppOptions

HEADER = ("# Managed by fleetlib's add-app runbook (runbooks/add-app.ipynb): change the runbook's\n"
          "# parameters and run it again, or remove the app with -p remove True.\n")
HEADERS = (HEADER, "# Managed by fleetlib's add-app runbook (runbooks/add-app.ipynb): change the runbook's parameters "
                   "and run it again,\n# or remove the app with -p remove True.\n")
"""Every header the runbook has written (the first is today's): a file that starts with one is the runbook's."""
APPS_DIR = "apps"
_GITHUB_SSH = re.compile(r"^ssh://git@(?P<host>[^/:]+)(?::\d+)?/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$")


def git_repo_slug(url: str, hostname: str) -> str:
    """`owner/repo` of an ssh:// URL on the fleet's GitHub host; ValueError for any other URL."""
    m = _GITHUB_SSH.match(url)
    if not m or m["host"] != hostname:
        raise ValueError(f"{url!r} is not ssh://git@{hostname}/<owner>/<repository>")
    return f"{m['owner']}/{m['repo']}"


def secret_name(o: AddAppOptions) -> str:
    """The Secret holding a Git source's deploy key (in the cluster only, never in Git)."""
    return f"{o.app}-git"


def app_objects(o: AddAppOptions, *, flux_namespace: str, own_namespace: bool = True) -> list[dict[str, Any]]:
    """Namespace, source, then Kustomization or HelmRelease: what the app's file holds, in apply order. With
    `own_namespace` False the app uses a namespace it did not create: the file does not declare it, so Flux
    never prunes it (see `owns_namespace`)."""
    meta = {"name": o.app, "namespace": flux_namespace}
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": o.namespace_of_app}}
                                 ] if own_namespace else []
    depends = [{"name": d.rpartition("/")[2], **({"namespace": d.rpartition("/")[0]} if "/" in d else {})}
               for d in o.depends_on]
    if o.source == "git":
        out.append({"apiVersion": FLUX_KINDS["GitRepository"], "kind": "GitRepository", "metadata": dict(meta),
                    "spec": {"interval": o.interval, "url": o.url, "ref": {"branch": o.version if o.version != "*"
                                                                           else "main"},
                             "secretRef": {"name": secret_name(o)}}})
        spec: dict[str, Any] = {"interval": o.interval, "path": o.path, "prune": o.prune,
                                "sourceRef": {"kind": "GitRepository", "name": o.app},
                                "targetNamespace": o.namespace_of_app, "timeout": o.timeout}
        if depends:
            spec["dependsOn"] = depends
        if o.health_checks:
            spec["healthChecks"] = [{"apiVersion": _api_version(k), "kind": k, "namespace": ns, "name": n}
                                    for k, ns, n in (h.split("/") for h in o.health_checks)]
        out.append({"apiVersion": FLUX_KINDS["Kustomization"], "kind": "Kustomization", "metadata": dict(meta),
                    "spec": spec})
        return out
    if o.source == "helm":
        out.append({"apiVersion": FLUX_KINDS["HelmRepository"], "kind": "HelmRepository", "metadata": dict(meta),
                    "spec": {"interval": o.interval, "url": o.url}})
        chart: dict[str, Any] = {"chart": {"spec": {"chart": o.chart, "version": o.version,
                                                    "sourceRef": {"kind": "HelmRepository", "name": o.app}}}}
    else:
        oci_spec: dict[str, Any] = {"interval": o.interval, "url": o.url, "ref": {"tag": o.version},
                                    "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                                      "operation": "copy"}}
        if o.insecure:
            oci_spec["insecure"] = True
        out.append({"apiVersion": FLUX_KINDS["OCIRepository"], "kind": "OCIRepository", "metadata": dict(meta),
                    "spec": oci_spec})
        chart = {"chartRef": {"kind": "OCIRepository", "name": o.app}}
    release: dict[str, Any] = {"interval": o.interval, **chart, "targetNamespace": o.namespace_of_app,
                               "timeout": o.timeout, "install": {"remediation": {"retries": 3}}}
    values = yaml.safe_load(o.values) if o.values.strip() else None
    if values:
        release["values"] = values
    if depends:
        release["dependsOn"] = depends
    out.append({"apiVersion": FLUX_KINDS["HelmRelease"], "kind": "HelmRelease", "metadata": dict(meta),
                "spec": release})
    return out


def owns_namespace(file_before: str | None, namespace: str, *, exists_in_cluster: bool) -> bool:
    """Whether the app's file declares (and so Flux owns and prunes) the app's Namespace. A file add-app wrote
    keeps its answer; a new app declares its namespace only when the cluster does not have it yet: a namespace
    that exists before the app belongs to someone else, and removing the app must leave it and what it holds."""
    if file_before is not None:
        return any(isinstance(o, dict) and o.get("kind") == "Namespace"
                   and meta_of(o).get("name") == namespace for o in yaml.safe_load_all(file_before))
    return not exists_in_cluster


def _api_version(kind: str) -> str:
    return {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Service": "v1",
            "ConfigMap": "v1"}.get(kind) or FLUX_KINDS.get(kind, "v1")


def file_text(objects: list[dict[str, Any]]) -> str:
    return HEADER + "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


def app_file(cluster_path: str, app: str) -> str:
    """The app's file, relative to the repository root."""
    return f"{cluster_path.strip('/').removeprefix('./')}/{APPS_DIR}/{app}.yaml"
