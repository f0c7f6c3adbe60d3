"""A subscriber track's RTCP, one packet at a time: a real aiortc sender made a shell, a real
DownTrack and its history, and a sink that keeps what it was given instead of a socket.

NACKs are answered from the history with RTX and counted; keyframe requests are counted by type
and passed to the source; receiver reports give the loss, and the RTT once they echo a sender
report. Bridge.stats() adds it all up (tests/media/test_stats.py has the real links)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
)

from diemcau.media import seams
from diemcau.media.bridge import Bridge
from diemcau.media.codecs import vp8_keyframe_start
from diemcau.media.egress import Subscriber, SubscriberTrack
from diemcau.media.forwarder import DownTrack
from diemcau.media.ingest import UpTrack
from diemcau.media.rtp import parse_header

KEY = bytes([0x10, 0x00]) + b"k" * 100
RTX_PT = 97


class KeptSink:
    """What SubscriberTrack sends through its RtpSink: kept, not sent."""

    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []
        self.dropped = 0
        self.dropped_backed_up = 0
        self.backed_up_at = float("-inf")

    def send(self, packet: bytes) -> bool:
        self.rtp.append(packet)
        return True

    def send_rtcp(self, packets: bytes) -> bool:
        self.rtcp.append(packets)
        return True


class KeyframeSource(UpTrack):
    def __init__(self) -> None:
        super().__init__(Bridge().broadcast("s1"), "video")
        self.requests = 0

    def request_keyframe(self, now: float) -> None:
        self.requests += 1


@pytest.fixture
async def track() -> AsyncIterator[SubscriberTrack]:
    pc = RTCPeerConnection()
    bridge = Bridge()
    sub = Subscriber(bridge.broadcast("s1"), "r1", "nga-thanh", pc)
    transceiver = pc.addTransceiver("video", direction="sendonly")
    track = SubscriberTrack(sub, transceiver)
    sub.tracks.append(track)
    bridge.broadcast("s1").subscribers["r1"] = sub
    track.down = DownTrack(
        ssrc=seams.sender_ssrc(track.sender),
        payload_type=96,
        clock_rate=90000,
        is_keyframe=vp8_keyframe_start,
        rtx_ssrc=4321,
        rtx_payload_type=RTX_PT,
    )
    track.sink = KeptSink()  # type: ignore[assignment]
    yield track
    await pc.close()


def sent(track: SubscriberTrack) -> list[int]:
    """The sequence numbers the track's DownTrack put out, in order."""
    assert track.down is not None
    out = []
    for seq in range(5):
        packet = track.down.forward(1234, 100 + seq, 3000 * seq, True, KEY, now=float(seq))
        assert packet is not None
        out.append(parse_header(packet)[2])
    return out


async def test_a_nack_is_counted_and_answered_with_rtx_from_the_history(
    track: SubscriberTrack,
) -> None:
    seqs = sent(track)
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=seams.sender_ssrc(track.sender))
    nack.lost = [seqs[1], seqs[3], (seqs[-1] + 1000) & 0xFFFF]  # the last was never sent
    await track.receive_rtcp(nack)
    sink: KeptSink = track.sink  # type: ignore[assignment]
    assert [parse_header(p)[0] for p in sink.rtp] == [RTX_PT, RTX_PT]
    # RFC 4588: each retransmission starts with the sequence number it repairs.
    assert [int.from_bytes(p[12:14], "big") for p in sink.rtp] == [seqs[1], seqs[3]]
    assert (track.nacks_received, track.nacked_packets) == (1, 3)
    totals = track.subscriber.broadcast.bridge.stats().totals  # type: ignore[attr-defined]
    assert (totals.nacks_received, totals.nacked_packets) == (1, 3)
    assert (totals.rtx_sent, totals.nacks_unanswered) == (2, 1)


async def test_plis_and_firs_are_counted_apart_and_passed_upstream(
    track: SubscriberTrack,
) -> None:
    source = KeyframeSource()
    source.add_local(track)  # type: ignore[arg-type]
    media_ssrc = seams.sender_ssrc(track.sender)
    for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_PLI, RTCP_PSFB_FIR):
        await track.receive_rtcp(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=media_ssrc))
    assert (track.plis_received, track.firs_received) == (2, 1)
    assert source.requests == 3
    totals = track.subscriber.broadcast.bridge.stats().totals  # type: ignore[attr-defined]
    assert (totals.plis_received, totals.firs_received) == (2, 1)


async def test_receiver_reports_give_the_loss_and_their_echo_the_rtt(
    track: SubscriberTrack,
) -> None:
    media_ssrc = seams.sender_ssrc(track.sender)
    hall = track.subscriber.broadcast.bridge.stats  # type: ignore[attr-defined]

    def report(lsr: int, fraction: int, ssrc: int = media_ssrc) -> RtcpRrPacket:
        info = RtcpReceiverInfo(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=0,
            highest_sequence=0,
            jitter=0,
            lsr=lsr,
            dlsr=1,
        )
        return RtcpRrPacket(ssrc=1, reports=[info])

    (before,) = hall().sessions["s1"].halls.values()
    assert (before.rtt, before.loss) == (None, None)  # nothing reported yet
    await track.receive_rtcp(report(0, 64, ssrc=media_ssrc ^ 1))  # about another sender
    assert track.receiver_reports == 0
    await track.receive_rtcp(report(0, 64))
    (reported,) = hall().sessions["s1"].halls.values()
    assert (reported.rtt, reported.loss) == (None, 0.25)  # no sender report echoed yet

    sent(track)
    track.send_report(now=5.0)
    sink: KeptSink = track.sink  # type: ignore[assignment]
    (sr, *_) = RtcpPacket.parse(sink.rtcp[-1])
    assert isinstance(sr, RtcpSrPacket)
    await track.receive_rtcp(report((sr.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, 0))
    (echoed,) = hall().sessions["s1"].halls.values()
    assert echoed.rtt is not None and echoed.rtt >= 0
    assert echoed.loss == 0.0
    assert track.receiver_reports == 2
