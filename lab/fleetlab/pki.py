"""The sandbox's TLS and credentials, generated once and kept under FLEET_HOME/sandbox/pki.

A CA (as on a kind cluster), a server certificate for 127.0.0.1 and localhost signed by it, and a
master secret from which each cluster's bearer token is derived (so a context's token opens its own
cluster only). Key and secret files are mode 0600; generation takes a file lock, so concurrent first
starts agree on one CA.

    pki = Pki.ensure(home / "sandbox" / "pki")
    context = pki.server_context()
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import hmac
import ipaddress
import os
import secrets
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetlib.files import write_atomic

VALID_DAYS = 3650


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_private(path: Path, data: str) -> None:
    write_atomic(path, data)
    os.chmod(path, 0o600)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue_ca_and_server(ca_name: str, server_name: str, sans: list[x509.GeneralName], *, days: int
                        ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, ec.EllipticCurvePrivateKey,
                                   x509.Certificate]:
    """A self-signed ECDSA P-256 CA and a server certificate it signs for `sans` (server auth), both valid for
    `days` from five minutes ago: (CA key, CA certificate, server key, server certificate)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(server_name)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca_key, ca, key, cert


@dataclass(frozen=True)
class Pki:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def token_file(self) -> Path:
        return self.folder / "token"

    def token(self) -> str:
        """The sandbox's master secret: never sent; each cluster's token is derived from it."""
        return self.token_file.read_text().strip()

    def cluster_token(self, stage: str, cluster: str) -> str:
        """The bearer token of one cluster (its kubeconfig user): it opens that cluster only."""
        digest = hmac.new(self.token().encode(), f"cluster:{stage}/{cluster}".encode(), hashlib.sha256).digest()
        return "sbx-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    @classmethod
    def ensure(cls, folder: Path) -> Pki:
        pki = cls(folder)
        with file_lock(folder / ".lock"):
            if not (pki.ca_cert.exists() and pki.server_cert.exists() and pki.server_key.exists()
                    and pki.token_file.exists()):
                pki._generate()
        return pki

    def _generate(self) -> None:
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("kubernetes.default.svc")]
        ca_key, ca, key, cert = issue_ca_and_server("fleetlib-sandbox-ca", "kube-apiserver", sans, days=VALID_DAYS)
        pem = serialization.Encoding.PEM
        _write_private(self.folder / "ca.key", ca_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
        _write_private(self.server_key, key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
        write_atomic(self.server_cert, cert.public_bytes(pem).decode())
        _write_private(self.token_file, secrets.token_urlsafe(32) + "\n")
        write_atomic(self.ca_cert, ca.public_bytes(pem).decode())

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx
