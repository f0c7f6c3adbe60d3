"""The control channel: one WebSocket per participant at /ws/{session}, adapting the room's rules.

The first message must be {"type": "hello", "token": ...} (never a token in the URL, which
would reach access logs). Every message afterwards is validated (signaling/protocol.py),
rate-limited, checked against what its sender may send, and handed to the meeting service
(server/meeting.py) as a call: the meeting applies the room's rules and derives every effect,
the bridge's and the record's included; this module drives neither. What the meeting announces
on the bus is relayed to this participant. docs/control.md documents the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..signaling.bus import Overflow
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
    parse_client_message,
)
from ..signaling.ratelimit import TokenBucket
from ..signaling.room import HOST, RoomError
from ..signaling.session import SessionState
from .auth import ANY_ROLE, authorize_token
from .errors import ApiError
from .meeting import Meeting, topic
from .state import app_state

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
        app_state(self.websocket).metrics.control_errors.labels(code).inc()
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


async def control(websocket: WebSocket) -> None:
    state = app_state(websocket)
    store, bus, meeting = state.store, state.bus, state.meeting
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
        state.metrics.control_errors.labels(code).inc()
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
    # Subscribed first, so that this participant hears its own arrival, after the welcome.
    subscription = bus.subscribe(topic(session_id))
    try:
        await meeting.connect(session_id, me.id, me.conn)
    except RoomError as exc:
        subscription.close()
        await me.error(exc.code, exc.message)
        # Over the cap of connections, a page may come back later (4429); removed, never.
        busy = exc.code == "too_many_connections"
        await websocket.close(CLOSE_FLOOD if busy else CLOSE_FORBIDDEN, exc.code)
        return
    except BaseException:
        subscription.close()
        raise
    await me.send(
        {
            "type": "welcome",
            "role": me.role,
            "participant": me.id,
            "session": {"id": session.id, "title": session.title, "state": session.state.value},
            "room": meeting.snapshot(session_id),
        }
    )

    async def relay() -> None:
        """Bus to client; a removal of this site, or a new link for it, closes its connection."""
        try:
            async for message in subscription:
                await me.send(message)
                if message.get("type") == "removed" and message.get("site") == me.id:
                    await websocket.close(CLOSE_FORBIDDEN, "removed")
                    return
                if message.get("type") == "link_reissued" and _holds_reissued(me, message):
                    # This page's token no longer works: a new link replaced it.
                    await websocket.close(CLOSE_FORBIDDEN, "link_reissued")
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
                state.metrics.control_messages.labels(_wire_name(message)).inc()
                await _apply(me, message, meeting)
            except (ProtocolError, RoomError) as exc:
                await me.error(exc.code, exc.message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await relaying
        subscription.close()
        await meeting.disconnect(session_id, me.id, me.conn)


def _wire_name(message: ClientMessage) -> str:
    """A message's type as it is sent: RequestFloor is request_floor."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(message).__name__).lower()


async def _apply(me: Participant, message: ClientMessage, meeting: Meeting) -> None:
    """A message, checked against what its sender may send, as a call on the meeting; the
    meeting derives every effect (docs/meeting.md)."""
    allowed = HOST_MESSAGES if me.id == HOST else SITE_MESSAGES
    if not isinstance(message, allowed):
        raise ProtocolError("forbidden", f"a {me.role} may not send this message")
    session_id = me.session_id
    if isinstance(message, Ping):
        await me.send({"type": "pong"})
    elif isinstance(message, RequestFloor):
        await meeting.request_floor(session_id, me.id)
    elif isinstance(message, CancelRequest):
        await meeting.cancel_request(session_id, me.id)
    elif isinstance(message, ReportHeadcount):
        await meeting.report_headcount(session_id, me.id, message.present)
    elif isinstance(message, Grant):
        await meeting.grant(session_id, message.site)
    elif isinstance(message, TakeBack):
        await meeting.take_back(session_id)
    elif isinstance(message, Mute):
        await meeting.mute(session_id, message.site, message.muted)
    elif isinstance(message, Remove):
        await meeting.remove(session_id, message.site)
    else:  # pragma: no cover - parse_client_message returns only the types above
        raise ProtocolError("unknown_type", "unknown message")


def _holds_reissued(me: Participant, message: dict[str, Any]) -> bool:
    """Whether `me` came in with the token a `link_reissued` replaced: that site's, or with
    `site` null the host's (an admin's token is never re-issued)."""
    if me.role == "site":
        return bool(message.get("site") == me.id)
    return me.role == "host" and message.get("site") is None


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/ws/{session}", control)]
