"""A Flux release's real install manifests, assembled from the pinned Go modules as flux2's own release does.

flux2's `manifests/` (in the `github.com/fluxcd/flux2/v2` module) is a tree of kustomizations whose resources
are each controller's release downloads (`<controller>.crds.yaml`, `<controller>.deployment.yaml`). A
controller's release builds those two files with kustomize from its module's `config/crd` and `config/manager`.
With no network but the module proxy, we do the same from the modules themselves:

1. copy flux2's `manifests/` into a work folder;
2. for every release URL in its kustomizations, download the controller's module at that tag
   (`github.com/fluxcd/<controller>[/vN]`) and build the file from its `config/` with kustomize, written beside
   the kustomization that names it, the URL replaced by the file's name;
3. build what flux2's release ships: `install.yaml` (`kustomize build manifests/install`) and the files the
   flux CLI embeds (`manifests/scripts/bundle.sh`: one file per `bases/<controller>`, `rbac.yaml`,
   `policies.yaml`).

Nothing is hand-written: every object comes from upstream files at the pinned tags. A release whose controller
modules the proxy does not serve (v2.5.1) cannot be assembled; its CLI embeds the sandbox's written release
split the same way (`bundle_from_objects`), which the install-manifest test holds against the real v2.5.1 files.

    folder = assemble(flux2_module_dir, work / "manifests", download=module_dir)
    (folder / "install.yaml").read_text()
"""

from __future__ import annotations

import copy
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fleetlib.kubectl import kustomize

RELEASE_URL = re.compile(r"https://github\.com/fluxcd/(?P<repo>[\w.-]+)/releases/download/(?P<tag>v[\w.+-]+)/"
                         r"(?P<file>(?P=repo)\.(?P<part>crds|deployment)\.yaml)")
PARTS = {"crds": "config/crd", "deployment": "config/manager"}
"""Release file -> the folder of the controller module it is built from (the controllers' release workflow)."""
BUNDLE_EXTRA = ("rbac", "policies")
"""Besides one file per `bases/<controller>`, what bundle.sh builds for the CLI to embed."""
RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "ResourceQuota"}
"""What flux2's `manifests/rbac` holds (the CLI puts a `-<namespace>` name suffix on these)."""


def module_path(repo: str, tag: str) -> str:
    """The Go module of a fluxcd repository at a tag: `/vN` for major versions 2 and up."""
    major = int(tag.lstrip("v").split(".")[0])
    return f"github.com/fluxcd/{repo}" + (f"/v{major}" if major >= 2 else "")


def release_urls(manifests: Path) -> list[tuple[Path, re.Match[str]]]:
    """Every release download a kustomization under `manifests` names: (its kustomization file, the URL)."""
    out = []
    for file in sorted(manifests.rglob("kustomization.yaml")):
        out += [(file, m) for m in RELEASE_URL.finditer(file.read_text())]
    return out


def _writable_copy(source: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def assemble(flux2: Path, out: Path, *, download: Callable[[str, str], Path]) -> Path:
    """flux2's `manifests/` made self-contained in `out` (see the module's docstring); returns `out`.
    `download(module, version)` gives the folder of a module version (`go mod download`)."""
    _writable_copy(flux2 / "manifests", out)
    built: dict[str, str] = {}
    for file, url in release_urls(out):
        if url.group(0) not in built:
            module = download(module_path(url["repo"], url["tag"]), url["tag"])
            built[url.group(0)] = kustomize(module / PARTS[url["part"]], timeout=300)
        (file.parent / url["file"]).write_text(built[url.group(0)])
        file.write_text(file.read_text().replace(url.group(0), url["file"]))
    (out / "install.yaml").write_text(kustomize(out / "install", timeout=300))
    bundle = out / "bundle"
    bundle.mkdir(exist_ok=True)
    for base in sorted(p for p in (out / "bases").iterdir() if p.is_dir()):
        (bundle / f"{base.name}.yaml").write_text(kustomize(base, timeout=300))
    for extra in BUNDLE_EXTRA:
        (bundle / f"{extra}.yaml").write_text(kustomize(out / extra, timeout=300))
    return out


def _dump(objects: Iterable[Mapping[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(dict(o), sort_keys=False) for o in objects)


def bundle_from_objects(objects: list[dict[str, Any]], out: Path) -> Path:
    """The CLI's embedded files from a release's objects, split as bundle.sh builds them: a file per controller
    (its CRDs, account, services, Deployment), `rbac.yaml` and `policies.yaml`; the namespace is the CLI's own.
    As in flux2's bases, the objects carry no namespace and no `instance` label (rbac and policies no release
    label at all), and images are `fluxcd/<controller>:<tag>` (the CLI's `--registry` puts the registry)."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict[str, Any]]] = {"rbac": [], "policies": []}
    for original in objects:
        obj = copy.deepcopy(original)
        kind, meta = obj["kind"], obj["metadata"]
        if kind == "Namespace":
            continue
        name = "rbac" if kind in RBAC_KINDS else "policies" if kind == "NetworkPolicy" else \
            meta.get("labels", {})["app.kubernetes.io/component"]
        meta.pop("namespace", None)
        dropped = ("app.kubernetes.io/instance",) + (("app.kubernetes.io/part-of",) if name in files else ())
        labels = {k: v for k, v in (meta.pop("labels", None) or {}).items() if k not in dropped}
        if labels:
            meta["labels"] = labels
        for container in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
            container["image"] = str(container["image"]).removeprefix("ghcr.io/")
        files.setdefault(name, []).append(obj)
    for name, members in files.items():
        (out / f"{name}.yaml").write_text(_dump(members))
    return out
