"""A subscriber's sender as the bridge makes it: what it sends of its own, without a network."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtp import RtcpByePacket, RtcpPacket

from diemcau.media import seams
from diemcau.media.egress import Subscriber, SubscriberTrack


class Routes:
    def __init__(self) -> None:
        self.started: list[SubscriberTrack] = []

    def track_started(self, track: SubscriberTrack) -> None:
        self.started.append(track)


class RtcpSink:
    """What the track sends through its RtpSink's RTCP path."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_rtcp(self, packets: bytes) -> bool:
        self.sent.append(packets)
        return True


async def test_a_stopping_sender_says_bye_and_nothing_before() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        track = SubscriberTrack(Subscriber(Routes(), "r1", "nga-thanh", pc), transceiver)
        sink = RtcpSink()
        track.sink = sink  # type: ignore[assignment]
        # aiortc's RTCP loop, as the sender runs it once started: now the bridge's.
        loop = asyncio.ensure_future(track.sender._run_rtcp())
        await asyncio.sleep(0.05)
        assert sink.sent == []  # no reports on a timer: they ride the fan-out
        loop.cancel()  # what sender.stop() does when the connection closes
        await loop
        (packets,) = sink.sent
        (bye,) = RtcpPacket.parse(packets)
        assert isinstance(bye, RtcpByePacket)
        assert bye.sources == [seams.sender_ssrc(track.sender)]
    finally:
        await pc.close()
