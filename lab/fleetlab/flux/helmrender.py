"""Charts rendered for the sandbox's helm-controller.

With a helm binary (the one `fleet local build` builds, $FLEET_HELM, or `helm` on PATH) charts are rendered
by the real `helm template` (Go templates, sprig, helpers, `crds/`; fleetlib.helmchart, which the promote
runbook uses too). Without one, a small renderer handles
charts whose templates only substitute `.Release.Name`, `.Release.Namespace`, `.Chart.Name`, `.Chart.Version`,
`.Chart.AppVersion` and `.Values.<path>` (optionally `| quote`); any other template action is refused with a
message that says so and how to get the real renderer. Every release records which renderer it used.

    manifests, renderer = render(archive, release="web", namespace="apps", values={"replicas": 2})
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from fleetlib.helmchart import RenderError, helm_template, install_order, merge_values, read_chart

__all__ = ["SUBSET", "RenderError", "helm_binary", "read_chart", "render"]

SUBSET = "fleetlib's template subset (.Release, .Chart and .Values substitutions; no helm binary was found)"
_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_REF = re.compile(r"^\.(Release\.Name|Release\.Namespace|Chart\.Name|Chart\.Version|Chart\.AppVersion|Values(?:\.[A-Za-z_]"
                  r"[A-Za-z0-9_]*)+)(\s*\|\s*quote)?$")


def helm_binary() -> str | None:
    """The helm CLI to render with: $FLEET_HELM, the local stack's build, or `helm` on PATH."""
    explicit = os.environ.get("FLEET_HELM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    try:
        from fleetlab.versions import bin_dir

        built = bin_dir() / "helm"
    except (ImportError, OSError, ValueError):  # no local stack configured: fall back to PATH
        return shutil.which("helm")
    return str(built) if built.is_file() else shutil.which("helm")


def render(archive: bytes, *, release: str, namespace: str, values: dict[str, Any],
           version: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The chart's manifests in Helm's install order, and which renderer made them."""
    meta, defaults, templates, crds = read_chart(archive)
    if version:
        meta = {**meta, "version": version}
    merged = merge_values(defaults, values)
    helm = helm_binary()
    if helm:
        text = helm_template(helm, archive, release, namespace, merged, version)
        renderer = f"helm template ({Path(helm).name})"
    else:
        text = "\n---\n".join([*crds, *(_subset(name, body, meta, release, namespace, merged)
                                        for name, body in sorted(templates.items())
                                        if name.endswith((".yaml", ".yml")) and not name.startswith("templates/_"))])
        renderer = SUBSET
    return install_order(text), renderer


def _subset(name: str, body: str, meta: dict[str, Any], release: str, namespace: str, values: dict[str, Any]) -> str:
    def replace(m: re.Match[str]) -> str:
        action = m.group(1).strip()
        ref = _REF.match(action)
        if action.startswith("/*") or not action:
            return ""
        if not ref:
            raise RenderError(f"{name}: the sandbox renders this chart with {SUBSET}, and `{{{{ {action} }}}}` is "
                              "outside it; run `fleet local build` (it builds helm) or put helm on PATH")
        path, quote = ref.group(1), bool(ref.group(2))
        if path.startswith("Values."):
            value: Any = values
            for part in path.split(".")[1:]:
                value = value.get(part) if isinstance(value, dict) else None
        else:
            value = {"Release.Name": release, "Release.Namespace": namespace, "Chart.Name": meta.get("name"),
                     "Chart.Version": meta.get("version"), "Chart.AppVersion": meta.get("appVersion")}[path]
        text = "" if value is None else (json.dumps(value) if isinstance(value, (dict, list)) else
                                         ("true" if value is True else "false" if value is False else str(value)))
        return json.dumps(text) if quote else text
    return _ACTION.sub(replace, body)
