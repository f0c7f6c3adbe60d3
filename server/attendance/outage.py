"""Why a hall was absent or late: a technical outage, or an organisational absence. Sans-I/O.

The organisers act differently on each (issue 15 §5): a hall that never opened its link is
called; one whose page opened but whose media never connected has a network or firewall to fix
(the reason its failed attempts give); one that connected and then lost its network had the
link working. `outage()` reads which from one site's join-log events, up to the moment the
missing time ends, for absent and late sites; `dropped()` tells, of a site there but partly
(partial, or left early), whether it lost its network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Cause = Literal["never_opened", "opened_late", "media_failed", "network_lost"]

# What shows the hall's page was open: its control channel (page_open) or a media connection
# it asked for, whether it came up or not (logs of before page_open have only these).
OPENED = frozenset({"page_open", "attempt_failed", "join"})
# A hall's last connection that closed for one of these was lost, not closed by anyone:
# `failed` its network went silent (ICE consent), `server_shutdown` the server stopped.
LOST = frozenset({"failed", "server_shutdown"})


class Event(Protocol):
    """What the classifier reads of a join-log event (rules.LogEvent has it)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def conn(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Outage:
    """`cause` null: none to name (the hall was there, or left by itself or was removed)."""

    cause: Cause | None = None
    reason: str | None = None


NONE = Outage()


def outage(events: Sequence[Event], due: datetime, came_at: datetime | None) -> Outage:
    """Why a site missed time, from its events in time order.

    `due`: when it had to be connected (an absent site: the window's end; a late one: the
    window's start plus `late_after`). `came_at`: when a late site's first connection in the
    window began; None for an absent site, whose events count up to `due` included.
    """
    opened = next((e.ts for e in events if e.type in OPENED), None)
    if opened is None or opened > due:
        return Outage("never_opened" if came_at is None else "opened_late")
    # The hall's state as its events leave it: opened, failed (an attempt's reason),
    # connected, lost or left (a leave's reason).
    state, reason = "opened", None
    open_conns: set[str | None] = set()
    for event in events:
        if event.ts > due if came_at is None else event.ts >= came_at:
            break
        if event.type == "page_open" and state == "left":
            state, reason = "opened", None
        elif event.type == "attempt_failed" and state in ("opened", "failed", "left"):
            state, reason = "failed", _text(event.fields.get("reason"))
        elif event.type == "join":
            open_conns.add(event.conn)
            state, reason = "connected", None
        elif event.type == "leave" and event.conn in open_conns:
            open_conns.discard(event.conn)
            if not open_conns:
                left = _text(event.fields.get("reason"))
                state, reason = ("lost" if left in LOST else "left"), left
    if state == "lost":
        return Outage("network_lost", reason)
    if state in ("opened", "failed"):
        return Outage("media_failed", reason)
    return NONE


def dropped(events: Iterable[Event], window_start: datetime, window_end: datetime) -> Outage:
    """Why a site that was there missed part of the session (partial, or left early): its
    network, when the last time all its connections dropped inside the window was a loss."""
    open_conns: set[str | None] = set()
    last: str | None = None
    for event in events:
        if event.ts >= window_end:  # the end's own leaves close what is open: no drop
            break
        if event.type == "join":
            open_conns.add(event.conn)
        elif event.type == "leave" and event.conn in open_conns:
            open_conns.discard(event.conn)
            if not open_conns and event.ts > window_start:
                last = _text(event.fields.get("reason"))
    return Outage("network_lost", last) if last in LOST else NONE


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
