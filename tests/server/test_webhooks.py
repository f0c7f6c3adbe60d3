"""Webhooks against a real HTTP receiver on loopback: down for a while, then up, it gets every
event at least once, each with a valid signature; a restart sends what was left; a 500 is
retried; a dead receiver delays no other one; the outbox is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from diemcau.media.route import Route
from diemcau.server import outbox
from diemcau.server import webhooks as webhooks_module
from diemcau.server.app import create_app
from diemcau.server.backoff import Backoff
from diemcau.server.config import Config
from diemcau.server.meeting import PageOpened
from diemcau.server.state import app_state
from diemcau.server.store import Store
from diemcau.server.webhooks import SIGNATURE_HEADER, Webhooks, url_for_log
from diemcau.signaling.room import FloorChanged, MuteChanged
from tests.conftest import free_port, start_server, stop_server
from tests.peers import wait_for
from tests.server.conftest import ADMIN_TOKEN, BASE_URL, admin_headers, create_session, put_sites
from tests.server.test_metrics import samples, value

SECRET = "webhook-secret-for-tests"
# Short waits, so that a receiver down for a second sees several attempts.
FAST = Backoff(first=0.05, factor=2.0, longest=0.4, jitter=0.2)


@dataclass
class Delivery:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def signed(self) -> bool:
        expected = "sha256=" + hmac.new(SECRET.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get(SIGNATURE_HEADER.lower(), ""), expected)


@dataclass
class Receiver:
    """A webhook receiver: a uvicorn server on a loopback port, refusing connections while
    down; it answers 500 to the first `failures` POSTs and 204 to the others."""

    port: int = field(default_factory=free_port)
    failures: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/diemcau?key=receiver-key"

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The events answered 204, each checked for its signature."""
        events = []
        for delivery in self.deliveries:
            assert delivery.signed, delivery
            if delivery.status == 204:
                events.append(delivery.event)
        return events

    def types(self) -> set[str]:
        return {event["type"] for event in self.delivered}

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 500 if len(self.deliveries) < self.failures else 204
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        assert (scope["method"], scope["path"]) == ("POST", "/hooks/diemcau")
        self.deliveries.append(Delivery(status, headers, body))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def up(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        assert await wait_for(lambda: self._server is not None and self._server.started, 10)

    async def down(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    yield receiver
    await receiver.down()


def webhook_config(data_dir: Path, *urls: str) -> Config:
    return Config(
        data_dir=data_dir,
        udp_port=0,
        write_burst=1e9,
        webhook_urls=urls,
        webhook_secret=SECRET,
    )


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with its lifespan (and so its webhook receivers) running, and a client."""
    app = create_app(config, ADMIN_TOKEN)
    webhooks: Webhooks = app_state(app).webhooks
    webhooks.backoff = FAST
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield app, client


async def a_session(app: Starlette, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """A session of two halls that starts, sees a join, a failed attempt and a leave of each
    hall, and ends; returns its id and every token it handed out."""
    await put_sites(client)
    created = await create_session(client, ["nga-thanh", "tan-loc"])
    session = created["id"]
    tokens = [created["host"]["token"], *(invite["token"] for invite in created["invites"])]
    started = await client.post(f"/api/sessions/{session}/start", headers=admin_headers())
    assert started.status_code == 200, started.text
    bridge = app_state(app).bridge
    await bridge.on_join(session, "nga-thanh", "c1", Route("srflx", "udp", "203.0.113.7"))
    await bridge.on_attempt_failed(session, "tan-loc", "c2", "ice_timeout", ("host", "srflx"))
    await bridge.on_join(session, "tan-loc", "c3", Route("relay", "tcp", "198.51.100.20"))
    await bridge.on_leave(session, "nga-thanh", "c1", "closed")
    await bridge.on_leave(session, "tan-loc", "c3", "failed")
    ended = await client.post(f"/api/sessions/{session}/end", headers=admin_headers())
    assert ended.status_code == 200, ended.text
    return session, tokens


JOIN_LOG_TYPES = {"session_started", "hall_joined", "hall_failed", "hall_left", "session_ended"}


def check_events(events: list[dict[str, Any]], session: str, tokens: list[str]) -> None:
    """Every event of `a_session` is there, once or more, whole, without a token or address."""
    by_id = {event["id"]: event for event in events}
    # At least once: duplicates share an id and are the same event.
    assert all(by_id[event["id"]] == event for event in events)
    unique = sorted(by_id.values(), key=lambda event: (event["ts"], event["type"]))
    assert [(e["type"], e.get("site"), e.get("conn")) for e in unique] == [
        ("session_started", None, None),
        ("hall_joined", "nga-thanh", "c1"),
        ("hall_failed", "tan-loc", "c2"),
        ("hall_joined", "tan-loc", "c3"),
        ("hall_left", "nga-thanh", "c1"),
        ("hall_left", "tan-loc", "c3"),
        ("session_ended", None, None),
    ]
    for event in unique:
        assert {"id", "type", "ts", "session"} <= event.keys()
        assert event["session"] == session
        assert event["ts"].endswith("Z")
    joined, failed, _, left, _ = unique[1:6]
    assert joined["site_name"] == "Xã Nga Thạnh"
    assert (joined["candidate"], joined["protocol"]) == ("srflx", "udp")
    assert (failed["reason"], failed["offered"]) == ("ice_timeout", ["host", "srflx"])
    assert left["reason"] == "closed"
    assert unique[0]["title"] == "Họp giao ban"
    text = json.dumps(events, ensure_ascii=False)
    for secret in (*tokens, ADMIN_TOKEN, SECRET, "203.0.113", "198.51.100"):
        assert secret not in text


async def test_a_receiver_down_for_a_while_then_gets_every_event_signed(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(webhook_config(tmp_path, receiver.url)) as (app, client):
        session, tokens = await a_session(app, client)
        store: Store = app_state(app).store
        # Down: every event waits in the outbox, and the first of them is being retried.
        assert outbox.pending(store) == {receiver.url: 7}
        assert await wait_for(lambda: outbox.head(store, receiver.url, 1)[0].attempts >= 3, 10)
        await receiver.up()
        assert await wait_for(lambda: len(receiver.delivered) >= 7, 20)
        assert await wait_for(lambda: outbox.pending(store) == {}, 10)
    check_events(receiver.delivered, session, tokens)
    # In the order they happened: one receiver's events go one at a time, oldest first.
    assert [e["type"] for e in receiver.delivered][:2] == ["session_started", "hall_joined"]
    assert all(d.headers["content-type"] == "application/json" for d in receiver.deliveries)
    logged = caplog.text
    assert url_for_log(receiver.url) in logged and "delivery failed" in logged
    for secret in (*tokens, SECRET, "receiver-key"):
        assert secret not in logged


async def test_a_restart_sends_what_the_last_run_left(tmp_path: Path, receiver: Receiver) -> None:
    config = webhook_config(tmp_path, receiver.url)
    async with running(config) as (app, client):
        session, tokens = await a_session(app, client)
    # Stopped with the receiver down: everything is still in the outbox, on disk.
    with contextlib.closing(Store.open(config.data_dir / "diemcau.sqlite3")) as store:
        assert outbox.pending(store) == {receiver.url: 7}
    await receiver.up()
    async with running(config) as (app, _):
        assert await wait_for(lambda: len(receiver.delivered) >= 7, 20)
        assert await wait_for(lambda: outbox.pending(app_state(app).store) == {}, 10)
    check_events(receiver.delivered, session, tokens)


async def test_a_receiver_answering_500_gets_the_same_event_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.failures = 3
    await receiver.up()
    async with running(webhook_config(tmp_path, receiver.url)) as (app, client):
        session, tokens = await a_session(app, client)
        assert await wait_for(lambda: len(receiver.delivered) >= 7, 20)
        assert await wait_for(lambda: outbox.pending(app_state(app).store) == {}, 10)
        scraped = samples(app_state(app).metrics.exposition().decode())
    name = url_for_log(receiver.url)
    assert value(scraped, "diemcau_webhook_posts_total", receiver=name, outcome="failed") == 3
    assert value(scraped, "diemcau_webhook_posts_total", receiver=name, outcome="delivered") == 7
    assert value(scraped, "diemcau_webhook_failing", receiver=name) == 0
    statuses = [(d.status, d.event["id"]) for d in receiver.deliveries]
    first = statuses[0][1]
    # The first event was refused three times, then taken: four POSTs of one id.
    assert statuses[:4] == [(500, first), (500, first), (500, first), (204, first)]
    check_events(receiver.delivered, session, tokens)


async def test_a_dead_receiver_delays_no_other(tmp_path: Path, receiver: Receiver) -> None:
    dead = Receiver()  # never up: every connection refused
    await receiver.up()
    async with running(webhook_config(tmp_path, dead.url, receiver.url)) as (app, client):
        session, tokens = await a_session(app, client)
        assert await wait_for(lambda: len(receiver.delivered) >= 7, 20)
        assert await wait_for(lambda: outbox.pending(app_state(app).store) == {dead.url: 7}, 10)
        scraped = samples(app_state(app).metrics.exposition().decode())
    assert value(scraped, "diemcau_webhook_failing", receiver=url_for_log(dead.url)) == 1
    assert value(scraped, "diemcau_webhook_failing", receiver=url_for_log(receiver.url)) == 0
    check_events(receiver.delivered, session, tokens)


async def test_a_url_no_longer_configured_is_dropped_and_others_kept(
    tmp_path: Path, receiver: Receiver
) -> None:
    gone = Receiver()
    config = webhook_config(tmp_path, gone.url, receiver.url)
    async with running(config) as (app, client):
        await a_session(app, client)
    await receiver.up()
    async with running(webhook_config(tmp_path, receiver.url)) as (app, _):
        assert await wait_for(lambda: len(receiver.delivered) >= 7, 20)
        assert await wait_for(lambda: outbox.pending(app_state(app).store) == {}, 10)


def test_the_outbox_keeps_at_most_its_cap_per_url(tmp_path: Path) -> None:
    with contextlib.closing(Store.open(tmp_path / "db.sqlite3")) as store:
        with store.transaction() as db:
            dropped = [
                outbox.put(db, ["http://a/", "http://b/"], f"e{n}", b"{}", "t", cap=3)
                for n in range(5)
            ]
        assert dropped == [0, 0, 0, 2, 2]
        assert outbox.pending(store) == {"http://a/": 3, "http://b/": 3}
        assert [row.event_id for row in outbox.head(store, "http://a/", 10)] == ["e2", "e3", "e4"]


def test_urls_are_logged_without_credentials_or_query() -> None:
    assert (
        url_for_log("https://user:pw@hooks.example.vn:8443/in?token=x#y")
        == "https://hooks.example.vn:8443/in"
    )
    assert url_for_log("http://[2001:db8::1]/h?k=v") == "http://[2001:db8::1]/h"


async def test_floor_changes_and_recordings_are_sent_after_what_they_report(
    tmp_path: Path, receiver: Receiver
) -> None:
    await receiver.up()
    async with running(webhook_config(tmp_path, receiver.url)) as (app, client):
        await put_sites(client)
        session = (await create_session(client, ["nga-thanh", "tan-loc"]))["id"]
        webhooks: Webhooks = app_state(app).webhooks
        now = datetime.now(UTC)
        # As the room's listener, which passes its floor changes on and nothing else.
        await webhooks.on_room_event(session, FloorChanged("nga-thanh", None, 1.0), now)
        await webhooks.on_room_event(session, MuteChanged("nga-thanh", True, 1.5), now)
        await webhooks.on_room_event(session, FloorChanged("tan-loc", "nga-thanh", 2.0), now)
        await webhooks.floor_changed(session, None, "tan-loc", now)
        url = f"https://hoinghi.example.vn/api/sessions/{session}/recordings/r1"
        await webhooks.recording_finished(session, "r1", now - timedelta(hours=1), now, 4096, url)
        assert await wait_for(lambda: len(receiver.delivered) >= 4, 20)
    floors = [
        (e["site"], e["site_name"], e["previous"], e["previous_name"])
        for e in receiver.delivered
        if e["type"] == "floor_changed"
    ]
    assert floors == [
        ("nga-thanh", "Xã Nga Thạnh", None, None),
        ("tan-loc", "Thị trấn Tân Lộc", "nga-thanh", "Xã Nga Thạnh"),
        (None, None, "tan-loc", "Thị trấn Tân Lộc"),
    ]
    recording = receiver.delivered[-1]
    assert recording["type"] == "recording_finished"
    assert recording["session"] == session
    assert (recording["recording"], recording["bytes"], recording["url"]) == ("r1", 4096, url)
    assert recording["ts"] == recording["ended_at"] and recording["started_at"] < recording["ts"]


async def test_a_server_killed_with_rows_waiting_sends_them_when_it_is_back(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`diemcau serve` itself, the secret from the environment: killed (-9) while its receiver
    is down, it sends what was waiting once it runs again."""
    monkeypatch.setenv("DIEMCAU_WEBHOOK_SECRET", SECRET)
    data_dir = tmp_path / "data"
    options = ("--webhook", receiver.url)
    server = await asyncio.to_thread(start_server, data_dir, None, None, options)
    try:
        session = (
            await asyncio.to_thread(
                server.create_session, [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}]
            )
        )["id"]
        with server.admin() as admin:
            for move in ("start", "end"):
                assert admin.post(f"/api/sessions/{session}/{move}").status_code == 200
        with contextlib.closing(Store.open(data_dir / "diemcau.sqlite3")) as store:
            assert outbox.pending(store) == {receiver.url: 2}
    finally:
        server.process.kill()
        server.process.wait()
    await receiver.up()
    again = await asyncio.to_thread(start_server, data_dir, None, server.admin_token, options)
    try:
        assert await wait_for(lambda: len(receiver.delivered) >= 2, 20)
    finally:
        await asyncio.to_thread(stop_server, again)
    assert [(e["type"], e["session"], e["title"]) for e in receiver.delivered] == [
        ("session_started", session, "Hội nghị thử"),
        ("session_ended", session, "Hội nghị thử"),
    ]
    assert SECRET not in server.log() and "receiver-key" not in server.log()


async def test_a_hall_a_crash_left_connected_is_reported_left_after_the_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = webhook_config(tmp_path, receiver.url)
    async with running(config) as (app, client):
        await put_sites(client)
        session = (await create_session(client, ["nga-thanh"]))["id"]
        # A join the bridge does not hold: at the end of this run nothing writes its leave,
        # as after a crash.
        await app_state(app).bridge.on_join(session, "nga-thanh", "c1", None)
    await receiver.up()
    async with running(config) as (app, _):
        assert await wait_for(lambda: "hall_left" in receiver.types(), 20)
    left = [e for e in receiver.delivered if e["type"] == "hall_left"]
    assert [(e["site"], e["conn"], e["reason"]) for e in left] == [
        ("nga-thanh", "c1", "server_shutdown")
    ]
    assert [e["type"] for e in receiver.delivered] == ["hall_joined", "hall_left"]


def test_a_payload_that_cannot_be_built_never_costs_the_join_log_its_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(webhooks_module, "from_join_log", broken)
    with contextlib.closing(Store.open(tmp_path / "db.sqlite3")) as store:
        store.event_observers.append(Webhooks(["http://127.0.0.1:9/in"], SECRET).observe)
        with store.transaction() as db:
            db.execute(
                "INSERT INTO sessions (id, title, scheduled_start, scheduled_end, state,"
                " created_at, host_token_hash) VALUES ('s', 't', 'a', 'b', 'live', 'c', 'h')"
            )
        store.append_event("s", "join", datetime.now(UTC), site_id="nga-thanh", conn="c1")
        assert [e.type for e in store.events("s")] == ["join"]
        assert outbox.pending(store) == {}
    assert "webhook of join-log event 1 (join) not written" in caplog.text


async def test_a_page_open_is_no_webhook(tmp_path: Path) -> None:
    """The join log's page_open (a hall's page opened its control channel) is for the report:
    no webhook type reports it, and the meeting's PageOpened is no floor change (it would
    raise here: the webhooks have not started)."""
    webhooks = Webhooks(["http://127.0.0.1:9/in"], SECRET)
    with contextlib.closing(Store.open(tmp_path / "db.sqlite3")) as store:
        store.event_observers.append(webhooks.observe)
        with store.transaction() as db:
            db.execute(
                "INSERT INTO sessions (id, title, scheduled_start, scheduled_end, state,"
                " created_at, host_token_hash) VALUES ('s', 't', 'a', 'b', 'live', 'c', 'h')"
            )
        store.append_event("s", "page_open", datetime.now(UTC), site_id="nga-thanh")
        await webhooks.on_room_event("s", PageOpened("nga-thanh", 0.0), datetime.now(UTC))
        assert [e.type for e in store.events("s")] == ["page_open"]
        assert outbox.pending(store) == {}


async def test_the_meetings_floor_changes_are_sent(tmp_path: Path, receiver: Receiver) -> None:
    await receiver.up()
    async with running(webhook_config(tmp_path, receiver.url)) as (app, client):
        await put_sites(client)
        session = (await create_session(client, ["nga-thanh", "tan-loc"]))["id"]
        started = await client.post(f"/api/sessions/{session}/start", headers=admin_headers())
        assert started.status_code == 200
        meeting = app_state(app).meeting
        for site in ("nga-thanh", "tan-loc"):
            await meeting.connect(session, site, f"ws-{site}")
            await meeting.request_floor(session, site)
        await meeting.grant(session, "nga-thanh")
        await meeting.grant(session, "tan-loc")
        await meeting.take_back(session)
        assert await wait_for(
            lambda: sum(e["type"] == "floor_changed" for e in receiver.delivered) >= 3, 20
        )
    floors = [
        (e["site"], e["previous"], e["site_name"])
        for e in receiver.delivered
        if e["type"] == "floor_changed"
    ]
    assert floors == [
        ("nga-thanh", None, "Xã Nga Thạnh"),
        ("tan-loc", "nga-thanh", "Thị trấn Tân Lộc"),
        (None, "tan-loc", None),
    ]
    # Once each: the meeting's own session_started is not sent again beside the join log's.
    assert [e["type"] for e in receiver.delivered].count("session_started") == 1
