"""What the sandbox's three HTTP servers (Kubernetes API, GitHub, Prometheus) share: threads per
connection, TCP_NODELAY (headers and body go out in separate writes; without it Nagle's algorithm and
delayed ACKs cost 40 ms a request), quiet logs, and one dispatch method for every verb.

    class Handler(VerbHandler):
        def _dispatch(self, method: str) -> None: ...
"""

from __future__ import annotations

import logging
import select
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("fleetlab.sandbox")


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class VerbHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # signature from the base class
        log.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes both ways between two connected sockets until either side closes or both stay idle for
    five minutes (a CONNECT or SOCKS tunnel); closes `b`. A socket error propagates."""
    a.settimeout(None)
    b.settimeout(None)
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 300)
            if not ready:
                return
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    finally:
        b.close()
