"""The publisher side of the bridge: its tracks as they arrive, and their fan-out.

A `Publisher` is whatever feeds a broadcast: a WHIP peer, or a local source such as the demo's
pattern. Each of its tracks is an `UpTrack`: it stages the packets of a burst as they are read
(seams.BurstReader), then flush() hands the burst to every subscriber track it feeds, each
hall's packets back to back (media/egress.py has the subscriber side). `PeerUpTrack` is aiortc's
receiver minus its decoder: statistics for receiver reports, NACKs and REMB toward the
publisher, RTX unwrapped, duplicates dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from . import seams
from .codecs import KeyframeTest, is_rtx, keyframe_test
from .forwarder import RTP_HEADER_SIZE, BurstPacket, DownTrack
from .keyframe import KeyframeRequests
from .stats import LossWindow

# Sequence numbers remembered per publisher track to drop duplicates (a power of two).
_SEEN_SLOTS = 1024


class Feeds(Protocol):
    """What a publisher track tells the broadcast it feeds (media/broadcast.py)."""

    def reroute(self) -> None: ...

    def spawn(self, coro: Awaitable[None]) -> None: ...


class Downstream(Protocol):
    """What the fan-out reads of a subscriber track (media/egress.py's SubscriberTrack)."""

    source: UpTrack | None
    down: DownTrack | None
    sink: seams.RtpSink | None
    bound_codec: RTCRtpCodecParameters | None
    report_due: float  # monotonic time of its next sender report

    def send_report(self, now: float) -> None: ...


class UpTrack:
    """One track of the publisher: its codec, and the keyframe requests sent toward it."""

    def __init__(self, broadcast: Feeds, kind: str) -> None:
        self.broadcast = broadcast
        self.kind = kind
        self.codec: RTCRtpCodecParameters | None = None
        self.is_keyframe: KeyframeTest | None = None
        self.media_ssrc: int | None = None
        self.keyframes = KeyframeRequests()
        self.packets_received = 0
        # Requests sent toward the source: keyframes (PLIs) and repairs (NACKs), for stats.
        self.plis_sent = 0
        self.nacks_sent = 0
        # The subscriber tracks this track feeds now: add_local and del_local keep it, as
        # Broadcast.reroute applies the routing table's moves.
        self.sinks: set[Downstream] = set()
        # Consumers of whole bursts besides the subscribers: the session's recorder
        # (media/recorder.py), handed each burst as it is fanned out, and nothing else.
        self.taps: list[Callable[[list[BurstPacket], float], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        # The burst being received, fanned out by flush(). Bounded by seams.MAX_BURST.
        self._staged: list[BurstPacket] = []
        self._last_keyframe_start = -1  # index in the burst of the last keyframe start

    def add_local(self, track: Downstream) -> None:
        """`track` carries this track from now on. With del_local, the one place that links a
        publisher track and its subscribers (Galene's AddLocal and DelLocal)."""
        self.sinks.add(track)
        track.source = self

    def del_local(self, track: Downstream) -> None:
        """`track` no longer carries this track; whatever it carries next starts afresh."""
        self.sinks.discard(track)
        if track.source is self:
            track.source = None
        if track.down is not None:
            track.down.source_ended()

    def forward(self, ssrc: int, seq: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """One packet to every subscriber track this track feeds, now."""
        self.stage(ssrc, seq, timestamp, marker, payload)
        self.flush()

    def stage(self, ssrc: int, seq: int, timestamp: int, marker: bool, payload: bytes) -> None:
        """One more packet of the burst being received; flush() sends the burst."""
        if not (self.sinks or self.taps) or RTP_HEADER_SIZE + len(payload) > seams.MAX_RTP_SIZE:
            return  # nobody to send to; or larger than any link's MTU: nobody could receive it
        index = len(self._staged)
        if index == seams.MAX_BURST:
            self.flush()  # the scratch buffer holds this many a subscriber
            index = 0
        # The keyframe test, once a packet: every subscriber's DownTrack reads its answer.
        keyframe = self.is_keyframe is not None and self.is_keyframe(payload)
        if keyframe:
            self.keyframes.keyframe_arrived()
            self._last_keyframe_start = index
        self._staged.append((ssrc, seq, timestamp, marker, payload, index, keyframe))

    def flush(self) -> None:
        """The staged burst to every subscriber track, each one's packets back to back;
        nothing here awaits.

        Each hall's packets are laid out one after the other by its DownTrack (forward_burst)
        in its RtpSink's buffer, where the sink protects them in place and sends them in runs.
        """
        staged = self._staged
        if not staged:
            return
        last_keyframe_start = self._last_keyframe_start
        self._staged = []
        self._last_keyframe_start = -1
        now = time.monotonic()
        needs_keyframe = -1  # index of the last packet after which a subscriber needs one
        video = self.is_keyframe is not None
        for track in self.sinks:
            down, sink = track.down, track.sink
            if down is None or sink is None or track.bound_codec is None or not sink.ready():
                continue
            needs = down.forward_burst(sink.buffer, staged, now, sink.push)
            if not sink.finish() and sink.backed_up and video:
                down.source_ended()  # the burst's last run was dropped: a fresh start
                needs = len(staged)
            if needs > needs_keyframe:
                needs_keyframe = needs
            if now >= track.report_due:
                track.send_report(now)
        for tap in self.taps:
            tap(staged, now)
        # A subscriber that missed a keyframe start in this burst gets one later in it, if any.
        if needs_keyframe > last_keyframe_start:
            self.request_keyframe(now)

    @property
    def codec_name(self) -> str | None:
        """ "vp8", "h264" or "opus", once the codec is known."""
        return self.codec.mimeType.split("/")[-1].lower() if self.codec is not None else None

    def set_codec(self, codec: RTCRtpCodecParameters) -> None:
        self.codec = codec
        self.is_keyframe = keyframe_test(codec)

    def request_keyframe(self, now: float) -> None:
        if self.kind != "video" or self.media_ssrc is None:
            return
        if self.keyframes.request(now):
            self.send_keyframe_request()
        else:
            self._arm_timer(now)

    def send_keyframe_request(self) -> None:
        """Ask the source for a keyframe now (a PLI for a peer)."""

    def _arm_timer(self, now: float) -> None:
        due = self.keyframes.get_timer()
        if due is None or self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(max(due - now, 0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.keyframes.handle_timer(time.monotonic()):
            self.send_keyframe_request()

    def loss(self, now: float) -> float | None:
        """The fraction of the source's packets lost on their way in (media/stats.py); None
        where nothing is lost on the way (a local source) or nothing arrived yet."""
        return None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class PeerUpTrack(UpTrack):
    """A publisher track arriving over WebRTC: aiortc's receiver, minus its decoder."""

    def __init__(self, broadcast: Feeds, transceiver: RTCRtpTransceiver, rtcp_ssrc: int) -> None:
        super().__init__(broadcast, transceiver.kind)
        self.receiver: RTCRtpReceiver = transceiver.receiver
        self.rtcp_ssrc = rtcp_ssrc
        self.codecs: dict[int, RTCRtpCodecParameters] = {}
        self.rtx_ssrcs: dict[int, int] = {}  # publisher RTX SSRC -> media SSRC
        self._streams: dict[int, StreamStatistics] = {}
        self._nacks = NackGenerator() if self.kind == "video" else None
        self._remb = RemoteBitrateEstimator() if self.kind == "video" else None
        self._seen: dict[int, list[int]] = {}  # media SSRC -> the last sequence numbers seen
        self._rtcp: seams.RtpSink | None = None  # NACK and REMB toward the publisher
        self._loss = LossWindow()
        # Reads the publisher's socket once its media connection is up (shared by its tracks).
        self.reader: seams.BurstReader | None = None
        # Called at the first media packet: the publisher works, it may go on air.
        self.on_first_media: Callable[[], None] | None = None
        seams.take_over_receiver(self.receiver, self._on_receive, self._on_rtp)

    def _on_receive(self, parameters: RTCRtpReceiveParameters) -> None:
        self.codecs = {c.payloadType: c for c in parameters.codecs if c.payloadType is not None}
        media = [c for c in parameters.codecs if not is_rtx(c)]
        if media:
            self.set_codec(media[0])
        for encoding in parameters.encodings:
            if encoding.rtx:
                self.rtx_ssrcs[encoding.rtx.ssrc] = encoding.ssrc
        self._streams = seams.receiver_stream_statistics(self.receiver)
        self.broadcast.reroute()  # its codec is known now

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """aiortc's path, one packet a turn: until the reader takes the socket over."""
        self.receive_rtp(packet, arrival_time_ms)
        self.flush()
        if self.reader is not None and not self.reader.installed:
            self.reader.install(self.receiver.transport)

    def _send_rtcp(self, packet: RtcpRtpfbPacket | RtcpPsfbPacket) -> None:
        transport = self.receiver.transport
        if self._rtcp is None or self._rtcp.transport is not transport:
            self._rtcp = seams.RtpSink(transport)
        self._rtcp.send_rtcp(bytes(packet))

    def receive_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """One packet from the publisher, staged for the burst's fan-out (flush)."""
        codec = self.codecs.get(packet.payload_type)
        if codec is None:
            return
        if packet.ssrc not in self._streams:
            self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        self._streams[packet.ssrc].add(packet)

        if self._remb is not None and packet.extensions.abs_send_time is not None:
            remb = self._remb.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if remb is not None:
                # Without this estimate a browser publisher stays at its start bitrate.
                rtcp = RtcpPsfbPacket(
                    fmt=RTCP_PSFB_APP, ssrc=self.rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb)
                )
                self._send_rtcp(rtcp)

        if is_rtx(codec):
            original_ssrc = self.rtx_ssrcs.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or not isinstance(apt, int) or len(packet.payload) < 2:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        elif self.media_ssrc != packet.ssrc:
            self.media_ssrc = packet.ssrc

        # A retransmission that crosses its late original: forward the sequence number once.
        slot = packet.sequence_number & (_SEEN_SLOTS - 1)
        seen = self._seen.get(packet.ssrc)
        if seen is None:
            seen = self._seen[packet.ssrc] = [-1] * _SEEN_SLOTS
        if seen[slot] == packet.sequence_number:
            return
        seen[slot] = packet.sequence_number

        if self._nacks is not None and self._nacks.add(packet):
            # The bridge repairs its own link to the publisher, for every subscriber at once.
            nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self.rtcp_ssrc, media_ssrc=packet.ssrc)
            nack.lost = sorted(self._nacks.missing)
            self._send_rtcp(nack)
            self.nacks_sent += 1

        if not packet.payload:
            return  # padding used by the publisher to probe bandwidth
        if self.packets_received == 0 and self.on_first_media is not None:
            self.on_first_media()  # before staging, so that this packet goes out too
        self.packets_received += 1
        self.stage(
            packet.ssrc,
            packet.sequence_number,
            packet.timestamp,
            bool(packet.marker),
            packet.payload,
        )

    def send_keyframe_request(self) -> None:
        if self.media_ssrc is not None:
            self.plis_sent += 1
            self.broadcast.spawn(seams.send_pli(self.receiver, self.media_ssrc))

    def loss(self, now: float) -> float | None:
        # The media stream's own statistics (the receiver reports' too): retransmissions
        # arrive on the RTX stream, so what is counted lost here is lost before repair.
        stream = self._streams.get(self.media_ssrc) if self.media_ssrc is not None else None
        if stream is None:
            return None
        return self._loss.read(stream.packets_expected, stream.packets_received, now)


class Publisher:
    """Whatever feeds a broadcast: a WHIP peer, or a local source such as the demo's pattern."""

    def __init__(
        self, resource_id: str, pc: RTCPeerConnection | None = None, site: str | None = None
    ) -> None:
        self.resource_id = resource_id
        self.pc = pc
        # None for the district hall's program; a site id for that hall's return feed.
        self.site = site
        self.tracks: dict[str, UpTrack] = {}
        self.on_close: Callable[[], None] | None = None
        # Its first media packet has arrived (a local source is on air from the start).
        self.on_air = pc is None
        # Out of its place, its counts added to the bridge's totals (Bridge._count_out).
        self.counted_out = False

    def flush(self) -> None:
        """The burst just received, out to the subscribers: see seams.BurstReader."""
        for up in self.tracks.values():
            up.flush()

    async def close(self) -> None:
        for up in self.tracks.values():
            up.close()
        if self.on_close is not None:
            self.on_close()
        if self.pc is not None:
            await self.pc.close()
