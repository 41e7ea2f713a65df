"""The Kubernetes API over HTTPS: routing, bearer-token auth, discovery, watch and log streams.

One server serves every sandbox cluster under a path prefix (`/clusters/<stage>/<cluster>`), which
kubectl and the official client keep from the kubeconfig's server URL. Requests map onto
`ClusterApi`; every failure answers a `Status` object.

    server = KubeServer(("127.0.0.1", 0), clusters, token=pki.token(), tls=pki.server_context())
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fleetlib.sandbox.apiserver import KUBERNETES_VERSION, ApiError, ClusterApi
from fleetlib.sandbox.httpbase import LocalServer, VerbHandler
from fleetlib.sandbox.openapi import openapi_v2, openapi_v3_group, openapi_v3_index
from fleetlib.sandbox.registry import ResourceType

log = logging.getLogger(__name__)

PREFIX = "clusters"
WATCH_DEFAULT_TIMEOUT = 1800.0
FOLLOW_LIMIT = 3600.0


@dataclass
class Response:
    code: int
    body: bytes = b""
    content_type: str = "application/json"
    stream: Iterator[bytes] | None = None


def json_response(code: int, obj: Any) -> Response:
    return Response(code, json.dumps(obj, separators=(",", ":")).encode())


def raw_json(code: int, text: str) -> Response:
    return Response(code, text.encode())


def error_response(err: ApiError) -> Response:
    return json_response(err.code, err.status())


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


RequestHook = Callable[["KubeHandler", ClusterApi, str], "Response | None"]
"""Called before each request for a cluster (the fault layer uses it); a Response short-circuits."""


class KubeServer(LocalServer):
    def __init__(self, address: tuple[str, int], clusters: Mapping[tuple[str, str], ClusterApi], *, token: str,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(address, KubeHandler)
        self.clusters = dict(clusters)
        self.token = token
        self.tls = tls
        self.hooks: list[RequestHook] = []
        self.requests = 0
        self._count_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def count(self) -> None:
        with self._count_lock:
            self.requests += 1


class KubeHandler(VerbHandler):
    server: KubeServer
    server_version = "fleetlib-sandbox"

    def handle(self) -> None:
        try:
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as e:
            log.debug("connection closed: %s", e)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, resp: Response) -> None:
        if resp.stream is not None:
            self.send_response(resp.code)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            try:
                for chunk in resp.stream:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True
            return
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(resp.body)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.server.token.encode())

    def _dispatch(self, method: str) -> None:
        self.server.count()
        body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if not self._authorized():
            self._send(json_response(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                           "message": "Unauthorized", "reason": "Unauthorized", "code": 401}))
            return
        if len(parts) < 3 or parts[0] != PREFIX or (parts[1], parts[2]) not in self.server.clusters:
            self._send(error_response(_not_found_path()))
            return
        api = self.server.clusters[(parts[1], parts[2])]
        path = "/" + "/".join(parts[3:])
        for hook in self.server.hooks:
            early = hook(self, api, path)
            if early is not None:
                self._send(early)
                return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            resp = route(api, method, parts[3:], query, body, self.headers, prefix="/" + "/".join(parts[:3]),
                         host=self.server.server_address)
        except ApiError as e:
            resp = error_response(e)
        except Exception as e:  # the server never dies on one request; the client gets a 500 Status
            log.exception("sandbox API error on %s %s", method, self.path)
            resp = error_response(ApiError(500, "InternalError", f"sandbox: {type(e).__name__}: {str(e)[:300]}"))
        self._send(resp)


def _manager(query: Mapping[str, str], headers: Any) -> str:
    if query.get("fieldManager"):
        return query["fieldManager"]
    agent = str(headers.get("User-Agent") or "unknown")
    return agent.split("/")[0].split(" ")[0] or "unknown"


def _decode(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body or b"{}")
    except ValueError as e:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {str(e)[:200]}") from e
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be an object")
    return obj


def route(api: ClusterApi, method: str, parts: list[str], query: Mapping[str, str], body: bytes, headers: Any, *,
          prefix: str, host: Any) -> Response:
    reg = api.registry()
    if not parts:
        return json_response(200, {"paths": ["/api", "/api/v1", "/apis", "/version", "/openapi/v2", "/openapi/v3"]})
    head = parts[0]
    if head == "version":
        return json_response(200, KUBERNETES_VERSION)
    if head in ("healthz", "readyz", "livez"):
        return Response(200, b"ok", "text/plain; charset=utf-8")
    if head == "openapi":
        if parts[1:] == ["v2"]:
            return json_response(200, openapi_v2(reg))
        if parts[1:] == ["v3"]:
            return json_response(200, openapi_v3_index(reg, prefix))
        doc = openapi_v3_group(reg, "/".join(parts[2:]))
        return json_response(200, doc) if doc is not None else error_response(_not_found_path())
    if head == "api" and len(parts) == 1:
        return json_response(200, reg.api_versions(f"{host[0]}:{host[1]}"))
    if head == "apis" and len(parts) == 1:
        return json_response(200, reg.api_group_list())
    if head == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif head == "apis":
        if len(parts) == 2:
            doc = reg.api_group(parts[1])
            return json_response(200, doc) if doc else error_response(_not_found_path())
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found_path()
    if not rest:
        doc = reg.resource_list(group, version)
        return json_response(200, doc) if doc else error_response(_not_found_path())
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
    rt = reg.lookup(group, version, plural)
    if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
        raise _not_found_path()
    if sub is not None and sub not in rt.subresources:
        raise _not_found_path()
    return _resource(api, rt, method, namespace, name, sub, query, body, headers)


def _resource(api: ClusterApi, rt: ResourceType, method: str, namespace: str | None, name: str | None,
              sub: str | None, query: Mapping[str, str], body: bytes, headers: Any) -> Response:
    verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}[method]
    if sub is None and verb not in rt.verbs:
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": rt.plural, "group": rt.group})
    if rt.namespaced and namespace is None and verb not in ("list", "watch"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": rt.plural, "group": rt.group})
    manager = _manager(query, headers)
    if verb == "list":
        return raw_json(200, api.list_raw(rt, namespace, label_selector=query.get("labelSelector"),
                                          field_selector=query.get("fieldSelector"),
                                          limit=int(query["limit"]) if query.get("limit") else None,
                                          cont=query.get("continue") or None))
    if verb == "watch":
        return Response(200, content_type="application/json", stream=_watch_stream(api, rt, namespace, query))
    assert name is not None or verb in ("create", "deletecollection")
    if sub == "log":
        return _logs(api, rt, namespace, name or "", query)
    if verb == "get":
        return raw_json(200, api.get_raw(rt, namespace, name or ""))
    if verb == "create":
        obj = api.create(rt, namespace, _decode(body), manager=manager, dry_run="dryRun" in query)
        return json_response(201, obj)
    if verb == "update":
        return json_response(200, api.replace(rt, namespace, name or "", _decode(body), manager=manager,
                                              subresource=sub))
    if verb == "patch":
        code, obj = api.patch(rt, namespace, name or "", str(headers.get("Content-Type") or ""), body,
                              manager=query.get("fieldManager") or (None if "apply-patch" in str(
                                  headers.get("Content-Type")) else manager),
                              force=query.get("force") in ("true", "1"), subresource=sub)
        return json_response(code, obj)
    options = _decode(body) if body else {}
    propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
    if verb == "delete":
        return json_response(200, api.delete(rt, namespace, name or "", propagation=propagation,
                                             preconditions=options.get("preconditions")))
    listed = json.loads(api.list_raw(rt, namespace, label_selector=query.get("labelSelector"),
                                     field_selector=query.get("fieldSelector")))
    for item in listed["items"]:
        meta = item["metadata"]
        try:
            api.delete(rt, meta.get("namespace"), meta["name"], propagation=propagation)
        except ApiError as e:
            if e.code != 404:
                raise
    return raw_json(200, json.dumps(listed, separators=(",", ":")))


def _watch_stream(api: ClusterApi, rt: ResourceType, namespace: str | None, query: Mapping[str, str]) -> Iterator[bytes]:
    timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
    for event in api.watch(rt, namespace, resource_version=query.get("resourceVersion"),
                           label_selector=query.get("labelSelector"), field_selector=query.get("fieldSelector"),
                           timeout=timeout):
        yield json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _logs(api: ClusterApi, rt: ResourceType, namespace: str | None, name: str, query: Mapping[str, str]) -> Response:
    pod = api.get(rt, namespace, name)
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    container = query.get("container") or (containers[0] if len(containers) == 1 else None)
    if container is None:
        raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: "
                       f"[{' '.join(containers)}]")
    if container not in containers:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    since = time.time() - float(query["sinceSeconds"]) if query.get("sinceSeconds") else None
    tail = int(query["tailLines"]) if query.get("tailLines") else None
    stamps = query.get("timestamps") in ("true", "1")
    rows = api.store.read_logs(namespace or "", name, container, since_ts=since, tail=tail)

    def render(batch: list[tuple[int, float, str]]) -> bytes:
        return "".join(f"{_stamp(ts)} {line}\n" if stamps else f"{line}\n" for _, ts, line in batch).encode()

    if query.get("follow") not in ("true", "1"):
        return Response(200, render(rows), "text/plain")

    def follow() -> Iterator[bytes]:
        last = rows[-1][0] if rows else (api.store.read_logs(namespace or "", name, container, tail=1) or [(0,)])[0][0]
        yield render(rows)
        deadline = time.monotonic() + FOLLOW_LIMIT
        while time.monotonic() < deadline:
            time.sleep(0.2)
            batch = api.store.read_logs(namespace or "", name, container, after_id=last)
            if batch:
                last = batch[-1][0]
                yield render(batch)
            elif api.store.get(rt.key, namespace or "", name) is None:
                return

    return Response(200, content_type="text/plain", stream=follow())


class FlakyApi:
    """The api-flaky fault: while active on a cluster, every 4th request answers 503, every 7th 500,
    and every 9th answers only after two seconds (deterministic, so tests can count on it)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.cache: dict[int, tuple[float, bool]] = {}

    def __call__(self, handler: KubeHandler, api: ClusterApi, path: str) -> Response | None:
        key = id(api)
        now = time.monotonic()
        cached = self.cache.get(key)
        if cached is None or now - cached[0] > 0.5:
            cached = (now, "api-flaky" in json.loads(api.store.meta("faults") or "{}"))
            self.cache[key] = cached
        if not cached[1] or path in ("/version",):
            return None
        n = self.counts[key] = self.counts.get(key, 0) + 1
        if n % 4 == 0:
            return error_response(ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the "
                                           "request"))
        if n % 7 == 0:
            return error_response(ApiError(500, "InternalError", "Internal error occurred: etcdserver: request "
                                           "timed out"))
        if n % 9 == 0:
            time.sleep(2.0)
        return None
