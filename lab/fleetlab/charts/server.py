"""The chart server: the artifact store (fleetlab.charts.artifacts) over HTTP, for two host names only.

- `charts.fleet.internal`: the Helm repository (`GET /index.yaml`, `GET /<name>-<version>.tgz`);
- `registry.fleet.internal`: the OCI distribution API, read side (`GET /v2/`, manifests by tag or digest,
  blobs, tag lists; HEAD too), as source-controller's OCI client and `helm pull` use it.

It answers requests addressed to it directly (the Host header names the host) and requests sent to it as an
HTTP proxy (absolute-form `GET http://charts.fleet.internal/index.yaml`), so the real source-controller of a
local cluster reaches it with `HTTP_PROXY` while every other host it asks for is refused with 403, as an
offline network would refuse it. CONNECT (HTTPS through the proxy) is refused too.

    server = ChartServer(("127.0.0.1", 0), ArtifactStore(home)); threading.Thread(target=server.serve_forever).start()
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from fleetlab.charts.artifacts import (
    CHARTS_HOST,
    OCI_MANIFEST,
    REGISTRY_HOST,
    ArtifactStore,
)
from fleetlab.httpbase import LocalServer, VerbHandler

_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_TAGS = re.compile(r"^/v2/(?P<repo>.+)/tags/list$")


class ChartServer(LocalServer):
    def __init__(self, address: tuple[str, int], store: ArtifactStore) -> None:
        super().__init__(address, ChartHandler)
        self.store = store

    @property
    def proxy_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class ChartHandler(VerbHandler):
    server: ChartServer

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_CONNECT(self) -> None:
        self._send(403, b"fleetlib chart server: HTTPS through this proxy is not served (no network)\n",
                   "text/plain")

    def _dispatch(self, method: str) -> None:
        target = urlsplit(self.path)
        host = (target.hostname or self.headers.get("Host", "").rsplit(":", 1)[0]).lower()
        path = target.path or "/"
        if method not in ("GET", "HEAD"):
            self._send(405, b"method not allowed\n", "text/plain", head=method == "HEAD")
            return
        if host == CHARTS_HOST:
            self._helm(path, head=method == "HEAD")
        elif host == REGISTRY_HOST:
            self._oci(path, head=method == "HEAD")
        else:
            self._send(403, f"fleetlib chart server: {host or 'this host'} is not reachable from here (offline); "
                            f"only {CHARTS_HOST} and {REGISTRY_HOST} are served\n".encode(), "text/plain",
                       head=method == "HEAD")

    def _helm(self, path: str, *, head: bool) -> None:
        store = self.server.store
        if path in ("/index.yaml", "/index.yml"):
            index = store.charts / "index.yaml"
            if not index.is_file():
                self._send(404, b"404 page not found\n", "text/plain", head=head)
                return
            self._send(200, index.read_bytes(), "application/x-yaml", head=head)
            return
        data = store.chart_archive(path.lstrip("/"))
        if data is None:
            self._send(404, b"404 page not found\n", "text/plain", head=head)
            return
        self._send(200, data, "application/x-tar", head=head)

    def _oci(self, path: str, *, head: bool) -> None:
        store = self.server.store
        if path in ("/v2", "/v2/"):
            self._send(200, b"{}", "application/json", head=head)
            return
        m = _MANIFEST.match(path)
        if m:
            found = store.manifest(m["repo"], m["ref"])
            if found is None:
                self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {m['repo']}:{m['ref']}", head=head)
                return
            data, digest = found
            self._send(200, data, OCI_MANIFEST, head=head, extra={"Docker-Content-Digest": digest})
            return
        m = _BLOB.match(path)
        if m:
            blob = store.blob(m["digest"])
            if blob is None:
                self._error(404, "BLOB_UNKNOWN", f"blob unknown: {m['digest']}", head=head)
                return
            self._send(200, blob, "application/octet-stream", head=head, extra={"Docker-Content-Digest": m["digest"]})
            return
        m = _TAGS.match(path)
        if m:
            tags = store.tags(m["repo"])
            if tags is None:
                self._error(404, "NAME_UNKNOWN", f"repository name not known to registry: {m['repo']}", head=head)
                return
            self._send(200, json.dumps({"name": m["repo"], "tags": tags}).encode(), "application/json", head=head)
            return
        self._error(404, "NAME_UNKNOWN", "not found", head=head)

    def _error(self, code: int, kind: str, message: str, *, head: bool) -> None:
        body = json.dumps({"errors": [{"code": kind, "message": message}]}).encode()
        self._send(code, body, "application/json", head=head)

    def _send(self, code: int, body: bytes, content_type: str, *, head: bool = False,
              extra: dict[str, Any] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if not head:
            self.wfile.write(body)
