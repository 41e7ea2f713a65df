"""source-controller's HTTP sources: HelmRepository (index), HelmChart (a chart version pulled from a
HelmRepository) and OCIRepository (an artifact pulled from an OCI registry). Everything is fetched for real,
over HTTP through the chart server acting as the cluster's proxy: charts.fleet.internal and
registry.fleet.internal answer, any other host is refused as an offline network refuses it. Conditions,
messages, events and artifact paths are source-controller's (v1.5-v1.9).

    HelmSources(runtime).step()     # called by SourceController.step
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from fleetlab.charts.artifacts import HELM_CONTENT
from fleetlab.flux.conditions import (
    READY,
    RECONCILING,
    STALLED,
    drop_condition,
    set_condition,
)
from fleetlab.flux.runtime import Runtime
from fleetlab.flux.schedule import Schedule, interval_of
from fleetlib.files import make_private_tree, write_atomic
from fleetlib.objects import spec_of, status_of
from fleetlib.semver import resolve_version

COMPONENT = "source-controller"
STORAGE = "http://source-controller.flux-system.svc.cluster.local."
_OCI_URL = re.compile(r"^oci://(?P<host>[^/]+)/(?P<repo>[a-z0-9._/-]+)$")


class FetchError(Exception):
    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason, self.message, self.stalled = reason, message, stalled


_CHART_KEYS = ("name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion",
               "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type",
               "urls", "created", "removed", "digest")
"""helm's repo.ChartVersion (chart.Metadata, then urls, created, removed, digest) in its Go field order."""


