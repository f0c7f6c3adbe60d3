"""Bearer tokens: minted once, shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh bearer token: 32 random bytes (256 bits), URL-safe base64 without padding."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The form a token is stored and looked up in.

    A plain SHA-256 suffices: the tokens carry 256 bits of entropy, so there is nothing to
    brute-force, and a stolen database holds no usable credential.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
