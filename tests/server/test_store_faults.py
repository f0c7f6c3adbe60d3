"""`kill -9` during each fault the record must survive, on a real `diemcau serve` with halls
connected by real aiortc peers: a write lock held by another process, and a full disk (a small
tmpfs). A hall connected before the fault, and one that joins during it, are both present after
the restart, each with one leave at the last mark the server could write; no other leave is
written, and an invited hall that never came stays absent. A restart during the fault waits to
recover, serving nothing, and then closes what the kill left open at the last mark."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from tests.conftest import Server, free_port, start_server, stop_server
from tests.faults import HeldLock, fill, record_after_restart, small_disk
from tests.peers import EncodedVideoTrack, Viewer, encode_vp8, play, publish, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh", "expected": 40},
    {"id": "nga-hai", "name": "Xã Nga Hải", "expected": 30},
    {"id": "nga-dien", "name": "Xã Nga Điền", "expected": 20},
]


class Fault(Protocol):
    """One fault, started and ended by the test (`end` twice is harmless)."""

    async def start(self) -> None: ...

    async def end(self) -> None: ...


class LockHeldElsewhere:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.held: HeldLock | None = None

    async def start(self) -> None:
        self.held = await HeldLock(self.database).__aenter__()

    async def end(self) -> None:
        if self.held is not None:
            await self.held.release()
            self.held = None


class DiskFull:
    def __init__(self, disk: Path) -> None:
        self.filler = disk / "filler"

    async def start(self) -> None:
        await asyncio.to_thread(fill, self.filler)

    async def end(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    # The data directory is the mount itself: the server's log (next to it) is on another disk.
    with small_disk(tmp_path / "data", size="8m") as disk:
        yield disk


@pytest.fixture(params=["lock held elsewhere", "disk full"])
def fault(request: pytest.FixtureRequest, disk: Path) -> Fault:
    if request.param == "disk full":
        return DiskFull(disk)
    return LockHeldElsewhere(disk / "diemcau.sqlite3")


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return encode_vp8(frames=150, gop=30)


def rows(database: Path, query: str) -> list[tuple]:
    # Read-only, as any reader of the file: it takes no write lock and writes nothing.
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


def joins(database: Path) -> dict[str, str]:
    return dict(rows(database, "SELECT site_id, ts FROM events WHERE type = 'join'"))


def last_mark(database: Path) -> str:
    return str(rows(database, "SELECT ts FROM liveness")[0][0])


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def health(server: Server) -> int:
    return await health_at(server.base_url)


async def until_health(server: Server, status: int) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while await health(server) != status:
        assert asyncio.get_running_loop().time() < deadline, f"/healthz never {status}"
        await asyncio.sleep(0.2)


async def until(check: Callable[[], object], within: float = 30) -> None:
    assert await wait_for(check, within)


async def test_kill_during_a_fault_leaves_the_record_true(
    disk: Path, fault: Fault, frames: list[bytes]
) -> None:
    server = start_server(disk)
    database = disk / "diemcau.sqlite3"
    session = server.create_session(SITES, title="Sự cố")
    before, during, idle = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    viewers: list[Viewer] = []
    try:
        viewers.append(await play(before["whep_url"], before["token"]))
        await until(lambda: viewers[0].decoded["video"] > 3)
        await until(lambda: before["site"] in joins(database))
        joined_before = joins(database)[before["site"]]
        await until(lambda: last_mark(database) > joined_before)

        # The fault: the server goes on serving media and says its writes fail.
        fault_began = datetime.now(UTC)
        await fault.start()
        await until_health(server, 503)
        viewers.append(await play(during["whep_url"], during["token"]))
        await until(lambda: viewers[1].decoded["video"] > 3)
        assert during["site"] not in joins(database)  # not written yet: tried again
        await fault.end()
        fault_ended = datetime.now(UTC)
        # Written once it could be, with the moment the hall joined.
        await until(lambda: during["site"] in joins(database), 60)
        assert stamp(fault_began) <= joins(database)[during["site"]] <= stamp(fault_ended)
        await until_health(server, 200)
        await until(lambda: last_mark(database) > joins(database)[during["site"]])

        # The same fault again, and the server killed in the middle of it.
        await fault.start()
        await until_health(server, 503)
        killed_at = datetime.now(UTC)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    finally:
        await fault.end()
        for viewer in viewers:
            await viewer.close()
        await publisher.pc.close()
        if server.process.poll() is None:
            stop_server(server)
    assert "Traceback" not in server.log()

    report, events = record_after_restart(server, session["id"])
    assert rows(database, "PRAGMA integrity_check") == [("ok",)]
    joined = {e["site"]: e["ts"] for e in events if e["type"] == "join"}
    leaves = [e for e in events if e["type"] == "leave"]
    # One leave for each hall, written by the restart: no other, and none before its join.
    assert sorted((e["site"], e["reason"]) for e in leaves) == sorted(
        [(before["site"], "server_shutdown"), (during["site"], "server_shutdown")]
    )
    for leave in leaves:
        assert joined[leave["site"]] <= leave["ts"] <= stamp(killed_at)
    by_site = {s["site"]: s for s in report["sites"]}
    assert by_site[before["site"]]["status"] != "absent"
    assert by_site[during["site"]]["status"] != "absent"
    assert by_site[idle["site"]]["status"] == "absent"


async def test_a_restart_during_a_fault_waits_and_recovers_before_it_serves(
    disk: Path, fault: Fault, frames: list[bytes]
) -> None:
    server = start_server(disk)
    database = disk / "diemcau.sqlite3"
    session = server.create_session(SITES[:2], title="Khởi động lại")
    hall, idle = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    viewer = await play(hall["whep_url"], hall["token"])
    try:
        await until(lambda: viewer.decoded["video"] > 3)
        await until(lambda: hall["site"] in joins(database))
        joined = joins(database)[hall["site"]]
        await until(lambda: last_mark(database) > joined)
        mark = last_mark(database)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    finally:
        await viewer.close()
        await publisher.pc.close()

    # Started again while the fault lasts: it waits, serving nothing, and says why.
    await fault.start()
    port = free_port()
    log_path = disk.parent / f"server-{port}.log"
    starting = asyncio.create_task(
        asyncio.to_thread(start_server, disk, port=port, token=server.admin_token)
    )
    try:
        await until(lambda: log_path.exists() and "must be recovered" in log_path.read_text())
        with pytest.raises(httpx.ConnectError):
            await health_at(f"http://127.0.0.1:{port}")
        assert not starting.done()
        assert not rows(database, "SELECT 1 FROM events WHERE type = 'leave'")
    finally:
        await fault.end()
    again = await starting
    try:
        with again.admin() as client:
            report = client.get(f"/api/sessions/{session['id']}/attendance").json()
    finally:
        stop_server(again)
    assert "Traceback" not in again.log()
    [leave] = rows(database, "SELECT site_id, ts, body FROM events WHERE type = 'leave'")
    # At the last mark before the kill, not at the end of the fault.
    assert leave == (hall["site"], mark, '{"reason": "server_shutdown"}')
    by_site = {s["site"]: s for s in report["sites"]}
    assert by_site[hall["site"]]["status"] != "absent"
    assert by_site[idle["site"]]["status"] == "absent"


async def health_at(base_url: str) -> int:
    async with httpx.AsyncClient(base_url=base_url) as client:
        return (await client.get("/healthz")).status_code
