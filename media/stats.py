"""What the bridge reports of its media: counters since it started, and each live hall's link.

The counts are plain ints kept where the events happen: a hall's NACKs, PLIs and FIRs in its
SubscriberTrack (media/egress.py), the retransmissions in its DownTrack (media/forwarder.py),
the packets its link dropped in its RtpSink (seams/sink.py), the PLIs and NACKs sent toward a
publisher in its PeerUpTrack (media/ingest.py). Nothing here runs per packet: `Bridge.stats()`
reads them when asked (a scrape of /metrics), into the snapshots below.

The totals never go down: what a connection counted is added to the bridge's `Counters` of the
departed as it leaves (Bridge._close_subscriber; Bridge._count_out, as a publisher leaves its
place), and from then on only there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from .routing import HOST

if TYPE_CHECKING:  # they keep the counts, and PeerUpTrack a LossWindow from here
    from .broadcast import Broadcast
    from .egress import Subscriber
    from .ingest import Publisher

# A hall is slow when what the bridge sends it does not get through: its packets were dropped
# because the media port's send buffer was full (EAGAIN) within SLOW_WINDOW seconds, or its
# last receiver report says SLOW_LOSS or more was lost on the way. The port's socket is shared
# by every hall, so a full buffer is the server's own uplink saturated (every hall sending then
# drops); a hall's slow line far away shows as loss in its reports instead.
SLOW_WINDOW = 10.0
SLOW_LOSS = 0.1
# A publisher's loss is read over at least this many seconds: fewer packets say nothing.
LOSS_WINDOW = 5.0


@dataclass
class Counters:
    """Media events counted since the bridge started; every field a counter."""

    # NACK messages from halls, the packets they asked for, the retransmissions answered from
    # the history (RTX when negotiated), and the packets asked for too late for the history.
    nacks_received: int = 0
    nacked_packets: int = 0
    rtx_sent: int = 0
    nacks_unanswered: int = 0
    # Keyframe requests from halls' players.
    plis_received: int = 0
    firs_received: int = 0
    # Toward the publishers: keyframe requests and the bridge's own repairs of its uplink.
    plis_sent: int = 0
    nacks_sent: int = 0
    # Packets to halls dropped: the send buffer full (backed up), or refused (filtered, an
    # ICMP error, a closing socket, or libsrtp would not protect it).
    drops_backed_up: int = 0
    drops_refused: int = 0

    def add(self, other: Counters) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def plus(self, others: Iterable[Counters]) -> Counters:
        total = Counters()
        total.add(self)
        for other in others:
            total.add(other)
        return total


_FIELDS = tuple(f.name for f in fields(Counters))


@dataclass(frozen=True)
class HallStats:
    """One hall's players in a live session (two browsers in one hall: both)."""

    site: str  # HOST for the district hall's own viewers
    connections: int
    # Backed up within SLOW_WINDOW seconds; that, or losing SLOW_LOSS or more (SLOW_WINDOW).
    backed_up: bool
    slow: bool
    # The largest round-trip time and fraction lost over its tracks, from the receiver reports
    # the hall sends about what the bridge forwards; None before the first report.
    rtt: float | None
    loss: float | None
    drops: int


@dataclass(frozen=True)
class PublisherStats:
    """A publisher on air: the district hall's program (site HOST) or a hall's return feed."""

    site: str
    # Fraction of its media packets that did not arrive (before the bridge's NACKs repair
    # them), over its tracks, since the previous reading at least LOSS_WINDOW seconds before.
    loss: float | None


@dataclass(frozen=True)
class SessionStats:
    halls: dict[str, HallStats]
    publishers: dict[str, PublisherStats]


@dataclass(frozen=True)
class BridgeStats:
    sessions: dict[str, SessionStats]  # sessions with a broadcast now
    totals: Counters  # since the bridge started, connections closed since included


class LossWindow:
    """Loss over the interval between readings at least LOSS_WINDOW apart (sans I/O)."""

    __slots__ = ("_expected", "_loss", "_received", "_since")

    def __init__(self) -> None:
        self._since = float("-inf")
        self._expected = 0
        self._received = 0
        self._loss: float | None = None

    def read(self, expected: int, received: int, now: float) -> float | None:
        """The loss of the last complete interval, given the counts so far."""
        if now - self._since >= LOSS_WINDOW:
            interval = expected - self._expected
            if interval > 0:
                lost = interval - (received - self._received)
                self._loss = max(lost, 0) / interval
            self._since, self._expected, self._received = now, expected, received
        return self._loss


def subscriber_counters(sub: Subscriber) -> Counters:
    counters = Counters()
    for track in sub.tracks:
        counters.nacks_received += track.nacks_received
        counters.nacked_packets += track.nacked_packets
        counters.plis_received += track.plis_received
        counters.firs_received += track.firs_received
        if track.down is not None:
            counters.rtx_sent += track.down.stats.packets_retransmitted
            counters.nacks_unanswered += track.down.stats.nacks_unanswered
        if track.sink is not None:
            counters.drops_backed_up += track.sink.dropped_backed_up
            counters.drops_refused += track.sink.dropped - track.sink.dropped_backed_up
    return counters


def publisher_counters(publisher: Publisher) -> Counters:
    counters = Counters()
    for up in publisher.tracks.values():
        counters.plis_sent += up.plis_sent
        counters.nacks_sent += up.nacks_sent
    return counters


def hall_stats(site: str, subs: list[Subscriber], now: float) -> HallStats:
    rtts: list[float] = []
    losses: list[float] = []
    backed_up = False
    drops = 0
    for sub in subs:
        for track in sub.tracks:
            if track.rtt is not None:
                rtts.append(track.rtt)
            if track.receiver_reports:
                losses.append(track.loss_fraction)
            if track.sink is not None:
                drops += track.sink.dropped
                backed_up = backed_up or now - track.sink.backed_up_at < SLOW_WINDOW
    loss = max(losses, default=None)
    return HallStats(
        site=site,
        connections=len(subs),
        backed_up=backed_up,
        slow=backed_up or (loss is not None and loss >= SLOW_LOSS),
        rtt=max(rtts, default=None),
        loss=loss,
        drops=drops,
    )


def publisher_stats(publisher: Publisher, now: float) -> PublisherStats:
    losses = [loss for up in publisher.tracks.values() if (loss := up.loss(now)) is not None]
    return PublisherStats(site=publisher.site or HOST, loss=max(losses, default=None))


def bridge_stats(
    broadcasts: Mapping[str, Broadcast],
    closing: Iterable[Broadcast],
    departed: Counters,
    now: float,
) -> BridgeStats:
    """The live sessions' halls and publishers, and the totals: what departed counted, and
    what the connections open count (those of broadcasts being closed too)."""
    sessions: dict[str, SessionStats] = {}
    for session_id, broadcast in broadcasts.items():
        by_site: dict[str, list[Subscriber]] = {}
        for sub in broadcast.subscribers.values():
            by_site.setdefault(sub.site_id, []).append(sub)
        on_air = [p for p in broadcast.publishers() if p.on_air and not p.counted_out]
        sessions[session_id] = SessionStats(
            halls={site: hall_stats(site, subs, now) for site, subs in by_site.items()},
            publishers={p.site or HOST: publisher_stats(p, now) for p in on_air},
        )
    live: list[Counters] = []
    for broadcast in [*broadcasts.values(), *closing]:
        live.extend(subscriber_counters(sub) for sub in broadcast.subscribers.values())
        live.extend(publisher_counters(p) for p in broadcast.publishers() if not p.counted_out)
    return BridgeStats(sessions=sessions, totals=departed.plus(live))
