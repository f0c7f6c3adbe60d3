"""The district hall: an aiortc WHIP publisher of the pre-encoded recording, paced in real time.

Its tracks hand aiortc encoded packets (av.Packet), so aiortc only packetizes: the publisher costs
almost nothing. Each packet is sent when its timestamp is due (a loop of the 30 s file continues
the timestamps), never faster. Every RTP packet sent is logged as (payload key, wall-clock time
just before its protect and sendto), for the delay measured at the subscribers.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from array import array
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from . import control, recording, whip
from .rtp import is_rtcp, payload_key


class Clock:
    """The shared start of both tracks, so sound and picture keep their relation."""

    def __init__(self) -> None:
        self.start: float | None = None

    def due(self, seconds: float) -> float:
        if self.start is None:
            self.start = time.monotonic()
        return self.start + seconds


class PacedTrack(MediaStreamTrack):
    def __init__(
        self, kind: str, packets: list[tuple[int, bytes]], rate: int, clock: Clock
    ) -> None:
        super().__init__()
        self.kind = kind
        self.packets = packets
        self.rate = rate
        self.clock = clock
        self.loop_ticks = recording.SECONDS * rate
        self.time_base = fractions.Fraction(1, rate)
        self.index = 0

    async def recv(self) -> av.Packet:  # type: ignore[override]
        loops, position = divmod(self.index, len(self.packets))
        pts, data = self.packets[position]
        pts += loops * self.loop_ticks
        delay = self.clock.due(pts / self.rate) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = self.time_base
        self.index += 1
        return packet


class SendLog:
    """(payload key, time.time()) of every RTP packet the publisher sent."""

    def __init__(self) -> None:
        self.keys = array("I")
        self.times = array("d")
        self.started = asyncio.Event()

    def tap(self, dtls: Any, pace: float = 0.0) -> None:
        """Log every RTP packet sent; with pace (seconds), send one at most that often, as a
        browser's pacer spreads a frame's packets (aiortc sends them back to back)."""
        original = dtls._send_rtp
        next_send = 0.0

        async def send_rtp(data: bytes) -> None:
            nonlocal next_send
            if pace and not is_rtcp(data):
                now = time.monotonic()
                due = max(now, next_send)
                next_send = due + pace
                if due > now:
                    await asyncio.sleep(due - now)
            # Stamped before the send: the bridge, woken by the datagram, may preempt this
            # process right after sendto and forward the packet before a later stamp is taken.
            if not is_rtcp(data):
                self.times.append(time.time())
                self.keys.append(payload_key(data))
                self.started.set()
            await original(data)

        dtls._send_rtp = send_rtp


async def run() -> None:
    rec = recording.load()
    clock = Clock()
    log = SendLog()
    state: dict[str, Any] = {}

    async def start(url: str, token: str, pace_ms: float = 0.0) -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = pc.addTransceiver(
            PacedTrack("video", rec.video, recording.VIDEO_CLOCK, clock), direction="sendonly"
        )
        caps = RTCRtpSender.getCapabilities("video")
        video.setCodecPreferences(
            [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
        )
        pc.addTransceiver(
            PacedTrack("audio", rec.audio, recording.AUDIO_CLOCK, clock), direction="sendonly"
        )
        answer = await whip.post_offer(pc, url, token, http_timeout=20)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        log.tap(pc.getTransceivers()[0].sender.transport, pace_ms / 1000)
        state["pc"] = pc
        try:
            await asyncio.wait_for(log.started.wait(), 20)
        except TimeoutError:
            raise RuntimeError(f"no packet sent within 20 s (state {pc.connectionState})") from None
        dtls = pc.getTransceivers()[0].sender.transport
        return {
            "video_bitrate": rec.video_bitrate,
            "audio_bitrate": rec.audio_bitrate,
            "keyframes_per_loop": rec.keyframes,
            "srtp_profile": dtls._ssl.get_selected_srtp_profile().decode(),
            "pace_ms": pace_ms,
        }

    async def dump(path: str) -> dict[str, Any]:
        np.savez(path, keys=np.array(log.keys, dtype=np.uint32), times=np.array(log.times))
        return {"packets": len(log.keys)}

    async def quit() -> dict[str, Any]:
        if "pc" in state:
            await state["pc"].close()
        return {}

    await control.serve({"start": start, "dump": dump, "quit": quit})


def main() -> None:
    asyncio.run(run())
