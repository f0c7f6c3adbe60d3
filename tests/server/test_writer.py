"""The store's writer: writes in one thread off the event loop, in order, with bounded waits,
against a write lock held by another process (tests/faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.server import store as store_module
from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Site, Store, UnknownSession
from diemcau.server.writer import Writer, WriteUnavailable
from tests.faults import HeldLock
from tests.peers import wait_for
from tests.server.conftest import ADMIN_TOKEN, BASE_URL

T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
NGA_THANH = Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's connection waits for a held lock until the test lets it go, so that the
    test says when the lock ends, not SQLite's busy timeout."""
    monkeypatch.setattr(store_module, "WORKER_BUSY_TIMEOUT_MS", 600_000)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store.open(tmp_path / "diemcau.sqlite3")
    store.put_site(NGA_THANH, T0)
    yield store
    store.close()


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[Writer]:
    writer = Writer(store, wait=600)
    yield writer
    await writer.close()


def new_session(store: Store) -> str:
    return store.create_session(
        title="Họp giao ban",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=2),
        host_token_hash="host",
        invite_token_hashes={"nga-thanh": "site"},
        now=T0,
    ).id


async def test_writes_run_in_one_thread_in_order_and_return_once_committed(
    store: Store, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = new_session(store)
    threads: set[str] = set()
    original = Store.append_event

    def spy(self: Store, *args: object, **kwargs: object) -> int:
        threads.add(threading.current_thread().name)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "append_event", spy)
    writes = [
        writer.run(Store.append_event, session_id, "headcount", T0, site_id="nga-thanh", present=n)
        for n in range(50)
    ]
    seqs = await asyncio.gather(*writes)
    assert seqs == sorted(seqs)
    # Committed: the loop's own connection reads every one, in the order they were asked for.
    assert [e.body["present"] for e in store.events(session_id)] == list(range(50))
    assert threads == {"diemcau-writer"}
    # What a write raises is raised to its caller, and the next write goes on.
    with pytest.raises(UnknownSession):
        await writer.run(Store.start_session, "nobody", T0)
    session, changed = await writer.run(Store.start_session, session_id, T0)
    assert changed and session.state.value == "live"


async def test_a_held_lock_stalls_the_writer_not_the_loop(
    store: Store, patient: None, tmp_path: Path
) -> None:
    session_id = new_session(store)
    writer = Writer(store, wait=600)
    try:
        async with HeldLock(store.path) as lock:
            writes = [
                asyncio.create_task(
                    writer.run(Store.append_event, session_id, "headcount", T0, present=n)
                )
                for n in range(5)
            ]
            assert await wait_for(lambda: writer.busy, 10)
            # The loop goes on while the first write waits for the lock in the writer's thread:
            # a hundred turns of it, and none of the writes done.
            for _ in range(100):
                await asyncio.sleep(0)
            assert writer.busy and not any(w.done() for w in writes)
            await lock.release(commit=True)
            seqs = await asyncio.gather(*writes)
        # After the other process's write, and in the order asked for.
        assert store.last_alive() == datetime(1999, 1, 1, tzinfo=UTC)
        assert seqs == sorted(seqs)
        assert [e.body["present"] for e in store.events(session_id)] == list(range(5))
        assert store.health.problem is None
    finally:
        await writer.close()


async def test_a_write_that_cannot_start_in_time_is_withdrawn_and_never_done(
    store: Store, patient: None
) -> None:
    session_id = new_session(store)
    writer = Writer(store, wait=0.2)
    try:
        async with HeldLock(store.path) as lock:
            first = asyncio.create_task(
                writer.run(Store.append_event, session_id, "headcount", T0, present=1)
            )
            assert await wait_for(lambda: writer.busy, 10)
            # Behind the one waiting for the lock: refused after its wait, and counted.
            with pytest.raises(WriteUnavailable, match=r"waited 0\.2 s"):
                await writer.run(Store.append_event, session_id, "headcount", T0, present=2)
            assert store.health.problem == "a write waited 0.2 s for the writes before it"
            # Its caller gone, a write not started is withdrawn too.
            cancelled = asyncio.create_task(
                writer.run(Store.append_event, session_id, "headcount", T0, present=3)
            )
            await asyncio.sleep(0)
            cancelled.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cancelled
            # A write that started is not withdrawn: it ends once the lock is free.
            assert not first.done()
            await lock.release()
            await first
        await writer.run(Store.append_event, session_id, "headcount", T0, present=4)
        assert [e.body["present"] for e in store.events(session_id)] == [1, 4]
        assert store.health.problem is None
    finally:
        await writer.close()


async def test_a_full_queue_refuses_at_once(store: Store, patient: None) -> None:
    session_id = new_session(store)
    writer = Writer(store, capacity=3, wait=600)
    try:
        async with HeldLock(store.path) as lock:
            waiting = [
                asyncio.create_task(
                    writer.run(Store.append_event, session_id, "headcount", T0, present=n)
                )
                for n in range(4)  # one in the thread, three in the queue
            ]
            assert await wait_for(lambda: writer.busy, 10)
            with pytest.raises(WriteUnavailable, match="3 writes are waiting"):
                await writer.run(Store.append_event, session_id, "headcount", T0, present=9)
            assert store.health.problem == "3 writes are waiting"
            await lock.release()
            await asyncio.gather(*waiting)
        assert [e.body["present"] for e in store.events(session_id)] == [0, 1, 2, 3]
    finally:
        await writer.close()


