"""The Kubernetes API over HTTPS: routing, bearer-token auth, discovery, watch and log streams.

One server serves every sandbox cluster under a path prefix (`/clusters/<stage>/<cluster>`), which
kubectl and the official client keep from the kubeconfig's server URL. Requests map onto
`ClusterApi`; every failure answers a `Status` object.

    server = KubeServer(("127.0.0.1", 0), clusters, token_for=pki.cluster_token, tls=pki.server_context())
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

import yaml

from fleetlab.httpbase import LocalServer, VerbHandler
from fleetlab.kubernetes.apiserver import KUBERNETES_VERSION, ClusterApi
from fleetlab.kubernetes.errors import ApiError
from fleetlab.kubernetes.openapi import openapi_v2, openapi_v3_group, openapi_v3_index
from fleetlab.kubernetes.patch import PatchError, json_patch, merge_patch
from fleetlab.kubernetes.patching import load_json_body, load_yaml_body
from fleetlab.kubernetes.protobuf import ProtobufError, decode_protobuf
from fleetlab.kubernetes.rbac import ADMIN, Attributes, User, forbidden
from fleetlab.kubernetes.registry import ResourceType
from fleetlab.kubernetes.selectors import SelectorError, parse_fields, parse_labels
from fleetlab.kubernetes.tables import to_table, wants_table
from fleetlib.objects import spec_of

log = logging.getLogger(__name__)

PREFIX = "clusters"
MAX_BODY = 3 * 1024 * 1024
"""The API server's request body limit (3 MiB); larger bodies get 413, never stored in memory."""
DRAIN_LIMIT = 64 * 1024 * 1024
"""An authenticated body over the limit but under this is read and dropped before the 413 (so the client, which sends
first and reads after, sees the answer); a larger one gets the 413 at once and the connection is closed."""
DRAIN_PAUSE = 2.0
BODY_TIMEOUT = 60.0
"""A request body that stops arriving for this long (the API server's request timeout, 1m) is given up: 408 and the
connection closed, so a stalled client holds no thread forever."""
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
    def __init__(self, address: tuple[str, int], clusters: Mapping[tuple[str, str], ClusterApi], *,
                 token_for: Callable[[str, str], str], tls: ssl.SSLContext | None) -> None:
        super().__init__(address, KubeHandler)
        self.clusters = dict(clusters)
        self.token_for = token_for
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
        """The request body, read only after authentication, within MAX_BODY (413 beyond, as the real server) and
        BODY_TIMEOUT (408 when it stalls)."""
        self.connection.settimeout(BODY_TIMEOUT)
        try:
            return self._read_body()
        except TimeoutError:
            self.close_connection = True
            raise ApiError(408, "Timeout", f"the request body did not arrive within {BODY_TIMEOUT:g}s") from None
        finally:
            self.connection.settimeout(None)

    def _read_body(self) -> bytes:
        chunked = "chunked" in str(self.headers.get("Transfer-Encoding") or "").lower()
        length_text = self.headers.get("Content-Length")
        if chunked:
            return self._chunked()
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            raise ApiError(400, "BadRequest", f"invalid Content-Length header {length_text[:40]!r}")
        length = int(length_text)
        if length > MAX_BODY:
            if length <= DRAIN_LIMIT:  # read and drop it, so a client that sends everything first sees the 413
                self._drain(length)
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed half-way
            self.close_connection = True
            raise ApiError(400, "BadRequest", f"the request body ended after {len(body)} of {length} bytes")
        return body

    def _drain(self, length: int) -> None:
        """Read and drop `length` bytes, giving up when the client pauses for DRAIN_PAUSE seconds."""
        self.connection.settimeout(DRAIN_PAUSE)
        try:
            while length > 0:
                got = self.rfile.read(min(1 << 16, length))
                if not got:
                    return
                length -= len(got)
        except (TimeoutError, OSError):
            return
        finally:
            self.connection.settimeout(None)

    def _chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(64).strip().split(b";")[0]
            try:
                size = int(line, 16)
            except ValueError:
                raise ApiError(400, "BadRequest", "malformed chunked request body") from None
            if size == 0:
                self.rfile.readline(64)
                return bytes(out)
            if len(out) + size > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
            out += self.rfile.read(size)
            self.rfile.readline(64)

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

    def _authorized(self, cluster: tuple[str, str] | None) -> bool:
        """A bearer token that opens `cluster` (each cluster has its own); outside a cluster's prefix, any
        served cluster's token authenticates (the answer is then 404)."""
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        given = value.strip().encode()
        candidates = [cluster] if cluster is not None else list(self.server.clusters)
        return any(hmac.compare_digest(given, self.server.token_for(*c).encode()) for c in candidates)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals as the API server gives them: a Status in JSON (an unknown method is 405)."""
        if code == 501:
            code, reason, text = 405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        else:
            reason, text = "BadRequest" if code == 400 else "InternalError", message or "bad request"
        self.close_connection = True
        try:
            self._send(error_response(ApiError(code, reason, text)))
        except OSError:
            pass

    def _refuse(self, err: ApiError) -> None:
        """Answer without reading the body, and close the connection (the unread body would be the next request)."""
        self.close_connection = True
        self._send(error_response(err))

    def _dispatch(self, method: str) -> None:
        self.server.count()
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        cluster = (parts[1], parts[2]) if len(parts) >= 3 and parts[0] == PREFIX else None
        if cluster not in self.server.clusters:
            cluster = None
        if not self._authorized(cluster):
            self._refuse(ApiError(401, "Unauthorized", "Unauthorized"))
            return
        if cluster is None:
            self._refuse(_not_found_path())
            return
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        except ApiError as e:
            self._refuse(e)
            return
        api = self.server.clusters[cluster]
        path = "/" + "/".join(parts[3:])
        for hook in self.server.hooks:
            early = hook(self, api, path)
            if early is not None:
                self._send(early)
                return
        try:
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True, strict_parsing=False).items()}
            user = requester(api, self.headers)
            resp = route(api, method, parts[3:], query, body, self.headers, prefix="/" + "/".join(parts[:3]),
                         host=self.server.server_address, user=user)
        except ApiError as e:
            resp = error_response(e)
        except Exception as e:  # the server never dies on one request; the client gets a 500 Status
            log.exception("sandbox API error on %s %s", method, self.path)
            resp = error_response(ApiError(500, "InternalError", f"sandbox: {type(e).__name__}: {str(e)[:300]}"))
        self._send(resp)


_CHOICES = {"propagationPolicy": ("Orphan", "Background", "Foreground"), "fieldValidation": ("Ignore", "Warn", "Strict"),
            "resourceVersionMatch": ("NotOlderThan", "Exact"), "dryRun": ("All",),
            "includeObject": ("None", "Metadata", "Object")}
_BOOLS = ("watch", "follow", "timestamps", "allowWatchBookmarks", "sendInitialEvents", "force", "pretty", "previous",
          "insecureSkipTLSVerifyBackend")
_COUNTS = {"limit": 0, "timeoutSeconds": 0, "tailLines": 0, "sinceSeconds": 1, "limitBytes": 1,
           "gracePeriodSeconds": 0}


def check_query(query: Mapping[str, str]) -> None:
    """Refuse query parameters the real server would refuse, before any answer starts (400 BadRequest)."""
    for key, low in _COUNTS.items():
        if key in query:
            text = query[key]
            if not text.lstrip("-").isdigit():
                raise ApiError(400, "BadRequest", f'invalid value for {key}: "{text[:40]}" is not an integer')
            if int(text) < low:
                raise ApiError(400, "BadRequest", f"invalid value for {key}: {text} must be {low} or more")
    for key in _BOOLS:
        if key in query and query[key].lower() not in ("", "true", "false", "1", "0"):
            raise ApiError(400, "BadRequest", f'invalid value for {key}: "{query[key][:40]}" is not a boolean')
    for key, allowed in _CHOICES.items():
        if key in query and query[key] not in allowed:
            if key == "propagationPolicy":
                why = (f'Unsupported value: "{query[key][:40]}": supported values: "Foreground", "Background", '
                       '"Orphan", "nil"')
                raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: {why}',
                               {"group": "meta.k8s.io", "kind": "DeleteOptions", "causes": [
                                   {"reason": "FieldValueNotSupported", "message": why, "field": "propagationPolicy"}]})
            raise ApiError(400, "BadRequest", f'invalid value for {key}: "{query[key][:40]}": supported values: '
                           + ", ".join(f'"{a}"' for a in allowed))
    rv = query.get("resourceVersion", "")
    if rv and not rv.isdigit():
        raise ApiError(400, "BadRequest", f'invalid resource version "{rv[:40]}"')
    try:
        parse_labels(query.get("labelSelector"))
        parse_fields(query.get("fieldSelector"))
    except SelectorError as e:
        raise ApiError(400, "BadRequest", str(e)) from e


def _true(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("true", "1")


def _manager(query: Mapping[str, str], headers: Any) -> str:
    if query.get("fieldManager"):
        return query["fieldManager"]
    agent = str(headers.get("User-Agent") or "unknown")
    return agent.split("/")[0].split(" ")[0] or "unknown"


_BODY_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def _decode(body: bytes, headers: Any = None, rt: ResourceType | None = None) -> dict[str, Any]:
    """A create or update body in JSON, YAML or (for the kinds kubectl's generators create) protobuf;
    any other media type is 415, as the real server answers."""
    media = str((headers.get("Content-Type") if headers is not None else None) or "application/json")
    media = media.split(";")[0].strip().lower()
    if media not in _BODY_TYPES:
        raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                       f'media types include: {", ".join(_BODY_TYPES)}')
    if media == "application/vnd.kubernetes.protobuf":
        try:
            return decode_protobuf(body)
        except ProtobufError as e:
            raise ApiError(415, "UnsupportedMediaType", f"the sandbox cannot decode this protobuf body: {e}; send "
                           "JSON (Content-Type: application/json)") from None
    try:
        obj = load_json_body(body) if media == "application/json" else load_yaml_body(body or b"{}")
    except (ValueError, yaml.YAMLError) as e:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {str(e)[:200]}") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be an object")
    return obj


def requester(api: ClusterApi, headers: Any) -> User:
    """Who a request is from: the kubeconfig's user (the bearer token is the cluster's admin), or the user its
    Impersonate-User and Impersonate-Group headers name, once the admin's right to impersonate them is checked as
    kube-apiserver's impersonation filter checks it."""
    name = headers.get("Impersonate-User")
    groups = [g for g in headers.get_all("Impersonate-Group") or []] if hasattr(headers, "get_all") else []
    if not name:
        if groups:
            raise ApiError(500, "InternalError", f"Internal error occurred: requested {groups} without "
                           "impersonating a user")
        return ADMIN
    impersonated = User.impersonated(name, groups)
    sa = impersonated.service_account_ref
    asked = [Attributes("impersonate", "", "serviceaccounts", namespace=sa[0], name=sa[1]) if sa else
             Attributes("impersonate", "", "users", name=name)]
    asked += [Attributes("impersonate", "", "groups", name=g) for g in groups]
    for attrs in asked:
        if not api.policy.authorizer.decide(ADMIN, attrs).allowed:
            raise forbidden(ADMIN, attrs)
    return impersonated


