"""The check-in code a hall's join page shows as a QR code: short, signed, and short-lived.

A code is bound to one session, one hall and one 30-second slot of time:

    code = session id (10 characters) + base32(slot, 4 bytes ‖ HMAC-SHA256(key, message)[:8])
    message = "diemcau checkin\\0" session "\\0" site "\\0" slot

so it is 30 characters, and its URL (`{base}/checkin/{code}`) a small QR code. The hall is not
written in the code: the server finds it by checking the MAC against each invited hall of the
session (a few hundred HMACs at most), which keeps the code short and says nothing of the hall
to whoever reads it. The key is derived from the data directory's link key (server/links.py), so
there is no new secret to keep, and the codes of a restored backup stay valid.

A code is good in its own slot and the next one (30 to 60 s after it was drawn, since the page
draws a new one each slot): a photo sent to a chat group stops working within a minute. An older
one with a good MAC is `expired` (the API's 410); anything else is unknown (404), whether
garbled, forged or of another server. Sans-I/O: time comes in as `now`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

SLOT_SECONDS = 30
# The slots a code is good in: its own and the next one.
SLOTS_VALID = 2
_MAC_BYTES = 8
_SLOT_BYTES = 4
_SESSION_ID = re.compile(r"[a-z2-9]{10}")
# Lowercase RFC 4648 base32 without padding: 12 bytes are 20 characters.
_TAIL = re.compile(r"[a-z2-7]{20}")
CODE_LENGTH = 30


class UnknownCode(ValueError):
    """Not a code this server drew: garbled, forged, or for a hall the session does not invite."""


@dataclass(frozen=True)
class CheckinCode:
    """A code as drawn for a hall: its text and the moment it stops being accepted."""

    text: str
    expires_at: datetime
    # The start of the next slot: when the page should draw a new one.
    refresh_at: datetime


@dataclass(frozen=True)
class ReadCode:
    """A code read back: whose it is, and whether it is still good at the `now` it was read."""

    session_id: str
    site_id: str
    state: Literal["valid", "expired"]
    expires_at: datetime


def slot_of(now: datetime) -> int:
    return math.floor(now.timestamp() / SLOT_SECONDS)


def _slot_start(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * SLOT_SECONDS, UTC)


class CheckinKey:
    """Draws and reads the check-in codes; `secret` is derived from the link key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a check-in key has at least 16 bytes")
        self._secret = secret

    def _mac(self, session_id: str, site_id: str, slot: int) -> bytes:
        message = f"diemcau checkin\0{session_id}\0{site_id}\0{slot}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def draw(self, session_id: str, site_id: str, now: datetime) -> CheckinCode:
        """The hall's code for the slot `now` falls in."""
        if not _SESSION_ID.fullmatch(session_id):
            raise ValueError(f"not a session id: {session_id!r}")
        slot = slot_of(now)
        raw = slot.to_bytes(_SLOT_BYTES, "big") + self._mac(session_id, site_id, slot)
        return CheckinCode(
            session_id + _encoded(raw), _slot_start(slot + SLOTS_VALID), _slot_start(slot + 1)
        )

    def read(self, code: str, site_ids: Iterable[str], now: datetime) -> ReadCode:
        """Whose `code` is among the session's halls `site_ids`, and whether it is still good.
        Raises UnknownCode. Call `session_of` first to learn which session's halls to give."""
        session_id = session_of(code)
        tail = code[len(session_id) :]
        raw = base64.b32decode(tail.upper() + "====")
        if _encoded(raw) != tail:  # a last character with stray low bits: not one we drew
            raise UnknownCode(code)
        slot = int.from_bytes(raw[:_SLOT_BYTES], "big")
        mac = raw[_SLOT_BYTES:]
        site_id = next(
            (s for s in site_ids if hmac.compare_digest(mac, self._mac(session_id, s, slot))),
            None,
        )
        if site_id is None:
            raise UnknownCode(code)
        age = slot_of(now) - slot
        # A slot ahead is the server's clock stepped back a little (NTP), not a forgery: the MAC
        # says this server drew it.
        if age < -1:
            raise UnknownCode(code)
        state: Literal["valid", "expired"] = "valid" if age < SLOTS_VALID else "expired"
        return ReadCode(session_id, site_id, state, _slot_start(slot + SLOTS_VALID))


def session_of(code: str) -> str:
    """The session a code names, from its shape alone; UnknownCode if it has not the shape."""
    if len(code) != CODE_LENGTH or not _TAIL.fullmatch(code[10:]):
        raise UnknownCode(code)
    session_id = code[:10]
    if not _SESSION_ID.fullmatch(session_id):
        raise UnknownCode(code)
    return session_id


def _encoded(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()
