"""SSH deploy keys as Flux makes them: the private key as PKCS#8 PEM (`identity`), the public key in
authorized_keys form (`identity.pub`), ECDSA P-384 by default, ed25519 or RSA on request.

    pair = generate(algorithm="ecdsa", curve="p384")
    pair.fingerprint        # "SHA256:..." (safe to show; the private key never is)
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_CURVES: dict[str, type[ec.EllipticCurve]] = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}


def fingerprint(public_line: str) -> str:
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class KeyPair:
    public: str
    private: str = field(repr=False)
    """PKCS#8 PEM; kept out of repr so it cannot reach a notebook output by accident."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


def generate(*, algorithm: Literal["ecdsa", "ed25519", "rsa"] = "ecdsa", curve: str = "p384",
             bits: int = 2048) -> KeyPair:
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if algorithm == "ecdsa":
        key = ec.generate_private_key(_CURVES[curve]())
    elif algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return KeyPair(public=public, private=private)
