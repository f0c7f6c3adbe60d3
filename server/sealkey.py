"""The server's Ed25519 key, which seals each session's join-log chain (server/chain.py).

Made on first start in the data directory (`seal.key`, PKCS#8 PEM, 0600), written whole and
linked in place as the link key is (server/links.py). Its public half is served on
`GET /api/keys` and read by `diemcau verify --key`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .secretfile import create_once
from .state import app_state

log = logging.getLogger("diemcau")

KEY_NAME = "seal.key"


class SealKeyError(Exception):
    pass


class SealKey:
    """Signs a seal; the data directory's key is the same at each start."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = PublicKey(private.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode("ascii")

    @classmethod
    def load(cls, data_dir: Path) -> SealKey | None:
        path = data_dir / KEY_NAME
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise SealKeyError(f"{path} is not a PEM private key: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SealKeyError(f"{path} is not an Ed25519 key")
        return cls(private)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SealKey:
        key = cls.load(data_dir)
        if key is not None:
            return key
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if create_once(data_dir / KEY_NAME, pem):
            log.info("made the seal key %s", data_dir / KEY_NAME)
        loaded = cls.load(data_dir)
        assert loaded is not None
        return loaded


class PublicKey:
    """The half anyone may hold: checks a seal's signature."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def pem(self) -> str:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "type": "Ed25519",
            "public_key": base64.b64encode(self.raw).decode("ascii"),
            "pem": self.pem,
        }

    def check(self, message: bytes, signature: str) -> bool:
        try:
            self._key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """A public key as /api/keys gives it: PEM, or the base64 of its 32 bytes."""
        text = text.strip()
        try:
            if text.startswith("-----BEGIN"):
                key = serialization.load_pem_public_key(text.encode("ascii"))
                if not isinstance(key, Ed25519PublicKey):
                    raise SealKeyError("not an Ed25519 public key")
                return cls(key)
            return cls(Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)))
        except (ValueError, UnicodeEncodeError) as exc:
            raise SealKeyError(f"not an Ed25519 public key: {exc}") from None


def routes() -> list[BaseRoute]:
    return [Route("/api/keys", public_keys, methods=["GET"])]


async def public_keys(request: Request) -> Response:
    """The keys a seal may be signed with (public: anyone may check a report)."""
    return JSONResponse({"keys": [app_state(request).seal_key.public.to_json()]})
