"""The rules of one meeting room: who is here, who asked for the floor, who has it. Sans-I/O.

A `Room` is driven by calls that carry the time (`now`, seconds) and returns the events that
follow from each call; it holds no socket and no clock. An illegal move raises `RoomError` with a
stable code, which the control channel sends back to the client as an error message. The
WebSocket handler (server/control.py) only adapts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOST = "host"  # the district hall's participant id; sites use their site id

# Control connections one participant may have open at once, whatever the addresses they come
# from: a hall's page in a few tabs, the host's on a few screens. A token that leaked opens no
# more than this (the cap per address does not see a token used from many addresses).
MAX_CONNECTIONS = 16


class RoomError(Exception):
    """A move the rules forbid. `code` is stable; the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Presence:
    """A participant's connection count went from zero to one or back."""

    participant: str
    present: bool
    at: float


@dataclass(frozen=True)
class RequestsChanged:
    """The queue of floor requests, oldest first."""

    requests: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class FloorChanged:
    """The site that has the floor now, or None: the floor is back with the district hall."""

    holder: str | None
    previous: str | None
    at: float


@dataclass(frozen=True)
class MuteChanged:
    site: str
    muted: bool
    at: float


@dataclass(frozen=True)
class Removed:
    """The chair removed a site: its connections close and it may not come back."""

    site: str
    at: float


@dataclass(frozen=True)
class Headcount:
    site: str
    present: int
    at: float


RoomEvent = Presence | RequestsChanged | FloorChanged | MuteChanged | Removed | Headcount


# -- the room ----------------------------------------------------------------------------------


@dataclass
class _Participant:
    connections: set[str] = field(default_factory=set)
    muted: bool = False


class Room:
    """One session's meeting: the host and the invited sites."""

    def __init__(
        self, sites: set[str] | frozenset[str], max_connections: int = MAX_CONNECTIONS
    ) -> None:
        self.invited = frozenset(sites)
        self.max_connections = max_connections
        self.participants: dict[str, _Participant] = {}
        self.requests: list[str] = []
        self.floor: str | None = None
        self.removed: set[str] = set()
        self.headcounts: dict[str, int] = {}

    # -- presence

    def present(self, participant: str) -> bool:
        p = self.participants.get(participant)
        return p is not None and bool(p.connections)

    def connect(self, participant: str, conn: str, now: float) -> list[RoomEvent]:
        """A control connection of the host or a site opened."""
        self._require_known(participant)
        if participant in self.removed:
            raise RoomError("removed", f"{participant} was removed from this session")
        p = self.participants.setdefault(participant, _Participant())
        if conn in p.connections:
            raise RoomError("duplicate_connection", f"connection {conn} is already open")
        if len(p.connections) >= self.max_connections:
            raise RoomError(
                "too_many_connections",
                f"{participant} has {self.max_connections} control connections open already;"
                " close one first",
            )
        p.connections.add(conn)
        # A host that reconnects finds the room as it left it: the floor does not move.
        return [Presence(participant, True, now)] if len(p.connections) == 1 else []

    def disconnect(self, participant: str, conn: str, now: float) -> list[RoomEvent]:
        """A control connection closed. The last one of a site withdraws its request and, if it
        had the floor, gives the floor back."""
        p = self.participants.get(participant)
        if p is None or conn not in p.connections:
            return []  # already gone: closing twice is not an error
        p.connections.discard(conn)
        if p.connections:
            return []
        events: list[RoomEvent] = [Presence(participant, False, now)]
        if participant in self.requests:
            self.requests.remove(participant)
            events.append(RequestsChanged(tuple(self.requests), now))
        if self.floor == participant:
            events.append(self._set_floor(None, now))
        return events

    # -- the floor

    def request_floor(self, site: str, now: float) -> list[RoomEvent]:
        self._require_present_site(site)
        if self.floor == site:
            raise RoomError("has_floor", f"{site} already has the floor")
        if site in self.requests:
            raise RoomError("already_requested", f"{site} has already asked for the floor")
        self.requests.append(site)
        return [RequestsChanged(tuple(self.requests), now)]

    def cancel_request(self, site: str, now: float) -> list[RoomEvent]:
        if site not in self.requests:
            raise RoomError("no_request", f"{site} has not asked for the floor")
        self.requests.remove(site)
        return [RequestsChanged(tuple(self.requests), now)]

    def grant(self, site: str, now: float) -> list[RoomEvent]:
        """The chair gives the floor to a site, whether or not it asked; whoever had it loses it."""
        self._require_present_site(site)
        if self.floor == site:
            raise RoomError("has_floor", f"{site} already has the floor")
        events: list[RoomEvent] = []
        if site in self.requests:
            self.requests.remove(site)
            events.append(RequestsChanged(tuple(self.requests), now))
        events.append(self._set_floor(site, now))
        if self.participants[site].muted:
            # Called on to speak: the chair's grant lifts an earlier mute.
            self.participants[site].muted = False
            events.append(MuteChanged(site, False, now))
        return events

    def take_back(self, now: float) -> list[RoomEvent]:
        if self.floor is None:
            raise RoomError("no_floor", "no site has the floor")
        return [self._set_floor(None, now)]

    def _set_floor(self, holder: str | None, now: float) -> FloorChanged:
        previous, self.floor = self.floor, holder
        return FloorChanged(holder, previous, now)

    # -- the chair's other powers

    def mute(self, site: str, muted: bool, now: float) -> list[RoomEvent]:
        self._require_known_site(site)
        p = self.participants.setdefault(site, _Participant())
        if p.muted == muted:
            return []
        p.muted = muted
        return [MuteChanged(site, muted, now)]

    def remove(self, site: str, now: float) -> list[RoomEvent]:
        """Remove a site from the session: it loses its request and the floor, and cannot
        connect again (the adapter also revokes its token)."""
        self._require_known_site(site)
        if site in self.removed:
            raise RoomError("removed", f"{site} was already removed")
        self.removed.add(site)
        events: list[RoomEvent] = [Removed(site, now)]
        if site in self.requests:
            self.requests.remove(site)
            events.append(RequestsChanged(tuple(self.requests), now))
        if self.floor == site:
            events.append(self._set_floor(None, now))
        p = self.participants.pop(site, None)
        if p is not None and p.connections:
            events.append(Presence(site, False, now))
        return events

    def report_headcount(self, site: str, present: int, now: float) -> list[RoomEvent]:
        self._require_known_site(site)
        if present < 0:
            raise RoomError("invalid_headcount", "a headcount is a number of people, >= 0")
        self.headcounts[site] = present
        return [Headcount(site, present, now)]

    # -- checks

    def _require_known(self, participant: str) -> None:
        if participant != HOST and participant not in self.invited:
            raise RoomError("not_invited", f"{participant} is not invited to this session")

    def _require_known_site(self, site: str) -> None:
        if site == HOST or site not in self.invited:
            raise RoomError("not_invited", f"{site} is not a site of this session")
        if site in self.removed:
            raise RoomError("removed", f"{site} was removed from this session")

    def _require_present_site(self, site: str) -> None:
        self._require_known_site(site)
        if not self.present(site):
            raise RoomError("not_present", f"{site} is not connected")

    def snapshot(self) -> dict[str, object]:
        """The whole state, for a participant that has just connected."""
        return {
            "present": sorted(p for p in self.participants if self.present(p)),
            "requests": list(self.requests),
            "floor": self.floor,
            "muted": sorted(s for s, p in self.participants.items() if p.muted),
            "removed": sorted(self.removed),
            "headcounts": dict(self.headcounts),
        }
