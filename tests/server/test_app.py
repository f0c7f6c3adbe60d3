"""The bridge's handlers: each connection event in the join log, with its route, and a failed
attempt as an event and one plain warning line."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.media.route import Route
from diemcau.server import store as store_module
from diemcau.server.app import ConnectionLog, allowed_hosts, attempt_failed_hint, create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Store
from diemcau.server.writer import Writer
from tests.faults import HeldLock
from tests.peers import wait_for

from .conftest import ADMIN_TOKEN, admin_headers

NOW = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
TURN = ("turns:turn.example.vn:443?transport=tcp",)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "diemcau.sqlite3")
    yield store
    store.close()


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[Writer]:
    writer = Writer(store)
    yield writer
    await writer.close()


def live_session(store: Store) -> str:
    session = store.create_session(
        title="Họp giao ban",
        scheduled_start=NOW,
        scheduled_end=NOW,
        host_token_hash="host",
        invite_token_hashes={},
        now=NOW,
    )
    store.start_session(session.id, NOW)
    return session.id


@pytest.fixture
def session_id(store: Store) -> str:
    return live_session(store)


def bodies(store: Store, session_id: str) -> list[tuple[str, str | None, str | None, dict]]:
    return [(e.type, e.site_id, e.conn, e.body) for e in store.events(session_id)[1:]]


async def test_a_join_records_its_route(store: Store, writer: Writer, session_id: str) -> None:
    connections = ConnectionLog(writer, Config())
    await connections.on_join(session_id, "nga-thanh", "c1", Route("relay", "tcp", "198.51.100.20"))
    await connections.on_join(session_id, "tan-loc", "c2", Route("host", "udp", None))
    await connections.on_join(session_id, "ubnd", "c3", None)
    assert bodies(store, session_id) == [
        (
            "join",
            "nga-thanh",
            "c1",
            # Whole in the server's own record; exports mask it.
            {"candidate": "relay", "protocol": "tcp", "address": "198.51.100.20"},
        ),
        ("join", "tan-loc", "c2", {"candidate": "host", "protocol": "udp"}),
        ("join", "ubnd", "c3", {}),
    ]


async def test_a_join_logs_the_address_masked(
    store: Store, writer: Writer, session_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="diemcau"):
        await ConnectionLog(writer, Config()).on_join(
            session_id, "nga-thanh", "c1", Route("srflx", "udp", "203.0.113.7")
        )
    [line] = [r.getMessage() for r in caplog.records if "joined" in r.getMessage()]
    assert "srflx over udp from 203.0.113.x" in line
    assert "203.0.113.7" not in line


async def test_a_leave_records_its_reason(store: Store, writer: Writer, session_id: str) -> None:
    await ConnectionLog(writer, Config()).on_leave(session_id, "nga-thanh", "c1", "failed")
    assert bodies(store, session_id) == [("leave", "nga-thanh", "c1", {"reason": "failed"})]


async def test_a_failed_attempt_is_an_event_and_one_warning(
    store: Store, writer: Writer, session_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    connections = ConnectionLog(writer, Config(connect_timeout=20.0))
    with caplog.at_level(logging.INFO, logger="diemcau"):
        await connections.on_attempt_failed(
            session_id, "nga-thanh", "c1", "ice_timeout", ("host", "host", "srflx")
        )
        await connections.on_attempt_failed(session_id, "tan-loc", "c2", "ice_failed", ())
    assert bodies(store, session_id) == [
        (
            "attempt_failed",
            "nga-thanh",
            "c1",
            {"reason": "ice_timeout", "offered": ["host", "srflx"]},
        ),
        ("attempt_failed", "tan-loc", "c2", {"reason": "ice_failed", "offered": []}),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    first = f"session {session_id}: site nga-thanh could not connect: no candidate pair within"
    assert warnings[0].startswith(f"{first} 20 s;")
    assert "site tan-loc could not connect: every candidate pair failed;" in warnings[1]


async def test_the_app_hands_the_bridge_its_handlers(app: Starlette) -> None:
    store: Store = app_state(app).store
    session_id = live_session(store)
    bridge = app_state(app).bridge
    await bridge.on_join(session_id, "nga-thanh", "c1", Route("prflx", "udp", "203.0.113.8"))
    await bridge.on_attempt_failed(session_id, "tan-loc", "c2", "ice_timeout", ("relay",))
    await bridge.on_leave(session_id, "nga-thanh", "c1", "closed")
    assert [(e.type, e.site_id) for e in store.events(session_id)][1:] == [
        ("join", "nga-thanh"),
        ("attempt_failed", "tan-loc"),
        ("leave", "nga-thanh"),
    ]


# What the operator is told: (reason, offered, TURN configured, what the line must say).
HINTS: dict[str, tuple[str, tuple[str, ...], bool, str]] = {
    "host only: UDP blocked and no relay": (
        "ice_timeout",
        ("host",),
        True,
        "site nga-thanh could not connect: no candidate pair within 20 s; the hall offered host"
        " candidates only, so its network blocks UDP and it had no TURN relay — check --turn and"
        " the TURN secret",
    ),
    "host only, and the server has no TURN server": (
        "ice_failed",
        ("host",),
        False,
        "give --turn and --turn-secret",
    ),
    "nothing offered: no network, or TURN refused the credentials": (
        "ice_timeout",
        (),
        True,
        "the hall offered no candidates: its browser found no network it could use, or its TURN"
        " server refused the credentials — check --turn and the TURN secret",
    ),
    "a relay offered: the TURN server cannot reach the server": (
        "ice_timeout",
        ("host", "srflx", "relay"),
        True,
        "the TURN server can send UDP to --udp-port",
    ),
    "srflx without relay: the server's port is not reachable": (
        "ice_failed",
        ("host", "srflx"),
        True,
        "the hall offered host and srflx candidates only: its UDP reaches the internet but not"
        " this server — check --public-ip and that --udp-port is open",
    ),
    "DTLS failed: the path works": (
        "dtls_failed",
        ("host", "srflx"),
        True,
        "could not connect: ICE connected but the DTLS handshake did not complete; the path works",
    ),
    "a reason the bridge may add later is still named": (
        "consent_lost",
        ("host",),
        True,
        "could not connect: consent_lost;",
    ),
}


@pytest.mark.parametrize(("reason", "offered", "turn", "says"), HINTS.values(), ids=HINTS.keys())
def test_attempt_failed_hint(reason: str, offered: tuple[str, ...], turn: bool, says: str) -> None:
    config = Config(connect_timeout=20.0, turn_urls=TURN if turn else ())
    hint = attempt_failed_hint("nga-thanh", reason, offered, config)
    assert says in hint
    assert "\n" not in hint


# Through a fault: a write lock held by another connection.


def held_lock(store: Store) -> sqlite3.Connection:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def to_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def test_a_join_waits_out_a_held_lock_and_keeps_its_moment(
    store: Store, writer: Writer, session_id: str
) -> None:
    other = held_lock(store)
    happened = to_ms(datetime.now(UTC))
    joining = asyncio.create_task(
        ConnectionLog(writer, Config()).on_join(session_id, "nga-thanh", "c1", None)
    )
    try:
        assert await wait_for(lambda: store.health.problem == "database is locked", 10)
        assert not joining.done()  # tried again, not dropped
    finally:
        other.execute("ROLLBACK")
        other.close()
    released = datetime.now(UTC)
    await asyncio.wait_for(joining, 10)
    [join] = store.events(session_id)[1:]
    assert (join.type, join.site_id, join.conn) == ("join", "nga-thanh", "c1")
    # When the hall joined, not when the lock let the write through.
    assert happened <= join.ts < released
    assert store.health.problem is None


async def test_a_write_that_keeps_failing_is_given_up_loudly(
    store: Store, writer: Writer, session_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    connections = ConnectionLog(writer, Config())
    connections.retry_for = 0.3
    other = held_lock(store)
    try:
        await asyncio.wait_for(connections.on_join(session_id, "nga-thanh", "c1", None), 10)
        # Stopping, a leave is tried once: the next start closes it at the last liveness mark.
        await asyncio.wait_for(
            connections.on_leave(session_id, "nga-thanh", "c1", "server_shutdown"), 10
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert bodies(store, session_id) == []
    given_up = [r.getMessage() for r in caplog.records if "could not be written" in r.getMessage()]
    assert len(given_up) == 2
    assert given_up[0].startswith(f"session {session_id}: the join of site nga-thanh (c1) at ")
    assert given_up[0].endswith("could not be written (database is locked)")


# Links never trust Host (issue 12, part 7).

SESSION = {
    "title": "Hội nghị",
    "scheduled_start": "2026-03-05T01:00:00Z",
    "scheduled_end": "2026-03-05T03:00:00Z",
    "sites": ["nga-thanh"],
}


async def _answers(config: Config, host: str) -> tuple[httpx.Response, httpx.Response, int]:
    """A session created and the sites listed under Host `host`: both answers, and how many
    sessions the store then holds."""
    app = create_app(config, ADMIN_TOKEN)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as c:
            site = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
            put = await c.put("/api/sites/nga-thanh", json=site, headers=admin_headers())
            assert put.status_code == 201
            headers = {**admin_headers(), "Host": host}
            created = await c.post("/api/sessions", json=SESSION, headers=headers)
            join = await c.get("/join/s/site", headers={"Host": host})
        return created, join, len(app_state(app).store.list_sessions())
    finally:
        await app_state(app).bridge.close()
        app_state(app).store.close()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.77.0.1"]
)
async def test_a_foreign_host_gets_400_and_never_a_link(tmp_path: Path, host: str) -> None:
    config = Config(data_dir=tmp_path / "data")
    created, join, sessions = await _answers(config, host)
    for answer in (created, join):
        assert answer.status_code == 400
        assert "evil" not in answer.text and "10.77" not in answer.text
    assert sessions == 0  # refused before anything was written


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:8080", "[::1]", "[::1]:8080"]
)
async def test_loopback_names_are_answered_and_links_name_them(tmp_path: Path, host: str) -> None:
    created, _, _ = await _answers(Config(data_dir=tmp_path / "data"), host)
    assert created.status_code == 201
    assert created.json()["host"]["whip_url"].lower().startswith(f"http://{host.lower()}/whip/")


async def test_with_a_public_url_its_host_is_answered_and_links_use_it(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", public_url="https://hop.nga-son.gov.vn")
    created, _, _ = await _answers(config, "hop.nga-son.gov.vn")
    assert created.status_code == 201
    assert created.json()["host"]["whip_url"].startswith("https://hop.nga-son.gov.vn/whip/")
    evil, _, _ = await _answers(replace(config, data_dir=tmp_path / "other"), "evil.example")
    assert evil.status_code == 400


@pytest.mark.parametrize(
    ("host", "public_url", "allowed"),
    [
        ("127.0.0.1", None, ["127.0.0.1", "localhost", "[::1]"]),
        ("::1", None, ["127.0.0.1", "localhost", "[::1]"]),
        ("localhost", None, ["127.0.0.1", "localhost", "[::1]"]),
        ("0.0.0.0", "https://hop.example.vn:8443", ["hop.example.vn"]),
        ("10.0.0.2", "http://203.0.113.10:8080", ["10.0.0.2", "203.0.113.10"]),
        ("2001:db8::2", "https://hop.example.vn", ["[2001:db8::2]", "hop.example.vn"]),
        (
            "127.0.0.1",
            "https://[2001:db8::5]",
            ["127.0.0.1", "localhost", "[::1]", "[2001:db8::5]"],
        ),
    ],
)
def test_allowed_hosts(host: str, public_url: str | None, allowed: list[str]) -> None:
    assert allowed_hosts(Config(host=host, public_url=public_url)) == allowed


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.77.0.1", "hop.example.vn"])
def test_a_non_loopback_host_without_a_public_url_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="is not a loopback address: give --public-url"):
        allowed_hosts(Config(host=host))


async def test_a_sessions_events_keep_their_order_through_a_fault(
    store: Store, writer: Writer, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short waits for the lock: each try fails fast while it is held.
    monkeypatch.setattr(store_module, "WORKER_BUSY_TIMEOUT_MS", 50)
    connections = ConnectionLog(writer, Config())
    async with HeldLock(store.path) as lock:
        events = [
            asyncio.create_task(connections.on_join(session_id, "nga-thanh", "c1", None)),
            asyncio.create_task(connections.on_leave(session_id, "nga-thanh", "c1", "closed")),
            asyncio.create_task(connections.on_join(session_id, "nga-thanh", "c2", None)),
            asyncio.create_task(
                connections.on_attempt_failed(session_id, "tan-loc", "c3", "ice_failed", ())
            ),
        ]
        # The first failed and waits to try again: the lock goes now, while the others could
        # overtake it.
        assert await wait_for(lambda: store.health.problem == "database is locked", 10)
        await lock.release()
        await asyncio.wait_for(asyncio.gather(*events), 30)
    assert [(e.type, e.conn) for e in store.events(session_id)[1:]] == [
        ("join", "c1"),
        ("leave", "c1"),
        ("join", "c2"),
        ("attempt_failed", "c3"),
    ]
    assert connections._order == {}  # nothing kept once written
