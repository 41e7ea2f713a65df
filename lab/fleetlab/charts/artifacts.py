"""The fleet's offline artifact store: a Helm repository and an OCI registry in FLEET_HOME/sandbox/artifacts,
which tests and users publish small charts and Flux artifacts to, and which the chart server
(fleetlab.charts.server) serves to the sandbox's controllers and, through its proxy, to the real
source-controller of a local cluster.

- Helm repository `http://charts.fleet.internal/`: `index.yaml` (apiVersion v1, entries with name, version,
  appVersion, digest, urls, created) and `<name>-<version>.tgz` archives, as `helm package` and
  `helm repo index` write them.
- OCI registry `registry.fleet.internal`: manifests and blobs (the distribution API, read side); Flux artifacts
  as `flux push artifact` makes them (config `application/vnd.cncf.flux.config.v1+json`, one layer
  `application/vnd.cncf.flux.content.v1.tar+gzip`) and Helm charts as `helm push` does
  (`application/vnd.cncf.helm.config.v1+json`, `application/vnd.cncf.helm.chart.content.v1.tar+gzip`).

Writes are atomic and serialised by a lock file, so a reader never sees half an index or a half-written blob.

    store = ArtifactStore(home)
    chart = store.publish_chart(Path("charts/podinfo"))          # -> ChartVersion(name, version, digest)
    digest = store.push_artifact(Path("deploy"), "fleet/apps", "v1")
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fleetlab.pki import file_lock
from fleetlib.errors import InputError
from fleetlib.files import write_atomic
from fleetlib.semver import SEMVER, parse_version

CHARTS_HOST = "charts.fleet.internal"
REGISTRY_HOST = "registry.fleet.internal"
CHARTS_URL = f"http://{CHARTS_HOST}/"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
MAX_CHART_BYTES = 4 * 1024 * 1024
"""Bigger than any chart a rehearsal needs; Flux's own default limit for a chart is larger, ours guards the disk."""


@dataclass(frozen=True)
class ChartVersion:
    name: str
    version: str
    digest: str
    url: str


DEMO_TEMPLATES = {
    "configmap.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n"
                       "  greeting: {{ .Values.greeting | quote }}\n"),
    "deployment.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
                        "  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n"
                        "      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n"
                        "        app: {{ .Release.Name }}\n    spec:\n      containers:\n        - name: app\n"
                        "          image: {{ .Values.image }}\n"),
}
BROKEN_TEMPLATES = {
    "deployment.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
                        "  template:\n    spec:\n      containers:\n        - name: app\n"
                        "          image: {{ .Values.image }}\n"),
}
"""A chart whose Deployment has no selector: the API server refuses it, so every install fails for real."""


def write_demo_chart(root: Path, name: str, version: str, templates: dict[str, str] | None = None) -> Path:
    """A small chart of fleetlib's own (a ConfigMap and a Deployment by default) in `root/<name>-<version>`."""
    folder = root / f"{name}-{version}"
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                       "appVersion": version, "description": f"{name}, a demo chart"}))
    (folder / "values.yaml").write_text(yaml.safe_dump({"greeting": "hello", "replicaCount": 1,
                                                        "image": "ghcr.io/fleetlib/demo:1.0.0"}))
    for filename, text in (templates or DEMO_TEMPLATES).items():
        (folder / "templates" / filename).write_text(text)
    return folder


