"""Helm repositories and OCI registries as source-controller reaches them (through the target's HTTP proxy:
the stand-ins' chart server; direct for live): which versions a repository's index offers for a chart, and
whether an OCI artifact's tag exists. What the add-app runbook checks before it pushes anything.

    versions = chart_versions("http://charts.fleet.internal/", "hello", proxy=where.http_proxy)
    oci_tag_exists("oci://registry.fleet.internal/charts/hello", "0.1.0", insecure=True, proxy=where.http_proxy)
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import yaml

from fleetlib.errors import InputError, clip
from fleetlib.semver import resolve_version

_OCI_URL = re.compile(r"^oci://(?P<host>[^/]+)/(?P<repo>[a-z0-9][a-z0-9._/-]*)$")
MAX_INDEX_BYTES = 32 * 1024 * 1024


def _opener(proxy: str | None) -> urllib.request.OpenerDirector:
    handlers = [urllib.request.ProxyHandler({"http": proxy, "https": proxy})] if proxy else []
    return urllib.request.build_opener(*handlers)


def _get(url: str, *, proxy: str | None, accept: str | None = None) -> bytes | None:
    """The body of a GET, None on 404; InputError naming the URL when it cannot be reached."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with _opener(proxy).open(request, timeout=30) as response:
            return bytes(response.read(MAX_INDEX_BYTES))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise InputError(f"{url} answered {e.code} {e.reason}", hint="check the URL and that the repository is "
                                                                     "reachable from the cluster") from None
    except (urllib.error.URLError, OSError) as e:
        raise InputError(f"{url} cannot be reached: {clip(str(getattr(e, 'reason', e)), 200)}",
                         hint="check the URL (and, offline, that the chart server serves it)") from None


def chart_versions(repo_url: str, chart: str, *, proxy: str | None) -> list[str]:
    """The versions the repository's index.yaml offers for `chart` ([] when it has no such chart)."""
    return [str(e.get("version")) for e in _entries(repo_url, chart, proxy=proxy)]


def chart_archive(repo_url: str, chart: str, constraint: str, *, proxy: str | None) -> tuple[str, bytes]:
    """The newest version of `chart` matching the constraint, and its packaged chart (as source-controller pulls
    it: the index entry's first URL, relative to the repository); InputError when there is none."""
    entries = _entries(repo_url, chart, proxy=proxy)
    try:
        version = resolve_version(constraint, [str(e.get("version")) for e in entries])
    except ValueError as e:
        raise InputError(f"chart {chart} version {constraint!r}: {e}", hint="fix the HelmRelease's version") from None
    entry = next((e for e in entries if str(e.get("version")) == version), None)
    urls = (entry or {}).get("urls") or []
    if version is None or not urls:
        raise InputError(f"{repo_url} has no chart {chart} matching {constraint!r}", hint="publish it, or fix the "
                                                                                          "HelmRelease's version")
    body = _get(urllib.parse.urljoin(repo_url.rstrip("/") + "/", str(urls[0])), proxy=proxy)
    if body is None:
        raise InputError(f"{repo_url}: chart {chart}-{version}'s archive is missing", hint="republish the chart")
    return version, body


def _entries(repo_url: str, chart: str, *, proxy: str | None) -> list[dict[str, Any]]:
    index_url = repo_url.rstrip("/") + "/index.yaml"
    body = _get(index_url, proxy=proxy)
    if body is None:
        raise InputError(f"{index_url} does not exist", hint="the url must be a Helm repository (it serves index.yaml)")
    try:
        index = yaml.safe_load(body)
    except yaml.YAMLError:
        index = None
    if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
        raise InputError(f"{index_url} is not a Helm repository index", hint="check the url")
    entries = index["entries"].get(chart) or []
    return [e for e in entries if isinstance(e, dict) and e.get("version")]


def oci_tag_exists(url: str, tag: str, *, insecure: bool, proxy: str | None) -> bool:
    """Whether the registry has the artifact `url` at `tag` (GET /v2/<repo>/manifests/<tag>)."""
    m = _OCI_URL.match(url)
    if not m:
        raise InputError(f"{url!r} is not oci://<host>/<repository>", hint="e.g. oci://ghcr.io/org/charts/app")
    scheme = "http" if insecure else "https"
    manifest = f"{scheme}://{m['host']}/v2/{m['repo']}/manifests/{tag}"
    return _get(manifest, proxy=proxy, accept="application/vnd.oci.image.manifest.v1+json") is not None
