"""Who receives what: the bridge's routing rules as a table over names, sans I/O.

A subscriber track sits in a slot (the program, the floor, one hall's return feed); a place (the
district hall's program, or a hall's return feed) is held by one publisher at a time. The table
says, for every subscriber track, which publisher track it carries now. It holds no aiortc
object: a publisher is its resource id, a subscriber track any hashable key. The broadcast
(media/broadcast.py) feeds it (who holds each place, which tracks have started, the floor and
the mutes) and applies the moves `changes()` returns.

The floor and the mutes here are a projection: the room (signaling/room.py) decides who has the
floor and who is muted, and the meeting's owner tells the bridge (Bridge.set_floor, set_muted).
The rules below are only how the bridge carries that: the speaking hall does not receive
itself, and a muted hall's sound goes nowhere, even with the floor.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Slots: what a subscriber track carries.
PROGRAM = "program"  # the district hall's broadcast
FLOOR = "floor"  # the hall that has the floor, switched by the chair
UPLINK = "uplink"  # one site's return feed, for the console's mosaic
HOST = "host"  # the district hall as a receiver (its mosaic and floor viewers)

# A publisher's place: None for the district hall's program, a site id for that hall's return
# feed.
Place = str | None

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Source:
    """One publisher track: the publisher's resource id and the track's kind."""

    feed: str
    kind: str


@dataclass(frozen=True)
class Seat:
    """A subscriber track: who receives (a site id, or HOST), its kind, its slot, and for a
    mosaic tile the site whose return feed it shows."""

    site: str
    kind: str
    slot: str
    watches: str | None = None


def slots(site_id: str, watches: str | None, kinds: Iterable[str]) -> list[str]:
    """The slot of each m-line of a player's offer. A hall's player: the program, then the
    floor, per kind. The district hall: the floor, or with `watches` one site's return feed (a
    mosaic tile)."""
    if site_id == HOST:
        return [UPLINK if watches else FLOOR for _ in kinds]
    seen: dict[str, int] = {}
    out = []
    for kind in kinds:
        out.append(PROGRAM if seen.get(kind, 0) == 0 else FLOOR)
        seen[kind] = seen.get(kind, 0) + 1
    return out


@dataclass(frozen=True)
class _Holder:
    feed: str
    kinds: frozenset[str]  # its tracks whose codec is known: the ones that can be forwarded


class Routing(Generic[K]):
    """One session's routing table: places, subscriber tracks, the floor and the mutes."""

    def __init__(self) -> None:
        self.floor: str | None = None
        self.muted: set[str] = set()
        self._places: dict[Place, _Holder] = {}
        self._seats: dict[K, Seat] = {}
        self._routes: dict[K, Source] = {}

    # -- what the broadcast feeds in

    def hold(self, place: Place, feed: str, kinds: Iterable[str]) -> None:
        """`feed` holds `place` now, with these tracks ready to forward."""
        self._places[place] = _Holder(feed, frozenset(kinds))

    def vacate(self, place: Place, feed: str) -> None:
        """`feed` left `place` (if it held it: a newcomer never did)."""
        holder = self._places.get(place)
        if holder is not None and holder.feed == feed:
            del self._places[place]

    def holder(self, place: Place) -> str | None:
        holder = self._places.get(place)
        return holder.feed if holder is not None else None

    def attach(self, key: K, seat: Seat) -> None:
        """A subscriber track that has started: routed from the next changes() on."""
        self._seats[key] = seat

    def detach(self, key: K) -> Source | None:
        """A subscriber track that is gone; the source it carried, which it no longer does."""
        self._seats.pop(key, None)
        return self._routes.pop(key, None)

    def set_floor(self, holder: str | None) -> None:
        self.floor = holder

    def set_muted(self, site: str, muted: bool) -> None:
        if muted:
            self.muted.add(site)
        else:
            self.muted.discard(site)

    # -- what it says

    def source_for(self, seat: Seat) -> Source | None:
        """What a subscriber track should carry now, by its slot."""
        if seat.slot == PROGRAM:
            return self._track_of(None, seat.kind)
        if seat.slot == FLOOR:
            holder = self.floor
            if holder is None or holder == seat.site:
                return None  # nobody speaks, or the speaker would hear itself
            if seat.kind == "audio" and holder in self.muted:
                return None
            return self._track_of(holder, seat.kind)
        if seat.slot == UPLINK and seat.kind == "video":
            # Mosaic tiles show pictures; a hall is heard only when it has the floor.
            return self._track_of(seat.watches or "", "video")
        return None

    def route(self, key: K) -> Source | None:
        """What the track carries as of the last changes()."""
        return self._routes.get(key)

    def changes(self) -> list[tuple[K, Source | None]]:
        """The tracks whose source changed since the last call, each with its new source (None:
        nothing to carry); the table takes them as done."""
        moves: list[tuple[K, Source | None]] = []
        for key, seat in self._seats.items():
            source = self.source_for(seat)
            if self._routes.get(key) == source:
                continue
            if source is None:
                del self._routes[key]
            else:
                self._routes[key] = source
            moves.append((key, source))
        return moves

    def _track_of(self, place: Place, kind: str) -> Source | None:
        holder = self._places.get(place)
        if holder is None or kind not in holder.kinds:
            return None
        return Source(holder.feed, kind)
