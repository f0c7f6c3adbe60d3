"""The store's schema: the migrations from an empty file to this program's version. Store._migrate
runs each in one transaction; PRAGMA user_version records how many ran.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .chainstore import chain_existing_events

# A step in Python, for what SQL alone cannot do; run in the migration's transaction.
Step = Callable[[sqlite3.Connection], None]

# Each entry migrates the schema from version i to i + 1; PRAGMA user_version records how many ran.
MIGRATIONS: tuple[str | tuple[str, Step], ...] = (
    """
    CREATE TABLE sites (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        expected INTEGER NOT NULL CHECK (expected >= 0),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        scheduled_start TEXT NOT NULL,
        scheduled_end TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scheduled', 'live', 'ended')),
        started_at TEXT,
        ended_at TEXT,
        created_at TEXT NOT NULL,
        host_token_hash TEXT NOT NULL UNIQUE
    );
    -- No foreign key to sites: an invite snapshots the site as it was when the session was
    -- created, and that snapshot is the attendance record whatever happens to the site later.
    CREATE TABLE invites (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        site_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        site_name TEXT NOT NULL,
        site_kind TEXT NOT NULL,
        expected INTEGER NOT NULL,
        revoked_at TEXT,
        PRIMARY KEY (session_id, site_id)
    );
    CREATE INDEX invites_by_site ON invites (site_id);
    -- The join log; seq orders it even when two events share a timestamp.
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        type TEXT NOT NULL,
        site_id TEXT,
        conn TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX events_by_session ON events (session_id, seq);
    """,
    """
    -- The last moment this server knew itself alive, written every few seconds: after a crash,
    -- connections that were open are closed at this moment, not at restart time.
    CREATE TABLE liveness (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ts TEXT NOT NULL
    );
    CREATE INDEX sessions_by_start ON sessions (started_at);
    """,
    """
    -- Webhook deliveries not yet acknowledged (server/outbox.py): one row per event and receiver
    -- URL, written in the transaction of the join-log event it reports, deleted once delivered.
    CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL,
        event_id TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX webhook_outbox_by_url ON webhook_outbox (url, id);
    """,
    """
    -- A token minted from the server's link key (server/links.py) is shown again from its
    -- generation; NULL marks a random token of before, known only by its hash.
    ALTER TABLE sessions ADD COLUMN host_token_generation INTEGER;
    ALTER TABLE invites ADD COLUMN token_generation INTEGER;
    """,
    (
        """
        -- The join log's hash chain (server/chain.py): each event carries the hash of the one
        -- before it in its session, and its own; an ended session's head is sealed, signed by
        -- the server's key (server/sealkey.py). Events of before are chained by this migration.
        ALTER TABLE events ADD COLUMN prev TEXT;
        ALTER TABLE events ADD COLUMN hash TEXT;
        ALTER TABLE sessions ADD COLUMN chain_head TEXT;
        ALTER TABLE sessions ADD COLUMN chain_length INTEGER;
        ALTER TABLE sessions ADD COLUMN chain_signature TEXT;
        ALTER TABLE sessions ADD COLUMN chained_at TEXT;
        """,
        chain_existing_events,
    ),
    """
    -- Each site's roster, the people expected there (server/peoplestore.py); `id` is derived
    -- from the site and the member code or the name (server/people.py), `ord` is file order.
    CREATE TABLE people (
        site_id TEXT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        ord INTEGER NOT NULL,
        name TEXT NOT NULL,
        code TEXT,
        position TEXT NOT NULL,
        unit TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (site_id, id)
    );
    -- A session's copy of its invited sites' rosters, taken when it is created (as invites copy
    -- the sites); no key to sites or people: the copy is the record whatever happens to them.
    CREATE TABLE session_people (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        site_id TEXT NOT NULL,
        id TEXT NOT NULL,
        ord INTEGER NOT NULL,
        name TEXT NOT NULL,
        code TEXT,
        position TEXT NOT NULL,
        unit TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    CREATE INDEX session_people_by_site ON session_people (session_id, site_id, ord);
    """,
    """
    -- The kind of conference (server/sessionkind.py), which the period report counts apart:
    -- sessions of before are grassroots ones, as most of a district's are.
    ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'grassroots'
        CHECK (kind IN ('key', 'grassroots'));
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def steps(migration: str | tuple[str, Step]) -> tuple[list[str], Step | None]:
    """A migration's SQL statements, and its Python step (run after them) if it has one."""
    if isinstance(migration, str):
        return statements(migration), None
    script, step = migration
    return statements(script), step


def statements(script: str) -> list[str]:
    # executescript() would COMMIT behind our back; run the statements one by one instead.
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement in migration: {pending.strip()[:60]}")
    return statements
