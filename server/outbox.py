"""The webhooks' outbox: deliveries not yet acknowledged, durable in the store.

One row per event and receiver URL (the table `webhook_outbox`, store.MIGRATIONS), in the order
the events happened. A row is written inside the transaction of what it reports (`put`, from a
store event observer) or just after it, and deleted once its receiver answered 2xx: a receiver
that is down, or a server that stops or crashes, loses nothing, and a restart sends what is left.

Bounded: at most `cap` rows per URL. A row over the cap drops that URL's oldest one, counted and
logged, so that a receiver gone for good cannot fill the disk that holds the attendance record.

The functions other than `put` take the store first, the shape of the store's writer
(`await run(outbox.head, url, 50)`), so that the webhook delivery never writes from the event
loop once the writer does the store's writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from .store import Store

# Rows kept per receiver URL: a month of a district's events, dozens of sessions of 30 halls.
CAP = 10_000


@dataclass(frozen=True)
class Pending:
    """One delivery not yet acknowledged."""

    id: int
    url: str
    event_id: str
    body: bytes
    attempts: int


def put(
    db: sqlite3.Connection,
    urls: Sequence[str],
    event_id: str,
    body: bytes,
    created_at: str,
    cap: int = CAP,
) -> int:
    """One row per URL, inside the caller's transaction; returns how many rows were dropped
    (the oldest of a URL already holding `cap`)."""
    dropped = 0
    for url in urls:
        count = db.execute("SELECT COUNT(*) FROM webhook_outbox WHERE url = ?", (url,)).fetchone()[
            0
        ]
        if count >= cap:
            dropped += db.execute(
                "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox"
                " WHERE url = ? ORDER BY id LIMIT ?)",
                (url, count - cap + 1),
            ).rowcount
        db.execute(
            "INSERT INTO webhook_outbox (url, event_id, body, created_at) VALUES (?, ?, ?, ?)",
            (url, event_id, body, created_at),
        )
    return dropped


def head(store: Store, url: str, limit: int) -> list[Pending]:
    """The oldest rows of one URL, oldest first."""
    with store.transaction() as db:
        rows = db.execute(
            "SELECT id, url, event_id, body, attempts FROM webhook_outbox WHERE url = ?"
            " ORDER BY id LIMIT ?",
            (url, limit),
        ).fetchall()
    return [
        Pending(r["id"], r["url"], r["event_id"], bytes(r["body"]), r["attempts"]) for r in rows
    ]


def delivered(store: Store, row_id: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM webhook_outbox WHERE id = ?", (row_id,))


def failed(store: Store, row_id: int, error: str) -> None:
    """One more attempt that did not deliver, and why (kept for whoever reads the table)."""
    with store.transaction() as db:
        db.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error[:500], row_id),
        )


def pending(store: Store) -> dict[str, int]:
    """Rows waiting, per URL."""
    with store.transaction() as db:
        rows = db.execute("SELECT url, COUNT(*) FROM webhook_outbox GROUP BY url").fetchall()
    return {url: count for url, count in rows}


def forget(store: Store, url: str) -> int:
    """Drop every row of a URL (one no longer configured); returns how many."""
    with store.transaction() as db:
        return db.execute("DELETE FROM webhook_outbox WHERE url = ?", (url,)).rowcount
