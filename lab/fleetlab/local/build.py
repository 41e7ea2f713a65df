"""`fleet local build`: the local stack's binaries, built from the Go module proxy with the `go` command
only, from pinned versions, with `-trimpath`, into `<cache>/<versions>/bin` (cache: $FLEET_LOCAL_CACHE, else
FLEET_HOME/cache/local). Nothing upstream is copied into the repository: sources come from the module
cache at build time.

- kube-apiserver, kube-controller-manager, kube-scheduler and etcd: one small wrapper module of ours that
  requires `k8s.io/kubernetes` and replaces each `k8s.io/*` staging module with its `v0.x` version, the
  replace block generated from the downloaded go.mod; each main calls the component's `app` command (etcd:
  `etcdmain.Main`, the etcd version Kubernetes requires). Version ldflags make `--version` and `/version`
  say the real version.
- kwok: `go install sigs.k8s.io/kwok/cmd/kwok@<version>` (no replace directives). kwokctl is not built: the
  stack's own orchestration (fleetlab.local.cluster) starts the processes, because it must also run the Flux
  controllers, the SSH endpoint and the log server beside them with ports it chooses.
- helm: `go install helm.sh/helm/v4/cmd/helm@<version>`, the version the Flux release's helm-controller links;
  the sandbox's helm-controller renders charts with its `helm template`.
- The flux CLI of each release in FLUX_CLI_VERSIONS, from a copy of `github.com/fluxcd/flux2/v2` whose
  `cmd/flux/manifests/` (embedded, absent from the module zip) is filled as flux2's bundle step fills it: from
  the release assembled out of the pinned controller modules (fleetlab.release.assembled) where they are
  served (v2.9.2, whose `install.yaml` the local stack installs), else from the sandbox's written release
  (v2.5.1). Built with flux2's release flags (`-s -w -X main.VERSION=<version>`).
- The Flux controllers: each from its own module copy (their go.mod files carry `replace ... => ./api`, so
  `go install` refuses them, and `main` imports `internal/`), with the `api` module put where the replace
  expects it.

Each binary is skipped when it exists with the same inputs (a stamp beside it), so a warm build takes no time.

    result = build(cache_dir(), LOCAL, say=print)      # {"seconds": ..., "built": [...], "disk_bytes": ...}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fleetlab.release import assembled
from fleetlab.release.manifests import install_objects, install_yaml
from fleetlab.versions import FLUX_CLI_VERSIONS, GO_MIN, LOCAL, LocalVersions, assembled_release, cache_dir
from fleetlib.errors import FleetError, clip
from fleetlib.files import write_atomic

Say = Callable[[str], None]
BUILD_DATE = "2026-01-01T00:00:00Z"
"""A fixed build date keeps the version stamp (and so the binaries) reproducible."""


class BuildError(FleetError):
    """The go command failed; the message carries the end of its output."""


def go_env(work: Path) -> dict[str, str]:
    """The go command's environment: this machine's toolchain only, no cgo, modules from the proxy."""
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false",
                "GOWORK": "off", "GO111MODULE": "on"})
    env.setdefault("GOPATH", str(Path.home() / "go"))
    env.setdefault("GOCACHE", str(Path.home() / ".cache" / "go-build"))
    return env


def run_go(args: list[str], *, cwd: Path, timeout: float = 3600) -> str:
    try:
        done = subprocess.run(["go", *args], cwd=cwd, env=go_env(cwd), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise BuildError("the go command is not installed", hint="install Go 1.26 or newer (https://go.dev/dl)") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"go {' '.join(args[:3])} took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BuildError(f"go {' '.join(args[:4])} failed: {clip(done.stderr[-1500:], 1500)}",
                         hint="check the network access to the Go module proxy (GOPROXY)")
    return done.stdout


def check_go() -> str:
    out = run_go(["version"], cwd=Path.cwd())
    m = re.search(r"go(\d+)\.(\d+)", out)
    if not m or (int(m.group(1)), int(m.group(2))) < GO_MIN:
        raise BuildError(f"{out.strip()} is too old", hint=f"the local stack needs Go {GO_MIN[0]}.{GO_MIN[1]} or newer")
    return out.strip()


def download(module: str, version: str, *, work: Path) -> dict[str, Any]:
    """`go mod download -json` of one module version: its Dir, GoMod, Info and Origin."""
    info = json.loads(run_go(["mod", "download", "-json", f"{module}@{version}"], cwd=work))
    if info.get("Error"):
        raise BuildError(f"{module}@{version}: {clip(info['Error'], 300)}",
                         hint="the Go module proxy does not serve it; see fleetlab.versions")
    return dict(info)


# --- the Kubernetes wrapper module ----------------------------------------------------------------

MAINS = {
    "kube-apiserver": ('"k8s.io/component-base/cli"\n\t"k8s.io/kubernetes/cmd/kube-apiserver/app"',
                       "os.Exit(cli.Run(app.NewAPIServerCommand()))"),
    "kube-controller-manager": ('"k8s.io/component-base/cli"\n\t"k8s.io/kubernetes/cmd/kube-controller-manager/app"',
                                "os.Exit(cli.Run(app.NewControllerManagerCommand()))"),
    "kube-scheduler": ('"k8s.io/component-base/cli"\n\t"k8s.io/kubernetes/cmd/kube-scheduler/app"',
                       "os.Exit(cli.Run(app.NewSchedulerCommand()))"),
    "etcd": ('"go.etcd.io/etcd/server/v3/etcdmain"', "etcdmain.Main(os.Args)"),
}


def replace_block(kubernetes_gomod: str, staging_version: str) -> list[str]:
    """Each `k8s.io/<x> => ./staging/...` of Kubernetes' go.mod as `k8s.io/<x> => k8s.io/<x> <staging_version>`."""
    block = re.search(r"^replace \((.*?)^\)", kubernetes_gomod, flags=re.S | re.M)
    lines = block.group(1).splitlines() if block else re.findall(r"^replace (.*)$", kubernetes_gomod, flags=re.M)
    out = []
    for line in lines:
        m = re.match(r"\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", line)
        if m:
            out.append(f"{m.group(1)} => {m.group(1)} {staging_version}")
    if not out:
        raise BuildError("k8s.io/kubernetes' go.mod has no staging replace block", hint="pin another Kubernetes version")
    return out


