"""The meeting service: the one owner of this node's live meetings, and of every effect they have.

Every command enters as a call, whichever door it came through:

    control channel (server/control.py)   connect, disconnect, request_floor, cancel_request,
                                          grant, take_back, mute, remove, report_headcount
    admin API (server/api.py)             start, end
    admin API (server/links.py)           reissue_link, reissue_host_link, restore_site
    WHIP (the bridge's on_publishing)     publisher_on_air: the program's publisher went on air
    HTTP headcount (server/records.py)    report_headcount
    check-in API (server/checkinapi.py)   record_people: a check-in, an absence, a correction

A call applies the rules (the session's `Room`, signaling/room.py, sans-I/O; the lifecycle of
signaling/session.py inside the store's transaction) and gets back events. Every effect is then
derived from those events in one place, `Meeting._effect`, as aioquic's adapter derives its I/O
from `next_event()`:

    event            bridge                        store                    bus (session:{id})
    Presence         -                             -                        presence
    RequestsChanged  -                             -                        requests
    FloorChanged     set_floor                     -                        floor (+ names)
    MuteChanged      set_muted                     -                        mute
    Removed          close_site(..., "kicked")     revoke_invite            removed
    Headcount        -                             append headcount         headcount
    PageOpened       -                             append page_open         -
    SessionStarted   -                             (start, in the call)     session live
    SessionEnded     -                             (end, in the call)       session ended
    SessionClosed    close_session (room dropped)  -                        -
    LinkReissued     close_site(..., "reissued")   (new token, in the call) link_reissued
    HostLinkReissued -                             (new token, in the call) link_reissued, null
    SiteRestored     - (room: removal undone)      (restore, in the call)   restored
    PeopleChanged    -                             (its event, in the call) people

So two doors can never do two different things: a headcount over HTTP reaches the room, the
record and every participant exactly as one sent over the control channel does. The control
channel and the WHIP endpoints never drive the bridge themselves.

The lifecycle is the exception to "the rule decides, the effect follows": whether a session may
start or end is decided inside the store's transaction (the record is its truth), and its event
follows the committed change. So are a hall's invite's changes from the admin: a re-issued link
and an undone removal are committed first, then their events follow.

Hook point: `Meeting.listeners`. Each listener is awaited with (session id, event, the command's
wall-clock time) for every event, after that event's own effects, in order. A listener that
raises is logged and the others still run: what it feeds (webhooks, metrics) must not undo a
meeting's effects. A listener that needs only some events filters them itself, e.g.
`isinstance(event, SessionStarted | SessionEnded | FloorChanged)`.

The parts are read from `parts` at each use, not kept: the bus is replaced by the Redis one at
start-up, and a test may stand a fake bridge in.

A session lives on one node: with --redis-url the bus relays control messages between nodes,
but the room, the floor and the media of a session are this node's (docs/control.md).

Over 450 lines because it is the one place where every command and every effect is written: the
table above, in code. Splitting it would put two doors back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeAlias, assert_never

from ..signaling.bus import Bus
from ..signaling.protocol import event_message
from ..signaling.room import (
    HOST,
    FloorChanged,
    Headcount,
    MuteChanged,
    Presence,
    Removed,
    RequestsChanged,
    Room,
    RoomError,
    RoomEvent,
)
from ..signaling.session import SessionState, SessionStateError
from .checkinlog import record
from .checkinrules import CheckinOpening, Command
from .pageopen import PageOpens
from .store import Store, Transition
from .writer import Writer

log = logging.getLogger("diemcau.meeting")


def topic(session_id: str) -> str:
    """The bus topic of one session's control messages."""
    return f"session:{session_id}"


# -- the lifecycle's events (the room's are in signaling/room.py) --------------------------------


@dataclass(frozen=True)
class SessionStarted:
    """The session went live (the record says so now)."""

    at: float


@dataclass(frozen=True)
class SessionEnded:
    """The session ended (the record says so now)."""

    at: float


@dataclass(frozen=True)
class SessionClosed:
    """Nothing of an ended session may stay open on this node: its room goes, its media close.
    Follows SessionEnded, and also an end of a session already ended (a connection that raced
    it) and a publisher that went on air after the end."""

    at: float


@dataclass(frozen=True)
class LinkReissued:
    """A hall was given a new token (the record says so now): its old link's pages and media
    connections close."""

    site: str
    at: float


@dataclass(frozen=True)
class HostLinkReissued:
    """The host was given a new token: the console and attendance pages of the old one close.
    A publisher already on air goes on (its resource is its own); a new one needs the new
    token."""

    at: float


