"""Real aiortc peers for the tests: a WHIP publisher and WHEP viewers that check what arrives."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import av
import httpx
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.codecs import depayload
from aiortc.contrib.media import MediaStreamError
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket

if TYPE_CHECKING:
    from diemcau.media.bridge import Bridge

VIDEO_CLOCK = 90000
FPS = 30


def encode_vp8(frames: int, width: int = 320, height: int = 240, gop: int = 60) -> list[bytes]:
    """A moving test pattern, VP8-encoded once, so the publisher only packetizes."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.bit_rate = 500_000
    codec.gop_size = gop
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    for i in range(frames):
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image[:, :, 0] = (np.arange(width) + i * 4) % 256
        image[:, :, 1] = ((np.arange(height)[:, None] + i * 2) % 256).astype(np.uint8)
        image[(i * 3) % height, :, 2] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out


class EncodedVideoTrack(MediaStreamTrack):
    """Sends pre-encoded VP8 frames at 30 fps, in order, looping; counts what it sent."""

    kind = "video"

    def __init__(self, frames: list[bytes]) -> None:
        super().__init__()
        self.frames = frames
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / FPS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        packet = av.Packet(self.frames[self.sent % len(self.frames)])
        packet.pts = self.sent * (VIDEO_CLOCK // FPS)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent += 1
        return packet


class CountingVideoTrack(VideoStreamTrack):
    """aiortc's live test track (encoded by aiortc, so it answers keyframe requests)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        frame = await super().recv()
        self.sent += 1
        return frame


def _configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


async def _post_offer(
    pc: RTCPeerConnection, url: str, token: str
) -> tuple[httpx.Response, str | None]:
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            url,
            content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
    location = response.headers.get("location")
    if response.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    return response, location


@dataclass
class Publisher:
    pc: RTCPeerConnection
    response: httpx.Response
    location: str | None
    video: MediaStreamTrack | None


async def publish(
    url: str,
    token: str,
    video: MediaStreamTrack | None = None,
    audio: MediaStreamTrack | None = None,
    codec: str = "video/VP8",
) -> Publisher:
    pc = RTCPeerConnection(_configuration())
    if video is not None:
        transceiver = pc.addTransceiver(video, direction="sendonly")
        _prefer(transceiver, codec)
    if audio is not None:
        pc.addTransceiver(audio, direction="sendonly")
    response, location = await _post_offer(pc, url, token)
    return Publisher(pc, response, location, video)


def _prefer(transceiver: RTCRtpTransceiver, mime: str) -> None:
    from aiortc import RTCRtpSender

    caps = RTCRtpSender.getCapabilities(transceiver.kind)
    transceiver.setCodecPreferences(
        [c for c in caps.codecs if c.mimeType.lower() in (mime.lower(), f"{transceiver.kind}/rtx")]
    )


@dataclass
class Viewer:
    """A WHEP subscriber that keeps every RTP packet and decodes like a browser would."""

    pc: RTCPeerConnection
    response: httpx.Response
    location: str | None
    packets: dict[str, list[RtpPacket]] = field(default_factory=lambda: {"audio": [], "video": []})
    # Packets per transceiver, in offer order: [video, audio] for one slot, then the floor's.
    by_slot: list[list[RtpPacket]] = field(default_factory=list)
    codecs: dict[str, dict[int, RTCRtpCodecParameters]] = field(default_factory=dict)
    decoded: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    first_decoded_at: dict[str, float] = field(default_factory=dict)
    connected_at: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def frames(self) -> list[tuple[bytes, bool]]:
        """Encoded VP8 frames reassembled from the packets received, retransmissions (RTX)
        unwrapped into their places: (bytes, complete)."""
        codecs = self.codecs.get("video", {})
        media = next(c for c in codecs.values() if c.mimeType.lower() != "video/rtx")
        by_ts: dict[int, dict[int, bytes]] = {}
        markers: set[int] = set()
        order: list[int] = []
        for packet in self.packets["video"]:
            seq, payload = packet.sequence_number, packet.payload
            if codecs[packet.payload_type].mimeType.lower() == "video/rtx":
                seq, payload = int.from_bytes(payload[:2], "big"), payload[2:]
            if packet.timestamp not in by_ts:
                by_ts[packet.timestamp] = {}
                order.append(packet.timestamp)
            by_ts[packet.timestamp][seq] = payload
            if packet.marker:
                markers.add(packet.timestamp)
        out = []
        for ts in order:
            packets = sorted(by_ts[ts].items())
            seqs = [seq for seq, _ in packets]
            contiguous = all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
            starts = bool(packets[0][1][0] & 0x10)  # VP8 S bit: the frame's first packet
            complete = contiguous and starts and ts in markers
            data = b"".join(depayload(media, payload) for _, payload in packets)
            out.append((data, complete))
        return out

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def play(
    url: str, token: str, codec: str | None = None, slots: int = 1, audio: bool = True
) -> Viewer:
    """A WHEP player; `slots=2` adds the floor slot (a second video and audio)."""
    pc = RTCPeerConnection(_configuration())
    for _ in range(slots):
        video = pc.addTransceiver("video", direction="recvonly")
        if codec is not None:
            _prefer(video, codec)
        if audio:
            pc.addTransceiver("audio", direction="recvonly")
    viewer = Viewer(pc, httpx.Response(0), None)

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected" and viewer.connected_at is None:
            viewer.connected_at = time.monotonic()

    consumers = []
    for index, transceiver in enumerate(pc.getTransceivers()):
        receiver = transceiver.receiver
        kind = transceiver.kind
        original = receiver._handle_rtp_packet
        viewer.by_slot.append([])

        async def tap(
            packet: RtpPacket,
            arrival_time_ms: int,
            kind: str = kind,
            original=original,
            index: int = index,
        ) -> None:  # type: ignore[no-untyped-def]
            viewer.packets[kind].append(packet)
            viewer.by_slot[index].append(packet)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = tap  # type: ignore[method-assign]

        async def consume(track: MediaStreamTrack, kind: str = kind) -> None:
            try:
                while True:
                    await track.recv()
                    viewer.decoded[kind] += 1
                    viewer.first_decoded_at.setdefault(kind, time.monotonic())
            except (MediaStreamError, asyncio.CancelledError):
                pass

        consumers.append((transceiver, consume))

    response, location = await _post_offer(pc, url, token)
    viewer.response, viewer.location = response, location
    if response.status_code == 201:
        # The remote tracks exist once the answer is applied.
        for transceiver, consume in consumers:
            viewer.codecs[transceiver.kind] = {c.payloadType: c for c in transceiver._codecs}
            viewer.tasks.append(asyncio.ensure_future(consume(transceiver.receiver.track)))
    return viewer


async def publish_to(bridge: Bridge, session_id: str, frames: list[bytes]) -> RTCPeerConnection:
    """A real aiortc publisher of pre-encoded VP8, offered to a bridge in this process."""
    pc = RTCPeerConnection(_configuration())
    _prefer(pc.addTransceiver(EncodedVideoTrack(frames), direction="sendonly"), "video/VP8")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await bridge.publish(session_id, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    return pc


@dataclass
class DecodingViewer:
    """A real aiortc viewer of a bridge in this process: the width of each frame decoded."""

    pc: RTCPeerConnection
    widths: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def view(bridge: Bridge, session_id: str, site_id: str) -> DecodingViewer:
    viewer = DecodingViewer(RTCPeerConnection(_configuration()))
    viewer.pc.addTransceiver("video", direction="recvonly")

    @viewer.pc.on("track")
    def on_track(track: RemoteStreamTrack) -> None:
        async def pull() -> None:
            while True:
                frame = await track.recv()
                viewer.widths.append(frame.width)

        viewer.tasks.append(asyncio.ensure_future(pull()))

    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    answer = await bridge.subscribe(session_id, site_id, viewer.pc.localDescription.sdp)
    await viewer.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    return viewer


async def wait_for(predicate: Callable[[], object], within: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


__all__ = [
    "AudioStreamTrack",
    "CountingVideoTrack",
    "EncodedVideoTrack",
    "encode_vp8",
    "play",
    "publish",
    "wait_for",
]
