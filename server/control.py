"""The control channel: one WebSocket per participant at /ws/{session}, adapting the room's rules.

The first message must be {"type": "hello", "token": ...} (never a token in the URL, which
would reach access logs). Every message afterwards is validated (signaling/protocol.py),
rate-limited, and applied to the session's `Room`; the room's events go out on the bus, so every
participant on every node hears them. docs/control.md documents the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..media.bridge import Bridge
from ..signaling.bus import Bus, Overflow
from ..signaling.protocol import (
    HOST_MESSAGES,
    SITE_MESSAGES,
    CancelRequest,
    ClientMessage,
    Grant,
    Hello,
    Mute,
    Ping,
    ProtocolError,
    Remove,
    ReportHeadcount,
    RequestFloor,
    TakeBack,
    event_message,
    parse_client_message,
)
from ..signaling.ratelimit import TokenBucket
from ..signaling.room import HOST, FloorChanged, MuteChanged, Room, RoomError, RoomEvent
from ..signaling.session import SessionState
from .auth import ANY_ROLE, authorize_token
from .errors import ApiError
from .state import app_state
from .store import Store

log = logging.getLogger("diemcau.control")

HELLO_TIMEOUT = 10.0
# A participant sends a few messages a minute; bursts of clicks are fine, floods are not.
RATE, BURST = 5.0, 20.0
MAX_VIOLATIONS = 50

# WebSocket close codes (4000-4999 are the application's).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TIMEOUT = 4408
CLOSE_ENDED = 4409
CLOSE_FLOOD = 4429
CLOSE_BEHIND = 4503


def topic(session_id: str) -> str:
    return f"session:{session_id}"


class Rooms:
    """The rooms of this node, one per session, built from its invites on first use."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rooms: dict[str, Room] = {}
        self._names: dict[str, dict[str, str]] = {}

    def get(self, session_id: str) -> Room:
        room = self._rooms.get(session_id)
        if room is None:
            invites = self._store.invites(session_id)
            room = Room({i.site_id for i in invites})
            room.removed.update(i.site_id for i in invites if i.revoked_at is not None)
            for site, (present, _) in self._store.headcounts(session_id).items():
                room.headcounts[site] = present
            self._rooms[session_id] = room
        return room

    def names(self, session_id: str) -> dict[str, str]:
        """Site id to the name the invite gave it."""
        names = self._names.get(session_id)
        if names is None:
            names = {i.site_id: i.site_name for i in self._store.invites(session_id)}
            self._names[session_id] = names
        return names

    def discard(self, session_id: str) -> None:
        self._rooms.pop(session_id, None)
        self._names.pop(session_id, None)


class Participant:
    """One open control connection and what it may do."""

    def __init__(self, websocket: WebSocket, session_id: str, role: str, site: str | None):
        self.websocket = websocket
        self.session_id = session_id
        self.role = role
        self.id = HOST if role in ("host", "admin") else (site or "")
        self.conn = secrets.token_urlsafe(8)
        self.bucket = TokenBucket(RATE, BURST)
        self.violations = 0

    async def send(self, message: dict[str, Any]) -> None:
        await send_json(self.websocket, message)

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})


async def send_json(websocket: WebSocket, message: dict[str, Any]) -> None:
    # ASCII escapes: any string, even one that is no valid Unicode, goes out as valid JSON.
    await websocket.send_text(json.dumps(message))


