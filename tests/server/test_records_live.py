"""Attendance with real peers: halls join, drop and rejoin, the served report matches the log,
and a server killed mid-session loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from diemcau.server.store import Store
from tests.conftest import Server, start_server, stop_server
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
