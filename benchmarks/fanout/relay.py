"""The naive servers the bridge is compared with, each a plain aiortc endpoint behind WHIP/WHEP.

--mode mediarelay  aiortc's documented way to fan out: the publisher's receiver decodes, and
                   `MediaRelay().subscribe(track)` feeds each subscriber's sender, which
                   encodes again (VP8 and Opus) for every subscriber.
--mode stock       no decoding: the publisher's receiver reassembles frames in aiortc's jitter
                   buffer (its decoder thread stopped) and each subscriber's track yields them as
                   av.Packet, so aiortc's stock sender only packetizes, protects and sends them,
                   with its three awaits per packet.

Only what the benchmark needs: one session, no tokens, no join log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import secrets
from collections.abc import AsyncIterator
from typing import Any

import av
import uvicorn
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class PacketTrack(MediaStreamTrack):
    """A subscriber's track in stock mode: the publisher's encoded frames, as they arrive."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.queue: asyncio.Queue[av.Packet] = asyncio.Queue(maxsize=64)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        return await self.queue.get()


class FrameFanout:
    """Stands in for a receiver's decoder queue: each reassembled frame goes to every track."""

    def __init__(self) -> None:
        self.tracks: set[PacketTrack] = set()

    def put(self, item: Any) -> None:
        if item is None:  # aiortc stopping its decoder thread
            return
        codec, frame = item
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        for track in self.tracks:
            if not track.queue.full():
                track.queue.put_nowait(packet)


class _NoThread:
    def join(self) -> None:
        pass


def _tap_receiver(receiver: Any, fanout: FrameFanout) -> None:
    original = receiver.receive

    async def receive(parameters: Any) -> None:
        await original(parameters)
        receiver._RTCRtpReceiver__stop_decoder()
        receiver._RTCRtpReceiver__decoder_queue = fanout
        receiver._RTCRtpReceiver__decoder_thread = _NoThread()

    receiver.receive = receive


def app(mode: str) -> Starlette:
    pcs: set[RTCPeerConnection] = set()
    sources: dict[str, MediaStreamTrack] = {}
    relay = MediaRelay()
    fanouts = {"audio": FrameFanout(), "video": FrameFanout()}

    async def answer(pc: RTCPeerConnection, request: Request, location: str) -> Response:
        await pc.setLocalDescription(await pc.createAnswer())
        pcs.add(pc)
        return Response(
            pc.localDescription.sdp,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": location},
        )

    async def whip(request: Request) -> Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            sources[track.kind] = track

        offer = (await request.body()).decode()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if mode == "stock":
            for transceiver in pc.getTransceivers():
                _tap_receiver(transceiver.receiver, fanouts[transceiver.kind])
        return await answer(pc, request, f"{request.url.path}/r/{secrets.token_hex(6)}")

    async def whep(request: Request) -> Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        offer = (await request.body()).decode()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for kind, source in sources.items():
            if mode == "mediarelay":
                pc.addTrack(relay.subscribe(source))
            else:
                track = PacketTrack(kind)
                fanouts[kind].tracks.add(track)
                pc.addTrack(track)
        return await answer(pc, request, f"{request.url.path}/r/{secrets.token_hex(6)}")

    async def healthz(request: Request) -> Response:
        return Response("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    return Starlette(
        routes=[
            Route("/whip/{session}", whip, methods=["POST"]),
            Route("/whep/{session}/{site}", whep, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main(mode: str, port: int) -> None:
    uvicorn.run(app(mode), host="127.0.0.1", port=port, log_level="warning")
