"""The persistent store: sites, sessions with their invites, and the join log, in one SQLite file.

One connection for the event loop's reads (a write there waits at most LOOP_BUSY_TIMEOUT_MS for
the lock), and one for the writer's thread (`worker()`, server/writer.py), which a running server
writes through. Tokens arrive here already hashed. docs/attendance.md says why.

At 600 lines because each table's queries are short and belong together in one transaction
owner; its schema (schema.py), rows (rows.py), health (writehealth.py) and the chain
(chainstore.py) are already apart. The next table that comes should take its own module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ..signaling.session import Lifecycle, SessionState
from . import chainstore, peoplestore, sessionkind
from .rows import (
    Event,
    EventObserver,
    Invite,
    PutResult,
    Session,
    Site,
    SiteInUse,
    TokenGrant,
    Transition,
    UnknownSession,
    UnknownSites,
    new_session_id,
)
from .schema import MIGRATIONS, SCHEMA_VERSION, steps
from .sessionkind import DEFAULT_KIND, SessionKind
from .writehealth import WriteHealth

# The values and errors of the store, imported from here by its callers (server/rows.py).
__all__ = [
    "Event",
    "EventObserver",
    "Invite",
    "PutResult",
    "Session",
    "Site",
    "SiteInUse",
    "Store",
    "TokenGrant",
    "Transition",
    "UnknownSession",
    "UnknownSites",
    "WriteHealth",
]
from .times import db_time, db_time_or_none, parse_db_time, parse_db_time_or_none

# How long a write waits for another connection's write lock. SQLite's busy handler sleeps the
# calling thread: on the event loop that stalls every hall's media, so its waits stay short (a
# liveness commit holds the lock for one fsync); a worker thread may wait longer.
LOOP_BUSY_TIMEOUT_MS = 200
WORKER_BUSY_TIMEOUT_MS = 2000

log = logging.getLogger("diemcau")


class Store(peoplestore.PeopleStore, sessionkind.KindStore):
    def __init__(
        self, conn: sqlite3.Connection, path: Path, health: WriteHealth | None = None
    ) -> None:
        self._conn = conn
        self.path = path
        self.health = health or WriteHealth()
        self.event_observers: list[EventObserver] = []
        # Seals an ended session's chain head (server/sealkey.py); None: left unsealed.
        self.signer: chainstore.Signer | None = None

    @classmethod
    def open(
        cls,
        path: Path | str,
        busy_timeout_ms: int = LOOP_BUSY_TIMEOUT_MS,
        health: WriteHealth | None = None,
    ) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; _transaction() says where they are.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            # First: even setting the journal mode waits for a lock held elsewhere.
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: each commit is fsynced before it returns, so a join acknowledged to nobody
            # but the log still survives a power cut in the hall's server room. Writes are few.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            store = cls(conn, path, health)
            store._migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def worker(self) -> Store:
        """A second connection to the same file, for one worker thread at a time, sharing this
        store's health and event observers (each called in the event's transaction: outbox.py)."""
        worker = Store.open(self.path, WORKER_BUSY_TIMEOUT_MS, self.health)
        worker.event_observers = self.event_observers
        worker.signer = self.signer
        return worker

    def close(self) -> None:
        self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {version} is newer than this program ({SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            with self._transaction() as db:
                script, step = steps(MIGRATIONS[number])
                for statement in script:
                    db.execute(statement)
                if step is not None:
                    step(db)
                db.execute(f"PRAGMA user_version = {number + 1}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            # IMMEDIATE takes the write lock up front, so a read-then-write cannot be overtaken.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                # Inside: a COMMIT that fails (the disk is full) leaves the transaction open,
                # and every later BEGIN would fail with it.
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout, disk full, an I/O error: the write did not happen.
            self.health.failed(str(exc), time.monotonic())
            raise
        self.health.succeeded()

    transaction = _transaction  # for a table another module owns (server/outbox.py)

    # Sites

    def put_site(self, site: Site, now: datetime) -> PutResult:
        return self.put_sites([site], now)[0]

    def put_sites(self, sites: Sequence[Site], now: datetime) -> list[PutResult]:
        """Create or update sites in one transaction; says for each what happened."""
        stamp = db_time(now)
        results: list[PutResult] = []
        with self._transaction() as db:
            for site in sites:
                result = _put_result(db, site)
                if result == "created":
                    db.execute(
                        "INSERT INTO sites (id, name, kind, expected, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (site.id, site.name, site.kind, site.expected, stamp, stamp),
                    )
                elif result == "updated":
                    db.execute(
                        "UPDATE sites SET name = ?, kind = ?, expected = ?, updated_at = ?"
                        " WHERE id = ?",
                        (site.name, site.kind, site.expected, stamp, site.id),
                    )
                results.append(result)
        return results

    def preview_sites(self, sites: Sequence[Site]) -> list[PutResult]:
        """What put_sites would do with these sites now, writing nothing (an import's dry run).
        The sites' ids are distinct, as the CSV parser guarantees."""
        return [_put_result(self._conn, site) for site in sites]

    def get_site(self, site_id: str) -> Site | None:
        row = self._conn.execute(f"{peoplestore.SITE_SELECT} WHERE id = ?", (site_id,)).fetchone()
        return None if row is None else Site(**row)

    def list_sites(self) -> list[Site]:
        rows = self._conn.execute(f"{peoplestore.SITE_SELECT} ORDER BY id")
        return [Site(**row) for row in rows]

    def delete_site(self, site_id: str) -> bool:
        """Delete a site; False if there was none. Raises SiteInUse while a session that has
        not ended invites it. Invites of ended sessions keep their snapshot."""
        with self._transaction() as db:
            busy = [
                row[0]
                for row in db.execute(
                    "SELECT s.id FROM invites i JOIN sessions s ON s.id = i.session_id"
                    " WHERE i.site_id = ? AND s.state != 'ended' ORDER BY s.id",
                    (site_id,),
                )
            ]
            if busy:
                raise SiteInUse(site_id, busy)
            return db.execute("DELETE FROM sites WHERE id = ?", (site_id,)).rowcount > 0

    # Sessions

    def create_session(
        self,
        *,
        title: str,
        scheduled_start: datetime,
        scheduled_end: datetime,
        host_token_hash: str,
        invite_token_hashes: Mapping[str, str],
        now: datetime,
        session_id: str | None = None,
        token_generation: int | None = None,
        kind: SessionKind = DEFAULT_KIND,
    ) -> Session:
        """Create a session and its invites (in the mapping's order) in one transaction.

        Each invite snapshots its site as it is now. Raises UnknownSites, creating nothing,
        if any of the sites does not exist. `session_id` (from `new_session_id`) is given when
        the tokens are derived from it, with their `token_generation` (server/links.py).
        """
        with self._transaction() as db:
            sites: list[Site] = []
            missing: list[str] = []
            for site_id in invite_token_hashes:
                row = db.execute(f"{peoplestore.SITE_SELECT} WHERE id = ?", (site_id,)).fetchone()
                if row is None:
                    missing.append(site_id)
                else:
                    sites.append(Site(**row))
            if missing:
                raise UnknownSites(missing)
            if session_id is None:
                session_id = self._free_session_id(db)
            db.execute(
                "INSERT INTO sessions (id, title, scheduled_start, scheduled_end, state,"
                " created_at, host_token_hash, host_token_generation, kind)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    title,
                    db_time(scheduled_start),
                    db_time(scheduled_end),
                    SessionState.SCHEDULED.value,
                    db_time(now),
                    host_token_hash,
                    token_generation,
                    kind,
                ),
            )
            db.executemany(
                "INSERT INTO invites (session_id, site_id, position, token_hash, site_name,"
                " site_kind, expected, token_generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        session_id,
                        site.id,
                        position,
                        invite_token_hashes[site.id],
                        site.name,
                        site.kind,
                        site.expected,
                        token_generation,
                    )
                    for position, site in enumerate(sites)
                ],
            )
            peoplestore.snapshot_people(db, session_id, [site.id for site in sites])
            return self._session(db, session_id)

    def _free_session_id(self, db: sqlite3.Connection) -> str:
        while True:
            candidate = new_session_id()
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (candidate,)).fetchone() is None:
                return candidate

    def get_session(self, session_id: str) -> Session | None:
        row = self._conn.execute(f"{_SESSION_SELECT} WHERE id = ?", (session_id,)).fetchone()
        return None if row is None else _session_from_row(row)

    def list_sessions(self) -> list[Session]:
        """All sessions, the most recently created first."""
        rows = self._conn.execute(f"{_SESSION_SELECT} ORDER BY created_at DESC, rowid DESC")
        return [_session_from_row(row) for row in rows]

    def invites(self, session_id: str) -> list[Invite]:
        rows = self._conn.execute(
            "SELECT session_id, site_id, site_name, site_kind, expected, revoked_at,"
            " token_generation FROM invites WHERE session_id = ? ORDER BY position",
            (session_id,),
        )
        return [
            Invite(**{**row, "revoked_at": parse_db_time_or_none(row["revoked_at"])})
            for row in rows
        ]

    def revoke_invite(self, session_id: str, site_id: str, now: datetime) -> bool:
        """Make a site's token of a session useless; False if no such live invite."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE invites SET revoked_at = ?"
                " WHERE session_id = ? AND site_id = ? AND revoked_at IS NULL",
                (db_time(now), session_id, site_id),
            )
            return cursor.rowcount > 0

    def restore_invite(self, session_id: str, site_id: str) -> bool:
        """Undo a removal: the site's token works again; False if it was not revoked."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE invites SET revoked_at = NULL"
                " WHERE session_id = ? AND site_id = ? AND revoked_at IS NOT NULL",
                (session_id, site_id),
            )
            return cursor.rowcount > 0

    def reissue_invite(
        self, session_id: str, site_id: str, token_hash_of: Callable[[int], str]
    ) -> int | None:
        """Give a site's invite the token of its next generation, `token_hash_of(generation)`:
        its old token stops working at this commit. The generation, or None if no such invite."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT token_generation FROM invites WHERE session_id = ? AND site_id = ?",
                (session_id, site_id),
            ).fetchone()
            if row is None:
                return None
            generation = (row[0] or 0) + 1
            db.execute(
                "UPDATE invites SET token_hash = ?, token_generation = ?"
                " WHERE session_id = ? AND site_id = ?",
                (token_hash_of(generation), generation, session_id, site_id),
            )
            return generation

    def reissue_host(self, session_id: str, token_hash_of: Callable[[int], str]) -> int | None:
        """Give the session's host the token of its next generation (as reissue_invite does for
        a site); the generation, or None if there is no such session."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT host_token_generation FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return None
            generation = (row[0] or 0) + 1
            db.execute(
                "UPDATE sessions SET host_token_hash = ?, host_token_generation = ? WHERE id = ?",
                (token_hash_of(generation), generation, session_id),
            )
            return generation

    def host_token(self, session_id: str) -> tuple[str, int | None] | None:
        """The host token's hash and generation (None for a random token); None, no session."""
        row = self._conn.execute(
            "SELECT host_token_hash, host_token_generation FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def invite_token_hash(self, session_id: str, site_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT token_hash FROM invites WHERE session_id = ? AND site_id = ?",
            (session_id, site_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def token_grant(self, token_hash: str) -> TokenGrant | None:
        row = self._conn.execute(
            "SELECT id FROM sessions WHERE host_token_hash = ?", (token_hash,)
        ).fetchone()
        if row is not None:
            return TokenGrant(row["id"], "host", None, False)
        row = self._conn.execute(
            "SELECT session_id, site_id, revoked_at FROM invites WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is not None:
            return TokenGrant(
                row["session_id"], "site", row["site_id"], row["revoked_at"] is not None
            )
        return None

    def start_session(self, session_id: str, now: datetime) -> Transition:
        """Go live (a no-op when live). Raises SessionStateError when ended, UnknownSession."""
        return self._transition(session_id, now, "start")

    def end_session(self, session_id: str, now: datetime, cancel: bool = False) -> Transition:
        """End the session (a no-op when ended); with `cancel`, only one not started, else
        SessionStateError (signaling/session.py, Lifecycle.cancel). Raises UnknownSession."""
        return self._transition(session_id, now, "cancel" if cancel else "end")

    def _transition(
        self, session_id: str, now: datetime, move: Literal["start", "end", "cancel"]
    ) -> Transition:
        with self._transaction() as db:
            session = self._session(db, session_id)
            lifecycle = Lifecycle(session.state, session.started_at, session.ended_at)
            moved = {"start": lifecycle.start, "end": lifecycle.end, "cancel": lifecycle.cancel}
            after, changed = moved[move](now)
            if not changed:
                return Transition(session, False)
            db.execute(
                "UPDATE sessions SET state = ?, started_at = ?, ended_at = ? WHERE id = ?",
                (
                    after.state.value,
                    db_time_or_none(after.started_at),
                    db_time_or_none(after.ended_at),
                    session_id,
                ),
            )
            kind = "session_start" if move == "start" else "session_end"  # a cancel ends it
            self._insert_event(db, session_id, kind, now, None, None, {})
            return Transition(self._session(db, session_id), True)

    def _session(self, db: sqlite3.Connection, session_id: str) -> Session:
        row = db.execute(f"{_SESSION_SELECT} WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise UnknownSession(session_id)
        return _session_from_row(row)

    # The join log

    def append_event(
        self,
        session_id: str,
        type: str,
        now: datetime,
        site_id: str | None = None,
        conn: str | None = None,
        **fields: Any,
    ) -> int:
        """Append to the join log and commit before returning: what was acknowledged is on
        disk. Returns the event's sequence number."""
        with self._transaction() as db:
            return self._insert_event(db, session_id, type, now, site_id, conn, fields)

    def _insert_event(
        self,
        db: sqlite3.Connection,
        session_id: str,
        type: str,
        now: datetime,
        site_id: str | None,
        conn: str | None,
        fields: Mapping[str, Any],
    ) -> int:
        ts, body = db_time(now), json.dumps(fields, ensure_ascii=False)
        unlinked = Event(0, parse_db_time(ts), session_id, type, site_id, conn, json.loads(body))
        prev, hash = chainstore.link(db, unlinked)
        cursor = db.execute(
            "INSERT INTO events (ts, session_id, type, site_id, conn, body, prev, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ts, session_id, type, site_id, conn, body, prev, hash),
        )
        assert cursor.lastrowid is not None
        if self.signer is not None and chainstore.ended(db, session_id):
            chainstore.seal(db, session_id, self.signer)  # each event after the end moves it
        seq = cursor.lastrowid
        for observe in self.event_observers:
            observe(db, Event(seq, now, session_id, type, site_id, conn, dict(fields), prev, hash))
        return seq

    def seal_ended_sessions(self) -> list[str]:
        """Seal the ended sessions whose seal is missing or short (chainstore.seal_stale)."""
        if self.signer is None:
            return []
        with self._transaction() as db:
            return chainstore.seal_stale(db, self.signer)

    def seal(self, session_id: str) -> chainstore.chain.Seal | None:
        """The signed head of an ended session's chain, or None (not ended, or not sealed)."""
        return chainstore.read_seal(self._conn, session_id)

    def events(self, session_id: str) -> list[Event]:
        rows = self._conn.execute(
            "SELECT seq, ts, session_id, type, site_id, conn, body, prev, hash FROM events"
            " WHERE session_id = ? ORDER BY seq",
            (session_id,),
        )
        return [
            Event(**{**row, "ts": parse_db_time(row["ts"]), "body": json.loads(row["body"])})
            for row in rows
        ]

    def headcounts(self, session_id: str) -> dict[str, tuple[int, datetime]]:
        """The last headcount each site reported: (present, when)."""
        rows = self._conn.execute(
            "SELECT site_id, ts, body FROM events WHERE session_id = ? AND type = 'headcount'"
            " ORDER BY seq",
            (session_id,),
        )
        latest: dict[str, tuple[int, datetime]] = {}
        for row in rows:
            latest[row["site_id"]] = (json.loads(row["body"])["present"], parse_db_time(row["ts"]))
        return latest

    def sessions_started_between(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions that went live in [start, end), oldest first."""
        rows = self._conn.execute(
            f"{_SESSION_SELECT} WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
            (db_time(start), db_time(end)),
        )
        return [_session_from_row(row) for row in rows]

    # Liveness, and what a crash left open

    def mark_alive(self, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO liveness (id, ts) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET ts = excluded.ts",
                (db_time(now),),
            )

    def last_alive(self) -> datetime | None:
        row = self._conn.execute("SELECT ts FROM liveness WHERE id = 1").fetchone()
        return None if row is None else parse_db_time(row["ts"])

    def close_orphaned_connections(self, fallback: datetime, reason: str) -> list[Event]:
        """Leaves for the joins that no leave closed (the server died), at the last liveness
        mark (or `fallback` if there is none), never before the join itself."""
        alive = self.last_alive() or fallback
        written: list[Event] = []
        with self._transaction() as db:
            rows = db.execute(
                "SELECT j.session_id, j.site_id, j.conn, MAX(j.ts) AS joined FROM events j"
                " WHERE j.type = 'join' AND NOT EXISTS (SELECT 1 FROM events l"
                "   WHERE l.type = 'leave' AND l.session_id = j.session_id"
                "   AND l.conn IS j.conn AND l.site_id IS j.site_id AND l.seq > j.seq)"
                " GROUP BY j.session_id, j.site_id, j.conn"
            ).fetchall()
            for row in rows:
                ts = max(alive, parse_db_time(row["joined"]))
                seq = self._insert_event(
                    db,
                    row["session_id"],
                    "leave",
                    ts,
                    row["site_id"],
                    row["conn"],
                    {"reason": reason},
                )
                written.append(
                    Event(
                        seq,
                        ts,
                        row["session_id"],
                        "leave",
                        row["site_id"],
                        row["conn"],
                        {"reason": reason},
                    )
                )
        return written


_SESSION_SELECT = (
    "SELECT id, title, scheduled_start, scheduled_end, state, started_at, ended_at, created_at"
    ", kind FROM sessions"
)


def _session_from_row(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        title=row["title"],
        scheduled_start=parse_db_time(row["scheduled_start"]),
        scheduled_end=parse_db_time(row["scheduled_end"]),
        state=SessionState(row["state"]),
        started_at=parse_db_time_or_none(row["started_at"]),
        ended_at=parse_db_time_or_none(row["ended_at"]),
        created_at=parse_db_time(row["created_at"]),
        kind=row["kind"],
    )


def _put_result(db: sqlite3.Connection, site: Site) -> PutResult:
    row = db.execute("SELECT name, kind, expected FROM sites WHERE id = ?", (site.id,)).fetchone()
    if row is None:
        return "created"
    return "unchanged" if tuple(row) == (site.name, site.kind, site.expected) else "updated"