def publish_demo_chart(store: ArtifactStore, name: str = "hello", version: str = "1.0.0", *, broken: bool = False
                       ) -> ChartVersion:
    """Publish one of fleetlib's demo charts to the fleet's Helm repository (idempotent)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fleet-chart-") as tmp:
        return store.publish_chart(write_demo_chart(Path(tmp), name, version, BROKEN_TEMPLATES if broken else None))


def artifacts_root(home: Path) -> Path:
    return home / "sandbox" / "artifacts"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _tar_gz(folder: Path, prefix: str) -> bytes:
    """A reproducible tar.gz of a folder (sorted entries, zero mtimes, no owners), entries under `prefix`."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(folder).as_posix()
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{prefix}{rel}" if prefix else rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_chart_meta(folder: Path) -> dict[str, Any]:
    """Chart.yaml of a chart folder, checked: apiVersion v2, a DNS-label name, a SemVer 2 version, templates."""
    chart_file = folder / "Chart.yaml"
    if not folder.is_dir() or not chart_file.is_file():
        raise InputError(f"{folder} is not a chart: it has no Chart.yaml",
                         hint="a chart is a folder with Chart.yaml, values.yaml and templates/")
    try:
        meta = yaml.safe_load(chart_file.read_text())
    except yaml.YAMLError as e:
        raise InputError(f"{chart_file}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{chart_file}: must be a mapping with apiVersion, name and version")
    if meta.get("apiVersion") != "v2":
        raise InputError(f"{chart_file}: apiVersion must be v2 (Helm 3 charts)", hint="set apiVersion: v2")
    name, version = str(meta.get("name", "")), str(meta.get("version", ""))
    if not _CHART_NAME.match(name) or len(name) > 63:
        raise InputError(f"{chart_file}: name {name!r} must be lower-case letters, digits and '-'")
    if not SEMVER.match(version):
        raise InputError(f"{chart_file}: version {version!r} is not SemVer 2 (such as 1.2.3)")
    return meta


