"""web/js/control.js in Chromium, against a fake WebSocket driven from the test: hello first,
the room kept from the messages, reconnection with backoff and a fresh hello, keepalive, and the
closes that end it for good. The module is served from web/ by Playwright, no server needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from .conftest import static_page

# One browser for the module; a fresh page for each test.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


# A WebSocket stand-in: every instance is kept in window.sockets; the test opens, feeds and
# closes them, and reads what the channel sent.
FAKE_SOCKET = """
window.sockets = [];
window.FakeSocket = class extends EventTarget {
    constructor(url) { super(); this.url = url; this.sent = []; this.closedWith = null;
                       window.sockets.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code) { this.closedWith = code ?? 1005; }
    serverOpen() { this.dispatchEvent(new Event('open')); }
    serverSend(message) {
        this.dispatchEvent(new MessageEvent('message', {data: JSON.stringify(message)}));
    }
    serverClose(code, reason = '') {
        this.dispatchEvent(new CloseEvent('close', {code, reason}));
    }
};
true;
"""


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    page = await static_page(browser)
    await page.evaluate(FAKE_SOCKET)
    await page.evaluate(
        """async () => {
            window.control = await import('/static/js/control.js');
            window.events = [];
            window.channel = new window.control.ControlChannel(
                'ws://diemcau.test/ws/s-1', 'tok-123',
                {WebSocketImpl: window.FakeSocket, delay: n => 20 * n,
                 keepalive: 0});
            for (const type of ['statechange', 'welcome', 'floor', 'requests'])
                window.channel.addEventListener(type, () => window.events.push(
                    type === 'statechange' ? `state:${window.channel.state}` : type));
        }"""
    )
    yield page
    await page.close()


async def js(page: Page, code: str) -> Any:
    return await page.evaluate(code)


WELCOME = {
    "type": "welcome",
    "role": "site",
    "participant": "nga-hai",
    "session": {"id": "s-1", "title": "T", "state": "live"},
    "room": {
        "present": ["host", "nga-hai"],
        "requests": ["nga-thanh"],
        "floor": None,
        "muted": [],
        "removed": [],
        "headcounts": {"nga-thanh": 12},
    },
}


async def welcome(page: Page, index: int) -> None:
    await page.evaluate(
        "([i, w]) => { window.sockets[i].serverOpen(); window.sockets[i].serverSend(w); }",
        [index, WELCOME],
    )


async def test_hello_first_then_the_room_follows_the_messages(page: Page) -> None:
    await js(page, "window.channel.start()")
    assert await js(page, "window.sockets.length") == 1
    assert await js(page, "window.sockets[0].url") == "ws://diemcau.test/ws/s-1"
    assert await js(page, "window.channel.state") == "connecting"
    await js(page, "window.channel.send({type: 'request_floor'})")  # not open yet: not sent
    await welcome(page, 0)
    assert await js(page, "window.sockets[0].sent") == [{"type": "hello", "token": "tok-123"}]
    assert await js(page, "window.channel.state") == "open"
    assert await js(page, "window.channel.room.requestPosition('nga-thanh')") == 1
    assert await js(page, "window.channel.room.headcounts.get('nga-thanh')") == 12

    await js(page, "window.channel.send({type: 'request_floor'})")
    assert (await js(page, "window.sockets[0].sent"))[-1] == {"type": "request_floor"}
    for message in [
        {"type": "requests", "requests": ["nga-thanh", "nga-hai"]},
        {"type": "floor", "holder": "nga-hai", "previous": None},
        {"type": "requests", "requests": ["nga-thanh"]},
        {"type": "mute", "site": "nga-thanh", "muted": True},
        {"type": "presence", "participant": "nga-dien", "present": True},
        {"type": "headcount", "site": "nga-hai", "present": 40},
        {"type": "removed", "site": "nga-thanh"},
    ]:
        await page.evaluate("m => window.sockets[0].serverSend(m)", message)
    room = await js(
        page,
        """() => { const r = window.channel.room;
                   return {present: [...r.present].sort(), requests: r.requests, floor: r.floor,
                           muted: [...r.muted], removed: [...r.removed],
                           headcount: r.headcounts.get('nga-hai')}; }""",
    )
    assert room == {
        "present": ["host", "nga-dien", "nga-hai"],
        "requests": [],
        "floor": "nga-hai",
        "muted": ["nga-thanh"],
        "removed": ["nga-thanh"],
        "headcount": 40,
    }
    events = await js(page, "window.events")
    # Open before 'welcome' is dispatched: its listeners may send at once.
    assert events[:3] == ["state:connecting", "state:open", "welcome"]
    assert events.count("floor") == 1 and events.count("requests") == 2


async def test_a_dropped_connection_comes_back_with_backoff_and_a_fresh_hello(page: Page) -> None:
    await js(page, "window.channel.start()")
    await welcome(page, 0)
    # Read in the same turn as the close: the wait is 20 ms, which a loaded machine can outlast
    # between two evaluations.
    closed = """(i) => { window.sockets[i].serverClose(1006);
                         return [window.channel.state, window.channel.attempt]; }"""
    assert await page.evaluate(closed, 0) == ["waiting", 1]
    await page.wait_for_function("window.sockets.length === 2", timeout=10000)
    # The server is still down: the next wait is longer.
    assert await page.evaluate(closed, 1) == ["waiting", 2]
    await page.wait_for_function("window.sockets.length === 3", timeout=10000)
    await welcome(page, 2)
    assert await js(page, "window.sockets[2].sent") == [{"type": "hello", "token": "tok-123"}]
    assert await js(page, "window.channel.state") == "open"
    assert await js(page, "window.channel.attempt") == 0
    # A slow reader closed by the server (4503) reconnects for a fresh welcome, too.
    await js(page, "window.sockets[2].serverClose(4503, 'too slow')")
    await page.wait_for_function("window.sockets.length === 4", timeout=10000)


@pytest.mark.parametrize(
    ("code", "reason", "end"),
    [
        (4401, "invalid_token", "unauthorized"),
        (4403, "removed", "removed"),
        (4403, "revoked", "removed"),
        (4403, "link_reissued", "replaced"),
        (4403, "wrong_session", "forbidden"),
        (4409, "session_ended", "ended"),
    ],
)
async def test_final_refusals_end_the_channel_for_good(
    page: Page, code: int, reason: str, end: str
) -> None:
    await js(page, "window.channel.start()")
    await page.evaluate(
        "([c, r]) => { window.sockets[0].serverOpen(); window.sockets[0].serverClose(c, r); }",
        [code, reason],
    )
    assert await js(page, "window.channel.state") == "closed"
    assert await js(page, "window.channel.end") == end
    await page.wait_for_timeout(150)
    assert await js(page, "window.sockets.length") == 1


async def test_a_refusal_told_before_the_close_counts(page: Page) -> None:
    # The server sends an error (removed), then closes with only the code.
    await js(page, "window.channel.start()")
    await js(
        page,
        """() => { const s = window.sockets[0]; s.serverOpen();
                   s.serverSend({type: 'error', code: 'removed', message: 'gone'});
                   s.serverClose(4403); }""",
    )
    assert await js(page, "window.channel.end") == "removed"


async def test_stop_closes_and_sends_nothing_more(page: Page) -> None:
    await js(page, "window.channel.start()")
    await welcome(page, 0)
    await js(page, "window.channel.stop()")
    assert await js(page, "window.sockets[0].closedWith") == 1000
    assert await js(page, "window.channel.end") == "stopped"
    assert await js(page, "window.channel.send({type: 'ping'})") is False
    await page.wait_for_timeout(150)
    assert await js(page, "window.sockets.length") == 1


async def test_a_silent_connection_is_made_again(page: Page) -> None:
    await js(
        page,
        """() => { window.channel = new window.control.ControlChannel(
                       'ws://diemcau.test/ws/s-1', 'tok-123',
                       {WebSocketImpl: window.FakeSocket, delay: () => 10,
                        keepalive: 30, silenceLimit: 100});
                   window.channel.start(); }""",
    )
    await welcome(page, 0)
    await page.wait_for_function(
        "window.sockets[0].sent.some(m => m.type === 'ping')", timeout=2000
    )
    # Nothing comes back: the socket is dropped and a new one says hello.
    await page.wait_for_function("window.sockets.length === 2", timeout=2000)
    assert await js(page, "window.sockets[0].closedWith") is not None


async def test_the_address_is_the_pages_own_server(page: Page) -> None:
    assert (
        await js(
            page, "window.control.controlUrl('s 1', 'https://hoinghi.example.vn/join/s/a#token=x')"
        )
        == "wss://hoinghi.example.vn/ws/s%201"
    )
    assert (
        await js(page, "window.control.controlUrl('s1', 'http://10.0.0.5:8080/console/s1')")
        == "ws://10.0.0.5:8080/ws/s1"
    )