def kube_wrapper(work: Path, versions: LocalVersions) -> tuple[Path, str]:
    """Write the wrapper module; returns its folder and the Kubernetes commit (for the version stamp)."""
    info = download("k8s.io/kubernetes", versions.kubernetes, work=work)
    gomod = Path(info["GoMod"]).read_text()
    go_line = re.search(r"^go (\S+)$", gomod, flags=re.M)
    module = work / "kube"
    module.mkdir(parents=True, exist_ok=True)
    lines = ["module fleetlab.local/kube", "", f"go {go_line.group(1) if go_line else '1.24.0'}", "",
             f"require k8s.io/kubernetes {versions.kubernetes}", "",
             f"require go.etcd.io/etcd/server/v3 {versions.etcd}", "", "replace ("]
    lines += [f"\t{r}" for r in replace_block(gomod, versions.kubernetes_minor)] + [")", ""]
    text = "\n".join(lines)
    if not (module / "go.mod").exists() or "// generated" not in (module / "go.mod").read_text() or \
            text not in (module / "go.mod").read_text():
        (module / "go.sum").unlink(missing_ok=True)
        write_atomic(module / "go.mod", "// generated by fleetlab.local.build from k8s.io/kubernetes' go.mod\n" + text)
    for name, (imports, call) in MAINS.items():
        write_atomic(module / "cmd" / name / "main.go",
                     f"// {name}, built by fleetlab.local.build.\npackage main\n\nimport (\n\t\"os\"\n\n\t{imports}\n)\n\n"
                     f"func main() {{\n\t{call}\n}}\n")
    if not (module / "go.sum").exists():
        run_go(["mod", "tidy"], cwd=module)
    return module, str((info.get("Origin") or {}).get("Hash") or "")


