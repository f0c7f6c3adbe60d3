"""The store's values, as its callers see them: sites, sessions, invites, join-log events, what a
token unlocks, and the errors of writes the rules refuse. server/store.py reads and writes them.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from ..signaling.session import SessionState
from .sessionkind import DEFAULT_KIND, SessionKind

# Session ids go into URLs that people read aloud over the phone: lowercase and digits only.
_SESSION_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_SESSION_ID_LENGTH = 10  # 32**10 = 2**50


def new_session_id() -> str:
    """A fresh session id (taken or not: create_session's primary key says)."""
    return "".join(secrets.choice(_SESSION_ID_ALPHABET) for _ in range(_SESSION_ID_LENGTH))


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    kind: str
    expected: int


@dataclass(frozen=True)
class Session:
    id: str
    title: str
    scheduled_start: datetime
    scheduled_end: datetime
    state: SessionState
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    kind: SessionKind = DEFAULT_KIND  # server/sessionkind.py


@dataclass(frozen=True)
class Invite:
    """One site invited to one session, as the site was when the session was created."""

    session_id: str
    site_id: str
    site_name: str
    site_kind: str
    expected: int
    revoked_at: datetime | None
    # The generation its token was minted from (server/links.py); None for a random token.
    token_generation: int | None = None


@dataclass(frozen=True)
class Event:
    seq: int
    ts: datetime
    session_id: str
    type: str
    site_id: str | None
    conn: str | None
    body: dict[str, Any]
    # Its link in the session's hash chain (server/chain.py); None only before it is written.
    prev: str | None = None
    hash: str | None = None


# Called with each join-log event inside the transaction that writes it (server/outbox.py).
EventObserver = Callable[[sqlite3.Connection, Event], None]


class TokenGrant(NamedTuple):
    """What a token hash unlocks: the host of a session, or one invited site of it."""

    session_id: str
    role: Literal["host", "site"]
    site_id: str | None
    revoked: bool


class Transition(NamedTuple):
    session: Session
    changed: bool


PutResult = Literal["created", "updated", "unchanged"]


class UnknownSession(LookupError):
    pass


class UnknownSites(LookupError):
    def __init__(self, site_ids: Sequence[str]) -> None:
        super().__init__(f"unknown sites: {', '.join(site_ids)}")
        self.site_ids = list(site_ids)


class SiteInUse(Exception):
    def __init__(self, site_id: str, session_ids: Sequence[str]) -> None:
        super().__init__(f"site {site_id} is invited to sessions {', '.join(session_ids)}")
        self.site_id = site_id
        self.session_ids = list(session_ids)
