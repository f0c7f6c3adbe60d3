"""The fan-out alone, in one process: CPU per forwarded packet of UpTrack.stage and flush.

A publisher track stages frames of eight VP8 packets (a keyframe every 60) and flushes each to N
subscriber tracks, each with a real DownTrack and a real RtpSink: its own pylibsrtp session (AEAD
AES-256-GCM, as between aiortc peers) and a nominated pair on one non-blocking UDP socket that
sends on loopback to a receiver drained between bursts. Only the stage and flush calls are timed
(time.process_time), five repetitions, the median printed. No network namespace, no peers, no
event loop: what it measures is the bridge's own code on the packet path, so that two versions
can be compared on a machine too busy for benchmarks/forwarding.py (whose viewers then time out
connecting). Run each version in its own process, alternately, several times:

    .venv/bin/python benchmarks/fanout_inprocess.py --subscribers 50 --bursts 400
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time
from typing import Any

import aioice
from aiortc import RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
from aiortc.rtcdtlstransport import RTCCertificate, State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from pylibsrtp import Policy, Session

from diemcau.media import seams
from diemcau.media.bridge import Bridge
from diemcau.media.broadcast import Broadcast
from diemcau.media.codecs import vp8_keyframe_start
from diemcau.media.forwarder import DownTrack
from diemcau.media.ingest import UpTrack

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
FRAME = 8  # packets a frame: 720p at 1.8 Mbps and 30 fps is about that


class _Datagrams:
    """What the nominated pair's protocol holds: the port's transport and its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock


class _Protocol:
    def __init__(self, sock: socket.socket) -> None:
        self.transport = _Datagrams(sock)


class _Track:
    """What the fan-out reads of a subscriber track."""

    def __init__(self, index: int, sink: seams.RtpSink) -> None:
        self.down: DownTrack | None = DownTrack(
            ssrc=1000 + index, payload_type=96, clock_rate=90000, is_keyframe=vp8_keyframe_start
        )
        self.sink: seams.RtpSink | None = sink
        self.bound_codec: RTCRtpCodecParameters | None = VP8
        self.report_due = float("inf")
        self.source: UpTrack | None = None

    def send_report(self, now: float) -> None:
        pass


def _sink(certificate: RTCCertificate, tx: socket.socket, rx_addr: tuple[str, int]) -> Any:
    # What the DTLS handshake and ICE nomination leave behind (tests/media/test_seams.py).
    dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer(iceServers=[])), [certificate])
    dtls._state = State.CONNECTED
    policy = Policy(
        key=os.urandom(44),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    )
    dtls._tx_srtp = Session(policy)
    candidate = aioice.Candidate(
        foundation="1",
        component=1,
        transport="udp",
        priority=1,
        host=rx_addr[0],
        port=rx_addr[1],
        type="host",
    )
    pair = aioice.ice.CandidatePair(_Protocol(tx), candidate)  # type: ignore[arg-type]
    dtls.transport._connection._nominated[1] = pair
    return seams.RtpSink(dtls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--bursts", type=int, default=400, help="frames timed per repetition")
    args = parser.parse_args()

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 24)
    tx.bind(("127.0.0.1", 0))
    tx.setblocking(False)
    certificate = RTCCertificate.generateCertificate()

    up = UpTrack(Broadcast(Bridge(), "s1"), "video")
    up.set_codec(VP8)
    up.media_ssrc = 1234
    tracks = [_Track(i, _sink(certificate, tx, rx.getsockname())) for i in range(args.subscribers)]
    up.sinks = set(tracks)

    key = bytes([0x10, 0x00]) + os.urandom(1098)
    start = bytes([0x10, 0x01]) + os.urandom(1098)
    middle = bytes([0x00, 0x01]) + os.urandom(1098)
    last = bytes([0x00, 0x01]) + os.urandom(700)
    seq = timestamp = 0

    def frame(index: int) -> None:
        nonlocal seq, timestamp
        payloads = [key if index % 60 == 0 else start, *[middle] * (FRAME - 2), last]
        for position, payload in enumerate(payloads):
            up.stage(1234, seq & 0xFFFF, timestamp, position == FRAME - 1, payload)
            seq += 1
        up.flush()
        timestamp = (timestamp + 3000) & 0xFFFFFFFF

    def drain() -> None:
        try:
            while True:
                rx.recv(2048)
        except BlockingIOError:
            pass

    for index in range(60):  # warm up, and every hall started on a keyframe
        frame(index)
        drain()
    samples = []
    for _ in range(5):
        spent = 0.0
        for index in range(args.bursts):
            before = time.process_time()
            frame(index)
            spent += time.process_time() - before
            drain()
        samples.append(spent / (args.bursts * FRAME * args.subscribers) * 1e6)
    dropped = sum(t.sink.dropped for t in tracks if t.sink is not None)
    runs = " ".join(f"{s:.2f}" for s in samples)
    print(
        f"N={args.subscribers}: {statistics.median(samples):.2f} µs CPU per forwarded packet "
        f"(repetitions {runs}), {dropped} dropped"
    )


if __name__ == "__main__":
    main()
