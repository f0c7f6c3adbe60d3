"""The control channel end to end: a real `diemcau serve`, real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from diemcau.signaling.room import MAX_CONNECTIONS
from tests.conftest import Server

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
    {"id": "nga-dien", "name": "Xã Nga Điền"},
]


def ws_url(server: Server, session: dict) -> str:
    return server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"


async def receive(ws: ClientConnection, wanted: str | None = None, within: float = 5) -> dict:
    """The next message (of type `wanted`, skipping others)."""
    async with asyncio.timeout(within):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if wanted is None or message["type"] == wanted:
                return message


@asynccontextmanager
async def participant(server: Server, session: dict, token: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(ws_url(server, session)) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        welcome = await receive(ws)
        assert welcome["type"] == "welcome", welcome
        yield ws


async def test_wrong_tokens_and_bad_first_messages_are_refused(server: Server) -> None:
    session = server.create_session(SITES, title="Kênh điều khiển")
    cases = [
        (json.dumps({"type": "hello", "token": "nope"}), "invalid_token", 4401),
        (json.dumps({"type": "ping"}), "hello_first", 4401),
        ("not json", "invalid_message", 4401),
    ]
    for first, code, close_code in cases:
        async with websockets.connect(ws_url(server, session)) as ws:
            await ws.send(first)
            assert (await receive(ws))["code"] == code
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == close_code


async def test_a_commune_asks_the_chair_grants_and_takes_the_floor_back(server: Server) -> None:
    session = server.create_session(SITES, title="Xin phát biểu")
    host_token = session["host"]["token"]
    tokens = [i["token"] for i in session["invites"]]
    async with (
        participant(server, session, host_token) as host,
        participant(server, session, tokens[0]) as one,
        participant(server, session, tokens[1]) as two,
        participant(server, session, tokens[2]) as three,
    ):
        await two.send(json.dumps({"type": "request_floor"}))
        assert (await receive(host, "requests"))["requests"] == ["nga-hai"]
        await two.send(json.dumps({"type": "request_floor"}))
        assert (await receive(two, "error"))["code"] == "already_requested"

        await host.send(json.dumps({"type": "grant", "site": "nga-hai"}))
        for ws in (host, one, two, three):
            floor = await receive(ws, "floor")
            assert (floor["holder"], floor["previous"]) == ("nga-hai", None)
            assert floor["holder_name"] == "Xã Nga Hải"
        # A hall that connects while another speaks learns who, by name.
        async with websockets.connect(ws_url(server, session)) as late:
            await late.send(json.dumps({"type": "hello", "token": host_token}))
            welcome = await receive(late, "welcome")
            assert welcome["room"]["floor"] == "nga-hai"
            assert welcome["room"]["floor_name"] == "Xã Nga Hải"
        await host.send(json.dumps({"type": "take_back"}))
        for ws in (host, one, three):
            assert (await receive(ws, "floor"))["holder"] is None

        # Only the chair grants; unknown and malformed messages get an error, not a crash.
        await one.send(json.dumps({"type": "grant", "site": "nga-thanh"}))
        assert (await receive(one, "error"))["code"] == "forbidden"
        await one.send(json.dumps({"type": "dance"}))
        assert (await receive(one, "error"))["code"] == "unknown_type"
        await one.send(json.dumps({"type": "headcount", "present": "many"}))
        assert (await receive(one, "error"))["code"] == "invalid_message"
        await one.send("x" * 5000)
        assert (await receive(one, "error"))["code"] == "too_large"
        await one.send(json.dumps({"type": "ping"}))
        assert (await receive(one, "pong"))["type"] == "pong"


async def test_headcount_over_the_channel_is_logged_and_announced(server: Server) -> None:
    session = server.create_session(SITES[:1], title="Số người")
    async with (
        participant(server, session, session["host"]["token"]) as host,
        participant(server, session, session["invites"][0]["token"]) as site,
    ):
        await site.send(json.dumps({"type": "headcount", "present": 42}))
        assert (await receive(host, "headcount"))["present"] == 42
    with server.admin() as client:
        sites = client.get(f"/api/sessions/{session['id']}/sites").json()["sites"]
    assert sites[0]["headcount"] == 42


async def test_a_headcount_over_http_is_announced_like_one_over_the_channel(
    server: Server,
) -> None:
    # One call through the meeting service from either door: the room, the record and the bus.
    session = server.create_session(SITES[:1], title="Số người qua HTTP")
    site_id = session["invites"][0]["site"]
    async with participant(server, session, session["host"]["token"]) as host:
        with server.admin() as client:
            answer = client.post(
                f"/api/sessions/{session['id']}/sites/{site_id}/headcount", json={"present": 17}
            )
        assert answer.status_code == 201
        assert await receive(host, "headcount") == {
            "type": "headcount",
            "site": site_id,
            "present": 17,
        }
    # A participant arriving later finds it in the room.
    async with websockets.connect(ws_url(server, session)) as late:
        await late.send(json.dumps({"type": "hello", "token": session["host"]["token"]}))
        assert (await receive(late, "welcome"))["room"]["headcounts"] == {site_id: 17}


async def test_a_removed_site_is_cut_off_and_refused_when_it_comes_back(server: Server) -> None:
    session = server.create_session(SITES[:2], title="Mời ra")
    invite = session["invites"][1]
    async with participant(server, session, session["host"]["token"]) as host:
        async with participant(server, session, invite["token"]) as site:
            await host.send(json.dumps({"type": "remove", "site": invite["site"]}))
            assert (await receive(site, "removed"))["site"] == invite["site"]
            with pytest.raises(websockets.ConnectionClosed):
                await receive(site)
        async with websockets.connect(ws_url(server, session)) as again:
            await again.send(json.dumps({"type": "hello", "token": invite["token"]}))
            assert (await receive(again))["code"] == "revoked"
    async with httpx.AsyncClient() as client:
        whep = await client.post(
            invite["whep_url"],
            content="v=0\r\n",
            headers={
                "Authorization": f"Bearer {invite['token']}",
                "Content-Type": "application/sdp",
            },
        )
    assert (whep.status_code, whep.json()["error"]) == (403, "revoked")


async def test_one_token_has_a_cap_of_connections_whatever_the_addresses(server: Server) -> None:
    """A hall's token used from many addresses (each under the cap per address, through the
    trusted proxy on loopback) opens no more than MAX_CONNECTIONS control connections."""
    session = server.create_session(SITES[:2], title="Một mã, nhiều nơi")
    token, other = (i["token"] for i in session["invites"])

    def connect(n: int) -> websockets.connect:
        forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
        return websockets.connect(ws_url(server, session), additional_headers=forwarded)

    async def hello(ws: ClientConnection, hall_token: str) -> dict:
        await ws.send(json.dumps({"type": "hello", "token": hall_token}))
        return await receive(ws)

    async with contextlib.AsyncExitStack() as stack:
        open_ = [await stack.enter_async_context(connect(n)) for n in range(1, MAX_CONNECTIONS + 1)]
        for ws in open_:
            assert (await hello(ws, token))["type"] == "welcome"
        async with connect(200) as one_more:
            refused = await hello(one_more, token)
            assert refused["code"] == "too_many_connections", refused
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await one_more.recv()
            # 4429: come back later, unlike a removed hall's 4403.
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        # Another hall is not counted with it.
        async with connect(201) as neighbour:
            assert (await hello(neighbour, other))["type"] == "welcome"
        # One closed, one more may come (once the server has seen it close).
        await open_.pop().close()
        for n in range(202, 252):
            async with connect(n) as later:
                if (await hello(later, token))["type"] == "welcome":
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("no connection let in after one closed")


async def test_floods_are_rate_limited(server: Server) -> None:
    session = server.create_session(SITES[:1], title="Dồn dập")
    async with participant(server, session, session["invites"][0]["token"]) as site:
        for _ in range(40):
            await site.send(json.dumps({"type": "ping"}))
        answers = [await receive(site) for _ in range(40)]
    limited = [a for a in answers if a["type"] == "error" and a["code"] == "rate_limited"]
    assert limited and len(limited) < 40


async def test_the_end_of_the_session_reaches_everyone_and_closes_the_channel(
    server: Server,
) -> None:
    session = server.create_session(SITES[:1], title="Bế mạc")
    async with participant(server, session, session["invites"][0]["token"]) as site:
        with server.admin() as client:
            assert client.post(f"/api/sessions/{session['id']}/end").status_code == 200
        assert (await receive(site, "session"))["state"] == "ended"
        with pytest.raises(websockets.ConnectionClosed):
            await receive(site)


async def test_binary_frames_and_text_that_is_no_unicode_are_answered_not_raised(
    server: Server,
) -> None:
    session = server.create_session(SITES, title="Khung nhị phân")
    # Before hello: an error, and the close of a bad first message.
    for first in (b'{"type": "hello"}', '{"type": "hello", "token": "\\ud800"}'):
        async with websockets.connect(ws_url(server, session)) as ws:
            await ws.send(first)
            assert (await receive(ws))["code"] == "invalid_message"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # After it: an error each, and the connection stays open.
    async with participant(server, session, session["host"]["token"]) as host:
        await host.send(b"\x00\x01binary")
        assert (await receive(host, "error"))["code"] == "invalid_message"
        await host.send('{"type": "grant", "site": "\\udc80x"}')
        assert (await receive(host, "error"))["code"] == "invalid_message"
        await host.send(json.dumps({"type": "ping"}))
        await receive(host, "pong")
    assert "Traceback" not in server.log()
