"""`GET /metrics`: the service in Prometheus' text format, for the monitoring a district has.

Read at each scrape, not kept up to date on the hot path: the halls connected per live session
and the RTP forwarded come from the bridge's public `site_links` (what the sessions page shows),
the media's repairs, drops and each hall's link from its `stats()` (media/stats.py); the event
loop's lag and the join log's write latency are histograms the server observes as it
goes. Each app has its own registry, so two apps in one process (the tests) never share one.

Open to the admin token, or to the token of `--metrics-token` (a scraper needs no admin
rights); every name starts with `diemcau_` (docs/api.md, Metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..media.stats import SLOW_LOSS, SLOW_WINDOW
from ..signaling.bus import Bus, RedisBus
from ..signaling.session import SessionState
from .auth import CHALLENGE, bearer_token
from .errors import ApiError
from .state import app_state
from .store import Store
from .webhooks import Webhooks, url_for_log

if TYPE_CHECKING:
    from prometheus_client import Metric

    from ..media.bridge import Bridge

# How often the event loop's lag is sampled, in seconds: a sleep that overshoots by more than
# this says the loop was busy (a slow write, a long parse) while every hall's media waited on it.
LAG_INTERVAL = 0.5
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


class _Forwarding(Collector):
    """Halls connected per live session and the RTP forwarded, from the bridge at each scrape.

    The bridge counts per session, and forgets a session once it has ended: the totals add the
    last count seen of each session gone, so that they never go down."""

    def __init__(self, store: Store, bridge: Bridge) -> None:
        self.store = store
        self.bridge = bridge
        self._seen: dict[str, tuple[int, int]] = {}
        self._gone = (0, 0)

    def collect(self) -> Iterator[Metric]:
        halls = GaugeMetricFamily(
            "diemcau_halls_connected",
            "Invited halls with at least one media connection up, per live session",
            labels=["session"],
        )
        connections = GaugeMetricFamily(
            "diemcau_hall_connections",
            "Media connections of halls open, per live session",
            labels=["session"],
        )
        counts: dict[str, tuple[int, int]] = {}
        live = [s.id for s in self.store.list_sessions() if s.state is SessionState.LIVE]
        for session_id in live:
            links = self.bridge.site_links(session_id).values()
            halls.add_metric([session_id], sum(1 for link in links if link.connected))
            connections.add_metric([session_id], sum(link.connections for link in links))
            counts[session_id] = (
                sum(link.packets_sent for link in links),
                sum(link.bytes_sent for link in links),
            )
        gone_packets, gone_bytes = self._gone
        for session_id, (packets, size) in self._seen.items():
            now = counts.get(session_id)
            if now is None or now[0] < packets:  # ended, or counted afresh
                gone_packets, gone_bytes = gone_packets + packets, gone_bytes + size
        self._gone, self._seen = (gone_packets, gone_bytes), counts
        yield halls
        yield connections
        yield GaugeMetricFamily("diemcau_sessions_live", "Sessions live now", value=len(live))
        yield CounterMetricFamily(
            "diemcau_forwarded_packets",
            "RTP packets forwarded to halls, retransmissions included",
            value=gone_packets + sum(packets for packets, _ in counts.values()),
        )
        yield CounterMetricFamily(
            "diemcau_forwarded_bytes",
            "RTP bytes forwarded to halls, retransmissions included",
            value=gone_bytes + sum(size for _, size in counts.values()),
        )


class _Media(Collector):
    """The bridge's media counters, and each live hall's link, from Bridge.stats() at each
    scrape. The counters are the bridge's own totals (they never go down); a hall or publisher
    that leaves leaves the gauges."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def collect(self) -> Iterator[Metric]:
        stats = self.bridge.stats()
        totals = stats.totals
        for name, documentation, count in (
            ("nacks_received", "NACK messages received from halls", totals.nacks_received),
            ("nacked_packets", "Packets halls asked for again in NACKs", totals.nacked_packets),
            (
                "rtx_packets_sent",
                "Retransmissions sent from the history in answer to NACKs (RTX when negotiated)",
                totals.rtx_sent,
            ),
            (
                "nacked_packets_unanswered",
                "Packets asked for in NACKs that had left the history (too late to repair)",
                totals.nacks_unanswered,
            ),
            ("plis_sent", "PLIs (keyframe requests) sent to publishers", totals.plis_sent),
            (
                "nacks_sent",
                "NACKs the bridge sent to publishers for its own uplink's losses",
                totals.nacks_sent,
            ),
        ):
            yield CounterMetricFamily(f"diemcau_{name}", documentation, value=count)
        labelled: list[tuple[str, str, str, dict[str, int]]] = [
            (
                "keyframe_requests_received",
                "Keyframe requests received from halls' players, by type (pli, fir)",
                "type",
                {"pli": totals.plis_received, "fir": totals.firs_received},
            ),
            (
                "send_drops",
                "RTP packets to halls dropped: the send buffer full (backed_up), or refused",
                "reason",
                {"backed_up": totals.drops_backed_up, "refused": totals.drops_refused},
            ),
        ]
        for name, documentation, label, counts in labelled:
            family = CounterMetricFamily(f"diemcau_{name}", documentation, labels=[label])
            for key, count in counts.items():
                family.add_metric([key], count)
            yield family
        slow_halls = GaugeMetricFamily(
            "diemcau_slow_halls",
            "Halls that what the bridge sends does not reach: backed up lately, or losing",
            labels=["session"],
        )
        slow, rtt, loss, uplink_loss = (
            GaugeMetricFamily(f"diemcau_{name}", documentation, labels=["session", "site"])
            for name, documentation in (
                (
                    "hall_slow",
                    f"1 if the hall's link was backed up in the last {SLOW_WINDOW:g} s, or its"
                    f" last receiver report says {SLOW_LOSS:.0%} or more lost",
                ),
                (
                    "hall_rtt_seconds",
                    "Round trip to the hall, from its receiver reports (the largest of its tracks)",
                ),
                (
                    "hall_loss_ratio",
                    "Fraction lost of what the bridge sends the hall, from its receiver reports",
                ),
                (
                    "publisher_loss_ratio",
                    "Fraction lost of what a publisher sends the bridge, before repair",
                ),
            )
        )
        for session_id, session in stats.sessions.items():
            slow_halls.add_metric([session_id], sum(h.slow for h in session.halls.values()))
            for site, hall in session.halls.items():
                slow.add_metric([session_id, site], int(hall.slow))
                if hall.rtt is not None:
                    rtt.add_metric([session_id, site], hall.rtt)
                if hall.loss is not None:
                    loss.add_metric([session_id, site], hall.loss)
            for site, publisher in session.publishers.items():
                if publisher.loss is not None:
                    uplink_loss.add_metric([session_id, site], publisher.loss)
        yield from (slow_halls, slow, rtt, loss, uplink_loss)


