"""The sandbox GitHub as a GitHub Enterprise host, to rehearse `target: live` for real: the live adapters
(PyGithub, git over HTTPS with a token, the release download, flux's `--hostname` in the manifests) talk to
`https://github.fleet.internal` exactly as they would to a company's GitHub Enterprise Server, through what a
corporate network gives them: an HTTPS proxy (HTTPS_PROXY) and a CA bundle to trust (REQUESTS_CA_BUNDLE,
SSL_CERT_FILE, GIT_SSL_CAINFO). The proxy also answers for github.com, so the Flux release download of a live
bootstrap is served by the sandbox GitHub too; every other host is refused (offline). The local stack's
source-controller reaches `github.fleet.internal:22` through its SOCKS proxy, like github.com.

    ghe = EnterpriseGitHub.start(home)
    env = ghe.env("GHE_TOKEN")          # HTTPS_PROXY, the CA bundle, and the token in GHE_TOKEN
    ... papermill runbooks/bootstrap.ipynb ... -p target live  (hostname: github.fleet.internal)
    ghe.stop()
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleetlab.github.hub import Hub, HubServer
from fleetlab.httpbase import pipe
from fleetlab.pki import file_lock, issue_ca_and_server
from fleetlab.release.manifests import release_asset
from fleetlib.files import write_atomic

HOST = "github.fleet.internal"
"""The Enterprise host name (RFC 8375-style internal name; it resolves nowhere but through the proxy)."""
SERVED = (HOST, "github.com")


def ensure_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA bundle, server certificate, server key) for the served hosts, made once (0600 key)."""
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    with file_lock(folder / ".lock"):
        if ca_path.exists() and cert_path.exists() and key_path.exists():
            return ca_path, cert_path, key_path
        sans: list[x509.GeneralName] = [*(x509.DNSName(h) for h in SERVED),
                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        _, ca, key, cert = issue_ca_and_server("fleetlib-enterprise-ca", HOST, sans, days=365)
        pem = serialization.Encoding.PEM
        write_atomic(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
        key_path.chmod(0o600)
        write_atomic(cert_path, cert.public_bytes(pem))
        write_atomic(ca_path, ca.public_bytes(pem))
    return ca_path, cert_path, key_path


class TlsHubServer(HubServer):
    """The sandbox GitHub over HTTPS, its URLs (clone_url, html_url...) naming the Enterprise host."""

    def __init__(self, address: tuple[str, int], hub: Hub, tls: ssl.SSLContext) -> None:
        super().__init__(address, hub)
        self.tls = tls
        hub.base_url = f"https://{HOST}"

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = super().get_request()
        return self.tls.wrap_socket(sock, server_side=True), addr


class ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that only tunnels (CONNECT) to the routes it knows: host:port -> a local address."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: Mapping[tuple[str, int], tuple[str, int]]) -> None:
        super().__init__(address, ConnectHandler)
        self.routes = dict(routes)


class ConnectHandler(socketserver.StreamRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        while self.rfile.readline(4096).strip():
            pass  # the request's headers
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT" or ":" not in parts[1]:
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        route = self.server.routes.get((host.lower(), int(port) if port.isdigit() else -1))
        if route is None:
            body = f"fleetlib proxy: {parts[1]} is not reachable from here (offline)\n".encode()
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                             + body)
            return
        try:
            upstream = socket.create_connection(route, timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self.wfile.flush()
        try:
            pipe(self.connection, upstream)
        except OSError:
            return  # either side went away: the tunnel ends


@dataclass
class EnterpriseGitHub:
    home: Path
    server: TlsHubServer
    proxy: ConnectProxy
    ca: Path
    token: str

    @classmethod
    def start(cls, home: Path) -> EnterpriseGitHub:
        from fleetlab.github.home import github_token, sandbox_root

        ca, cert, key = ensure_certificates(sandbox_root(home) / "enterprise")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        token = github_token(home)
        hub = Hub(sandbox_root(home) / "github", token=token, releases=release_asset)
        server = TlsHubServer(("127.0.0.1", 0), hub, tls)
        port = int(server.server_address[1])
        proxy = ConnectProxy(("127.0.0.1", 0), {(h, 443): ("127.0.0.1", port) for h in SERVED})
        for s, name in ((server, "enterprise-github"), (proxy, "enterprise-proxy")):
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True).start()
        return cls(home, server, proxy, ca, token)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.server_address[1]}"

    def env(self, token_env: str) -> dict[str, str]:
        """What a corporate machine's environment gives the live adapters: the proxy, the CA, and the token."""
        ca = str(self.ca)
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost", "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca,
                "GIT_SSL_CAINFO": ca, token_env: self.token}

    def stop(self) -> None:
        for s in (self.server, self.proxy):
            s.shutdown()
            s.server_close()
