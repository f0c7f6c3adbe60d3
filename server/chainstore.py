"""The join log's hash chain as the store keeps it: the `prev` and `hash` columns of each event,
the seal of an ended session's head on its row (server/chain.py says what is hashed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import chain
from .joinlog import to_json
from .rows import Event
from .times import db_time, parse_db_time

# Signs a seal's message (server/sealkey.py SealKey.sign); None: the store seals nothing.
Signer = Callable[[bytes], str]


def head(db: sqlite3.Connection, session_id: str) -> tuple[str, int]:
    """The session's last hash and how many events it has."""
    row = db.execute(
        "SELECT hash, (SELECT COUNT(*) FROM events WHERE session_id = ?) FROM events"
        " WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
        (session_id, session_id),
    ).fetchone()
    return (chain.GENESIS, 0) if row is None else (row[0], row[1])


def link(db: sqlite3.Connection, event: Any) -> tuple[str, str]:
    """(prev, hash) for a new event of `event.session_id` (a store.Event, before its chain)."""
    prev, _ = head(db, event.session_id)
    return prev, chain.event_hash(prev, to_json(event))


def seal(db: sqlite3.Connection, session_id: str, sign: Signer) -> None:
    """Sign the session's head as it is now, on the session's row."""
    last, length = head(db, session_id)
    signature = sign(chain.seal_message(session_id, last, length))
    db.execute(
        "UPDATE sessions SET chain_head = ?, chain_length = ?, chain_signature = ? WHERE id = ?",
        (last, length, signature, session_id),
    )


def read_seal(db: sqlite3.Connection, session_id: str) -> chain.Seal | None:
    row = db.execute(
        "SELECT chain_head, chain_length, chain_signature FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return chain.Seal(row[0], int(row[1]), row[2])


def chain_existing_events(db: sqlite3.Connection) -> None:
    """The migration's step: chain the events written before the chain, session by session.
    A chain made now proves nothing about what happened to them before (docs/attendance.md)."""
    prevs: dict[str, str] = {}
    rows = db.execute(
        "SELECT seq, ts, session_id, type, site_id, conn, body FROM events ORDER BY seq"
    ).fetchall()
    for seq, ts, session_id, kind, site_id, conn, body in rows:
        event = Event(seq, parse_db_time(ts), session_id, kind, site_id, conn, json.loads(body))
        prev = prevs.get(session_id, chain.GENESIS)
        prevs[session_id] = chain.event_hash(prev, to_json(event))
        db.execute(
            "UPDATE events SET prev = ?, hash = ? WHERE seq = ?", (prev, prevs[session_id], seq)
        )
    db.execute(
        "UPDATE sessions SET chained_at = ? WHERE id IN (SELECT DISTINCT session_id FROM events)",
        (db_time(datetime.now(UTC)),),
    )


def ended(db: sqlite3.Connection, session_id: str) -> bool:
    row = db.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return row is not None and row[0] == "ended"


def seal_stale(db: sqlite3.Connection, sign: Signer) -> list[str]:
    """Seal the ended sessions whose seal is missing or older than their last event (ended
    before the chain, or closed by recovery before the key was at hand); their ids."""
    stale = [
        row[0]
        for row in db.execute(
            "SELECT s.id FROM sessions s WHERE s.state = 'ended' AND"
            " (s.chain_length IS NULL OR s.chain_length"
            "  < (SELECT COUNT(*) FROM events e WHERE e.session_id = s.id))"
        )
    ]
    for session_id in stale:
        seal(db, session_id, sign)
    return stale