def kube_ldflags(versions: LocalVersions, commit: str) -> str:
    major, minor, _ = versions.kubernetes.lstrip("v").split(".")
    pkg = "k8s.io/component-base/version"
    flags = {"gitVersion": versions.kubernetes, "gitMajor": major, "gitMinor": minor, "gitCommit": commit,
             "gitTreeState": "clean", "buildDate": BUILD_DATE}
    return " ".join(f"-X {pkg}.{k}={v}" for k, v in flags.items()) + " -s -w"


# --- one build step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    name: str
    inputs: str
    """Everything the binary depends on, as one string: it is the stamp."""


def _stamp(bin_path: Path) -> Path:
    return bin_path.with_name(f".{bin_path.name}.stamp")


def up_to_date(bin_path: Path, inputs: str) -> bool:
    return bin_path.exists() and _stamp(bin_path).exists() and _stamp(bin_path).read_text() == inputs


def _done(bin_path: Path, inputs: str) -> None:
    write_atomic(_stamp(bin_path), inputs)


def _module_copy(source: Path, dest: Path) -> None:
    """A writable copy of a read-only module cache folder."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def flux_sources(work: Path, versions: LocalVersions) -> dict[str, Path]:
    """Each Flux controller's module copied out of the module cache with its `api` module in place."""
    out = {}
    for controller, version in versions.flux.controllers.items():
        dest = work / "flux" / f"{controller}@{version}"
        if not (dest / "main.go").exists() or not (dest / "api" / "go.mod").exists():
            main = download(f"github.com/fluxcd/{controller}", version, work=work)
            api = download(f"github.com/fluxcd/{controller}/api", version, work=work)
            _module_copy(Path(main["Dir"]), dest)
            if (dest / "api").exists():
                shutil.rmtree(dest / "api")
            _module_copy(Path(api["Dir"]), dest / "api")
        out[controller] = dest
    return out