def route(api: ClusterApi, method: str, parts: list[str], query: Mapping[str, str], body: bytes, headers: Any, *,
          prefix: str, host: Any, user: User = ADMIN) -> Response:
    reg = api.registry()
    if not (parts and parts[0] in ("api", "apis") and len(parts) > 2 + (parts[0] == "apis")):
        api.policy.check(user, Attributes(method.lower(), path="/" + "/".join(parts)))
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
    return _resource(api, rt, method, namespace, name, sub, query, body, headers, user)


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale a workload's /scale subresource serves."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    labels = ((spec.get("selector") or {}).get("matchLabels")) or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": int(spec.get("replicas", 1))},
            "status": {"replicas": int(status.get("replicas") or 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))}}


def _scale(api: ClusterApi, rt: ResourceType, verb: str, namespace: str | None, name: str, body: bytes,
           headers: Any, manager: str) -> Response:
    """GET, PATCH (merge, JSON) and PUT of a workload's Scale: only spec.replicas can change."""
    current = scale_of(json.loads(api.get_raw(rt, namespace, name)))
    if verb == "get":
        return json_response(200, current)
    if verb == "update":
        wanted = _decode(body, headers)
    elif verb == "patch":
        kind = str(headers.get("Content-Type") or "").split(";")[0].strip()
        if kind not in ("application/merge-patch+json", "application/json-patch+json",
                        "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType", f"the media type {kind!r} is not supported for scale; use a "
                           "merge or JSON patch")
        try:
            patch = load_json_body(body, b"null")
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"the patch is not valid JSON: {e}") from None
        try:
            wanted = json_patch(current, patch) if kind == "application/json-patch+json" else \
                merge_patch(current, patch)
        except PatchError as e:
            raise ApiError(422, "Invalid", str(e), {}) from e
    else:
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": "scale", "group": "autoscaling"})
    replicas = spec_of(wanted).get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                       f"{json.dumps(replicas)}: must be greater than or equal to 0", {})
    _, obj = api.patch(rt, namespace, name, "application/merge-patch+json",
                       json.dumps({"spec": {"replicas": replicas}}).encode(), manager=manager)
    return json_response(200, scale_of(obj))


