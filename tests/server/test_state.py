"""The typed app state: one AppState per app, reached alike from a Request, a WebSocket and
the app itself."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from diemcau.server.config import Config
from diemcau.server.meeting import Meeting
from diemcau.server.state import AppState, app_state, base_url
from diemcau.server.store import Store

from .conftest import ADMIN_TOKEN, BASE_URL


def test_create_app_installs_one_state_holding_the_parts(app: Starlette, config: Config) -> None:
    state = app_state(app)
    assert isinstance(state, AppState)
    assert state.config is config
    assert state.admin_token == ADMIN_TOKEN
    assert isinstance(state.store, Store)
    assert state.writer.store is state.store
    assert state.bridge.port is state.port
    assert state.lifecycle.not_ready() == "the service is starting"
    assert isinstance(state.meeting, Meeting)
    assert (state.write_limits.rate, state.write_limits.burst) == (
        config.write_rate,
        config.write_burst,
    )


def _probes(app: Starlette, seen: list[AppState]) -> None:
    async def probe(request: Request) -> Response:
        seen.append(app_state(request))
        return PlainTextResponse(base_url(request))

    async def socket(websocket: WebSocket) -> None:
        seen.append(app_state(websocket))
        await websocket.accept()
        await websocket.send_text("seen")
        await websocket.close()

    app.router.routes.append(Route("/probe", probe))
    app.router.routes.append(WebSocketRoute("/probe-ws", socket))


async def _websocket(app: Starlette, path: str) -> list[Message]:
    """What the app sends to one WebSocket client that connects and then only listens."""
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8080")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


async def test_a_request_and_a_websocket_reach_the_app_s_state(app: Starlette) -> None:
    seen: list[AppState] = []
    _probes(app, seen)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        assert (await c.get("/probe")).text == BASE_URL
    assert [m["type"] for m in await _websocket(app, "/probe-ws")] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert len(seen) == 2
    assert all(state is app_state(app) for state in seen)


async def test_links_are_based_on_the_public_url_when_there_is_one(app: Starlette) -> None:
    _probes(app, [])
    state = app_state(app)
    state.config = replace(state.config, public_url="https://hop.example.org/")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        assert (await c.get("/probe")).text == "https://hop.example.org"


def test_an_app_create_app_did_not_make_has_no_state() -> None:
    with pytest.raises(AttributeError):
        app_state(Starlette())
