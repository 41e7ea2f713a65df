"""A webhook receiver of ours: an HTTP endpoint on 127.0.0.1 that records what arrives (POST, JSON or not) and
answers a GET with everything recorded, so a runbook or a test can read back what notification-controller
delivered. It stands in for Slack or a generic webhook on the stand-ins; on live, alerts go to real services.

    with Receiver() as rx:                       # http://127.0.0.1:<port>/
        ...                                      # Flux posts events to rx.url
        rx.received                              # [{"path", "headers", "body"}, ...]
    received("http://127.0.0.1:8999/")           # what a receiver at that address holds, or None
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any

MAX_BODY = 1 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with self.server.lock:
            self.server.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        self._answer(200, b"{}")

    def do_GET(self) -> None:
        with self.server.lock:
            data = json.dumps({"fleetlib-receiver": True, "received": self.server.received}).encode()
        self._answer(200, data)

    def _answer(self, code: int, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # silent: what arrives is in `received`
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fleet-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._server.lock:
            return list(self._server.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def received(address: str, *, timeout: float = 5.0) -> list[dict[str, Any]] | None:
    """What a receiver of ours at `address` holds; None when the address is not one (a real service)."""
    if not address.startswith("http://127.0.0.1:"):
        return None
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return list(doc["received"]) if isinstance(doc, dict) and doc.get("fleetlib-receiver") else None
