"""Ed25519 signing keys for tokens: generate a key pair, publish its public half as JWKS, load it.

`python -m services.common.keys var/keys` (what `make run` does) writes `signing-key.pem` (private,
mode 600: only the token issuer may hold it) and `jwks.json` (public: what services verify with). A
key's id (`kid`) is derived from the public key, so a JWKS with several keys serves a rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_FILE, JWKS_FILE = "signing-key.pem", "jwks.json"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64(hashlib.sha256(raw).digest())[:16]


def public_jwk(public: Ed25519PublicKey) -> dict:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": key_id(public), "x": _b64(raw)}


def jwks(*publics: Ed25519PublicKey) -> dict:
    return {"keys": [public_jwk(p) for p in publics]}


def load_private_key(path: str | Path) -> tuple[Ed25519PrivateKey, str]:
    """The signing key in a PEM file and its kid."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key, key_id(key.public_key())


def write_key_pair(directory: str | Path) -> tuple[Path, Path]:
    """A new key pair in `directory` unless one is there; (private PEM, JWKS) paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private_path, jwks_path = directory / PRIVATE_FILE, directory / JWKS_FILE
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    key, _ = load_private_key(private_path)
    jwks_path.write_text(json.dumps(jwks(key.public_key()), indent=2) + "\n")
    return private_path, jwks_path


if __name__ == "__main__":
    for written in write_key_pair(sys.argv[1] if len(sys.argv) > 1 else "var/keys"):
        print(written)
