"""The subscriber side of the bridge: each hall's senders, fed by the fan-out.

A `Subscriber` is one WHEP peer; each of its senders is a `SubscriberTrack`: aiortc's sender
made a shell (seams.take_over_sender) that negotiates and routes RTCP, while the bridge sends.
The track follows one publisher track at a time (media/ingest.py links them), rewrites its
packets with a `DownTrack` (media/forwarder.py) and sends them with its `RtpSink`; it answers
NACKs from its history, passes keyframe requests upstream, reads receiver reports, and sends its
sender reports right after a burst of the fan-out. (It sends no RTCP BYE when it stops: aiortc's
own RTCP loop would, the bridge's replacement of it does not.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime
from typing import Protocol

from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc import clock as aiortc_clock
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from . import seams
from .codecs import is_rtx, keyframe_test, rtx_for, same_codec
from .forwarder import DownTrack
from .ingest import UpTrack
from .routing import PROGRAM

log = logging.getLogger("diemcau.media")


class Routes(Protocol):
    """What a subscriber tells the broadcast it receives from (media/broadcast.py)."""

    def track_started(self, track: SubscriberTrack) -> None: ...


class SubscriberTrack:
    """One sender of a subscriber: negotiated codecs, the DownTrack, and the socket."""

    def __init__(
        self, subscriber: Subscriber, transceiver: RTCRtpTransceiver, slot: str = PROGRAM
    ) -> None:
        self.subscriber = subscriber
        self.kind = transceiver.kind
        # Which source this track follows: the program, the floor, or one site's return feed.
        self.slot = slot
        self.source: UpTrack | None = None
        self.sender: RTCRtpSender = transceiver.sender
        self.codecs: list[RTCRtpCodecParameters] = seams.negotiated_codecs(transceiver)
        self.cname = ""
        self.down: DownTrack | None = None
        self.bound_codec: RTCRtpCodecParameters | None = None
        self.mismatch = False
        self.sink: seams.RtpSink | None = None
        self.started = False
        # From the hall's receiver reports on this sender: the fraction lost in its last one,
        # and the round trip when it echoed our last sender report.
        self.receiver_reports = 0
        self.loss_fraction = 0.0
        self.rtt: float | None = None
        # What the hall asked of this sender (media/stats.py reads them).
        self.nacks_received = 0
        self.nacked_packets = 0
        self.plis_received = 0
        self.firs_received = 0
        self._lsr: int | None = None
        self._lsr_time = 0.0
        self.report_due = 0.0  # monotonic time of the next sender report: the first at once
        seams.take_over_sender(
            self.sender, self._on_send, self.receive_rtcp, _reports_ride_the_fan_out
        )

    def _on_send(self, parameters: RTCRtpSendParameters) -> None:
        self.cname = parameters.rtcp.cname or ""
        self.codecs = list(parameters.codecs)
        self.sink = seams.RtpSink(self.sender.transport)
        self.started = True
        self.subscriber.broadcast.track_started(self)

    def bind(self, up: UpTrack, now: float) -> None:
        """Follow the publisher's track `up`: same codec, our numbering."""
        if up.codec is None:
            return
        match = next((c for c in self.codecs if not is_rtx(c) and same_codec(up.codec, c)), None)
        if match is None:
            self.mismatch = True
            self.bound_codec = None
            log.warning(
                "subscriber %s cannot receive %s: not negotiated",
                self.subscriber.site_id,
                up.codec.mimeType,
            )
            return
        self.mismatch = False
        self.bound_codec = match
        assert match.payloadType is not None  # negotiated codecs always carry one
        rtx_pt = rtx_for(self.codecs, match.payloadType)
        if self.down is None:
            self.down = DownTrack(
                ssrc=seams.sender_ssrc(self.sender),
                payload_type=match.payloadType,
                clock_rate=match.clockRate,
                is_keyframe=keyframe_test(match),
                rtx_ssrc=seams.rtx_ssrc(self.sender) if rtx_pt is not None else None,
                rtx_payload_type=rtx_pt,
            )
        else:
            self.down.set_payload_type(match.payloadType, rtx_pt)
            self.down.is_keyframe = keyframe_test(match)
            self.down.source_ended()
        up.request_keyframe(now)

    async def receive_rtcp(self, packet: AnyRtcpPacket) -> None:
        """One RTCP packet the hall sent about this sender (aiortc routes them here)."""
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self.nacks_received += 1
            self.nacked_packets += len(packet.lost)
            if self.down is not None and self.sink is not None:
                for data in self.down.retransmit(packet.lost):
                    self.sink.send(data)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            if packet.fmt == RTCP_PSFB_PLI:
                self.plis_received += 1
            else:
                self.firs_received += 1
            if self.source is not None:
                self.source.request_keyframe(time.monotonic())
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc != seams.sender_ssrc(self.sender):
                    continue
                self.receiver_reports += 1
                self.loss_fraction = report.fraction_lost / 256
                if self._lsr is not None and report.lsr == self._lsr and report.dlsr:
                    self.rtt = max(time.time() - self._lsr_time - report.dlsr / 65536, 0.0)

    def send_report(self, now: float) -> None:
        """A sender report, right after a burst: it maps our rewritten timestamps to wall-clock
        time so that the browser keeps picture and sound in sync, and its echo gives the RTT.
        Sent by the fan-out rather than by a timer of its own: a lone datagram on a timer costs
        a cold path and a wake-up of the hall's end per report, here the path is warm."""
        # RFC 3550's randomized interval around libwebrtc's: 1 s for video, 5 s for sound.
        interval = 1.0 if self.kind == "video" else 5.0
        self.report_due = now + interval * (0.5 + random.random())
        down, sink = self.down, self.sink
        if down is None or down.last_out_time is None or sink is None:
            return
        elapsed = now - down.last_out_time
        ntp = aiortc_clock.current_ntp_time()
        rtp_ts = (down.last_out_ts + int(elapsed * down.clock_rate)) & 0xFFFFFFFF
        sr = RtcpSrPacket(
            ssrc=down.ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp,
                rtp_timestamp=rtp_ts,
                packet_count=down.stats.packets_sent & 0xFFFFFFFF,
                octet_count=down.stats.bytes_sent & 0xFFFFFFFF,
            ),
        )
        sdes = RtcpSdesPacket(
            chunks=[RtcpSourceInfo(ssrc=down.ssrc, items=[(1, self.cname.encode())])]
        )
        self._lsr = (ntp >> 16) & 0xFFFFFFFF
        self._lsr_time = time.time()
        sink.send_rtcp(bytes(sr) + bytes(sdes))


async def _reports_ride_the_fan_out() -> None:
    """aiortc's sender-report loop, replaced: SubscriberTrack.send_report is called by
    UpTrack.flush. A sender that sends nothing reports nothing (RFC 3550, 6.4)."""
    await asyncio.Event().wait()


class Subscriber:
    def __init__(
        self,
        broadcast: Routes,
        resource_id: str,
        site_id: str,
        pc: RTCPeerConnection,
        watches: str | None = None,
    ) -> None:
        self.broadcast = broadcast
        self.resource_id = resource_id
        # The site that receives, or HOST for the district hall's own viewers.
        self.site_id = site_id
        # For a mosaic tile: the site whose return feed it shows.
        self.watches = watches
        self.pc = pc
        self.tracks: list[SubscriberTrack] = []
        self.joined_at: datetime | None = None
        self.joining: asyncio.Event | None = None  # set once its join is written
        self.closed = False

    @property
    def packets_sent(self) -> int:
        return sum(
            t.down.stats.packets_sent + t.down.stats.packets_retransmitted
            for t in self.tracks
            if t.down is not None
        )

    @property
    def bytes_sent(self) -> int:
        return sum(t.down.stats.bytes_sent for t in self.tracks if t.down is not None)