def build(cache: Path | None = None, versions: LocalVersions = LOCAL, *, say: Say = print) -> dict[str, Any]:
    """Build every binary that is missing or stale; returns what was built, how long it took and the disk used."""
    root = (cache or cache_dir()) / versions.key
    bins, work = root / "bin", root / "src"
    bins.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    go = check_go()
    started = time.monotonic()
    built: list[dict[str, Any]] = []
    clis = [f"flux-{v}" for v in FLUX_CLI_VERSIONS]
    planned = [*MAINS, "kwok", "helm", *versions.flux.controllers, *clis]
    embedded = {f"flux-{v}": hashlib.sha256(install_yaml(v).encode()).hexdigest()[:12]
                for v in FLUX_CLI_VERSIONS if v != versions.flux.version}
    """A CLI embedding the sandbox's written release is rebuilt when that release changes."""
    stamp_base = f"{go}|{versions.key}|{hashlib.sha256(json.dumps(MAINS).encode()).hexdigest()[:12]}"
    def inputs_of(name: str) -> str:
        return f"{stamp_base}|{name}" + (f"|{embedded[name]}" if name in embedded else "")

    if all(up_to_date(bins / name, inputs_of(name)) for name in planned):
        say(f"✔ local stack binaries are up to date in {bins}")
        return {"seconds": 0.0, "built": [], "bin": str(bins), "disk_bytes": disk_bytes(root)}

    def step(name: str, what: str, run: Callable[[], object]) -> None:
        target = bins / name
        inputs = inputs_of(name)
        if up_to_date(target, inputs):
            say(f"✔ {name} up to date")
            return
        say(f"► building {name} ({what})")
        t0 = time.monotonic()
        run()
        _done(target, inputs)
        seconds = round(time.monotonic() - t0, 1)
        built.append({"binary": name, "seconds": seconds, "bytes": target.stat().st_size})
        say(f"✔ {name} in {seconds:.0f} s")

    if not all(up_to_date(bins / n, f"{stamp_base}|{n}") for n in MAINS):
        say(f"► preparing the Kubernetes {versions.kubernetes} wrapper module (go mod tidy)")
        module, commit = kube_wrapper(work, versions)
        flags = kube_ldflags(versions, commit)
        for name in MAINS:
            ldflags = flags if name != "etcd" else "-s -w"
            step(name, f"k8s.io/kubernetes {versions.kubernetes}" if name != "etcd" else f"etcd {versions.etcd}",
                 partial(run_go, ["build", "-trimpath", "-p", "2", "-ldflags", ldflags, "-o", str(bins / name),
                                  f"./cmd/{name}"], cwd=module))
    step("kwok", f"sigs.k8s.io/kwok {versions.kwok}",
         lambda: _go_install(bins, work, f"sigs.k8s.io/kwok/cmd/kwok@{versions.kwok}", "kwok"))
    step("helm", f"{versions.helm_module} {versions.helm}",
         lambda: _go_install(bins, work, f"{versions.helm_module}/cmd/helm@{versions.helm}", "helm"))
    if not all(up_to_date(bins / c, f"{stamp_base}|{c}") for c in versions.flux.controllers):
        sources = flux_sources(work, versions)
        for controller, folder in sources.items():
            step(controller, f"github.com/fluxcd/{controller} {versions.flux.controllers[controller]}",
                 partial(run_go, ["build", "-trimpath", "-p", "2", "-ldflags", "-s -w", "-o", str(bins / controller),
                                  "."], cwd=folder))
    if not all(up_to_date(bins / n, inputs_of(n)) for n in clis):
        release = flux_release(work, versions, cache or cache_dir())
        for version in FLUX_CLI_VERSIONS:
            step(f"flux-{version}", f"github.com/fluxcd/flux2/v2 {version}",
                 partial(flux_cli, work, version, bins / f"flux-{version}",
                         release / "bundle" if version == versions.flux.version else None))
    seconds = round(time.monotonic() - started, 1)
    say(f"✔ built {len(built)} binaries in {seconds:.0f} s into {bins}")
    return {"seconds": seconds, "built": built, "bin": str(bins), "disk_bytes": disk_bytes(root)}


def flux_release(work: Path, versions: LocalVersions, cache: Path) -> Path:
    """The built release's real install manifests, assembled from flux2's and the controllers' modules."""
    out = assembled_release(versions, cache)
    if not (out / "install.yaml").exists():
        flux2 = Path(download(FLUX2, versions.flux.version, work=work)["Dir"])
        assembled.assemble(flux2, out, download=lambda module, tag: Path(download(module, tag, work=work)["Dir"]))
    return out


FLUX2 = "github.com/fluxcd/flux2/v2"


def flux_cli(work: Path, version: str, target: Path, bundle: Path | None) -> None:
    """The flux CLI at `version` with its embedded manifests from `bundle` (else from the sandbox's release)."""
    source = work / f"flux2@{version}"
    if not (source / "go.mod").exists():
        _module_copy(Path(download(FLUX2, version, work=work)["Dir"]), source)
    embedded = source / "cmd" / "flux" / "manifests"
    if embedded.exists():
        shutil.rmtree(embedded)
    if bundle is not None:
        shutil.copytree(bundle, embedded)
    else:
        assembled.bundle_from_objects(install_objects(version), embedded)
    run_go(["build", "-trimpath", "-p", "2", "-ldflags", f"-s -w -X main.VERSION={version.lstrip('v')}",
            "-o", str(target), "./cmd/flux"], cwd=source)


def _go_install(bins: Path, work: Path, package: str, name: str) -> None:
    """`go install <package>@<version>`: the module's own go.mod and go.sum, no replace directives."""
    env_bin = work / "gobin"
    env_bin.mkdir(exist_ok=True)
    done = subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", package],
                          cwd=work, env={**go_env(work), "GOBIN": str(env_bin), "GOFLAGS": "-buildvcs=false"},
                          capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise BuildError(f"go install {package} failed: {clip(done.stderr[-1500:], 1500)}")
    shutil.move(str(env_bin / name), bins / name)


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
