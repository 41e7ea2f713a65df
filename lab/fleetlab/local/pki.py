"""Certificates and keys of one local cluster, made once under its state folder (files 0600):
a CA; the API server's serving certificate (127.0.0.1, localhost, kubernetes.default.svc); client
certificates for the admin (system:masters, what the kubeconfig, the control plane and the Flux
controllers use) and for the API server's calls to the kubelet endpoint; the service-account key pair;
the kubelet endpoint's serving certificate.

    pki = LocalPki.ensure(state / "pki")
    pki.path("admin.crt")
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetlab.pki import file_lock
from fleetlib.files import write_atomic

VALID_DAYS = 3650
_PEM = serialization.Encoding.PEM


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@dataclass(frozen=True)
class LocalPki:
    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name

    @classmethod
    def ensure(cls, folder: Path) -> LocalPki:
        pki = cls(folder)
        with file_lock(folder / ".lock"):
            if not pki.path("sa.pub").exists():
                pki._generate()
        return pki

    def _generate(self) -> None:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        until = now + dt.timedelta(days=VALID_DAYS)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(_name("fleetlib-local-ca")).issuer_name(_name("fleetlib-local-ca"))
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(until)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        write_atomic(self.path("ca.key"), _key_pem(ca_key))
        write_atomic(self.path("ca.crt"), ca.public_bytes(_PEM).decode())

        def issue(name: str, subject: x509.Name, *, server: bool, sans: list[x509.GeneralName] | None = None) -> None:
            key = ec.generate_private_key(ec.SECP256R1())
            builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now).not_valid_after(until)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                             else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            write_atomic(self.path(f"{name}.key"), _key_pem(key))
            write_atomic(self.path(f"{name}.crt"), builder.sign(ca_key, hashes.SHA256()).public_bytes(_PEM).decode())

        loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        issue("apiserver", _name("kube-apiserver"), server=True,
              sans=[*loopback, x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
                    x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
                    x509.IPAddress(ipaddress.ip_address("10.96.0.1"))])
        issue("admin", _name("kubernetes-admin", "system:masters"), server=False)
        issue("apiserver-kubelet-client", _name("kube-apiserver-kubelet-client", "system:masters"), server=False)
        issue("kubelet", _name("fleetlib-local-kubelet"), server=True, sans=loopback)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_atomic(self.path("sa.key"), _key_pem(sa))
        write_atomic(self.path("sa.pub"), sa.public_key().public_bytes(
            _PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
