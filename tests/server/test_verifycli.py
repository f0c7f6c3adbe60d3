"""`diemcau verify`: a session's join log checked from the data directory and from its export,
tampered with directly in SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from diemcau.server import chain, chainstore, schema
from diemcau.server.cli import main
from diemcau.server.joinlog import write_jsonl
from diemcau.server.sealkey import KEY_NAME, SealKey
from diemcau.server.store import Site, Store

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
SITES = [Site("nga-thanh", "Xã Nga Thạnh", "commune", 40), Site("tan-loc", "Tân Lộc", "town", 25)]


def ended_session(data: Path) -> str:
    """A session with joins, a headcount and leaves, ended and sealed; the store closed."""
    store = Store.open(data / "diemcau.sqlite3")
    store.signer = SealKey.load_or_create(data).sign
    store.put_sites(SITES, T0)
    session = store.create_session(
        title="Hội nghị",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=2),
        host_token_hash="h",
        invite_token_hashes={"nga-thanh": "a", "tan-loc": "b"},
        now=T0,
    )
    store.start_session(session.id, T0)
    store.append_event(session.id, "join", T0, "nga-thanh", "c1", address="203.0.113.7")
    store.append_event(session.id, "join", T0 + timedelta(seconds=5), "tan-loc", "c2")
    store.append_event(session.id, "headcount", T0 + timedelta(minutes=1), "nga-thanh", present=38)
    store.end_session(session.id, T0 + timedelta(hours=2))
    store.append_event(session.id, "leave", T0 + timedelta(hours=2), "nga-thanh", "c1")
    store.close()
    return session.id


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit:
        main(["verify", *argv])
    out = capsys.readouterr()
    return int(exit.value.code or 0), out.out + out.err


def sql(data: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(data / "diemcau.sqlite3") as db:
        db.execute(statement, args)


def seqs(data: Path, session_id: str) -> list[int]:
    with sqlite3.connect(data / "diemcau.sqlite3") as db:
        rows = db.execute("SELECT seq FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
        return [row[0] for row in rows]


def test_an_untouched_session_is_intact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = ended_session(tmp_path)
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert (code, out) == (0, f"session {session}: intact: 6 events chained, sealed and signed\n")
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_NAME).st_mode)
    assert mode == 0o600


def test_a_row_changed_in_sqlite_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    headcount = seqs(tmp_path, session)[3]
    sql(tmp_path, "UPDATE events SET body = '{\"present\": 40}' WHERE seq = ?", headcount)
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert f"event 4 (seq {headcount}, headcount at" in out
    assert "was changed" in out


def test_a_row_deleted_in_sqlite_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    sql(tmp_path, "DELETE FROM events WHERE seq = ?", seqs(tmp_path, session)[2])
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert "an event was removed just before event 3" in out


def test_the_last_row_deleted_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = ended_session(tmp_path)
    sql(tmp_path, "DELETE FROM events WHERE seq = ?", seqs(tmp_path, session)[-1])
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert "1 event(s) removed after event 5" in out


def test_a_row_inserted_in_sqlite_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    after = seqs(tmp_path, session)[1]
    # A join put in after the first one, with the right predecessor and a hash of its own, as a
    # careful forger would: the event after it no longer follows.
    with sqlite3.connect(tmp_path / "diemcau.sqlite3") as db:
        prev = db.execute("SELECT hash FROM events WHERE seq = ?", (after,)).fetchone()[0]
        forged = {"ts": "2025-03-01T01:00:01.000Z", "session": session, "type": "join"}
        db.execute("UPDATE events SET seq = seq + 100 WHERE seq > ?", (after,))
        db.execute(
            "INSERT INTO events (seq, ts, session_id, type, body, prev, hash)"
            " VALUES (?, '2025-03-01T01:00:01.000Z', ?, 'join', '{}', ?, ?)",
            (after + 1, session, prev, chain.event_hash(prev, forged)),
        )
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert f"event 3 (seq {after + 1}, join at 2025-03-01T01:00:01.000Z) was inserted" in out


def test_rows_reordered_in_sqlite_are_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    first, second = seqs(tmp_path, session)[1:3]
    sql(tmp_path, "UPDATE events SET seq = -1 WHERE seq = ?", first)
    sql(tmp_path, "UPDATE events SET seq = ? WHERE seq = ?", first, second)
    sql(tmp_path, "UPDATE events SET seq = ? WHERE seq = -1", second)
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert "event 2" in out and "out of its place" in out


def test_a_chain_rebuilt_and_resealed_without_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    sql(tmp_path, "UPDATE events SET site_id = 'tan-loc' WHERE type = 'headcount'")
    # The forger rebuilds every hash, and seals with a key of their own.
    with sqlite3.connect(tmp_path / "diemcau.sqlite3") as db:
        db.execute("UPDATE events SET prev = NULL, hash = NULL")
        schema.chain_existing_events(db)
        chainstore.seal(db, session, SealKey.load_or_create(tmp_path / "forger").sign)
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1
    assert "the seal's signature is not the server key's" in out


def test_the_export_verifies_with_the_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    store = Store.open(tmp_path / "diemcau.sqlite3")
    lines = list(write_jsonl(store.events(session), True, store.seal(session)))
    store.close()
    key = SealKey.load(tmp_path)
    assert key is not None
    (tmp_path / "pub.pem").write_text(key.public.pem)
    (tmp_path / "pub.b64").write_text(key.public.to_json()["public_key"])
    (tmp_path / "log.jsonl").write_text("".join(lines), encoding="utf-8")
    assert json.loads(lines[1])["address"] != "203.0.113.7"  # masked, and still verified
    for pub in ("pub.pem", "pub.b64"):
        code, out = verify(
            capsys, "--events", str(tmp_path / "log.jsonl"), "--key", str(tmp_path / pub)
        )
        assert (code, out) == (
            0,
            f"session {session}: intact: 6 events chained, sealed and signed\n",
        )
    changed = lines[:]
    changed[3] = changed[3].replace('"present":38', '"present":40')
    (tmp_path / "changed.jsonl").write_text("".join(changed), encoding="utf-8")
    code, out = verify(
        capsys, "--events", str(tmp_path / "changed.jsonl"), "--key", str(tmp_path / "pub.pem")
    )
    assert code == 1
    assert "line 4 (headcount at 2025-03-01T01:01:00.000Z) was changed" in out
    (tmp_path / "cut.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    code, out = verify(
        capsys, "--events", str(tmp_path / "cut.jsonl"), "--key", str(tmp_path / "pub.pem")
    )
    assert code == 1
    assert out.endswith("the session ended but no seal came with it: cut or stripped\n")


def test_bad_invocations_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(capsys, "--data", str(tmp_path), "nosuch")[0] == 2
    session = ended_session(tmp_path)
    code, out = verify(capsys, "--data", str(tmp_path), "nosuch")
    assert code == 2 and "no session 'nosuch'" in out
    assert verify(capsys, "--data", str(tmp_path))[0] == 2
    assert verify(capsys, "--events", str(tmp_path / "x.jsonl"))[0] == 2
    assert verify(capsys, "--data", str(tmp_path), session)[0] == 0


# The chain's migration is the fifth: the version before it is 4.
CHAIN_MIGRATION = 4


def test_the_migration_chains_events_of_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ended_session(tmp_path)
    # As a database of the version before the chain (migration 5): no chain columns' values,
    # and the migrations after it undone.
    sql(tmp_path, "UPDATE events SET prev = NULL, hash = NULL")
    sql(
        tmp_path,
        "UPDATE sessions SET chain_head = NULL, chain_length = NULL, chain_signature = NULL",
    )
    with sqlite3.connect(tmp_path / "diemcau.sqlite3") as db:
        for column in ("prev", "hash"):
            db.execute(f"ALTER TABLE events DROP COLUMN {column}")
        for column in ("chain_head", "chain_length", "chain_signature", "chained_at"):
            db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        # The migrations after the chain's undone too: the rosters' (migration 6) and the
        # sessions' kind (migration 7).
        for table in ("session_people", "people"):
            db.execute(f"DROP TABLE {table}")
        db.execute("ALTER TABLE sessions DROP COLUMN kind")
        db.execute(f"PRAGMA user_version = {CHAIN_MIGRATION}")
    assert verify(capsys, "--data", str(tmp_path), session)[0] == 2  # not chained yet
    store = Store.open(tmp_path / "diemcau.sqlite3")
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert code == 1  # ended, and not sealed yet
    store.signer = SealKey.load_or_create(tmp_path).sign
    assert store.seal_ended_sessions() == [session]
    assert store.seal_ended_sessions() == []
    store.close()
    code, out = verify(capsys, "--data", str(tmp_path), session)
    assert (code, out) == (
        0,
        f"session {session}: intact: 6 events chained, sealed and signed\n",
    )
