"""Fuzzing the control protocol on a real `diemcau serve`: random frames (JSON of any shape,
messages of every type with wrong fields, text that is no JSON, lone surrogates, deep nesting,
binary) before `hello`, instead of it, and after it. Whatever comes, the server answers with
error messages and closes with a code of its own, never 1011 (an internal error), and its log
holds no traceback."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import given, seed
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from tests.conftest import Server, start_server, stop_server
from tests.fuzz import LONG_SEED, LoopCaller, fuzz_settings, in_thread, long_examples

from .test_fuzz_api import json_values

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "nga-hai", "name": "Xã Nga Hải"}]
TYPES = [
    "hello", "ping", "request_floor", "cancel_request", "headcount", "grant", "take_back",
    "mute", "remove", "welcome", "error", "", "HELLO",
]  # fmt: skip
FIELD_VALUES = st.one_of(
    json_values,
    st.sampled_from(["nga-thanh", "nga-hai", "host", "", "x" * 300]),
    st.integers(-1, 10**7),
)


# Deeper than about 1,000 levels, json.loads raises RecursionError: signaling/protocol.py
# answers it invalid_message (test_a_deeply_nested_message_is_an_error_message); the searches
# stay under it, to find what else there is.
DEEP_FOUND = 1000
DEEPEST = DEEP_FOUND - 100


@st.composite
def frames(draw: st.DrawFn, deepest: int = DEEPEST) -> str | bytes:
    shape = draw(st.sampled_from(["message", "message", "json", "text", "deep", "binary"]))
    if shape == "message":
        body = draw(
            st.fixed_dictionaries(
                {"type": st.sampled_from(TYPES) | st.text(max_size=10)},
                optional={
                    name: FIELD_VALUES for name in ("token", "present", "site", "muted", "id")
                },
            )
        )
        text = json.dumps(body, ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 5)) == 0 and '"' in text:
            text = text.replace('"', '"\\ud800', 1)  # a lone surrogate escape
        return text
    if shape == "json":
        return json.dumps(draw(json_values))
    if shape == "deep":
        depth = draw(st.integers(10, deepest))
        return "[" * depth + "]" * depth
    if shape == "binary":
        return draw(st.binary(max_size=64) | st.just(b'{"type": "ping"}'))
    return draw(st.text(max_size=60))


@dataclass(frozen=True)
class Conversation:
    before: list[str | bytes]
    hello: str | None  # the token sent in a hello after `before`, if any
    after: list[str | bytes]


@dataclass(frozen=True)
class Outcome:
    messages: list[Any]
    close_code: int | None


async def converse(url: str, talk: Conversation) -> Outcome:
    """Send the frames, then a ping: once its pong (or the close) is in, every frame before it
    has been handled."""
    messages: list[Any] = []
    async with websockets.connect(url, max_size=2**20) as ws:
        try:
            for frame in talk.before:
                await ws.send(frame)
            if talk.hello is not None:
                await ws.send(json.dumps({"type": "hello", "token": talk.hello}))
            for frame in talk.after:
                await ws.send(frame)
            await ws.send(json.dumps({"type": "ping"}))
            await _read_until_pong(ws, messages)
        except websockets.ConnectionClosed as closed:
            await _drain(ws, messages)
            return Outcome(messages, closed.rcvd.code if closed.rcvd else None)
    return Outcome(messages, None)


async def _read_until_pong(ws: ClientConnection, messages: list[Any]) -> None:
    async with asyncio.timeout(10):
        while True:
            frame = await ws.recv()
            messages.append(frame if isinstance(frame, bytes) else json.loads(frame))
            if isinstance(messages[-1], dict) and messages[-1].get("type") == "pong":
                return


async def _drain(ws: ClientConnection, messages: list[Any]) -> None:
    # Frames the server sent before it closed are still to be read.
    try:
        async with asyncio.timeout(5):
            async for frame in ws:
                messages.append(frame if isinstance(frame, bytes) else json.loads(frame))
    except websockets.ConnectionClosed:
        pass


def search(url: str, tokens: list[str], examples: int) -> Any:
    conversations = st.builds(
        Conversation,
        st.lists(frames(), max_size=3),
        st.one_of(st.none(), st.sampled_from([*tokens, "nope", ""])),
        st.lists(frames(), max_size=4),
    )

    @fuzz_settings(examples)
    @given(talk=conversations)
    def check(talk: Conversation, run: LoopCaller) -> None:
        outcome = run(converse(url, talk))
        # 1011 is the server failing; its own codes are 1000, 1008, 1009 and 44xx.
        assert outcome.close_code != 1011, outcome
        for message in outcome.messages:
            assert isinstance(message, dict) and isinstance(message.get("type"), str), outcome

    return check


@pytest.fixture(scope="module")
def session(server: Server) -> dict[str, Any]:
    created: dict[str, Any] = server.create_session(SITES, title="Kênh điều khiển, thử mờ")
    return created


def ws_url(server: Server, session: dict[str, Any]) -> str:
    return server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"


async def run_search(server: Server, session: dict[str, Any], examples: int, seeded: bool) -> None:
    url = ws_url(server, session)
    tokens = [session["host"]["token"], *(i["token"] for i in session["invites"])]
    check = search(url, tokens, examples)
    if seeded:
        check = seed(LONG_SEED)(check)
    await in_thread(lambda run: check(run=run))
    assert "Traceback" not in server.log()
    # Still serving: a hall says hello and is welcomed.
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": tokens[1]}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome


async def test_the_control_channel_never_fails(server: Server, session: dict[str, Any]) -> None:
    examples = max(fuzz_settings().max_examples // 2, 30)
    await run_search(server, session, examples, seeded=False)


@pytest.mark.slow
async def test_the_control_channel_never_fails_longer(
    server: Server, session: dict[str, Any]
) -> None:
    await run_search(server, session, long_examples(), seeded=True)


@pytest.mark.parametrize("hello", [False, True], ids=["before_hello", "after_hello"])
async def test_a_deeply_nested_message_is_an_error_message(tmp_path: Path, hello: bool) -> None:
    # A server of its own: the traceback it logs today must not fail the search above.
    server = start_server(tmp_path / "data")
    try:
        session = server.create_session(SITES[:1])
        token = session["invites"][0]["token"] if hello else None
        talk = Conversation([], token, ["[" * 1500 + "]" * 1500])
        outcome = await converse(ws_url(server, session), talk)
        assert outcome.close_code != 1011, outcome
        assert "Traceback" not in server.log()
        # Refused as any malformed message is: an error message saying so.
        codes = [m.get("code") for m in outcome.messages if m.get("type") == "error"]
        assert "invalid_message" in codes, outcome
    finally:
        stop_server(server)
