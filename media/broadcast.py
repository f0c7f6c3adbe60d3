"""One session's broadcast: who holds each publisher's place, its subscribers, and the routing
between them.

The program and each hall's return feed are places a publisher holds (a newcomer waits for its
first media packet to take one, see Bridge._on_air); subscribers' tracks are routed by the
session's table (media/routing.py), and reroute() turns the table's moves into links between
publisher and subscriber tracks (UpTrack.add_local, del_local).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from .egress import Subscriber, SubscriberTrack
from .ingest import Publisher, UpTrack
from .links import SiteLink
from .recorder import Recorder, Tapped
from .routing import HOST, Routing, Seat, Source


class Tasks(Protocol):
    """Where a broadcast's background work runs (the Bridge)."""

    def spawn(self, coro: Awaitable[None]) -> None: ...


@dataclass
class SiteCounters:
    packets_sent: int = 0
    bytes_sent: int = 0


@dataclass
class Broadcast:
    bridge: Tasks
    session_id: str
    publisher: Publisher | None = None
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    # Each site's return feed (its hall camera and microphone).
    uplinks: dict[str, Publisher] = field(default_factory=dict)
    # Publishers offered while another held their place: each takes it at its first media
    # packet (Bridge._on_air); one that never connects changes nothing.
    newcomers: list[Publisher] = field(default_factory=list)
    # Who carries whom, the floor and the mutes included (media/routing.py).
    routing: Routing[SubscriberTrack] = field(default_factory=Routing)
    # Totals of subscribers that have left, so /sites keeps what was sent.
    departed: dict[str, SiteCounters] = field(default_factory=dict)
    # Writes what a hall's player receives to a file (media/recorder.py); None: not recorded.
    recorder: Recorder | None = None

    @property
    def floor(self) -> str | None:
        """Who has the floor, as the meeting told the bridge (Bridge.set_floor)."""
        return self.routing.floor

    @property
    def muted(self) -> set[str]:
        """The halls the chair muted (Bridge.set_muted): their sound goes nowhere."""
        return set(self.routing.muted)

    def uptrack(self, kind: str) -> UpTrack | None:
        return self.publisher.tracks.get(kind) if self.publisher else None

    def publishers(self) -> list[Publisher]:
        """Every publisher: the program's, the return feeds, the newcomers."""
        places = [self.publisher, *self.uplinks.values(), *self.newcomers]
        return [publisher for publisher in places if publisher is not None]

    def find_publisher(self, resource_id: str) -> Publisher | None:
        for publisher in self.publishers():
            if publisher.resource_id == resource_id:
                return publisher
        return None

    def holder(self, site: str | None) -> Publisher | None:
        """Who holds a publisher's place: the program (None), or that site's return feed."""
        return self.publisher if site is None else self.uplinks.get(site)

    def seat(self, publisher: Publisher) -> Publisher | None:
        """Put `publisher` in its place; whoever held it before."""
        previous = self.holder(publisher.site)
        if publisher.site is None:
            self.publisher = publisher
        else:
            self.uplinks[publisher.site] = publisher
        self._hold(publisher)
        return previous

    def unseat(self, publisher: Publisher) -> None:
        """`publisher` out of its place, or of the newcomers; reroute() moves its viewers."""
        if publisher in self.newcomers:
            self.newcomers.remove(publisher)
        if self.publisher is publisher:
            self.publisher = None
        elif publisher.site is not None and self.uplinks.get(publisher.site) is publisher:
            del self.uplinks[publisher.site]
        self.routing.vacate(publisher.site, publisher.resource_id)

    def _hold(self, publisher: Publisher) -> None:
        # Its tracks can be forwarded once their codec is known (from the answer on).
        ready = [kind for kind, up in publisher.tracks.items() if up.codec is not None]
        self.routing.hold(publisher.site, publisher.resource_id, ready)

    def track_started(self, track: SubscriberTrack) -> None:
        """A subscriber track's sender started: it is routed from now on."""
        sub = track.subscriber
        if not sub.closed:
            self.routing.attach(track, Seat(sub.site_id, track.kind, track.slot, sub.watches))
        self.reroute()

    def remove(self, sub: Subscriber) -> None:
        """A subscriber that closes: its tracks unrouted, what it was sent kept for /sites."""
        for track in sub.tracks:
            self.routing.detach(track)
            if track.source is not None:
                track.source.del_local(track)
        if self.subscribers.pop(sub.resource_id, None) is not None and sub.site_id != HOST:
            counters = self.departed.setdefault(sub.site_id, SiteCounters())
            counters.packets_sent += sub.packets_sent
            counters.bytes_sent += sub.bytes_sent

    def reroute(self) -> None:
        """Point every subscriber track at its source; a track that changes source continues
        its numbering and starts the new source on a keyframe, with no renegotiation."""
        for publisher in (self.publisher, *self.uplinks.values()):
            if publisher is not None:
                self._hold(publisher)  # a codec may have become known
        now = time.monotonic()
        for track, source in self.routing.changes():
            up = self._uptrack(source) if source is not None else None
            if track.source is not None:
                track.source.del_local(track)
            if up is not None:
                up.add_local(track)
                track.bind(up, now)
        if self.recorder is not None:
            self.recorder.follow(self.program())

    def program(self) -> dict[str, Tapped]:
        """What a hall's player receives: the program, and the floor's picture and sound (its
        sound unless muted) while a hall speaks."""
        tracks: dict[str, Tapped] = {}
        if self.publisher is not None and self.publisher.on_air:
            for kind, up in self.publisher.tracks.items():
                tracks[f"program-{kind}"] = up
        speaker = self.uplinks.get(self.floor) if self.floor is not None else None
        if speaker is not None and speaker.on_air:
            for kind, up in speaker.tracks.items():
                if kind == "video" or self.floor not in self.routing.muted:
                    tracks[f"floor-{kind}"] = up
        return tracks

    def spawn(self, coro: Awaitable[None]) -> None:
        self.bridge.spawn(coro)

    def _uptrack(self, source: Source) -> UpTrack | None:
        publisher = self.find_publisher(source.feed)
        return publisher.tracks.get(source.kind) if publisher is not None else None

    def set_floor(self, holder: str | None) -> None:
        self.routing.set_floor(holder)
        self.reroute()

    def set_muted(self, site: str, muted: bool) -> None:
        self.routing.set_muted(site, muted)
        self.reroute()

    def site_links(self) -> dict[str, SiteLink]:
        links: dict[str, SiteLink] = {}
        for site_id, counters in self.departed.items():
            links[site_id] = SiteLink(False, None, 0, counters.packets_sent, counters.bytes_sent)
        for sub in self.subscribers.values():
            if sub.site_id == HOST:
                continue
            prev = links.get(site_id := sub.site_id) or SiteLink(False, None, 0, 0, 0)
            connected = sub.joined_at is not None
            since = prev.connected_since
            if connected and (since is None or (sub.joined_at and sub.joined_at < since)):
                since = sub.joined_at
            links[site_id] = SiteLink(
                connected=prev.connected or connected,
                connected_since=since,
                connections=prev.connections + (1 if connected else 0),
                packets_sent=prev.packets_sent + sub.packets_sent,
                bytes_sent=prev.bytes_sent + sub.bytes_sent,
            )
        return links
