"""The liveness mark survives faults, with real files: a write lock held by another connection,
and a full disk in a small tmpfs. The server keeps answering, says so on /healthz, logs the run
of failures once, and marks itself alive again as soon as it can."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Store
from tests import faults
from tests.faults import fill
from tests.peers import wait_for
from tests.server.conftest import ADMIN_TOKEN, BASE_URL

INTERVAL = 0.05  # seconds between marks: many beats in a short test


@contextlib.asynccontextmanager
async def running(data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with its lifespan running (the liveness writer with it), and a client."""
    config = Config(data_dir=data_dir, udp_port=0, liveness_interval=INTERVAL)
    app = create_app(config, ADMIN_TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield app, client


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(INTERVAL)
    return False


async def health(client: httpx.AsyncClient) -> tuple[int, dict]:
    response = await client.get("/healthz")
    return response.status_code, response.json()


def alive_after(store: Store, moment: datetime) -> Callable[[], bool]:
    return lambda: (store.last_alive() or moment) > moment


async def test_a_held_lock_stalls_neither_the_loop_nor_the_liveness_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    waiting = threading.Event()  # set while a mark from a worker thread is being written
    original = Store.mark_alive

    def watched(self: Store, now: datetime) -> None:
        if threading.current_thread() is threading.main_thread():
            return original(self, now)
        waiting.set()
        try:
            return original(self, now)
        finally:
            waiting.clear()

    monkeypatch.setattr(Store, "mark_alive", watched)
    async with running(tmp_path / "data") as (app, client):
        store: Store = app_state(app).store
        assert await wait_for(alive_after(store, datetime.now(UTC)), 10)
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # an operator's sqlite3 shell, a backup tool
        try:
            assert await wait_for(waiting.is_set, 10)
            # The event loop answers while the mark waits for the lock in its thread.
            status, _ = await health(client)
            assert status == 200 and waiting.is_set()
            # Past its busy timeout the mark fails, and the server says so.
            assert await until(lambda: _is(client, 503))
            status, body = await health(client)
            assert body == {
                "status": "failing",
                "reason": "the database cannot be written: database is locked",
            }
        finally:
            other.execute("ROLLBACK")
            other.close()
        released = datetime.now(UTC)
        # Retried at the next beat: alive again, and healthy.
        assert await wait_for(alive_after(store, released), 10)
        assert await until(lambda: _is(client, 200))
    messages = [r.getMessage() for r in caplog.records if "database" in r.getMessage()]
    assert messages[0].startswith("cannot write the database (database is locked)")
    assert messages[-1].startswith("the database is written again, after ")
    assert len(messages) == 2  # one run of failures, one line for it and one for its end


async def _is(client: httpx.AsyncClient, status: int) -> bool:
    return (await health(client))[0] == status


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted in this test run's own mount namespace (tests/netns-run)."""
    with faults.small_disk(tmp_path / "disk") as disk:
        yield disk


@pytest.mark.netns  # root, and a mount namespace of the run's own
async def test_a_full_disk_fails_health_loudly_and_the_writer_recovers(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(small_disk / "data") as (app, client):
        store: Store = app_state(app).store
        assert await wait_for(alive_after(store, datetime.now(UTC)), 10)
        fill(small_disk / "filler")
        try:
            assert await until(lambda: _is(client, 503))
            _, body = await health(client)
            assert body["status"] == "failing"
            assert "full" in body["reason"], body
            full_since = datetime.now(UTC)
            await asyncio.sleep(INTERVAL * 20)
            # Still failing beat after beat, and logged once for the whole run, not per beat.
            assert await _is(client, 503)
            assert not alive_after(store, full_since)()
        finally:
            (small_disk / "filler").unlink()
        freed = datetime.now(UTC)
        assert await wait_for(alive_after(store, freed), 10)
        assert await until(lambda: _is(client, 200))
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("cannot write the database ("), errors
    assert "full" in errors[0]
