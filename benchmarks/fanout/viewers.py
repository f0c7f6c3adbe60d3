"""Light halls: aiortc WHEP viewers that check every RTP packet and decode nothing.

aiortc does ICE, DTLS and SRTP keying as for any viewer, and its receivers' decoder threads are
stopped (media/seams.py's `take_over_receiver`). Once connected, RTP no longer climbs aiortc's
receive path (STUN parse, a queue, three awaits, RtpPacket.parse, jitter buffer): each datagram
is unprotected with the connection's own SRTP session in the socket's callback and checked there
(authentication, version, the payload type and SSRC the answer announced, sequence gaps). STUN,
DTLS and RTCP still go to aiortc, so consent checks and sender reports work as usual. What a
browser would do on top (jitter buffer, decoding) is left out, so a machine of two cores can hold
a hundred of them next to the bridge.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from array import array
from typing import Any
from zlib import crc32

import numpy as np
import pylibsrtp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, sdp

from diemcau.media import seams

from . import control, whip
from .rtp import payload_offset

CONCURRENT_SETUPS = 8
SO_TIMESTAMPNS = 35  # Linux; Python's socket module does not name it
TIMESPEC = struct.Struct("@qq")


class Stream:
    """One SSRC as received: extended highest sequence number, counts, the window's start."""

    __slots__ = ("highest", "mark_highest", "mark_received", "marked", "received")

    def __init__(self) -> None:
        self.highest = -1
        self.received = 0
        self.marked = False
        self.mark_highest = -1
        self.mark_received = 0

    def add(self, seq: int) -> None:
        if self.highest < 0:
            self.highest = seq + 0x10000
            if self.marked and self.mark_highest < 0:
                self.mark_highest = self.highest - 1
        else:
            diff = ((seq - self.highest + 0x8000) & 0xFFFF) - 0x8000
            if diff > 0:
                self.highest += diff
        self.received += 1

    def mark(self) -> None:
        self.marked = True
        self.mark_highest = self.highest
        self.mark_received = self.received

    def window(self) -> tuple[int, int]:
        """(expected, received) since mark(): expected from the sequence numbers."""
        if self.mark_highest < 0:
            return 0, 0
        return self.highest - self.mark_highest, self.received - self.mark_received


class Recorder:
    """Arrivals of the measured window, for every viewer of this process: the payload's key, the
    kernel's receive time (SO_TIMESTAMPNS: when the bridge's sendto delivered it, whether or not
    this process was running) and the time this process read it, both wall clock."""

    def __init__(self) -> None:
        self.on = False
        self.keys = array("I")
        self.kernel_times = array("d")
        self.times = array("d")