def _resource(api: ClusterApi, rt: ResourceType, method: str, namespace: str | None, name: str | None,
              sub: str | None, query: Mapping[str, str], body: bytes, headers: Any, user: User) -> Response:
    check_query(query)
    verb = {"GET": "get" if name else ("watch" if _true(query, "watch") else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}[method]
    api.policy.check_resource(user, verb, rt, namespace, name, sub)
    if rt.group == "authorization.k8s.io" and verb == "create":
        return json_response(201, api.policy.review(rt, namespace, _decode(body, headers, rt), user))
    if sub is None and verb not in rt.verbs:
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": rt.plural, "group": rt.group})
    if rt.namespaced and namespace is None and verb not in ("list", "watch"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": rt.plural, "group": rt.group})
    manager = _manager(query, headers)
    table = wants_table(headers.get("Accept")) and sub is None and verb in ("get", "list", "watch")
    if verb == "list":
        text = api.list_raw(rt, namespace, label_selector=query.get("labelSelector"),
                            field_selector=query.get("fieldSelector"),
                            limit=int(query["limit"]) if query.get("limit") else None, cont=query.get("continue") or None)
        if table:
            listed = json.loads(text)
            return json_response(200, _table(api, rt, listed["items"], query, listed.get("metadata")))
        return raw_json(200, text)
    if verb == "watch":
        return Response(200, content_type="application/json",
                        stream=_watch_stream(api, rt, namespace, query, table=query if table else None))
    assert name is not None or verb in ("create", "deletecollection")
    if sub == "log":
        return _logs(api, rt, namespace, name or "", query)
    if sub == "scale":
        return _scale(api, rt, verb, namespace, name or "", body, headers, manager)
    if verb == "get":
        text = api.get_raw(rt, namespace, name or "")
        if table:
            obj = json.loads(text)
            return json_response(200, _table(api, rt, [obj], query,
                                             {"resourceVersion": obj["metadata"].get("resourceVersion", "")}))
        return raw_json(200, text)
    if verb == "create":
        strict = query.get("fieldValidation") == "Strict"
        obj = api.create(rt, namespace, _decode(body, headers, rt), manager=manager, dry_run="dryRun" in query,
                         strict=strict)
        return json_response(201, obj)
    if verb == "update":
        return json_response(200, api.replace(rt, namespace, name or "", _decode(body, headers, rt), manager=manager,
                                              subresource=sub, strict=query.get("fieldValidation") == "Strict"))
    if verb == "patch":
        code, obj = api.patch(rt, namespace, name or "", str(headers.get("Content-Type") or ""), body,
                              manager=query.get("fieldManager") or (None if "apply-patch" in str(
                                  headers.get("Content-Type")) else manager),
                              force=query.get("force") in ("true", "1"), subresource=sub,
                              strict=query.get("fieldValidation") == "Strict", dry_run="dryRun" in query)
        return json_response(code, obj)
    options = _decode(body) if body else {}
    propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
    if propagation is not None:
        check_query({"propagationPolicy": str(propagation)})
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


def _table(api: ClusterApi, rt: ResourceType, objects: list[dict[str, Any]], query: Mapping[str, str],
           list_meta: Mapping[str, Any] | None) -> dict[str, Any]:
    return to_table(rt, objects, columns=api.registry().printer_columns(rt),
                    include=query.get("includeObject") or "Metadata", now=time.time(), list_meta=list_meta)


def _watch_stream(api: ClusterApi, rt: ResourceType, namespace: str | None, query: Mapping[str, str], *,
                  table: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """Watch events as newline-delimited JSON. With `sendInitialEvents=true` (watch-list, what `kubectl wait`
    asks for), every current object comes first as ADDED, then a BOOKMARK marked `k8s.io/initial-events-end`."""
    timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
    initial = _true(query, "sendInitialEvents")
    for event in api.watch(rt, namespace, resource_version=None if initial else query.get("resourceVersion"),
                           label_selector=query.get("labelSelector"), field_selector=query.get("fieldSelector"),
                           timeout=timeout, bookmark=initial and _true(query, "allowWatchBookmarks")):
        if table is not None and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {"type": event["type"], "object": _table(api, rt, [event["object"]], table, {})}
        yield json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _logs(api: ClusterApi, rt: ResourceType, namespace: str | None, name: str, query: Mapping[str, str]) -> Response:
    pod = api.get(rt, namespace, name)
    containers = [c["name"] for c in spec_of(pod).get("containers") or []]
    container = query.get("container") or (containers[0] if len(containers) == 1 else None)
    if container is None:
        raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: "
                       f"[{' '.join(containers)}]")
    if container not in containers:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    since = time.time() - int(query["sinceSeconds"]) if query.get("sinceSeconds") else None
    tail = int(query["tailLines"]) if query.get("tailLines") else None
    stamps = query.get("timestamps") in ("true", "1")
    rows = api.store.read_logs(namespace or "", name, container, since_ts=since, tail=tail)

    def render(batch: list[tuple[int, float, str]]) -> bytes:
        return "".join(f"{_stamp(ts)} {line}\n" if stamps else f"{line}\n" for _, ts, line in batch).encode()

    if query.get("follow") not in ("true", "1"):
        return Response(200, render(rows), "text/plain")

    def follow() -> Iterator[bytes]:
        newest = api.store.read_logs(namespace or "", name, container, tail=1)
        last = rows[-1][0] if rows else (newest[0][0] if newest else 0)
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