async def test_close_does_every_write_asked_for_first(store: Store) -> None:
    session_id = new_session(store)
    writer = Writer(store)
    writes = [
        asyncio.create_task(writer.run(Store.append_event, session_id, "headcount", T0, present=n))
        for n in range(20)
    ]
    await asyncio.sleep(0)  # each has asked
    await writer.close()
    assert len(store.events(session_id)) == 20
    assert len(set(await asyncio.gather(*writes))) == 20
    with pytest.raises(WriteUnavailable, match="closed"):
        await writer.run(Store.mark_alive, T0)


# The server: every write through the writer while the loop goes on answering.


@contextlib.asynccontextmanager
async def running(data_dir: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(Config(data_dir=data_dir, udp_port=0, liveness_interval=0.05), ADMIN_TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield app, client


async def test_the_server_answers_while_its_writes_wait_for_a_lock_held_elsewhere(
    tmp_path: Path, patient: None
) -> None:
    async with running(tmp_path / "data") as (app, client):
        store: Store = app_state(app).store
        app_state(app).writer.wait = 600.0
        # Through the writer, as the server writes: the liveness mark may be committing now.
        writer = app_state(app).writer
        await writer.run(Store.put_site, NGA_THANH, T0)
        session_id = await writer.run(new_session)
        bridge = app_state(app).bridge
        async with HeldLock(store.path) as lock:
            # A hall joins, leaves and another joins while the lock is held.
            events = [
                asyncio.create_task(bridge.on_join(session_id, "nga-thanh", "c1", None)),
                asyncio.create_task(bridge.on_leave(session_id, "nga-thanh", "c1", "closed")),
                asyncio.create_task(bridge.on_join(session_id, "nga-thanh", "c2", None)),
            ]
            assert await wait_for(lambda: app_state(app).writer.busy, 10)
            for _ in range(20):
                assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert app_state(app).writer.busy and not any(e.done() for e in events)
            await lock.release()
            await asyncio.gather(*events)
        logged = [(e.type, e.conn) for e in store.events(session_id)]
        assert logged == [("join", "c1"), ("leave", "c1"), ("join", "c2")]


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_an_admin_write_is_answered_once_committed_while_the_loop_answers_others(
    tmp_path: Path, patient: None
) -> None:
    async with running(tmp_path / "data") as (app, client):
        store = app_state(app).store
        app_state(app).writer.wait = 600.0
        async with HeldLock(store.path) as lock:
            body = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
            putting = asyncio.create_task(
                client.put("/api/sites/nga-thanh", json=body, headers=admin())
            )
            assert await wait_for(lambda: app_state(app).writer.busy, 10)
            for _ in range(20):
                assert (await client.get("/healthz")).status_code == 200
                assert (await client.get("/api/sites", headers=admin())).json() == {"sites": []}
            assert not putting.done()
            await lock.release()
            response = await putting
        assert response.status_code == 201
        assert store.get_site("nga-thanh") == Site("nga-thanh", "Xã Nga Thạnh", "commune", 40)


async def test_the_api_writes_through_the_writer_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[str] = []
    transaction = Store._transaction

    def spy(self: Store) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        where.append(threading.current_thread().name)
        return transaction(self)

    async with running(tmp_path / "data") as (_, client):
        monkeypatch.setattr(Store, "_transaction", spy)  # after recovery, which serves nothing
        site = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
        for method, path, kwargs, status in [
            ("PUT", "/api/sites/nga-thanh", {"json": site}, 201),
            ("PUT", "/api/sites/nga-thanh", {"json": site}, 200),
            (
                "POST",
                "/api/sites/import",
                {
                    "content": "id,name,kind,expected\ntan-loc,Tân Lộc,town,25\n".encode(),
                    "headers": {"Content-Type": "text/csv"},
                },
                200,
            ),
            ("DELETE", "/api/sites/tan-loc", {}, 204),
            (
                "POST",
                "/api/sessions",
                {
                    "json": {
                        "title": "Họp giao ban",
                        "scheduled_start": "2026-03-05T01:00:00Z",
                        "scheduled_end": "2026-03-05T03:00:00Z",
                    }
                },
                201,
            ),
        ]:
            headers = {**admin(), **kwargs.pop("headers", {})}
            response = await client.request(method, path, headers=headers, **kwargs)
            assert response.status_code == status, (method, path, response.text)
        # The session's life: started, a headcount, ended (the meeting's store effects).
        session = f"/api/sessions/{response.json()['id']}"
        for path, body, status in [
            (f"{session}/start", None, 200),
            (f"{session}/sites/nga-thanh/headcount", {"present": 35}, 201),
            (f"{session}/end", None, 200),
        ]:
            response = await client.post(path, json=body, headers=admin())
            assert response.status_code == status, (path, response.text)
    assert where and set(where) == {"diemcau-writer"}, where
