"""diemcau backup and restore: an online copy while serve runs, the same reports from the
restored copy, and the files and moments restore refuses."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from diemcau.server.schema import SCHEMA_VERSION
from diemcau.server.store import Site, Store
from tests.conftest import start_server, stop_server

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)


def diemcau(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diemcau.server.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def played(tmp_path: Path) -> tuple[Path, str]:
    """A data directory with one ended session: a hall present with an interruption, one
    late, one absent."""
    data = tmp_path / "data"
    store = Store.open(data / "diemcau.sqlite3")
    halls = [
        Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
        Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
        Site("ubnd", "Văn phòng UBND huyện", "agency", 12),
    ]
    store.put_sites(halls, T0)
    tokens = {hall.id: f"hash-{hall.id}" for hall in halls}
    session = store.create_session(
        title="Hội nghị Ban Chấp hành",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=2),
        host_token_hash="host",
        invite_token_hashes=tokens,
        now=T0,
    )
    store.start_session(session.id, T0)
    at = {minutes: T0 + timedelta(minutes=minutes) for minutes in (1, 30, 32, 40, 119)}
    store.append_event(session.id, "join", at[1], "nga-thanh", "c1")
    store.append_event(session.id, "leave", at[30], "nga-thanh", "c1", reason="network")
    store.append_event(session.id, "join", at[32], "nga-thanh", "c2")
    store.append_event(session.id, "join", at[40], "tan-loc", "c3")
    store.append_event(session.id, "headcount", at[40], "tan-loc", present=21)
    store.append_event(session.id, "leave", at[119], "tan-loc", "c3", reason="closed")
    store.append_event(session.id, "leave", at[119], "nga-thanh", "c2", reason="closed")
    store.end_session(session.id, T0 + timedelta(hours=2))
    store.close()
    return data, session.id


def reports(data: Path, session_id: str) -> dict[str, str]:
    found = {}
    for fmt in ("json", "csv"):
        made = diemcau("report", session_id, "--data", data, "--format", fmt)
        assert made.returncode == 0, made.stderr
        found[fmt] = made.stdout
    return found


def test_a_copy_made_while_serving_restores_to_the_same_reports(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    data, session_id = played
    server = start_server(data)
    try:
        # Written by the running server, so in its WAL, not yet in the database file.
        with server.admin() as admin:
            hall = {"name": "Xã Nga Bạch", "kind": "commune", "expected": 30}
            assert admin.put("/api/sites/nga-bach", json=hall).status_code in (200, 201)
        made = diemcau("backup", "--data", data, "--out", tmp_path / "copy.sqlite3")
        assert made.returncode == 0, made.stderr
        assert "3 sessions" not in made.stdout and "1 sessions" in made.stdout
        original = reports(data, session_id)
        # A restore is refused while the server holds the data directory.
        refused = diemcau("restore", "--data", data, tmp_path / "copy.sqlite3")
        assert refused.returncode == 1
        assert "in use by another diemcau server" in refused.stderr
        assert "nothing was restored" in refused.stderr
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    finally:
        stop_server(server)
    copy = tmp_path / "copy.sqlite3"
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    restored = tmp_path / "restored"
    put_back = diemcau("restore", "--data", restored, copy)
    assert put_back.returncode == 0, put_back.stderr
    assert reports(restored, session_id) == original
    assert json.loads(original["json"])["totals"]["headcount"] == 21
    copied = Store.open(restored / "diemcau.sqlite3")
    try:
        assert copied.get_site("nga-bach") is not None  # what was still in the WAL
    finally:
        copied.close()
    # And a server serves the restored directory.
    again = start_server(restored)
    try:
        with again.admin() as admin:
            assert admin.get(f"/api/sessions/{session_id}/attendance").status_code == 200
    finally:
        stop_server(again)


def test_restoring_over_a_database_keeps_it_aside(played: tuple[Path, str], tmp_path: Path) -> None:
    data, session_id = played
    copy = tmp_path / "backups"
    copy.mkdir()
    made = diemcau("backup", "--data", data, "--out", copy)  # into a directory: named by time
    assert made.returncode == 0, made.stderr
    (written,) = copy.glob("diemcau-*.sqlite3")
    before = reports(data, session_id)
    # A later change to the original, and a stale WAL file that must not survive.
    store = Store.open(data / "diemcau.sqlite3")
    store.append_event(session_id, "headcount", T0, "nga-thanh", present=39)
    store.close()
    (data / "diemcau.sqlite3-wal").write_bytes(b"")
    put_back = diemcau("restore", "--data", data, written)
    assert put_back.returncode == 0, put_back.stderr
    assert reports(data, session_id) == before
    (kept,) = data.glob("diemcau.sqlite3.before-restore-*")
    assert f"kept as {kept}" in put_back.stdout
    assert not (data / "diemcau.sqlite3-wal").exists()
    old = Store.open(kept)
    try:
        assert [e.body.get("present") for e in old.events(session_id)].count(39) == 1
    finally:
        old.close()


def not_diemcau(path: Path) -> None:
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (text TEXT)")
    other.commit()
    other.close()


def newer(path: Path, played: tuple[Path, str]) -> None:
    made = diemcau("backup", "--data", played[0], "--out", path)
    assert made.returncode == 0, made.stderr
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path, _: path.write_text("sites,name\n"), "is not a diemcau database"),
        (lambda path, _: not_diemcau(path), "is an SQLite database, but not diemcau's"),
        (newer, "was made by a newer diemcau"),
        (lambda path, _: None, "is not a file"),
    ],
)
def test_restore_refuses_what_is_no_diemcau_database_it_knows(
    make: object, message: str, played: tuple[Path, str], tmp_path: Path
) -> None:
    data, session_id = played
    path = tmp_path / "candidate.sqlite3"
    make(path, played)  # type: ignore[operator]
    before = reports(data, session_id)
    refused = diemcau("restore", "--data", data, path)
    assert refused.returncode == 1
    assert refused.stderr.startswith("diemcau: ") and message in refused.stderr
    assert reports(data, session_id) == before
    assert not list(data.glob("*before-restore*")) and not list(data.glob(".*restoring"))


def test_backup_of_a_directory_without_a_database_says_so(tmp_path: Path) -> None:
    made = diemcau("backup", "--data", tmp_path / "empty", "--out", tmp_path / "x.sqlite3")
    assert made.returncode == 1
    assert "holds no diemcau database" in made.stderr
    assert not (tmp_path / "x.sqlite3").exists()