class ArtifactStore:
    def __init__(self, home: Path) -> None:
        self.root = artifacts_root(home)

    @classmethod
    def beside(cls, github_root: Path) -> ArtifactStore:
        """The store of the sandbox whose GitHub lives in `github_root` (FLEET_HOME/sandbox/github)."""
        return cls(github_root.parent.parent)

    @property
    def charts(self) -> Path:
        return self.root / "charts"

    @property
    def oci(self) -> Path:
        return self.root / "oci"

    def _lock(self) -> Any:
        self.root.mkdir(parents=True, exist_ok=True)
        return file_lock(self.root / ".lock")

    # --- the Helm repository ------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        path = self.charts / "index.yaml"
        if not path.exists():
            return {"apiVersion": "v1", "entries": {}, "generated": _now()}
        data = yaml.safe_load(path.read_text()) or {}
        data.setdefault("entries", {})
        return data

    def publish_chart(self, folder: Path) -> ChartVersion:
        """Package a chart folder as `helm package` does and add it to the repository's index (idempotent for
        the same content; a different content under a published version is refused, as chart museums do)."""
        meta = read_chart_meta(folder)
        name, version = meta["name"], str(meta["version"])
        archive = _tar_gz(folder, f"{name}/")
        if len(archive) > MAX_CHART_BYTES:
            raise InputError(f"chart {name} {version} is {len(archive)} bytes packaged, over {MAX_CHART_BYTES}",
                             hint="leave large files out of the chart (.helmignore)")
        digest = hashlib.sha256(archive).hexdigest()
        filename = f"{name}-{version}.tgz"
        with self._lock():
            index = self.index()
            for entry in index["entries"].get(name, []):
                if str(entry.get("version")) == version:
                    if entry.get("digest") != digest:
                        raise InputError(f"chart {name} {version} is already published with other content",
                                         hint="bump the chart's version in Chart.yaml")
                    return ChartVersion(name, version, digest, f"{CHARTS_URL}{filename}")
            self.charts.mkdir(parents=True, exist_ok=True)
            write_atomic(self.charts / filename, archive)
            entry = {k: v for k, v in meta.items() if k in ("apiVersion", "name", "version", "appVersion",
                                                             "description", "type", "kubeVersion")}
            entry.update({"created": _now(), "digest": digest, "urls": [filename]})
            entries = [e for e in index["entries"].get(name, []) if str(e.get("version")) != version] + [entry]
            entries.sort(key=lambda e: parse_version(str(e.get("version"))) or (0, 0, 0, ()), reverse=True)
            index["entries"][name] = entries
            index["generated"] = _now()
            write_atomic(self.charts / "index.yaml", yaml.safe_dump(index, sort_keys=True))
        return ChartVersion(name, version, digest, f"{CHARTS_URL}{filename}")

    def chart_archive(self, filename: str) -> bytes | None:
        if "/" in filename or filename.startswith(".") or not filename.endswith(".tgz"):
            return None
        path = self.charts / filename
        return path.read_bytes() if path.is_file() else None

    # --- the OCI registry ---------------------------------------------------------------------------

    def _put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.oci / "blobs" / "sha256" / digest.split(":", 1)[1]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        return digest

    def blob(self, digest: str) -> bytes | None:
        m = re.match(r"^sha256:([0-9a-f]{64})$", digest)
        if not m:
            return None
        path = self.oci / "blobs" / "sha256" / m.group(1)
        return path.read_bytes() if path.is_file() else None

    def push_artifact(self, folder: Path, repository: str, tag: str, *, source: str = "", revision: str = "") -> str:
        """A folder as `flux push artifact` makes it; returns the manifest digest."""
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder", hint="push the folder holding the manifests")
        return self._push(repository, tag, b"{}", FLUX_CONFIG, _tar_gz(folder, ""), FLUX_CONTENT,
                          {"org.opencontainers.image.created": _now(),
                           **({"org.opencontainers.image.source": source} if source else {}),
                           **({"org.opencontainers.image.revision": revision} if revision else {})})

    def push_chart(self, folder: Path, repository: str) -> tuple[str, str]:
        """A chart as `helm push` stores it (tag = chart version); returns (tag, manifest digest)."""
        meta = read_chart_meta(folder)
        config = json.dumps({k: v for k, v in meta.items() if k != "dependencies"}, sort_keys=True).encode()
        version = str(meta["version"])
        digest = self._push(repository, version.replace("+", "_"), config, HELM_CONFIG,
                            _tar_gz(folder, f"{meta['name']}/"), HELM_CONTENT,
                            {"org.opencontainers.image.title": meta["name"],
                             "org.opencontainers.image.version": version, "org.opencontainers.image.created": _now()})
        return version, digest

    def _push(self, repository: str, tag: str, config: bytes, config_type: str, layer: bytes, layer_type: str,
              annotations: dict[str, str]) -> str:
        if not _REPOSITORY.match(repository) or len(repository) > 255:
            raise InputError(f"OCI repository name {repository!r} is not valid",
                             hint="lower-case path components such as fleet/apps")
        if not _TAG.match(tag):
            raise InputError(f"OCI tag {tag!r} is not valid", hint="letters, digits, '.', '_' and '-'")
        with self._lock():
            config_digest, layer_digest = self._put_blob(config), self._put_blob(layer)
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": len(layer)}],
                "annotations": annotations}, separators=(",", ":")).encode()
            digest = self._put_blob(manifest)
            tags = self.oci / "repositories" / repository / "tags"
            tags.mkdir(parents=True, exist_ok=True)
            write_atomic(tags / tag, digest)
        return digest

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        """(manifest bytes, digest) of a tag or digest in a repository."""
        if not _REPOSITORY.match(repository):
            return None
        if reference.startswith("sha256:"):
            data = self.blob(reference)
            known = self.oci / "repositories" / repository / "tags"
            if data is None or not known.is_dir() or not any(p.read_text() == reference for p in known.iterdir()):
                return None
            return data, reference
        if not _TAG.match(reference):
            return None
        path = self.oci / "repositories" / repository / "tags" / reference
        if not path.is_file():
            return None
        digest = path.read_text().strip()
        data = self.blob(digest)
        return (data, digest) if data is not None else None

    def tags(self, repository: str) -> list[str] | None:
        path = self.oci / "repositories" / repository / "tags"
        if not _REPOSITORY.match(repository) or not path.is_dir():
            return None
        return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