def _go_time(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if text.endswith("+00:00") else text
    return value


def index_json(index: dict[str, Any]) -> bytes:
    """A loaded Helm repository index as source-controller stores it: json.MarshalIndent of helm's IndexFile
    (apiVersion, generated, entries with each version's fields in Go order, empty ones omitted)."""
    def version(entry: dict[str, Any]) -> dict[str, Any]:
        out = {k: _go_time(entry[k]) for k in _CHART_KEYS if entry.get(k) not in (None, "", [], {}, False)}
        out.setdefault("urls", entry.get("urls"))
        out.setdefault("created", "0001-01-01T00:00:00Z")
        return out
    doc: dict[str, Any] = {"apiVersion": index.get("apiVersion"), "generated": _go_time(index.get("generated")),
                           "entries": {name: [version(v) for v in versions if isinstance(v, dict)]
                                       for name, versions in sorted((index.get("entries") or {}).items())}}
    for key in ("publicKeys", "annotations"):
        if index.get(key):
            doc[key] = index[key]
    return json.dumps(doc, indent=2, default=str, ensure_ascii=False).encode()


def human_size(size: float) -> str:
    """docker/go-units HumanSize: four significant digits, decimal units (1198 -> '1.198kB')."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    text = f"{size:.4g}"
    return f"{text}{units[i]}"


class HelmSources:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.schedule = Schedule(rt)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": rt.proxy, "https": rt.proxy} if rt.proxy else {}))
        self._chart_seen: dict[str, str | None] = {}
        """HelmChart uid -> the HelmRepository artifact revision it was last resolved against."""

    def step(self) -> None:
        for kind, reconcile in (("HelmRepository", self.reconcile_repository), ("OCIRepository", self.reconcile_oci),
                                ("HelmChart", self.reconcile_chart)):
            guarded = self.rt.guarded(COMPONENT, reconcile)
            for obj in self.rt.valid(kind, COMPONENT):
                if self.schedule.due(obj) or (kind == "HelmChart" and self._chart_source_moved(obj)):
                    guarded(obj)

    # --- HelmRepository -------------------------------------------------------------------------------

    def reconcile_repository(self, repo: dict[str, Any]) -> None:
        meta, spec, status = repo["metadata"], repo.get("spec") or {}, dict(status_of(repo))
        if spec.get("suspend"):
            return
        url = str(spec.get("url") or "")
        if spec.get("type") == "oci":
            self._ready(repo, status, "Succeeded", "Helm repository is Ready", artifact=None)
            return
        index_url = url.rstrip("/") + "/index.yaml"
        try:
            try:
                data, _ = fetch(self.opener, index_url)
            except FetchError as e:  # helm's getter names the URL for an HTTP status; net/http's error names it itself
                said = e.message if e.message.startswith('Get "') else f"failed to fetch {index_url} : {e.message}"
                raise FetchError("Failed", "failed to fetch Helm repository index: failed to cache index to temporary "
                                           f"file: {said}") from None
            try:
                index = yaml.safe_load(data)
                if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
                    raise ValueError("no API version specified")
            except (yaml.YAMLError, ValueError) as e:
                raise FetchError("Failed", f"failed to fetch Helm repository index: failed to load index: {e}") from None
        except FetchError as failure:
            self._fail(repo, status, failure, reconciling="building artifact")
            return
        revision = hashlib.sha256(data).hexdigest()  # of the index as fetched (ChartRepository.Digest)
        stored = index_json(index)  # what is stored: the loaded index as JSON (ChartRepository.ToJSON)
        rel = f"helmrepository/{meta['namespace']}/{meta['name']}/index-{revision}.yaml"
        store(self.rt.artifacts, rel, stored)
        artifact = {"digest": f"sha256:{hashlib.sha256(stored).hexdigest()}", "revision": f"sha256:{revision}",
                    "size": len(stored), "path": rel, "url": f"{STORAGE}/{rel}", "lastUpdateTime": self.rt.stamp()}
        old = (status.get("artifact") or {}).get("revision")
        if old == artifact["revision"]:
            artifact["lastUpdateTime"] = status["artifact"].get("lastUpdateTime", artifact["lastUpdateTime"])
            self.rt.trace(repo, "ArtifactUpToDate",
                          f"artifact up-to-date with remote revision: '{artifact['revision']}'", COMPONENT)
        else:
            message = f"stored fetched index of size {human_size(len(stored))} from '{url}'"
            self.rt.event(repo, "Normal", "NewArtifact", message, COMPONENT,
                          annotations={"source.toolkit.fluxcd.io/revision": str(artifact["revision"])})
            self.rt.log(COMPONENT, "info", message, repo)
        status["url"] = f"{STORAGE}/helmrepository/{meta['namespace']}/{meta['name']}/index.yaml"
        self._ready(repo, status, "Succeeded", f"stored artifact: revision '{artifact['revision']}'", artifact=artifact)

    # --- HelmChart ------------------------------------------------------------------------------------

    def _chart_source_moved(self, chart: dict[str, Any]) -> bool:
        """The watch on a chart's HelmRepository: a new index revision re-resolves the chart."""
        src = spec_of(chart).get("sourceRef") or {}
        repo = self.rt.get(str(src.get("kind") or "HelmRepository"), chart["metadata"]["namespace"],
                           str(src.get("name", "")))
        revision = (status_of(repo).get("artifact") or {}).get("revision")
        key = chart["metadata"]["uid"]
        moved = bool(revision) and self._chart_seen.get(key) not in (None, revision)
        return moved

    def reconcile_chart(self, chart: dict[str, Any]) -> None:
        meta, spec, status = chart["metadata"], chart.get("spec") or {}, dict(status_of(chart))
        if spec.get("suspend"):
            return
        src = spec.get("sourceRef") or {}
        name, constraint = str(spec.get("chart", "")), str(spec.get("version") or "*")
        repo = self.rt.get(str(src.get("kind") or "HelmRepository"), meta["namespace"], str(src.get("name", "")))
        repo_artifact = status_of(repo).get("artifact")
        self._chart_seen[meta["uid"]] = (repo_artifact or {}).get("revision")
        try:
            if repo is None:
                raise FetchError("SourceUnavailable", f"failed to get source: HelmRepository.source.toolkit.fluxcd.io "
                                                      f"\"{src.get('name')}\" not found")
            if not repo_artifact and spec_of(repo).get("type") == "oci":
                raise FetchError("SourceUnavailable", f"failed to get source: HelmRepository '{meta['namespace']}/"
                                                      f"{src.get('name')}' is not ready: no artifact")
            if not repo_artifact:
                raise FetchError("NoSourceArtifact", f"no artifact available for {src.get('kind') or 'HelmRepository'} "
                                                     f"source '{src.get('name')}'")
            index = yaml.safe_load((self.rt.artifacts / repo_artifact["path"]).read_bytes()) or {}
            entries = (index.get("entries") or {}).get(name)
            prefix = "invalid chart reference: failed to get chart version for remote reference"
            if not entries:
                raise FetchError("InvalidChartReference", f"{prefix}: no chart name found", stalled=True)
            try:
                version = resolve_version(constraint, [str(e.get("version")) for e in entries])
            except ValueError as e:
                raise FetchError("InvalidChartReference", f"{prefix}: {e}", stalled=True) from None
            if version is None:
                raise FetchError("InvalidChartReference",
                                 f"{prefix}: no '{name}' chart with version matching '{constraint}' found", stalled=True)
            entry = next(e for e in entries if str(e.get("version")) == version)
            chart_url = str((entry.get("urls") or [""])[0])
            if "://" not in chart_url:
                chart_url = str(spec_of(repo).get("url", "")).rstrip("/") + "/" + chart_url
            try:
                data, _ = fetch(self.opener, chart_url)
            except FetchError as e:
                raise FetchError("ChartPullError", f"chart pull error: failed to download chart for remote reference: "
                                                   f"failed to fetch {chart_url} : {e.message}") from None
        except FetchError as failure:
            self._fail(chart, status, failure, reconciling=None if failure.stalled else "building artifact")
            return
        rel = f"helmchart/{meta['namespace']}/{meta['name']}/{name}-{version}.tgz"
        store(self.rt.artifacts, rel, data)
        digest = hashlib.sha256(data).hexdigest()
        artifact = {"digest": f"sha256:{digest}", "revision": version, "size": len(data), "path": rel,
                    "url": f"{STORAGE}/{rel}", "lastUpdateTime": self.rt.stamp()}
        message = f"pulled '{name}' chart with version '{version}'"
        old = status.get("artifact") or {}
        if old.get("revision") == version and old.get("digest") == artifact["digest"]:
            artifact["lastUpdateTime"] = old.get("lastUpdateTime", artifact["lastUpdateTime"])
        else:
            self.rt.event(chart, "Normal", "ChartPullSucceeded", message, COMPONENT,
                          annotations={"source.toolkit.fluxcd.io/revision": version})
            self.rt.log(COMPONENT, "info", message, chart)
        status["observedChartName"] = name
        status["observedSourceArtifactRevision"] = repo_artifact["revision"]
        self._ready(chart, status, "ChartPullSucceeded", message, artifact=artifact)

    # --- OCIRepository --------------------------------------------------------------------------------

    def reconcile_oci(self, repo: dict[str, Any]) -> None:
        meta, spec, status = repo["metadata"], repo.get("spec") or {}, dict(status_of(repo))
        if spec.get("suspend"):
            return
        url = str(spec.get("url") or "")
        ref = spec.get("ref") or {}
        try:
            m = _OCI_URL.match(url)
            if not m:
                raise FetchError("URLInvalid", f"URL must be in format 'oci://<domain>/<org>/<repo>': {url}",
                                 stalled=True)
            scheme = "http" if spec.get("insecure") else "https"
            base = f"{scheme}://{m['host']}/v2/{m['repo']}"
            tag = str(ref.get("tag") or "latest")
            reference = ref.get("digest") or tag
            try:
                manifest_bytes, headers = fetch(self.opener, f"{base}/manifests/{reference}",
                                                     accept="application/vnd.oci.image.manifest.v1+json")
            except FetchError as e:
                raise FetchError("OCIArtifactPullFailed", f"failed to determine artifact digest: GET {base}/manifests/"
                                                          f"{reference}: {e.message}") from None
            digest = headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
            manifest = json.loads(manifest_bytes)
            layers = manifest.get("layers") or []
            selector = spec.get("layerSelector") or {}
            wanted = selector.get("mediaType")
            layer = next((layer for layer in layers if not wanted or layer.get("mediaType") == wanted), None)
            if layer is None:
                raise FetchError("OCIArtifactLayerOperationFailed", "failed to find layer with media type "
                                 f"'{wanted}' in artifact")
            try:
                blob, _ = fetch(self.opener, f"{base}/blobs/{layer['digest']}")
            except FetchError as e:
                raise FetchError("OCIArtifactPullFailed", f"failed to pull artifact from '{url}': {e.message}") from None
        except (FetchError, ValueError) as failure:
            if not isinstance(failure, FetchError):
                failure = FetchError("OCIArtifactPullFailed", f"failed to parse artifact manifest: {failure}")
            self._fail(repo, status, failure, reconciling=None if failure.stalled else "building artifact")
            return
        revision = f"{ref.get('tag') or 'latest'}@{digest}" if not ref.get("digest") else digest
        rel = f"ocirepository/{meta['namespace']}/{meta['name']}/{digest}.tar.gz"
        annotations = manifest.get("annotations") or {}
        if selector.get("operation") == "copy" or layer.get("mediaType") == HELM_CONTENT and selector:
            store(self.rt.artifacts, rel, blob)
        else:
            extract(self.rt.artifacts, rel, blob)
        artifact = {"digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "revision": revision, "size": len(blob),
                    "path": rel, "url": f"{STORAGE}/{rel}", "lastUpdateTime": self.rt.stamp(),
                    **({"metadata": annotations} if annotations else {})}
        old = status.get("artifact") or {}
        if old.get("revision") == revision:
            artifact["lastUpdateTime"] = old.get("lastUpdateTime", artifact["lastUpdateTime"])
        else:
            message = f"stored artifact with revision '{revision}' from '{url}'"
            if annotations.get("org.opencontainers.image.source"):
                message += f", origin source '{annotations['org.opencontainers.image.source']}'"
            if annotations.get("org.opencontainers.image.revision"):
                message += f", origin revision '{annotations['org.opencontainers.image.revision']}'"
            self.rt.event(repo, "Normal", "NewArtifact", message, COMPONENT,
                          annotations={"source.toolkit.fluxcd.io/revision": revision})
            self.rt.log(COMPONENT, "info", message, repo)
        status["url"] = f"{STORAGE}/ocirepository/{meta['namespace']}/{meta['name']}/latest.tar.gz"
        self._ready(repo, status, "Succeeded", f"stored artifact for digest '{revision}'", artifact=artifact)

    # --- status -------------------------------------------------------------------------------------

    def _ready(self, obj: dict[str, Any], status: dict[str, Any], reason: str, message: str,
               artifact: dict[str, Any] | None) -> None:
        stamp, generation = self.rt.stamp(), obj["metadata"].get("generation", 1)
        conds = status.get("conditions")
        for kind in (RECONCILING, STALLED, "FetchFailed", "BuildFailed", "StorageOperationFailed"):
            conds = drop_condition(conds, kind)
        if artifact is not None:
            conds = set_condition(conds, "ArtifactInStorage", "True", reason, message, now=stamp, generation=generation)
            status["artifact"] = artifact
        conds = set_condition(conds, READY, "True", reason, message, now=stamp, generation=generation)
        status.update({"conditions": conds, "observedGeneration": generation})
        if self.schedule.requested(obj):
            status["lastHandledReconcileAt"] = self.schedule.requested(obj)
        self.rt.patch_status(obj, status, COMPONENT)
        self.schedule.done(obj)

    def _fail(self, obj: dict[str, Any], status: dict[str, Any], failure: FetchError, *,
              reconciling: str | None) -> None:
        stamp, generation = self.rt.stamp(), obj["metadata"].get("generation", 1)
        conds = set_condition(status.get("conditions"), "FetchFailed", "True", failure.reason, failure.message,
                              now=stamp, generation=generation)
        conds = set_condition(conds, READY, "False", failure.reason, failure.message, now=stamp, generation=generation)
        if failure.stalled:
            conds = set_condition(drop_condition(conds, RECONCILING), STALLED, "True", failure.reason,
                                  failure.message, now=stamp, generation=generation)
            status["observedGeneration"] = generation
        elif reconciling:
            conds = set_condition(conds, RECONCILING, "True", "ProgressingWithRetry", reconciling, now=stamp,
                                  generation=generation)
            status.setdefault("observedGeneration", -1)
        status["conditions"] = conds
        if self.schedule.requested(obj):
            status["lastHandledReconcileAt"] = self.schedule.requested(obj)
        self.rt.patch_status(obj, status, COMPONENT)
        if failure.reason == "NoSourceArtifact":  # not an error: a requeue, and an event of type trace (Normal)
            self.rt.event(obj, "Normal", failure.reason, failure.message, COMPONENT)
        else:
            self.rt.event(obj, "Warning", failure.reason, failure.message, COMPONENT)
            self.rt.log(COMPONENT, "error", "Reconciler error", obj, error=failure.message)
        self.schedule.done(obj, failed=True, retry=1e9 if failure.stalled else self.schedule.backoff(obj, COMPONENT))


def chart_artifact_file(rt: Runtime, artifact: dict[str, Any]) -> Path:
    return rt.artifacts / str(artifact.get("path", ""))


__all__ = ["HelmSources", "FetchError", "human_size", "chart_artifact_file", "interval_of"]


# --- HTTP and artifacts -----------------------------------------------------------------------------


def fetch(opener: urllib.request.OpenerDirector, url: str, *, accept: str | None = None,
          limit: int = 64 * 1024 * 1024) -> tuple[bytes, dict[str, str]]:
    """GET through source-controller's proxy; FetchError worded as the controller's for a refusal or no answer."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.read(limit), dict(response.headers.items())
    except urllib.error.HTTPError as e:
        raise FetchError("Failed", f"{e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError("Failed", f"Get \"{url}\": {go_wording(reason)}") from None


def go_wording(reason: object) -> str:
    """Python's words for a failed request as Go's net/http says them: a proxy refusing a CONNECT (`Tunnel
    connection failed: 403 Forbidden`) is `Forbidden`, the status text of the proxy's answer."""
    text = str(reason)
    m = re.match(r"Tunnel connection failed: (\d{3}) (.+)$", text)
    return m.group(2) if m else text


def store(artifacts: Path, rel: str, data: bytes) -> None:
    """An artifact where the controllers read them (private to the user)."""
    write_atomic(artifacts / rel, data)


def extract(artifacts: Path, rel: str, blob: bytes) -> None:
    """Unpack a Flux content layer where the kustomize-controller reads artifacts (and keep the tarball)."""
    folder = artifacts / rel.removesuffix(".tar.gz")
    store(artifacts, rel, blob)
    if folder.exists():
        return
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            tar.extractall(tmp, filter="data")
    except (OSError, tarfile.TarError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError("OCIArtifactLayerOperationFailed", f"failed to extract layer contents from artifact: {e}") \
            from None
    make_private_tree(tmp)
    tmp.rename(folder)