@dataclass(frozen=True)
class PageOpened:
    """A hall's join page opened its control channel: the record says its page was open (the
    outage's cause, server/attendance/outage.py), at most a few times a minute."""

    site: str
    at: float


@dataclass(frozen=True)
class SiteRestored:
    """A hall's removal was undone (the record says so now): it may connect again."""

    site: str
    at: float


@dataclass(frozen=True)
class PeopleChanged:
    """A people event of the hall's was written (the record says so now): its pages read their
    lists again. Names the hall only, never the person."""

    site: str
    at: float


MeetingEvent: TypeAlias = (
    RoomEvent
    | PeopleChanged
    | SessionStarted
    | SessionEnded
    | SessionClosed
    | LinkReissued
    | HostLinkReissued
    | SiteRestored
    | PageOpened
)
Listener = Callable[[str, MeetingEvent, datetime], Awaitable[None]]


class MeetingBridge(Protocol):
    """What the meeting asks of the media bridge (media/bridge.py's public methods)."""

    def set_floor(self, session_id: str, holder: str | None) -> None: ...

    def set_muted(self, session_id: str, site: str, muted: bool) -> None: ...

    async def close_site(self, session_id: str, site_id: str, reason: str) -> None: ...

    async def close_session(self, session_id: str, reason: str = "closed") -> None: ...


class MeetingParts(Protocol):
    """Where the meeting finds the store (read on the loop, written through the writer's
    thread, server/writer.py), the bus and the bridge: the app's state."""

    @property
    def store(self) -> Store: ...

    @property
    def writer(self) -> Writer: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def bridge(self) -> MeetingBridge: ...


