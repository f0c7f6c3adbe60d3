"""The forwarding bridge: one publisher per session (WHIP), many subscribers (WHEP).

aiortc peers do ICE, DTLS, SRTP and SDP; media never reaches a decoder. The publisher's RTP is
read a burst at a time (seams.BurstReader) by its tracks (media/ingest.py), handed to each
subscriber's `DownTrack` (media/forwarder.py), rewritten there, and written to the subscriber's
socket without awaiting, a run of equal packets per system call (seams.RtpSink; the subscriber
side is media/egress.py). Who receives what is the session's routing table (media/routing.py),
kept by its Broadcast (media/broadcast.py).

This module is what is left: `Bridge`, negotiation (offers judged, codecs narrowed, answers)
and lifecycle (publishers on air and replaced, subscribers joining and leaving, the close
paths, a resource's ICE). It is over 450 lines because publish and subscribe hold their
connection's callbacks (failed, connected, closed) next to the offer they answer, and every
close path sits with the others, so that a reader sees one connection's whole life and the
order of its join and leave in one place; what could stand alone has moved out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aioice import Connection
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from . import candidates, seams
from .broadcast import Broadcast
from .candidates import IceRestart as IceRestart
from .candidates import candidate_types, without_mdns
from .codecs import forwardable, is_rtx, same_codec
from .connectwatch import ConnectWatch, RouteSoon
from .egress import Subscriber, SubscriberTrack
from .heap import HeapTrim
from .ingest import PeerUpTrack, Publisher
from .links import SiteLink
from .offer import OfferError as OfferError
from .offer import (
    check_publish,
    check_subscribe,
    codec_error,
    codec_label,
    first_codec_error,
    with_directions,
)
from .offer import parse as parse_offer
from .port import UdpPort
from .recorder import Recorder
from .route import Route
from .routing import HOST as HOST
from .routing import PROGRAM, slots
from .stats import BridgeStats, Counters, bridge_stats, publisher_counters, subscriber_counters

log = logging.getLogger("diemcau.media")

# (session_id, site_id, conn_id, how it came in) on join; the first three and a reason on leave;
# and on a connection that never came up, the reason and the candidate types the hall offered.
JoinHandler = Callable[[str, str, str, "Route | None"], Awaitable[None]]
LeaveHandler = Callable[[str, str, str, str], Awaitable[None]]
AttemptFailedHandler = Callable[[str, str, str, str, tuple[str, ...]], Awaitable[None]]
# (session_id, site or None for the program, resource_id): a publisher went on air, its first
# media packet in.
PublishingHandler = Callable[[str, str | None, str], Awaitable[None]]


@dataclass
class Answer:
    resource_id: str
    sdp: str


def _configuration() -> RTCConfiguration:
    # No STUN or TURN server unless configured: aiortc would otherwise ask a public one.
    # One transport for every m-line, as browsers do: aiortc's default bundles per kind, which
    # leaves a second audio or video section (the floor slot) without a transport.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


# -- the bridge --------------------------------------------------------------------------------


class Bridge:
    """All broadcasts of this process."""

    def __init__(
        self,
        on_join: JoinHandler | None = None,
        on_leave: LeaveHandler | None = None,
        on_attempt_failed: AttemptFailedHandler | None = None,
        port: UdpPort | None = None,
        connect_timeout: float = 20.0,
        on_publishing: PublishingHandler | None = None,
        recorders: Callable[[str], Recorder] | None = None,
    ) -> None:
        # A media connection that stops answering ICE consent checks (RFC 7675, about 30 s in
        # aioice) turns "failed": that is the timeout of a silent site.
        self.on_join = on_join
        self.on_leave = on_leave
        self.on_attempt_failed = on_attempt_failed
        self.on_publishing = on_publishing
        # Each session's recorder (media/recorder.py), made with its broadcast; None: no recording.
        self.recorders = recorders
        # Every connection's ICE, DTLS and SRTP on one UDP port; a free one unless told.
        self.port = port if port is not None else UdpPort(0)
        # A connection not up by then is closed: a browser that died mid-ICE, a hall whose
        # network lets nothing through, must not hold sockets and memory until the session ends.
        self.connect_timeout = connect_timeout
        self.broadcasts: dict[str, Broadcast] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Each resource's way up, by resource id, until it has come up (or never will).
        self._watches: dict[str, ConnectWatch] = {}
        # What closed connections freed goes back to the system (media/heap.py).
        self.heap = HeapTrim()
        # What closed connections counted (media/stats.py), so that the totals never go down;
        # and the broadcasts being closed, whose connections still count until each closes.
        self._departed = Counters()
        self._closing: list[Broadcast] = []

    def open(self) -> None:
        """Bind the media port now (serve does, to fail at start if it is taken); otherwise
        the first offer does."""
        self.port.open()

    def _broadcast(self, session_id: str) -> Broadcast:
        broadcast = self.broadcasts.get(session_id)
        if broadcast is None:
            broadcast = self.broadcasts[session_id] = Broadcast(self, session_id)
            if self.recorders is not None:
                broadcast.recorder = self.recorders(session_id)
        return broadcast

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- WHIP

    async def publish(self, session_id: str, offer_sdp: str, site: str | None = None) -> Answer:
        """Accept a publisher's offer: the district hall's program, or with `site` that hall's
        return feed. A new publisher takes an empty place at once; one that is held, only at its
        first media packet (see _on_air): until then the previous one stays on air."""
        parsed = parse_offer(offer_sdp)
        check_publish(parsed)
        broadcast = self._broadcast(session_id)
        pc = RTCPeerConnection(_configuration())
        resource_id = secrets.token_urlsafe(12)
        publisher = Publisher(resource_id, pc, site=site)
        reader = seams.BurstReader(publisher.flush, self.port.attach_reader)
        try:
            offered = await self._apply_offer(pc, offer_sdp)
            kinds = set()
            for transceiver in pc.getTransceivers():
                codecs = forwardable(transceiver.kind, seams.negotiated_codecs(transceiver))
                if not [c for c in codecs if not is_rtx(c)]:
                    section = parsed.section(transceiver.mid)
                    raise codec_error(transceiver.kind, section.codecs if section else ())
                # One codec per track: the publisher must send what every subscriber will get.
                media = next(c for c in codecs if not is_rtx(c))
                rtx = [
                    c for c in codecs if is_rtx(c) and c.parameters.get("apt") == media.payloadType
                ]
                seams.restrict_codecs(transceiver, [media, *rtx])
                transceiver.direction = "recvonly"
                up = PeerUpTrack(
                    broadcast, transceiver, rtcp_ssrc=seams.sender_ssrc(transceiver.sender)
                )
                up.reader = reader
                up.on_first_media = lambda: self._on_air(broadcast, publisher)
                reader.handlers[transceiver.receiver] = up.receive_rtp
                # Known from the answer on: a viewer arriving before the publisher's media
                # connection is up is already offered exactly this codec.
                up.set_codec(media)
                publisher.tracks[transceiver.kind] = up
                kinds.add(transceiver.kind)
            if "video" not in kinds and "audio" not in kinds:
                raise OfferError(400, "invalid_offer", "the offer has no audio or video")
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self._discard(pc)
            raise

        if broadcast.holder(site) is None:
            broadcast.seat(publisher)  # viewers arriving now are offered its codec
        else:
            broadcast.newcomers.append(publisher)

        async def failed(reason: str, offered: tuple[str, ...]) -> None:
            log.warning(
                "session %s: publisher %s (%s) did not connect: %s; it offered %s",
                session_id,
                resource_id,
                site or "district hall",
                reason,
                ", ".join(offered) or "no candidates",
            )
            await self._drop_publisher(broadcast, publisher)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "closed" or (
                pc.connectionState == "failed" and watch.connected
            ):
                await self._drop_publisher(broadcast, publisher)

        watch = self._watch(resource_id, pc, offered, on_failed=failed)
        watch.place = (session_id, site or HOST)
        return Answer(resource_id, pc.localDescription.sdp)

    def _on_air(self, broadcast: Broadcast, publisher: Publisher) -> None:
        """A publisher's first media packet: its DTLS is up and it sends. A newcomer takes its
        place now, and whoever held it goes; viewers continue on it after a keyframe."""
        if publisher.on_air:
            return
        if publisher in broadcast.newcomers:
            broadcast.newcomers.remove(publisher)
            previous = broadcast.seat(publisher)
            if previous is not None:
                self._count_out(previous)  # out of its place now, closed in a moment
                self.spawn(self._drop_publisher(broadcast, previous))
        elif broadcast.holder(publisher.site) is not publisher:
            return  # dropped already
        publisher.on_air = True
        broadcast.reroute()
        log.info(
            "session %s: publisher %s (%s) is on air",
            broadcast.session_id,
            publisher.resource_id,
            publisher.site or "district hall",
        )
        if self.on_publishing is not None:
            self.spawn(
                self.on_publishing(broadcast.session_id, publisher.site, publisher.resource_id)
            )

    async def _drop_publisher(self, broadcast: Broadcast, publisher: Publisher) -> None:
        self._watches.pop(publisher.resource_id, None)
        broadcast.unseat(publisher)
        broadcast.reroute()
        await self._close_publisher(publisher)

    async def _close_publisher(self, publisher: Publisher) -> None:
        self._count_out(publisher)
        await publisher.close()
        self.heap.freed()

    def _count_out(self, publisher: Publisher) -> None:
        """A publisher out of its place: what it counted moves to the departed's totals."""
        if not publisher.counted_out:
            publisher.counted_out = True
            self._departed.add(publisher_counters(publisher))

    def attach(self, session_id: str, publisher: Publisher) -> None:
        """Make a local source (no peer connection) the session's publisher."""
        broadcast = self._broadcast(session_id)
        previous = broadcast.seat(publisher)
        if previous is not None:
            self._count_out(previous)
            self.spawn(self._drop_publisher(broadcast, previous))
        for up in publisher.tracks.values():
            up.broadcast = broadcast
        broadcast.reroute()

    def broadcast(self, session_id: str) -> Broadcast:
        return self._broadcast(session_id)

    def set_floor(self, session_id: str, holder: str | None) -> None:
        """The chair gave the floor to `holder` (None: took it back): every floor slot switches
        to that hall's return feed, with a keyframe requested, and no renegotiation. Kept like
        a mute when the session has no media yet: its first connections find the floor given."""
        self._broadcast(session_id).set_floor(holder)

    def set_muted(self, session_id: str, site: str, muted: bool) -> None:
        """The chair muted a hall: the bridge enforces it, whatever the hall's page does."""
        self._broadcast(session_id).set_muted(site, muted)

    # -- WHEP

    async def subscribe(
        self, session_id: str, site_id: str, offer_sdp: str, watches: str | None = None
    ) -> Answer:
        parsed = parse_offer(offer_sdp)
        # A hall's player: the program and the floor; the district hall's views: one pair.
        check_subscribe(parsed, pairs=1 if site_id == HOST else 2)
        broadcast = self._broadcast(session_id)
        pc = RTCPeerConnection(_configuration())
        resource_id = secrets.token_urlsafe(12)
        sub = Subscriber(broadcast, resource_id, site_id, pc, watches=watches)
        try:
            offered = await self._apply_offer(pc, offer_sdp)
            transceivers = pc.getTransceivers()
            kinds = [t.kind for t in transceivers]
            for transceiver, slot in zip(transceivers, slots(site_id, watches, kinds), strict=True):
                codecs = forwardable(transceiver.kind, seams.negotiated_codecs(transceiver))
                up = broadcast.uptrack(transceiver.kind) if slot == PROGRAM else None
                if up is not None and up.codec is not None:
                    # Live already: offer only what the publisher sends.
                    codecs = [
                        c
                        for c in codecs
                        if same_codec(up.codec, c)
                        or (
                            is_rtx(c)
                            and any(
                                same_codec(up.codec, m) and m.payloadType == c.parameters.get("apt")
                                for m in codecs
                            )
                        )
                    ]
                if not [c for c in codecs if not is_rtx(c)]:
                    section = parsed.section(transceiver.mid)
                    live = None
                    if up is not None and up.codec is not None:
                        name = up.codec.mimeType.split("/")[-1]
                        live = codec_label(name, up.codec.parameters) + ", the live codec"
                    raise codec_error(transceiver.kind, section.codecs if section else (), live)
                seams.restrict_codecs(transceiver, codecs)
                transceiver.direction = "sendonly"
                sub.tracks.append(SubscriberTrack(sub, transceiver, slot))
            if not sub.tracks:
                raise OfferError(400, "invalid_offer", "the offer has no audio or video")
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self._discard(pc)
            raise
        broadcast.subscribers[resource_id] = sub

        async def connected(route: RouteSoon) -> None:
            if sub.joined_at is not None or sub.closed:
                route.close()
                return
            # Up now, whatever the wait for its route: a hall that leaves meanwhile has its
            # leave written after this join (_close_subscriber waits for it).
            sub.joined_at = datetime.now(UTC)
            sub.joining = asyncio.Event()
            try:
                how = await route
                # The district hall's own viewers are not a site's attendance.
                if self.on_join is not None and site_id != HOST:
                    await self.on_join(session_id, site_id, resource_id, how)
            finally:
                sub.joining.set()

        async def failed(reason: str, offered: tuple[str, ...]) -> None:
            if sub.closed:
                return
            if self.on_attempt_failed is not None and site_id != HOST:
                await self.on_attempt_failed(session_id, site_id, resource_id, reason, offered)
            await self._close_subscriber(broadcast, sub, "failed")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state == "closed" or (state == "failed" and watch.connected):
                # A hall gone silent (consent lost) is a network lost, whichever state says it.
                lost = state == "failed" or (watch.connected and seams.consent_expired(pc))
                await self._close_subscriber(broadcast, sub, "failed" if lost else "closed")

        watch = self._watch(resource_id, pc, offered, on_failed=failed, on_connected=connected)
        watch.place = (session_id, site_id)
        return Answer(resource_id, pc.localDescription.sdp)

    def pending(self, session_id: str, who: str | None = None) -> int:
        """Connections of the session (of one site, or HOST, with `who`) that are answered and
        not up yet: what a token must not pile up (each holds memory until its deadline)."""
        return sum(
            1
            for watch in self._watches.values()
            if not watch.connected
            and watch.place[0] == session_id
            and (who is None or watch.place[1] == who)
        )

    def _watch(
        self,
        resource_id: str,
        pc: RTCPeerConnection,
        offered: set[str],
        on_failed: Callable[[str, tuple[str, ...]], Awaitable[None]],
        on_connected: Callable[[RouteSoon], Awaitable[None]] | None = None,
    ) -> ConnectWatch:
        """Watch the connection come up, until it closes (see the close paths)."""
        watch = self._watches[resource_id] = ConnectWatch(
            pc, self.connect_timeout, on_failed, on_connected
        )
        watch.offered |= offered
        self.spawn(watch.run())
        return watch

    async def _close_subscriber(self, broadcast: Broadcast, sub: Subscriber, reason: str) -> None:
        if sub.closed:
            return
        sub.closed = True
        self._watches.pop(sub.resource_id, None)
        broadcast.remove(sub)
        self._departed.add(subscriber_counters(sub))
        if sub.joining is not None:
            await sub.joining.wait()  # its join is being written: the leave comes after it
        if sub.joined_at is not None and self.on_leave is not None and sub.site_id != HOST:
            await self.on_leave(broadcast.session_id, sub.site_id, sub.resource_id, reason)
        await sub.pc.close()
        self.heap.freed()

    async def _discard(self, pc: RTCPeerConnection) -> None:
        """A peer connection whose offer was refused: off the port, closed."""
        for connection in seams.ice_connections(pc):
            self.port.detach(connection)
        await pc.close()
        self.heap.freed()

    async def _apply_offer(self, pc: RTCPeerConnection, offer_sdp: str) -> set[str]:
        """Apply the offer and put its connection on the media port; the candidate types the
        offer carries."""
        try:
            await pc.setRemoteDescription(
                # A section without a direction line is sendrecv; aiortc needs it said.
                RTCSessionDescription(sdp=without_mdns(with_directions(offer_sdp)), type="offer")
            )
        except ValueError as exc:
            raise OfferError(
                400, "invalid_offer", f"the SDP offer cannot be parsed: {exc}"
            ) from exc
        except Exception as exc:
            # aiortc raises OperationError when no codec in the offer is one it knows.
            raise first_codec_error(parse_offer(offer_sdp)) from exc
        # To actpass the server is the DTLS server; GStreamer and FFmpeg need it (docs/media.md).
        seams.answer_dtls(pc)
        for connection in seams.ice_connections(pc):
            self.port.attach(connection)
        return candidate_types(offer_sdp)

    # -- resources, sessions

    async def delete(self, session_id: str, resource_id: str) -> bool:
        broadcast = self.broadcasts.get(session_id)
        if broadcast is None:
            return False
        publisher = broadcast.find_publisher(resource_id)
        if publisher is not None:
            await self._drop_publisher(broadcast, publisher)
            return True
        sub = broadcast.subscribers.get(resource_id)
        if sub is None:
            return False
        await self._close_subscriber(broadcast, sub, "closed")
        return True

    # -- trickle ICE and ICE restarts (PATCH on a resource, RFC 9725 section 4.3)

    def _peer(self, session_id: str, resource_id: str) -> RTCPeerConnection | None:
        broadcast = self.broadcasts.get(session_id)
        if broadcast is None:
            return None
        publisher = broadcast.find_publisher(resource_id)
        if publisher is not None:
            return publisher.pc
        sub = broadcast.subscribers.get(resource_id)
        return sub.pc if sub is not None else None

    def _resource_pc(self, session_id: str, resource_id: str) -> RTCPeerConnection:
        pc = self._peer(session_id, resource_id)
        if pc is None:
            raise OfferError(404, "not_found", "there is no such WHIP/WHEP resource")
        return pc

    def _ice(self, session_id: str, resource_id: str) -> Connection | None:
        pc = self._peer(session_id, resource_id)
        connections = seams.ice_connections(pc) if pc is not None else []
        return connections[0] if connections else None

    def ice_tag(self, session_id: str, resource_id: str) -> str | None:
        """An opaque name of the resource's ICE session, for its ETag: it changes with each
        ICE restart. None for no such resource."""
        connection = self._ice(session_id, resource_id)
        return connection.local_username if connection is not None else None

    def remote_ufrag(self, session_id: str, resource_id: str) -> str | None:
        """The peer's current ICE username fragment: a PATCH with another one restarts ICE."""
        connection = self._ice(session_id, resource_id)
        return connection.remote_username if connection is not None else None

    async def add_candidates(
        self,
        session_id: str,
        resource_id: str,
        mid_candidates: list[tuple[str, str]],
        end: bool,
    ) -> None:
        """Candidates the peer trickled: (mid, "candidate:...") pairs, and whether its
        gathering is over. mDNS candidates are left out, as in offers."""
        pc = self._resource_pc(session_id, resource_id)
        taken = candidates.trickled(pc, mid_candidates)
        watch = self._watches.get(resource_id)
        if watch is not None:
            watch.offered.update(candidate.type for candidate in taken)
        await candidates.add(pc, taken, end)

    async def restart_ice(
        self,
        session_id: str,
        resource_id: str,
        ufrag: str,
        pwd: str,
        mid_candidates: list[tuple[str, str]],
        end: bool,
    ) -> IceRestart:
        """The peer restarts ICE with new credentials (a network change): the server takes new
        ones too and checks afresh, while media goes on over the old pair until a new one is
        nominated. DTLS and SRTP carry on as they are."""
        pc = self._resource_pc(session_id, resource_id)
        connection = candidates.restart(pc, self.port, ufrag, pwd)
        await self.add_candidates(session_id, resource_id, mid_candidates, end)
        return candidates.answer(pc, connection, self.port)

    def resource_site(self, session_id: str, resource_id: str) -> str | None:
        """Whose resource this is: "" for the program publisher, a site id for a site's
        return feed or player, HOST for the district hall's viewers; None if unknown."""
        broadcast = self.broadcasts.get(session_id)
        if broadcast is None:
            return None
        publisher = broadcast.find_publisher(resource_id)
        if publisher is not None:
            return publisher.site or ""
        sub = broadcast.subscribers.get(resource_id)
        return sub.site_id if sub is not None else None

    def site_links(self, session_id: str) -> dict[str, SiteLink]:
        broadcast = self.broadcasts.get(session_id)
        return broadcast.site_links() if broadcast is not None else {}

    def stats(self, now: float | None = None) -> BridgeStats:
        """What the bridge counted since it started, and each live session's halls and
        publishers as they are now (media/stats.py): read by /metrics at each scrape."""
        now = time.monotonic() if now is None else now
        return bridge_stats(self.broadcasts, self._closing, self._departed, now)

    async def close_site(self, session_id: str, site_id: str, reason: str) -> None:
        broadcast = self.broadcasts.get(session_id)
        if broadcast is None:
            return
        for sub in [s for s in broadcast.subscribers.values() if s.site_id == site_id]:
            await self._close_subscriber(broadcast, sub, reason)
        uplink = broadcast.uplinks.get(site_id)
        if uplink is not None:
            await self._drop_publisher(broadcast, uplink)
        for newcomer in [p for p in broadcast.newcomers if p.site == site_id]:
            await self._drop_publisher(broadcast, newcomer)

    async def close_session(self, session_id: str, reason: str = "closed") -> None:
        broadcast = self.broadcasts.pop(session_id, None)
        if broadcast is None:
            return
        self._closing.append(broadcast)
        try:
            for sub in list(broadcast.subscribers.values()):
                await self._close_subscriber(broadcast, sub, reason)
            for publisher in broadcast.publishers():
                await self._close_publisher(publisher)
        finally:
            self._closing.remove(broadcast)
        broadcast.publisher = None
        broadcast.uplinks.clear()
        broadcast.newcomers.clear()
        if broadcast.recorder is not None:
            await broadcast.recorder.close()  # its last file completed

    async def close(self) -> None:
        """Server shutdown: every open connection leaves with reason server_shutdown."""
        for session_id in list(self.broadcasts):
            await self.close_session(session_id, "server_shutdown")
        for task in list(self._tasks):
            task.cancel()
        self.port.close()
        self.heap.cancel()
