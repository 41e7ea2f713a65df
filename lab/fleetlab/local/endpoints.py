"""The endpoints a local cluster's supervisor serves beside the control plane, on 127.0.0.1:

- **kubelet logs**: the API server reads pod logs from the node's kubelet endpoint (kwok reports it as the
  node's InternalIP and port); this HTTPS server answers `/containerLogs/<ns>/<pod>/<container>` from the log
  file of the host process that stands for that pod (a Flux controller), with `tailLines`, `sinceSeconds`,
  `follow` and `timestamps`. Pods without a host process have no logs, as with a real runtime that never
  started the container.
- **API proxy**: a TLS reverse proxy in front of kube-apiserver (FlakyApiProxy); the fleet kubeconfig points at
  it while the api-flaky scenario is on, and it then fails a share of requests with real HTTP errors.
- **SOCKS5**: source-controller dials `github.com:22` through `ALL_PROXY`; the proxy receives the host name
  unresolved and connects it to the SSH git endpoint (fleetlab.github.sshgit). Anything else is refused, so
  a controller can never reach the real github.com from here.

    server = LogServer(("127.0.0.1", port), resolve=lambda ns, pod, c: Path(...) or None, tls=context)
    socks = SocksProxy(("127.0.0.1", port), {("github.com", 22): ("127.0.0.1", ssh_port)})
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fleetlab.httpbase import LocalServer, VerbHandler, pipe

log = logging.getLogger(__name__)
Resolver = Callable[[str, str, str], "Path | None"]
FOLLOW_LIMIT = 3600.0


class LogServer(LocalServer):
    def __init__(self, address: tuple[str, int], *, resolve: Resolver, tls: ssl.SSLContext) -> None:
        super().__init__(address, LogHandler)
        self.resolve = resolve
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        return self.tls.wrap_socket(sock, server_side=True), addr


def _lines(path: Path, *, tail: int | None, since: float | None) -> list[bytes]:
    """The file's lines (the last `tail`); with `since`, only when the file was written to in that window (the
    host process's log carries no per-line timestamps the runtime could filter on)."""
    lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
    if since is not None and lines and time.time() - path.stat().st_mtime > since:
        lines = []
    return lines[-tail:] if tail is not None else lines


def _stamped(line: bytes, stamps: bool) -> bytes:
    if not stamps:
        return line
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return now.encode() + b" " + line


class LogHandler(VerbHandler):
    server: LogServer

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method != "GET" or len(parts) != 4 or parts[0] != "containerLogs":
            self._answer(404, b"not found\n")
            return
        path = self.server.resolve(parts[1], parts[2], parts[3])
        if path is None:
            self._answer(404, f'container "{parts[3]}" in pod "{parts[2]}" is waiting to start\n'.encode())
            return
        tail = int(query["tailLines"]) if query.get("tailLines", "").isdigit() else None
        since = float(query["sinceSeconds"]) if query.get("sinceSeconds", "").isdigit() else None
        stamps = query.get("timestamps") in ("true", "1")
        lines = _lines(path, tail=tail, since=since)
        if query.get("follow") not in ("true", "1"):
            self._answer(200, b"".join(_stamped(line, stamps) for line in lines))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in _follow(path, b"".join(_stamped(line, stamps) for line in lines), stamps):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _follow(path: Path, first: bytes, stamps: bool) -> Iterator[bytes]:
    if first:
        yield first
    offset = path.stat().st_size if path.exists() else 0
    deadline = time.monotonic() + FOLLOW_LIMIT
    while time.monotonic() < deadline:
        time.sleep(0.3)
        size = path.stat().st_size if path.exists() else 0
        if size > offset:
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(size - offset)
            offset = size
            yield b"".join(_stamped(line, stamps) for line in data.splitlines(keepends=True))
        elif size < offset:
            offset = 0


# --- SOCKS5 ------------------------------------------------------------------------------------------


class SocksProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: Mapping[tuple[str, int], tuple[str, int]]) -> None:
        super().__init__(address, SocksHandler)
        self.routes = dict(routes)


class SocksHandler(socketserver.BaseRequestHandler):
    """SOCKS5 with no authentication and CONNECT only (RFC 1928), routing names through `routes`."""

    server: SocksProxy

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handle(self) -> None:
        try:
            version, methods = self._read(2)
            self._read(methods)
            if version != 5:
                return
            self.request.sendall(b"\x05\x00")
            _, command, _, kind = self._read(4)
            if kind == 3:
                host = self._read(self._read(1)[0]).decode()
            elif kind == 1:
                host = socket.inet_ntoa(self._read(4))
            else:
                host = socket.inet_ntop(socket.AF_INET6, self._read(16))
            port = struct.unpack("!H", self._read(2))[0]
            target = self.server.routes.get((host.lower(), port))
            if command != 1 or target is None:
                self.request.sendall(b"\x05\x02\x00\x01" + bytes(6))  # connection not allowed by ruleset
                return
            upstream = socket.create_connection(target, timeout=10)
            self.request.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(target[0]) + struct.pack("!H", target[1]))
            pipe(self.request, upstream)
        except (OSError, ConnectionError, ValueError, IndexError) as e:
            log.debug("socks: %s", e)


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "host", "content-length"}


class FlakyApiProxy(LocalServer):
    """A TLS reverse proxy in front of the API server, as a load balancer is: it checks the caller's client
    certificate against the cluster CA, forwards with the admin identity, and streams answers back (watches
    included). While `flaky()` is true it fails requests as the api-flaky scenario says (every 4th answers
    503, every 7th 500, every 9th only after two seconds), so clients see real HTTP failures over TLS."""

    def __init__(self, address: tuple[str, int], *, upstream: tuple[str, int], serve: ssl.SSLContext,
                 connect: ssl.SSLContext, flaky: Callable[[], bool]) -> None:
        super().__init__(address, FlakyApiHandler)
        self.upstream, self.serve_tls, self.connect_tls, self.flaky = upstream, serve, connect, flaky
        self.count = 0
        self.lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        return self.serve_tls.wrap_socket(sock, server_side=True), addr

    def next_failure(self) -> str | None:
        if not self.flaky():
            return None
        with self.lock:
            self.count += 1
            n = self.count
        return "503" if n % 4 == 0 else "500" if n % 7 == 0 else "slow" if n % 9 == 0 else None


class FlakyApiHandler(VerbHandler):
    server: FlakyApiProxy

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _dispatch(self, method: str) -> None:
        import http.client
        import json as _json

        failure = self.server.next_failure() if self.path != "/version" else None
        if failure in ("503", "500"):
            code, reason, message = (503, "ServiceUnavailable", "the server is currently unable to handle the "
                                     "request") if failure == "503" else \
                (500, "InternalError", "Internal error occurred: etcdserver: request timed out")
            body = _json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": message, "reason": reason, "code": code}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if failure == "slow":
            time.sleep(2.0)
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else None
        conn = http.client.HTTPSConnection(*self.server.upstream, context=self.server.connect_tls, timeout=3600)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, self.path, body=body_in, headers=headers)
            answer = conn.getresponse()
            self.send_response(answer.status, answer.reason)
            for k, v in answer.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            known = answer.getheader("Content-Length")
            if known is not None:
                self.send_header("Content-Length", known)
                self.end_headers()
                self.wfile.write(answer.read())
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:  # a watch, or any streamed answer: pass each piece on as it comes
                piece = answer.read1(65536) if hasattr(answer, "read1") else answer.read(65536)
                if not piece:
                    break
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException) as e:
            log.debug("api proxy: %s", e)
            self.close_connection = True
        finally:
            conn.close()


def serve_in_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return thread