class Meeting:
    """The live rooms of this node, one per session, built from the record on first use."""

    def __init__(self, parts: MeetingParts) -> None:
        self._parts = parts
        self._rooms: dict[str, Room] = {}
        self._names: dict[str, dict[str, str]] = {}
        self._page_opens = PageOpens()
        self.listeners: list[Listener] = []

    # -- the rooms

    def room(self, session_id: str) -> Room:
        """The session's room; built from its invites, removals and headcounts when this node
        has none yet."""
        room = self._rooms.get(session_id)
        if room is None:
            store = self._parts.store
            invites = store.invites(session_id)
            room = Room({i.site_id for i in invites})
            room.removed.update(i.site_id for i in invites if i.revoked_at is not None)
            for site, (present, _) in store.headcounts(session_id).items():
                room.headcounts[site] = present
            self._rooms[session_id] = room
        return room

    def names(self, session_id: str) -> dict[str, str]:
        """Site id to the name the invite gave it."""
        names = self._names.get(session_id)
        if names is None:
            invites = self._parts.store.invites(session_id)
            names = self._names[session_id] = {i.site_id: i.site_name for i in invites}
        return names

    def snapshot(self, session_id: str) -> dict[str, object]:
        """The room as a participant that has just connected is told it; a hall that joins
        while another speaks is told who, by name."""
        room = self.room(session_id)
        return {**room.snapshot(), "floor_name": self.names(session_id).get(room.floor or "")}

    # -- the control channel's commands (RoomError when the rules forbid the move)

    def _open(self, session_id: str) -> Room:
        """The room a connected participant's command moves. Gone once the session closed on
        this node: a message still on its way then is refused, not applied to a room built
        again for an ended session (its channel closes with the end right after)."""
        room = self._rooms.get(session_id)
        if room is None:
            raise RoomError("session_ended", "This session has ended.")
        return room

    async def connect(
        self, session_id: str, participant: str, conn: str, now: datetime | None = None
    ) -> None:
        """A control connection opened (each has its own `conn`). A hall's is its join page
        open: recorded once per connection, and a few times a minute at most (pageopen.py)."""
        at = _now(now)
        t = at.timestamp()
        events: list[MeetingEvent] = [*self.room(session_id).connect(participant, conn, t)]
        if participant != HOST and self._page_opens.allow(session_id, participant, t):
            events.insert(0, PageOpened(participant, t))
        await self._effects(session_id, events, at)

    async def disconnect(
        self, session_id: str, participant: str, conn: str, now: datetime | None = None
    ) -> None:
        """A control connection closed. After the end the room is gone, and so is anything a
        closing connection would still change."""
        if session_id in self._rooms:
            await self._apply(
                session_id, now, lambda room, t: room.disconnect(participant, conn, t)
            )

    async def request_floor(self, session_id: str, site: str, now: datetime | None = None) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.request_floor(site, t), self._open(session_id)
        )

    async def cancel_request(self, session_id: str, site: str, now: datetime | None = None) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.cancel_request(site, t), self._open(session_id)
        )

    async def grant(self, session_id: str, site: str, now: datetime | None = None) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.grant(site, t), self._open(session_id)
        )

    async def take_back(self, session_id: str, now: datetime | None = None) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.take_back(t), self._open(session_id)
        )

    async def mute(
        self, session_id: str, site: str, muted: bool, now: datetime | None = None
    ) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.mute(site, muted, t), self._open(session_id)
        )

    async def remove(self, session_id: str, site: str, now: datetime | None = None) -> None:
        await self._apply(
            session_id, now, lambda room, t: room.remove(site, t), self._open(session_id)
        )

    async def report_headcount(
        self, session_id: str, site: str, present: int, now: datetime | None = None
    ) -> None:
        """A hall's headcount, from its page over the control channel or from anyone allowed
        over HTTP: the room, the record and every participant learn it alike. After the end
        the record is closed: refused, as every other command is, from either door."""
        session = self._parts.store.get_session(session_id)
        if session is not None and session.state == SessionState.ENDED:
            raise RoomError("session_ended", "This session has ended; its record is closed.")
        room = self.room(session_id)
        before = room.headcounts.get(site)
        try:
            await self._apply(
                session_id, now, lambda room, t: room.report_headcount(site, present, t)
            )
        except sqlite3.Error:
            # The record refused it (the answer says nothing changed): nor does the room show it,
            # unless a later count has been shown meanwhile.
            if room.headcounts.get(site) == present:
                if before is None:
                    room.headcounts.pop(site, None)
                else:
                    room.headcounts[site] = before
            raise

    # -- the lifecycle: the admin API and WHIP

    async def start(self, session_id: str, now: datetime | None = None) -> Transition:
        """Go live (a no-op when live). Raises SessionStateError when the session has ended."""
        at = _now(now)
        transition = await self._parts.writer.run(Store.start_session, session_id, at)
        if transition.changed:
            await self._effects(session_id, [SessionStarted(at.timestamp())], at)
        return transition

    async def end(
        self, session_id: str, now: datetime | None = None, cancel: bool = False
    ) -> Transition:
        """End the session (a no-op in the record when ended); its media close either way.
        Ended in the store first, so that no new connection is let in while the bridge closes.
        With `cancel`, only a session not started: SessionStateError, and nothing done, else."""
        at = _now(now)
        transition = await self._parts.writer.run(Store.end_session, session_id, at, cancel)
        events: list[MeetingEvent] = [SessionClosed(at.timestamp())]
        if transition.changed:
            events.insert(0, SessionEnded(at.timestamp()))
        await self._effects(session_id, events, at)
        return transition

    # -- a hall's invite: the admin API (server/links.py)

    async def reissue_link(
        self,
        session_id: str,
        site: str,
        token_hash_of: Callable[[int], str],
        now: datetime | None = None,
    ) -> int | None:
        """Give the hall its next token; the old one is refused from the commit on. The new
        generation, or None if the session does not invite the hall."""
        at = _now(now)
        generation = await self._parts.writer.run(
            Store.reissue_invite, session_id, site, token_hash_of
        )
        if generation is not None:
            await self._effects(session_id, [LinkReissued(site, at.timestamp())], at)
        return generation

    async def reissue_host_link(
        self, session_id: str, token_hash_of: Callable[[int], str], now: datetime | None = None
    ) -> int | None:
        """Give the host its next token (console and attendance links); None, no session."""
        at = _now(now)
        generation = await self._parts.writer.run(Store.reissue_host, session_id, token_hash_of)
        if generation is not None:
            await self._effects(session_id, [HostLinkReissued(at.timestamp())], at)
        return generation

    async def restore_site(self, session_id: str, site: str, now: datetime | None = None) -> bool:
        """Undo a removal; False (nothing changed) if the hall was not removed."""
        at = _now(now)
        restored = await self._parts.writer.run(Store.restore_invite, session_id, site)
        if restored:
            await self._effects(session_id, [SiteRestored(site, at.timestamp())], at)
        return restored

    # -- the people: the check-in API (server/checkinapi.py)

    async def record_people(
        self,
        session_id: str,
        command: Command,
        opening: CheckinOpening | None,
        now: datetime | None = None,
    ) -> int:
        """Judge and write a check-in, an absence or a correction (server/checkinlog.py): its
        event's seq. Raises what `record` raises, writing nothing."""
        at = _now(now)
        seq = await self._parts.writer.run(record, session_id, command, at, opening)
        await self._effects(session_id, [PeopleChanged(command.site, at.timestamp())], at)
        return seq

    async def publisher_on_air(
        self, session_id: str, site: str | None, resource_id: str, now: datetime | None = None
    ) -> None:
        """A publisher is on air (its first media packet in): the program's makes a scheduled
        session live, the operator's one action, as with OBS's "Start streaming". A publisher
        that never connects starts nothing; a hall's return feed starts nothing either."""
        if site is not None:
            return
        at = _now(now)
        try:
            transition = await self.start(session_id, at)
        except SessionStateError:
            # Ended while this publisher connected: it has nobody to publish to.
            log.warning("session %s has ended: publisher %s closed", session_id, resource_id)
            await self._effects(session_id, [SessionClosed(at.timestamp())], at)
            return
        if transition.changed:
            log.info("session %s started: its publisher is on air", session_id)

    # -- the one place events become effects

    async def _apply(
        self,
        session_id: str,
        now: datetime | None,
        move: Callable[[Room, float], list[RoomEvent]],
        room: Room | None = None,
    ) -> None:
        """One move of the session's room (built from the record unless given) at `now` (the
        room keeps its wall-clock seconds), and the effects of the events it returns."""
        at = _now(now)
        room = self.room(session_id) if room is None else room
        await self._effects(session_id, move(room, at.timestamp()), at)

    async def _effects(
        self, session_id: str, events: Sequence[MeetingEvent], now: datetime
    ) -> None:
        for event in events:
            await self._effect(session_id, event, now)
            for listener in list(self.listeners):
                try:
                    await listener(session_id, event, now)
                except Exception:
                    log.exception("session %s: a meeting listener failed on %s", session_id, event)

    async def _effect(self, session_id: str, event: MeetingEvent, now: datetime) -> None:
        parts = self._parts
        message: dict[str, Any] | None
        match event:
            case Presence() | RequestsChanged():
                message = event_message(event)
            case FloorChanged(holder=holder, previous=previous):
                # The floor slots follow the room: the speaking hall's feed goes to everyone.
                parts.bridge.set_floor(session_id, holder)
                # A commune page cannot list the other halls: tell it who speaks, by name.
                names = self.names(session_id)
                message = {
                    **event_message(event),
                    "holder_name": names.get(holder or ""),
                    "previous_name": names.get(previous or ""),
                }
            case MuteChanged(site=site, muted=muted):
                # The bridge enforces a mute, whatever the hall's page does.
                parts.bridge.set_muted(session_id, site, muted)
                message = event_message(event)
            case Removed(site=site):
                # Its token stops working for this session, and its media connections close.
                await parts.writer.run(Store.revoke_invite, session_id, site, now)
                await parts.bridge.close_site(session_id, site, "kicked")
                message = event_message(event)
            case Headcount(site=site, present=present):
                # The record first: a headcount is part of the official attendance.
                await parts.writer.run(
                    Store.append_event, session_id, "headcount", now, site_id=site, present=present
                )
                message = event_message(event)
            case SessionStarted():
                message = {"type": "session", "state": "live"}
            case SessionEnded():
                message = {"type": "session", "state": "ended"}
            case LinkReissued(site=site):
                # The control channel closes that hall's pages on this message (4403). Told
                # before its media close: a page that saw them cut first would find its old
                # token refused and take its link for a wrong one, not a replaced one.
                await parts.bus.publish(topic(session_id), {"type": "link_reissued", "site": site})
                await parts.bridge.close_site(session_id, site, "reissued")
                message = None
            case HostLinkReissued():
                # The control channel closes the host token's pages (not the admin's) on it.
                message = {"type": "link_reissued", "site": None}
            case PageOpened(site=site):
                # The record only. A write that fails costs the record this line, not the
                # page its channel: the failure is the writer's to report (writehealth.py).
                try:
                    await parts.writer.run(
                        Store.append_event, session_id, "page_open", now, site_id=site
                    )
                except sqlite3.Error as exc:
                    log.warning(
                        "session %s: page_open of %s not written (%s)", session_id, site, exc
                    )
                message = None
            case SiteRestored(site=site):
                room = self._rooms.get(session_id)
                if room is not None:
                    room.removed.discard(site)
                message = {"type": "restored", "site": site}
            case PeopleChanged(site=site):
                message = {"type": "people", "site": site}
            case SessionClosed():
                self._rooms.pop(session_id, None)
                self._names.pop(session_id, None)
                self._page_opens.forget(session_id)
                await parts.bridge.close_session(session_id, "closed")
                message = None
            case _:
                assert_never(event)
        if message is not None:
            await parts.bus.publish(topic(session_id), message)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now
