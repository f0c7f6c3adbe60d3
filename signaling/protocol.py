"""The control channel's messages: one JSON envelope with a `type`, validated before use.

Documented in docs/control.md. Client messages are parsed into small dataclasses here, so the
handler never touches unchecked input; room events become server messages here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .room import (
    FloorChanged,
    Headcount,
    MuteChanged,
    Presence,
    Removed,
    RequestsChanged,
    RoomEvent,
)

MAX_MESSAGE_BYTES = 4096
MAX_HEADCOUNT = 1_000_000
SITE_ID_MAX = 64


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Hello:
    token: str


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class RequestFloor:
    pass


@dataclass(frozen=True)
class CancelRequest:
    pass


@dataclass(frozen=True)
class ReportHeadcount:
    present: int


@dataclass(frozen=True)
class Grant:
    site: str


@dataclass(frozen=True)
class TakeBack:
    pass


@dataclass(frozen=True)
class Mute:
    site: str
    muted: bool


@dataclass(frozen=True)
class Remove:
    site: str


ClientMessage = (
    Hello | Ping | RequestFloor | CancelRequest | ReportHeadcount | Grant | TakeBack | Mute | Remove
)

# Who may send what: the rest of the checks are the room's.
SITE_MESSAGES = (RequestFloor, CancelRequest, ReportHeadcount, Ping)
HOST_MESSAGES = (Grant, TakeBack, Mute, Remove, Ping)


def _site_field(body: dict[str, Any]) -> str:
    site = body.get("site")
    if not isinstance(site, str) or not 0 < len(site) <= SITE_ID_MAX:
        raise ProtocolError("invalid_message", "'site' must be a site id")
    return site


def parse_client_message(text: str | bytes) -> ClientMessage:
    """One message from a client, or ProtocolError saying what is wrong with it."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        body = json.loads(text)
        # A lone surrogate escape ("\ud800") is JSON but no Unicode text: nothing could store,
        # compare or echo it.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise ProtocolError("invalid_message", "a message must be valid Unicode text") from None
    except RecursionError:  # json.loads past about 1,000 levels, within MAX_MESSAGE_BYTES
        raise ProtocolError("invalid_message", "a message is nested too deeply") from None
    except ValueError:
        raise ProtocolError("invalid_message", "a message must be a JSON object") from None
    if not isinstance(body, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "a message needs a 'type'")
    if kind == "hello":
        token = body.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= 256:
            raise ProtocolError("invalid_message", "'hello' needs a 'token'")
        return Hello(token)
    if kind == "ping":
        return Ping()
    if kind == "request_floor":
        return RequestFloor()
    if kind == "cancel_request":
        return CancelRequest()
    if kind == "headcount":
        present = body.get("present")
        if isinstance(present, bool) or not isinstance(present, int):
            raise ProtocolError("invalid_message", "'present' must be a whole number")
        if not 0 <= present <= MAX_HEADCOUNT:
            raise ProtocolError("invalid_message", f"'present' must be 0 to {MAX_HEADCOUNT}")
        return ReportHeadcount(present)
    if kind == "grant":
        return Grant(_site_field(body))
    if kind == "take_back":
        return TakeBack()
    if kind == "mute":
        muted = body.get("muted", True)
        if not isinstance(muted, bool):
            raise ProtocolError("invalid_message", "'muted' must be true or false")
        return Mute(_site_field(body), muted)
    if kind == "remove":
        return Remove(_site_field(body))
    raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}")


def event_message(event: RoomEvent) -> dict[str, Any]:
    """A room event as the message every participant receives."""
    if isinstance(event, Presence):
        return {"type": "presence", "participant": event.participant, "present": event.present}
    if isinstance(event, RequestsChanged):
        return {"type": "requests", "requests": list(event.requests)}
    if isinstance(event, FloorChanged):
        return {"type": "floor", "holder": event.holder, "previous": event.previous}
    if isinstance(event, MuteChanged):
        return {"type": "mute", "site": event.site, "muted": event.muted}
    if isinstance(event, Removed):
        return {"type": "removed", "site": event.site}
    if isinstance(event, Headcount):
        return {"type": "headcount", "site": event.site, "present": event.present}
    raise TypeError(event)
