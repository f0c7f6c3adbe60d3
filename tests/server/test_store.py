"""The SQLite store: schema, transactions, snapshots, the join log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from diemcau.server.sessionkind import SessionKind
from diemcau.server.store import (
    SCHEMA_VERSION,
    Session,
    Site,
    SiteInUse,
    Store,
    TokenGrant,
    UnknownSession,
    UnknownSites,
)
from diemcau.signaling.session import SessionState, SessionStateError

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
NGA_THANH = Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)
TAN_LOC = Site("tan-loc", "Thị trấn Tân Lộc", "town", 25)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "diemcau.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    store = Store.open(path)
    store.put_sites([NGA_THANH, TAN_LOC], T0)
    yield store
    store.close()


def new_session(
    store: Store,
    sites: list[str],
    prefix: str = "t",
    now: datetime = T0,
    kind: SessionKind = "grassroots",
) -> Session:
    return store.create_session(
        title="Họp giao ban",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=3),
        host_token_hash=f"{prefix}-host",
        invite_token_hashes={site: f"{prefix}-{site}" for site in sites},
        now=now,
        kind=kind,
    )


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as other:
        return int(other.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_open_sets_up_the_database(store: Store, path: Path) -> None:
    assert path.exists()  # the directories were created
    db = store._conn
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync per commit
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version == SCHEMA_VERSION >= 1
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sites", "sessions", "invites", "events"} <= tables
    columns = {row[1] for row in db.execute("PRAGMA table_info(invites)")}
    assert {"session_id", "site_id", "token_hash", "site_name", "site_kind", "expected"} <= columns


def test_reopening_keeps_data_and_schema(store: Store, path: Path) -> None:
    store.close()
    again = Store.open(path)
    try:
        assert again.list_sites() == [NGA_THANH, TAN_LOC]
        assert again.schema_version == SCHEMA_VERSION
    finally:
        again.close()


def test_newer_schema_is_refused(path: Path) -> None:
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        Store.open(path)


def test_sessions_of_before_kinds_are_grassroots_and_a_kind_is_checked(
    store: Store, path: Path
) -> None:
    old = new_session(store, ["nga-thanh"])
    store.close()
    with sqlite3.connect(path) as db:  # as a database of schema version 6, before kinds
        db.execute("ALTER TABLE sessions DROP COLUMN kind")
        db.execute("PRAGMA user_version = 6")
    again = Store.open(path)
    try:
        assert again.get_session(old.id) == old and old.kind == "grassroots"
        key = new_session(again, ["nga-thanh"], prefix="k", kind="key")
        assert again.get_session(key.id) == key and key.kind == "key"
        with pytest.raises(sqlite3.IntegrityError):  # the column's CHECK, past the API's
            again._conn.execute("UPDATE sessions SET kind = 'other' WHERE id = ?", (key.id,))
    finally:
        again.close()


def test_put_sites_says_what_happened(store: Store) -> None:
    renamed = Site("tan-loc", "Thị trấn Tân Lộc mới", "town", 25)
    new = Site("ubnd", "Văn phòng UBND huyện", "agency", 12)
    assert store.put_sites([NGA_THANH, renamed, new], T0) == ["unchanged", "updated", "created"]
    assert store.get_site("tan-loc") == renamed
    assert store.get_site("nowhere") is None
    assert [s.id for s in store.list_sites()] == ["nga-thanh", "tan-loc", "ubnd"]


def test_create_session_with_invites(store: Store) -> None:
    session = new_session(store, ["tan-loc", "nga-thanh"], now=T0 + timedelta(seconds=1))
    assert session.state is SessionState.SCHEDULED
    assert session.scheduled_start == T0
    assert session.created_at == T0 + timedelta(seconds=1)
    assert store.get_session(session.id) == session
    invites = store.invites(session.id)
    assert [(i.site_id, i.site_name, i.expected) for i in invites] == [
        ("tan-loc", "Thị trấn Tân Lộc", 25),
        ("nga-thanh", "Xã Nga Thạnh", 40),
    ]
    assert all(i.revoked_at is None for i in invites)


def test_session_ids_are_distinct_slugs(store: Store) -> None:
    ids = {new_session(store, ["nga-thanh"], prefix=str(n)).id for n in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 10 and i.isalnum() and i.islower() for i in ids)


def test_create_session_is_one_transaction(store: Store, path: Path) -> None:
    with pytest.raises(UnknownSites) as raised:
        new_session(store, ["nga-thanh", "nowhere", "tan-loc", "gone"])
    assert raised.value.site_ids == ["nowhere", "gone"]
    # A failure after the session row is written (an invite's token hash collides) rolls it
    # back with the invites.
    new_session(store, ["nga-thanh"], prefix="first")
    with pytest.raises(sqlite3.IntegrityError):
        store.create_session(
            title="Collides",
            scheduled_start=T0,
            scheduled_end=T0 + timedelta(hours=1),
            host_token_hash="second-host",
            invite_token_hashes={"tan-loc": "fresh", "nga-thanh": "first-nga-thanh"},
            now=T0,
        )
    assert [s.title for s in store.list_sessions()] == ["Họp giao ban"]
    assert (count(path, "sessions"), count(path, "invites")) == (1, 1)


def test_invites_keep_the_snapshot(store: Store) -> None:
    session = new_session(store, ["nga-thanh", "tan-loc"])
    store.put_site(Site("nga-thanh", "Phường Nga Thạnh", "ward", 99), T0)
    store.end_session(session.id, T0)
    assert store.delete_site("tan-loc")
    assert [
        (i.site_id, i.site_name, i.site_kind, i.expected) for i in store.invites(session.id)
    ] == [
        ("nga-thanh", "Xã Nga Thạnh", "commune", 40),
        ("tan-loc", "Thị trấn Tân Lộc", "town", 25),
    ]


def test_site_in_use_until_its_sessions_end(store: Store) -> None:
    live = new_session(store, ["nga-thanh"], prefix="live")
    scheduled = new_session(store, ["nga-thanh"], prefix="scheduled")
    store.start_session(live.id, T0)
    with pytest.raises(SiteInUse) as raised:
        store.delete_site("nga-thanh")
    assert sorted(raised.value.session_ids) == sorted([live.id, scheduled.id])
    store.end_session(live.id, T0)
    with pytest.raises(SiteInUse):
        store.delete_site("nga-thanh")
    store.end_session(scheduled.id, T0)
    assert store.delete_site("nga-thanh")
    assert not store.delete_site("nga-thanh")


def test_token_grants(store: Store) -> None:
    session = new_session(store, ["nga-thanh", "tan-loc"])
    assert store.token_grant("t-host") == TokenGrant(session.id, "host", None, False)
    assert store.token_grant("t-tan-loc") == TokenGrant(session.id, "site", "tan-loc", False)
    assert store.token_grant("unknown") is None
    assert store.revoke_invite(session.id, "tan-loc", T0)
    assert not store.revoke_invite(session.id, "tan-loc", T0)
    assert store.token_grant("t-tan-loc") == TokenGrant(session.id, "site", "tan-loc", True)


def test_lifecycle_writes_its_events_with_the_state(store: Store) -> None:
    session = new_session(store, ["nga-thanh"])
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))

    started, changed = store.start_session(session.id, t1)
    assert (started.state, started.started_at, changed) == (SessionState.LIVE, t1, True)
    assert store.start_session(session.id, t2) == (started, False)

    ended, changed = store.end_session(session.id, t2)
    assert (ended.state, ended.ended_at, changed) == (SessionState.ENDED, t2, True)
    assert store.end_session(session.id, t3) == (ended, False)

    with pytest.raises(SessionStateError):
        store.start_session(session.id, t3)
    assert store.get_session(session.id) == ended
    assert [(e.type, e.ts) for e in store.events(session.id)] == [
        ("session_start", t1),
        ("session_end", t2),
    ]
    with pytest.raises(UnknownSession):
        store.start_session("nowhere", t1)


def test_sessions_are_listed_newest_first(store: Store) -> None:
    first = new_session(store, ["nga-thanh"], prefix="1", now=T0)
    second = new_session(store, ["nga-thanh"], prefix="2", now=T0 + timedelta(hours=1))
    same_time = new_session(store, ["nga-thanh"], prefix="3", now=T0 + timedelta(hours=1))
    assert [s.id for s in store.list_sessions()] == [same_time.id, second.id, first.id]


def test_appended_events_are_durable_and_ordered(store: Store, path: Path) -> None:
    session = new_session(store, ["nga-thanh"])
    at = T0 + timedelta(seconds=5)
    first = store.append_event(session.id, "join", at, site_id="nga-thanh", conn="c1")
    second = store.append_event(
        session.id, "leave", at, site_id="nga-thanh", conn="c1", reason="timeout"
    )
    third = store.append_event(session.id, "headcount", at, site_id="nga-thanh", present=37)
    assert first < second < third

    # Another connection sees them at once: committed before append_event returned.
    reader = Store.open(path)
    try:
        events = reader.events(session.id)
    finally:
        reader.close()
    assert [(e.type, e.conn, e.body) for e in events] == [
        ("join", "c1", {}),
        ("leave", "c1", {"reason": "timeout"}),
        ("headcount", None, {"present": 37}),
    ]
    assert all(e.ts == at and e.site_id == "nga-thanh" for e in events)


def test_events_need_an_existing_session(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.append_event("nowhere", "join", T0, site_id="nga-thanh")


def test_naive_times_are_refused(store: Store) -> None:
    session = new_session(store, ["nga-thanh"])
    naive = datetime(2025, 3, 1, 8, 0)
    with pytest.raises(ValueError):
        store.append_event(session.id, "join", naive)
    with pytest.raises(ValueError):
        store.start_session(session.id, naive)
    assert store.events(session.id) == []
    assert store.get_session(session.id) == session


def test_times_come_back_in_utc(store: Store) -> None:
    hanoi = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
    session = new_session(store, ["nga-thanh"])
    started, _ = store.start_session(session.id, hanoi)
    # Kept to the millisecond, as the join log is exported.
    assert started.started_at == hanoi.replace(microsecond=123000)
    assert started.started_at is not None and started.started_at.utcoffset() == timedelta(0)


def test_failed_attempts_are_not_left_open_by_a_crash(store: Store) -> None:
    session = new_session(store, ["nga-thanh"])
    at = T0 + timedelta(seconds=5)
    attempt = {"reason": "ice_timeout", "offered": ["host"]}
    store.append_event(session.id, "attempt_failed", at, "nga-thanh", "a1", **attempt)
    store.append_event(session.id, "join", at, "nga-thanh", "c1", candidate="host", protocol="udp")
    # The same id as the open join: an attempt neither closes nor opens a connection.
    store.append_event(session.id, "attempt_failed", at, "nga-thanh", "c1", **attempt)
    store.mark_alive(at + timedelta(seconds=5))
    leaves = store.close_orphaned_connections(T0 + timedelta(hours=1), "server_shutdown")
    assert [(e.conn, e.ts, e.body) for e in leaves] == [
        ("c1", at + timedelta(seconds=5), {"reason": "server_shutdown"})
    ]
    assert store.close_orphaned_connections(T0 + timedelta(hours=1), "server_shutdown") == []


# Faults: a lock held elsewhere, a write that fails.


@pytest.fixture
def held_lock(path: Path, store: Store) -> Iterator[sqlite3.Connection]:
    """Another connection holding the write lock, as a backup tool or an operator's shell may."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def test_an_event_loop_write_waits_for_a_held_lock_only_briefly(
    store: Store, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = new_session(store, ["nga-thanh"])
    held_lock = sqlite3.connect(path, isolation_level=None)
    held_lock.execute("BEGIN IMMEDIATE")
    # The loop's connection waits a fifth of a second, not the 5 s that froze the media.
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] <= 200
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.append_event(session.id, "headcount", T0, site_id="nga-thanh", present=3)
    assert store.health.problem == "database is locked"
    assert "cannot write the database (database is locked)" in caplog.text
    # Nothing half-done stays behind: once the lock is gone, the store writes again.
    held_lock.execute("ROLLBACK")
    store.append_event(session.id, "headcount", T0, site_id="nga-thanh", present=4)
    assert store.health.problem is None
    assert [e.body for e in store.events(session.id)] == [{"present": 4}]
    assert "the database is written again, after 1 failed writes" in caplog.text
    held_lock.close()


def test_a_worker_connection_shares_the_health_and_waits_longer(
    store: Store, held_lock: sqlite3.Connection
) -> None:
    worker = store.worker()
    try:
        assert worker.health is store.health
        assert worker._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 200
        held_lock.execute("ROLLBACK")
        worker.mark_alive(T0)
        assert store.last_alive() == T0
    finally:
        worker.close()


def test_a_failed_commit_does_not_leave_the_transaction_open(store: Store, path: Path) -> None:
    session = new_session(store, ["nga-thanh"])
    # A deferred foreign key fails at COMMIT, as a full disk does: the same path out.
    store._conn.execute("PRAGMA defer_foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError), store._transaction() as db:
        db.execute("PRAGMA defer_foreign_keys = ON")
        db.execute(
            "INSERT INTO events (ts, session_id, type, body) VALUES ('x', 'nobody', 'x', '{}')"
        )
    assert not store._conn.in_transaction
    store.append_event(session.id, "headcount", T0, site_id="nga-thanh", present=1)
    assert count(path, "events") == 1  # the headcount only
