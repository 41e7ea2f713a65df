"""Helm charts rendered by the real `helm template`, as helm-controller renders a HelmRelease: a packaged chart,
its values coalesced over the chart's defaults, `crds/` included, the objects in Helm's install order. The helm
CLI is the caller's (a target says which: fleetlib.targets.Endpoints.helm); nothing here renders templates itself.

    objects = template(helm, archive, release="web", namespace="apps", values={"replicas": 2})
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

INSTALL_ORDER = ["PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
                 "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
                 "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
                 "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
                 "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
                 "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
                 "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
"""Helm's install order (pkg/release/util/kind_sorter.go); other kinds go last."""


class RenderError(Exception):
    """The chart could not be rendered; the message is what helm-controller's condition carries."""


def read_chart(archive: bytes) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], list[str]]:
    """(Chart.yaml, values.yaml, templates by name, crds/ files) of a packaged chart."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            files = {m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                     for m in tar.getmembers() if m.isfile() and m.size < 4 * 1024 * 1024}
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as e:
        raise RenderError(f"failed to load chart: {e}") from None
    top = {name.split("/", 1)[0] for name in files}
    if len(top) != 1:
        raise RenderError("failed to load chart: chart archive must hold one top folder")
    root = top.pop()
    meta = yaml.safe_load(files.get(f"{root}/Chart.yaml", "") or "null")
    if not isinstance(meta, dict):
        raise RenderError("validation: chart.metadata is required")
    values = yaml.safe_load(files.get(f"{root}/values.yaml", "") or "{}") or {}
    templates = {name.removeprefix(f"{root}/"): text for name, text in files.items()
                 if name.startswith(f"{root}/templates/")}
    crds = [text for name, text in sorted(files.items()) if name.startswith(f"{root}/crds/")]
    return meta, values if isinstance(values, dict) else {}, templates, crds


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, anything else is replaced; null deletes a default."""
    out = dict(base)
    for key, value in (override or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def template(helm: str, archive: bytes, *, release: str, namespace: str, values: dict[str, Any],
             version: str | None = None) -> list[dict[str, Any]]:
    """The chart's objects as `helm template` renders them (values coalesced over the chart's), in install order."""
    _, defaults, _, _ = read_chart(archive)
    return install_order(helm_template(helm, archive, release, namespace, merge_values(defaults, values), version))


def install_order(text: str) -> list[dict[str, Any]]:
    """Rendered manifests parsed, in Helm's install order (other kinds last)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]
    except yaml.YAMLError as e:
        raise RenderError(f"YAML parse error: {str(e).splitlines()[0]}") from None
    order = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
    docs.sort(key=lambda d: order.get(str(d.get("kind")), len(order)))
    return docs


def helm_template(helm: str, archive: bytes, release: str, namespace: str, values: dict[str, Any],
                   version: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="fleet-helm-") as tmp:
        chart = Path(tmp) / "chart.tgz"
        chart.write_bytes(archive)
        if version:  # helm-controller renders with the chart version it tracks (e.g. 1.0.0+<digest> from OCI)
            with tarfile.open(chart, "r:gz") as tar:
                tar.extractall(Path(tmp) / "unpacked", filter="data")
            folders = [p for p in (Path(tmp) / "unpacked").iterdir() if p.is_dir()]
            if len(folders) == 1 and (folders[0] / "Chart.yaml").is_file():
                chart_meta = yaml.safe_load((folders[0] / "Chart.yaml").read_text()) or {}
                chart_meta["version"] = version
                (folders[0] / "Chart.yaml").write_text(yaml.safe_dump(chart_meta))
                chart = folders[0]
        values_file = Path(tmp) / "values.json"
        values_file.write_text(json.dumps(values))
        env = {"HOME": tmp, "PATH": os.environ.get("PATH", ""), "HELM_CACHE_HOME": f"{tmp}/cache",
               "HELM_CONFIG_HOME": f"{tmp}/config", "HELM_DATA_HOME": f"{tmp}/data"}
        done = subprocess.run([helm, "template", release, str(chart), "--namespace", namespace, "--values",
                               str(values_file), "--include-crds"], capture_output=True, text=True, timeout=120,
                              env=env, check=False)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip().removeprefix("Error: ").splitlines()[0][:500] if done.stderr.strip()
                          else f"helm template exited with {done.returncode}")
    return done.stdout
