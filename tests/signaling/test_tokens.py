"""Bearer tokens and their stored form."""

from __future__ import annotations

import re

from diemcau.signaling.tokens import hash_token, new_token


def test_tokens_are_long_urlsafe_and_distinct() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        # 32 random bytes: 43 base64url characters, 256 bits.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_hash_is_sha256_hex_and_stable() -> None:
    token = new_token()
    digest = hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hash_token(token) == digest
    assert hash_token(token + "x") != digest
    assert token not in digest
    # The known answer, so a change of algorithm cannot pass unnoticed (stored hashes would
    # stop matching).
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