class _Webhooks(Collector):
    """The webhook receivers: what was delivered and not, and which are failing now."""

    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    def collect(self) -> Iterator[Metric]:
        posts = CounterMetricFamily(
            "diemcau_webhook_posts",
            "Webhook POSTs per receiver (its URL without query) and outcome",
            labels=["receiver", "outcome"],
        )
        failing = GaugeMetricFamily(
            "diemcau_webhook_failing",
            "1 while a receiver's last POST failed: its events wait in the outbox",
            labels=["receiver"],
        )
        for receiver in self.webhooks.receivers:
            name = url_for_log(receiver.url)
            posts.add_metric([name, "delivered"], receiver.delivered)
            posts.add_metric([name, "failed"], receiver.failed)
            failing.add_metric([name], int(receiver.failing))
        yield posts
        yield failing
        yield CounterMetricFamily(
            "diemcau_webhook_dropped",
            "Webhook deliveries dropped over the outbox's cap per receiver",
            value=self.webhooks.dropped,
        )


class _RedisBus(Collector):
    """The Redis bus (--redis-url): relaying or reconnecting, and what it could not relay."""

    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "diemcau_redis_bus_up",
            "1 while the Redis bus relays between nodes, 0 while Redis is away and it reconnects",
            value=int(self.bus.down_since is None),
        )
        yield CounterMetricFamily(
            "diemcau_redis_bus_dropped",
            "Messages published while Redis was away: delivered on this node, not to the others",
            value=self.bus.dropped,
        )


class Metrics:
    """One app's registry: what is read at each scrape, and what the server observes."""

    def __init__(
        self,
        store: Store,
        bridge: Bridge,
        admin_token: str,
        token: str | None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._tokens = [t.encode() for t in (admin_token, token) if t]
        self.registry.register(_Forwarding(store, bridge))
        self.registry.register(_Media(bridge))
        if webhooks is not None:
            self.registry.register(_Webhooks(webhooks))
        self.loop_lag = Histogram(
            "diemcau_event_loop_lag_seconds",
            "How late the event loop ran a timer: time every hall's media waited",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.join_log_write = Histogram(
            "diemcau_join_log_write_seconds",
            "Time to commit one join-log event (a join, a leave, a failed attempt)",
            buckets=_WRITE_BUCKETS,
            registry=self.registry,
        )
        self.control_messages = Counter(
            "diemcau_control_messages",
            "Control-channel messages received after hello, by type",
            ["type"],
            registry=self.registry,
        )
        self.control_errors = Counter(
            "diemcau_control_errors",
            "Control-channel errors answered, by code",
            ["code"],
            registry=self.registry,
        )
        self._sampling: asyncio.Task[None] | None = None

    def watch_bus(self, bus: Bus) -> None:
        """Export the Redis bus's state; the lifespan puts it in place after this registry."""
        if isinstance(bus, RedisBus):
            self.registry.register(_RedisBus(bus))

    def start(self) -> None:
        self._sampling = asyncio.create_task(self._sample_lag(), name="event loop lag")

    async def close(self) -> None:
        if self._sampling is not None:
            self._sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampling

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag.observe(max(0.0, loop.time() - due))

    def allowed(self, token: str) -> bool:
        given = token.encode()
        # Both compared, whichever matches, so the time taken says nothing of which.
        return sum(hmac.compare_digest(given, t) for t in self._tokens) > 0

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    exported = app_state(request).metrics
    if not exported.allowed(bearer_token(request)):
        raise ApiError(
            401,
            "invalid_token",
            "This token is not valid here.",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    return Response(exported.exposition(), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    return [Route("/metrics", metrics, methods=["GET"])]
