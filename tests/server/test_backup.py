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
from tests.conftest import free_port, start_server, stop_server

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


SECRET_FILES = ("links.key", "seal.key", "admin_token")


def test_a_restore_into_a_fresh_directory_gives_the_same_server(tmp_path: Path) -> None:
    """The copy carries the link and seal keys: restored elsewhere, the same links are shown,
    the seals of before verify with the restored key, and the reports are the same."""
    data = tmp_path / "data"
    port = free_port()
    server = start_server(data, port=port)
    halls = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "tan-loc", "name": "Tân Lộc"}]
    try:
        session = server.create_session(halls, title="Hội nghị sao lưu")
        with server.admin() as admin:
            assert admin.post(f"/api/sessions/{session['id']}/start").status_code == 200
            assert admin.post(f"/api/sessions/{session['id']}/end").status_code == 200
            links = admin.get(f"/api/sessions/{session['id']}/links").json()
            keys = admin.get("/api/keys").json()
        made = diemcau("backup", "--data", data, "--out", tmp_path / "copy.sqlite3")
        assert made.returncode == 0, made.stderr
        assert "with links.key, seal.key" in made.stdout
    finally:
        stop_server(server)
    assert all(hall["join_url"] for hall in links["sites"]) and links["console_url"]
    original = reports(data, session["id"])
    assert diemcau("verify", "--data", data, session["id"]).returncode == 0

    restored = tmp_path / "restored"
    put_back = diemcau("restore", "--data", restored, tmp_path / "copy.sqlite3")
    assert put_back.returncode == 0, put_back.stderr
    for name in ("links.key", "seal.key"):
        assert (restored / name).read_bytes() == (data / name).read_bytes()
        assert (restored / name).stat().st_mode & 0o777 == 0o600
    checked = diemcau("verify", "--data", restored, session["id"])
    assert checked.returncode == 0 and "intact" in checked.stdout, checked.stdout
    assert reports(restored, session["id"]) == original
    # The served database does not keep the secrets' table.
    db = sqlite3.connect(restored / "diemcau.sqlite3")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "backup_secrets" not in tables
    # The database alone, as backups were before: its seals cannot be checked.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "diemcau.sqlite3").write_bytes((restored / "diemcau.sqlite3").read_bytes())
    assert diemcau("verify", "--data", bare, session["id"]).returncode == 2

    again = start_server(restored, port=port, token=server.admin_token)
    try:
        with again.admin() as admin:
            assert admin.get(f"/api/sessions/{session['id']}/links").json() == links
            assert admin.get("/api/keys").json() == keys
            token = links["sites"][0]["join_url"].split("#token=")[1]
            me = admin.get(
                f"/api/sessions/{session['id']}/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200 and me.json()["role"] == "site"
    finally:
        stop_server(again)


def test_a_restore_keeps_the_secret_files_it_replaces_aside(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    data, session_id = played
    for name in SECRET_FILES:
        (data / name).write_bytes(f"the {name} of the backup\n".encode())
    made = diemcau("backup", "--data", data, "--out", tmp_path / "copy.sqlite3")
    assert made.returncode == 0, made.stderr
    assert "with admin_token, links.key, seal.key" in made.stdout
    before = reports(data, session_id)
    # Since the backup the keys changed here (a machine set up again, say).
    (data / "links.key").write_bytes(b"a newer link key\n")
    (data / "seal.key").unlink()
    put_back = diemcau("restore", "--data", data, tmp_path / "copy.sqlite3")
    assert put_back.returncode == 0, put_back.stderr
    for name in SECRET_FILES:
        assert (data / name).read_bytes() == f"the {name} of the backup\n".encode()
    (aside,) = data.glob("links.key.before-restore-*")
    assert aside.read_bytes() == b"a newer link key\n"
    assert f"the links.key it replaced is kept as {aside}" in put_back.stdout
    # Unchanged or missing ones have nothing to keep.
    assert not list(data.glob("seal.key.before-*")) and not list(data.glob("admin_token.before-*"))
    assert not list(data.glob(".*.restoring"))
    assert reports(data, session_id) == before


def test_a_copy_of_before_the_secrets_restores_and_leaves_the_keys_alone(
    played: tuple[Path, str], tmp_path: Path
) -> None:
    data, session_id = played
    made = diemcau("backup", "--data", data, "--out", tmp_path / "copy.sqlite3")
    assert made.returncode == 0, made.stderr
    assert " with " not in made.stdout  # no secret files in this directory to carry
    (data / "links.key").write_bytes(b"the key here\n")
    before = reports(data, session_id)
    put_back = diemcau("restore", "--data", data, tmp_path / "copy.sqlite3")
    assert put_back.returncode == 0, put_back.stderr
    assert (data / "links.key").read_bytes() == b"the key here\n"
    assert reports(data, session_id) == before
