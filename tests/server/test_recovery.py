"""Crash recovery at start waits out a write lock held by another process, says so, and closes
what the crash left open at the last mark before anything is served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from diemcau.server.recovery import recover
from diemcau.server.store import Site, Store
from tests.faults import HeldLock
from tests.peers import wait_for

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)


def crashed_with_a_hall_connected(path: Path) -> str:
    store = Store.open(path)
    try:
        store.put_site(Site("nga-thanh", "Xã Nga Thạnh", "commune", 40), T0)
        session = store.create_session(
            title="Mất điện",
            scheduled_start=T0,
            scheduled_end=T0 + timedelta(hours=2),
            host_token_hash="host",
            invite_token_hashes={"nga-thanh": "site"},
            now=T0,
        )
        store.append_event(session.id, "join", T0, site_id="nga-thanh", conn="c1")
        store.mark_alive(T0 + timedelta(minutes=5))  # the last sign of life
        return session.id
    finally:
        store.close()


async def test_a_start_during_a_held_lock_waits_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "diemcau.sqlite3"
    session_id = crashed_with_a_hall_connected(path)
    async with HeldLock(path) as lock:
        starting = asyncio.create_task(asyncio.to_thread(recover, path, 0.05))
        assert await wait_for(lambda: "must be recovered before anything" in caplog.text, 20)
        await asyncio.sleep(0.5)  # a few more tries, all waiting
        assert not starting.done()
        await lock.release()
        store = await asyncio.wait_for(starting, 20)
    try:
        [_, leave] = store.events(session_id)
        assert (leave.type, leave.conn, leave.body) == (
            "leave",
            "c1",
            {"reason": "server_shutdown"},
        )
        assert leave.ts == T0 + timedelta(minutes=5)  # at the mark, not when the lock went
        assert (store.last_alive() or T0) > T0 + timedelta(minutes=5)
    finally:
        store.close()
    lines = [r.getMessage() for r in caplog.records]
    waiting = [line for line in lines if "must be recovered" in line]
    assert len(waiting) == 1  # once, then at most a line a minute
    assert waiting[0].endswith("(database is locked)")
    assert lines[-1] == "the attendance record is recovered: the server starts"


def test_a_start_without_a_fault_says_nothing_of_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "diemcau.sqlite3"
    session_id = crashed_with_a_hall_connected(path)
    store = recover(path)
    try:
        assert [e.type for e in store.events(session_id)] == ["join", "leave"]
    finally:
        store.close()
    assert "waiting" not in caplog.text and "recovered" not in caplog.text