class LightViewer:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.streams: dict[int, Stream] = {}  # by SSRC, as the answer announced them
        self.payload_types: dict[int, int] = {}  # SSRC -> payload type expected
        self.video_ssrc = 0
        self.bad = 0
        self.bad_kinds: dict[str, int] = {}
        self.sockets: list[socket.socket] = []
        self.first_video = asyncio.get_running_loop().create_future()

    async def connect(self, url: str, token: str) -> None:
        pc = self.pc
        for kind in ("video", "audio"):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            seams.take_over_receiver(transceiver.receiver, lambda parameters: None, _ignore)
        answer = await whip.post_offer(pc, url, token, http_timeout=30)
        for media in sdp.SessionDescription.parse(answer).media:
            if not media.ssrc or not media.rtp.codecs:
                continue
            ssrc = media.ssrc[0].ssrc
            self.streams[ssrc] = Stream()
            self.payload_types[ssrc] = media.rtp.codecs[0].payloadType
            if media.kind == "video":
                self.video_ssrc = ssrc
        connected = asyncio.get_running_loop().create_future()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and not connected.done():
                connected.set_result(True)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(connected, 20)
        self._take_over_sockets()
        await asyncio.wait_for(self.first_video, 20)

    def _take_over_sockets(self) -> None:
        """Read the connection's sockets ourselves: RTP checked here, the rest to aioice."""
        dtls = self.pc.getTransceivers()[0].receiver.transport
        self.srtp_profile = dtls._ssl.get_selected_srtp_profile().decode()
        unprotect = dtls._rx_srtp.unprotect
        streams, payload_types, recorder = self.streams, self.payload_types, self.recorder
        keys, kernel_times, times = recorder.keys, recorder.kernel_times, recorder.times
        first_video, video_ssrc = self.first_video, self.video_ssrc
        wall, unpack_timespec = time.time, TIMESPEC.unpack_from
        srtp_error = pylibsrtp.Error
        loop = asyncio.get_running_loop()

        for protocol in dtls.transport._connection._protocols:
            # The same socket under a second descriptor, read here; asyncio's reader paused.
            sock = protocol.transport.get_extra_info("socket").dup()
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sockets.append(sock)
            recvmsg, original = sock.recvmsg, protocol.datagram_received

            def on_readable(recvmsg: Any = recvmsg, original: Any = original) -> None:
                while True:
                    try:
                        data, ancillary, _, addr = recvmsg(2048, 64)
                    except (BlockingIOError, InterruptedError):
                        return
                    except OSError:
                        return  # closed under us: aioice is tearing the connection down
                    if not (data and 127 < data[0] < 192 and not 191 < data[1] < 224):
                        original(data, addr)  # STUN, DTLS, SRTCP: aiortc as usual
                        continue
                    arrived = wall()
                    try:
                        packet = unprotect(data)
                    except srtp_error as exc:
                        self.bad += 1
                        self.bad_kinds[str(exc)] = self.bad_kinds.get(str(exc), 0) + 1
                        continue
                    ssrc = int.from_bytes(packet[8:12], "big")
                    stream = streams.get(ssrc)
                    if (
                        stream is None
                        or packet[0] >> 6 != 2
                        or packet[1] & 0x7F != payload_types[ssrc]
                    ):
                        self.bad += 1
                        reason = "unknown SSRC" if stream is None else "bad version or payload type"
                        self.bad_kinds[reason] = self.bad_kinds.get(reason, 0) + 1
                        continue
                    stream.add(packet[2] << 8 | packet[3])
                    if recorder.on:
                        kernel = 0.0
                        for _, kind, value in ancillary:
                            if kind == SO_TIMESTAMPNS:
                                seconds, nanoseconds = unpack_timespec(value)
                                kernel = seconds + nanoseconds * 1e-9
                        times.append(arrived)
                        kernel_times.append(kernel)
                        keys.append(crc32(memoryview(packet)[payload_offset(packet) :]))
                    if ssrc == video_ssrc and not first_video.done():
                        first_video.set_result(True)

            protocol.transport.pause_reading()
            loop.add_reader(sock.fileno(), on_readable)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        await self.pc.close()

    def mark(self) -> None:
        for stream in self.streams.values():
            stream.mark()

    def window(self) -> tuple[int, int]:
        expected = received = 0
        for stream in self.streams.values():
            e, r = stream.window()
            expected += e
            received += r
        return expected, received


async def _ignore(packet: Any, arrival_time_ms: int) -> None:
    pass


async def run() -> None:
    recorder = Recorder()
    viewers: list[LightViewer] = []

    async def add(halls: list[list[str]]) -> dict[str, Any]:
        limit = asyncio.Semaphore(CONCURRENT_SETUPS)
        started = time.monotonic()

        async def one(url: str, token: str) -> LightViewer:
            async with limit:
                viewer = LightViewer(recorder)
                try:
                    await viewer.connect(url, token)
                except BaseException:
                    await viewer.close()
                    raise
                return viewer

        results = await asyncio.gather(*(one(u, t) for u, t in halls), return_exceptions=True)
        failed = [repr(r) for r in results if isinstance(r, BaseException)]
        viewers.extend(r for r in results if isinstance(r, LightViewer))
        return {
            "viewers": len(viewers),
            "failed": failed[:3],
            "failures": len(failed),
            "seconds": time.monotonic() - started,
            "srtp_profile": viewers[0].srtp_profile if viewers else None,
        }

    async def mark() -> dict[str, Any]:
        del recorder.keys[:], recorder.kernel_times[:], recorder.times[:]
        for viewer in viewers:
            viewer.mark()
        recorder.on = True
        return {"at": time.monotonic()}

    async def stop(path: str) -> dict[str, Any]:
        recorder.on = False
        windows = [viewer.window() for viewer in viewers]
        np.savez(
            path,
            keys=np.array(recorder.keys, dtype=np.uint32),
            kernel_times=np.array(recorder.kernel_times),
            times=np.array(recorder.times),
        )
        return {
            "at": time.monotonic(),
            "expected": [e for e, _ in windows],
            "received": [r for _, r in windows],
            "bad": sum(v.bad for v in viewers),
            "bad_kinds": [v.bad_kinds for v in viewers if v.bad_kinds],
        }

    async def quit() -> dict[str, Any]:
        await asyncio.gather(*(viewer.close() for viewer in viewers), return_exceptions=True)
        return {}

    await control.serve({"add": add, "mark": mark, "stop": stop, "quit": quit})


def main() -> None:
    asyncio.run(run())