async def receive_text(websocket: WebSocket) -> str:
    """The next text message; a binary one is a ProtocolError (the channel carries JSON text),
    the client gone a WebSocketDisconnect."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise ProtocolError("invalid_message", "a message must be a JSON text frame, not binary")
    return str(text)


async def _publish(
    bus: Bus,
    session_id: str,
    events: list[RoomEvent],
    bridge: Bridge | None = None,
    names: dict[str, str] | None = None,
) -> None:
    for event in events:
        message = event_message(event)
        if isinstance(event, FloorChanged):
            if bridge is not None:
                # The floor slots follow the room: the speaking hall's feed goes to everyone.
                bridge.set_floor(session_id, event.holder)
            # A commune page cannot list the other halls: tell it who speaks, by name.
            if names is not None:
                message["holder_name"] = names.get(event.holder or "")
                message["previous_name"] = names.get(event.previous or "")
        elif isinstance(event, MuteChanged) and bridge is not None:
            bridge.set_muted(session_id, event.site, event.muted)
        await bus.publish(topic(session_id), message)


async def control(websocket: WebSocket) -> None:
    state = app_state(websocket)
    store, bus, rooms = state.store, state.bus, state.meeting
    session_id = websocket.path_params["session"]
    await websocket.accept()

    try:
        first = await asyncio.wait_for(receive_text(websocket), HELLO_TIMEOUT)
        hello = parse_client_message(first)
        if not isinstance(hello, Hello):
            raise ProtocolError("hello_first", "the first message must be 'hello'")
        grant = authorize_token(store, state.admin_token, hello.token, session_id, allow=ANY_ROLE)
    except TimeoutError:
        await websocket.close(CLOSE_TIMEOUT, "no hello")
        return
    except (ProtocolError, ApiError) as exc:
        code = exc.code
        await send_json(websocket, {"type": "error", "code": code, "message": exc.message})
        closing = (
            CLOSE_UNAUTHORIZED
            if isinstance(exc, ProtocolError)
            else (CLOSE_UNAUTHORIZED if exc.status == 401 else CLOSE_FORBIDDEN)
        )
        await websocket.close(closing, code)
        return
    except (WebSocketDisconnect, KeyError):
        return

    session = store.get_session(session_id)
    if session is None or session.state == SessionState.ENDED:
        await send_json(
            websocket,
            {"type": "error", "code": "session_ended", "message": "This session has ended."},
        )
        await websocket.close(CLOSE_ENDED, "session_ended")
        return

    me = Participant(websocket, session_id, grant.role, grant.site_id)
    room = rooms.get(session_id)
    try:
        joined = room.connect(me.id, me.conn, time.monotonic())
    except RoomError as exc:
        await me.error(exc.code, exc.message)
        # Over the cap of connections, a page may come back later (4429); removed, never.
        busy = exc.code == "too_many_connections"
        await websocket.close(CLOSE_FLOOD if busy else CLOSE_FORBIDDEN, exc.code)
        return

    subscription = bus.subscribe(topic(session_id))
    await me.send(
        {
            "type": "welcome",
            "role": me.role,
            "participant": me.id,
            "session": {"id": session.id, "title": session.title, "state": session.state.value},
            # A hall that joins while another speaks is told who, by name.
            "room": {
                **room.snapshot(),
                "floor_name": rooms.names(session_id).get(room.floor or ""),
            },
        }
    )
    await _publish(bus, session_id, joined)

    async def relay() -> None:
        """Bus to client; a removal of this site closes its connection."""
        try:
            async for message in subscription:
                await me.send(message)
                if message.get("type") == "removed" and message.get("site") == me.id:
                    await websocket.close(CLOSE_FORBIDDEN, "removed")
                    return
                if message.get("type") == "session" and message.get("state") == "ended":
                    await websocket.close(CLOSE_ENDED, "session_ended")
                    return
        except Overflow:
            # Too far behind to catch up message by message: reconnect for a fresh snapshot.
            await websocket.close(CLOSE_BEHIND, "too slow")

    relaying = asyncio.create_task(relay())
    try:
        while True:
            try:
                text: str | ProtocolError = await receive_text(websocket)
            except ProtocolError as exc:
                text = exc  # answered below, and rate-limited like any message
            if not me.bucket.allow(time.monotonic()):
                me.violations += 1
                if me.violations > MAX_VIOLATIONS:
                    await websocket.close(CLOSE_FLOOD, "too many messages")
                    return
                await me.error("rate_limited", "too many messages; this one was dropped")
                continue
            try:
                if isinstance(text, ProtocolError):
                    raise text
                message = parse_client_message(text)
                await _apply(me, message, room, store, bus, state.bridge, rooms.names(session_id))
            except (ProtocolError, RoomError) as exc:
                await me.error(exc.code, exc.message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await relaying
        subscription.close()
        await _publish(
            bus,
            session_id,
            room.disconnect(me.id, me.conn, time.monotonic()),
            state.bridge,
            rooms.names(session_id),
        )


async def _apply(
    me: Participant,
    message: ClientMessage,
    room: Room,
    store: Store,
    bus: Bus,
    bridge: Bridge,
    names: dict[str, str],
) -> None:
    allowed = HOST_MESSAGES if me.id == HOST else SITE_MESSAGES
    if not isinstance(message, allowed):
        raise ProtocolError("forbidden", f"a {me.role} may not send this message")
    now = time.monotonic()
    events: list[RoomEvent]
    if isinstance(message, Ping):
        await me.send({"type": "pong"})
        return
    if isinstance(message, RequestFloor):
        events = room.request_floor(me.id, now)
    elif isinstance(message, CancelRequest):
        events = room.cancel_request(me.id, now)
    elif isinstance(message, ReportHeadcount):
        events = room.report_headcount(me.id, message.present, now)
        # The record first: a headcount is part of the official attendance.
        store.append_event(
            me.session_id, "headcount", datetime.now(UTC), site_id=me.id, present=message.present
        )
    elif isinstance(message, Grant):
        events = room.grant(message.site, now)
    elif isinstance(message, TakeBack):
        events = room.take_back(now)
    elif isinstance(message, Mute):
        events = room.mute(message.site, message.muted, now)
    elif isinstance(message, Remove):
        events = room.remove(message.site, now)
        # Its token stops working for this session, and its media connections close.
        store.revoke_invite(me.session_id, message.site, datetime.now(UTC))
        await bridge.close_site(me.session_id, message.site, "kicked")
    else:  # pragma: no cover - parse_client_message returns only the types above
        raise ProtocolError("unknown_type", "unknown message")
    await _publish(bus, me.session_id, events, bridge, names)


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/ws/{session}", control)]
