"""Attendance with real peers: halls join, drop and rejoin, the served report matches the log,
and a server killed mid-session loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from diemcau.server.store import Store
from tests.conftest import Server, free_port, start_server, stop_server
from tests.faults import record_after_restart
from tests.peers import EncodedVideoTrack, encode_vp8, play, publish, wait_for

pytestmark = pytest.mark.netns

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh", "expected": 40},
    {"id": "nga-hai", "name": "Xã Nga Hải", "expected": 30},
    {"id": "nga-dien", "name": "Xã Nga Điền", "expected": 20},
]


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return encode_vp8(frames=150, gop=30)


async def test_join_drop_rejoin_and_the_served_report_matches_the_log(
    server: Server, frames: list[bytes], tmp_path: Path
) -> None:
    session = server.create_session(SITES, title="Hội nghị sơ kết")
    a, b, _ = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    first_a = await play(a["whep_url"], a["token"])
    viewer_b = await play(b["whep_url"], b["token"])
    try:
        assert await wait_for(lambda: first_a.decoded["video"] > 3 and viewer_b.connected_at, 20)
        async with httpx.AsyncClient() as client:
            counted = await client.post(
                f"{server.base_url}/api/sessions/{session['id']}/sites/{a['site']}/headcount",
                json={"present": 35},
                headers={"Authorization": f"Bearer {a['token']}"},
            )
            assert counted.status_code == 201
        await first_a.close()  # the hall's network drops
        await asyncio.sleep(1.5)
        second_a = await play(a["whep_url"], a["token"])  # and comes back
        assert await wait_for(lambda: second_a.decoded["video"] > 3, 20)
        await asyncio.sleep(1)
        with server.admin() as client:
            live = client.get(f"/api/sessions/{session['id']}/attendance").json()
            assert live["live"] is True
            assert client.post(f"/api/sessions/{session['id']}/end").status_code == 200
            served = client.get(f"/api/sessions/{session['id']}/attendance").json()
            log = client.get(f"/api/sessions/{session['id']}/events")
        await second_a.close()
    finally:
        await viewer_b.close()
        await publisher.pc.close()

    assert served["live"] is False
    by_site = {s["site"]: s for s in served["sites"]}
    assert by_site[a["site"]]["interruptions"] == 1
    assert 1.0 <= by_site[a["site"]]["longest_outage_seconds"] < 30
    assert by_site[a["site"]]["headcount"] == 35
    assert by_site[b["site"]]["interruptions"] == 0
    assert by_site[b["site"]]["status"] == "present"
    assert by_site["nga-dien"]["status"] == "absent"
    assert served["totals"]["invited"] == 3 and served["totals"]["absent"] == 1

    # The same report offline, from the exported log and a roster, by the command line.
    (tmp_path / "log.jsonl").write_bytes(log.content)
    roster = "id,name,kind,expected\n" + "".join(
        f"{s['id']},{s['name']},commune,{s['expected']}\n" for s in SITES
    )
    (tmp_path / "sites.csv").write_text(roster, encoding="utf-8")
    offline = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "diemcau.server.cli",
            "report",
            "--events",
            str(tmp_path / "log.jsonl"),
            "--sites",
            str(tmp_path / "sites.csv"),
        ],
        capture_output=True,
        check=True,
    )
    expected = {k: v for k, v in served.items() if k not in ("title", "live", "timezone")}
    got = json.loads(offline.stdout)
    for mine, theirs in zip(got["sites"], expected["sites"], strict=True):
        assert mine == theirs, {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
    assert got == expected


async def test_a_killed_server_closes_open_connections_at_its_last_sign_of_life(
    tmp_path: Path, frames: list[bytes]
) -> None:
    server = start_server(tmp_path / "data")
    session = server.create_session(SITES[:1], title="Mất điện")
    invite = session["invites"][0]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    viewer = await play(invite["whep_url"], invite["token"])
    try:
        assert await wait_for(lambda: viewer.decoded["video"] > 3, 20)
        await asyncio.sleep(6)  # at least one liveness mark after the join
        killed_at = datetime.now(UTC)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    finally:
        await viewer.close()
        await publisher.pc.close()
    await asyncio.sleep(3)
    restarted_at = datetime.now(UTC)
    again = start_server(tmp_path / "data", token=server.admin_token)
    try:
        store = Store.open(again.data_dir / "diemcau.sqlite3")
        events = store.events(session["id"])
        store.close()
        joins = [e for e in events if e.type == "join"]
        leaves = [e for e in events if e.type == "leave"]
        assert len(joins) == 1 and len(leaves) == 1
        leave = leaves[0]
        assert leave.body == {"reason": "server_shutdown"} and leave.conn == joins[0].conn
        # Closed at the last liveness mark: before the kill, within one interval of it, and
        # neither at restart time nor at some later session end.
        assert killed_at - timedelta(seconds=6) <= leave.ts <= killed_at < restarted_at
    finally:
        stop_server(again)


def _rows(database: Path, query: str) -> list[tuple]:
    # Read-only, as any reader of the file: it takes no write lock.
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


async def test_faults_and_a_kill_leave_the_record_true(tmp_path: Path, frames: list[bytes]) -> None:
    """A second server on the same data, then a write lock held elsewhere, then `kill -9`: the
    second server writes nothing, the first keeps answering and says its writes fail, and after
    a restart the hall that was connected is present in the report, with one leave at the last
    mark the server could write."""
    server = start_server(tmp_path / "data")
    database = server.data_dir / "diemcau.sqlite3"
    session = server.create_session(SITES[:2], title="Sự cố")
    hall, idle = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    viewer = await play(hall["whep_url"], hall["token"])
    other: sqlite3.Connection | None = None
    try:
        assert await wait_for(lambda: viewer.decoded["video"] > 3, 20)
        [(joined,)] = _rows(database, "SELECT ts FROM events WHERE type = 'join'")
        assert await wait_for(lambda: _rows(database, "SELECT ts FROM liveness")[0][0] > joined, 15)
        events_before = _rows(database, "SELECT seq FROM events")

        # A second server, on another port and on the same one: refused before it touches the
        # database, naming the data directory and the first server's pid.
        port = server.base_url.rsplit(":", 1)[1]
        for second_port in (str(free_port()), port):
            refused = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "diemcau.server.cli",
                    "serve",
                    "--data",
                    str(server.data_dir),
                    "--port",
                    second_port,
                    "--udp-port",
                    "0",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert refused.returncode != 0
            assert str(server.data_dir) in refused.stderr
            assert f"process {server.process.pid}" in refused.stderr
        assert _rows(database, "SELECT seq FROM events") == events_before

        # A write lock held elsewhere: the server answers, and says its writes fail.
        other = sqlite3.connect(database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        async with httpx.AsyncClient(base_url=server.base_url) as client:

            async def failing() -> bool:
                return (await client.get("/healthz")).status_code == 503

            deadline = asyncio.get_running_loop().time() + 20
            while not await failing():
                assert asyncio.get_running_loop().time() < deadline, "no 503 while locked"
                await asyncio.sleep(0.2)
        killed_at = datetime.now(UTC)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    finally:
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        await viewer.close()
        await publisher.pc.close()

    report, events = record_after_restart(server, session["id"])
    leaves = [e for e in events if e["type"] == "leave"]
    assert [(e["site"], e["reason"]) for e in leaves] == [(hall["site"], "server_shutdown")]
    # At the last mark written before the lock: after the join, before the kill.
    assert joined <= leaves[0]["ts"] <= format_ts(killed_at)
    by_site = {s["site"]: s for s in report["sites"]}
    assert by_site[hall["site"]]["status"] != "absent"
    assert by_site[hall["site"]]["last_leave"] == leaves[0]["ts"]
    assert by_site[idle["site"]]["status"] == "absent"


def format_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
