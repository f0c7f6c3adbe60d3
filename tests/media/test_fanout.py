"""Broadcast.fan_out with fake sinks: one slow hall must not slow or spoil the others."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from diemcau.media import seams
from diemcau.media.bridge import Bridge, Broadcast, UpTrack
from diemcau.media.codecs import vp8_keyframe_start
from diemcau.media.forwarder import DownTrack

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
KEY = bytes([0x10, 0x00]) + b"k" * 100  # S=1, PID=0, VP8 P bit 0: a keyframe's first packet
INTER = bytes([0x10, 0x01]) + b"i" * 100


class RecordingUpTrack(UpTrack):
    def __init__(self, broadcast: Broadcast) -> None:
        super().__init__(broadcast, "video")
        self.set_codec(VP8)
        self.media_ssrc = 1234
        self.requests = 0

    def request_keyframe(self, now: float) -> None:
        self.requests += 1


@dataclass
class FakeSink:
    backed_up: bool = False
    sent: list[bytes] = field(default_factory=list)

    def send_scratch(self, length: int) -> bool:
        """What RtpSink sends: the packet fan_out assembled at the start of the scratch buffer."""
        if self.backed_up:
            return False
        self.sent.append(bytes(seams.scratch()[:length]))
        return True


class FakeTrack:
    """What fan_out reads of a subscriber track."""

    def __init__(self, sink: FakeSink) -> None:
        self.down = DownTrack(
            ssrc=99, payload_type=96, clock_rate=90000, is_keyframe=vp8_keyframe_start
        )
        self.bound_codec = VP8
        self.sink = sink


def _track(sink: FakeSink) -> Any:
    return FakeTrack(sink)


def test_a_backed_up_hall_drops_and_restarts_on_a_keyframe_while_others_go_on() -> None:
    broadcast = Broadcast(Bridge(), "s1")
    up = RecordingUpTrack(broadcast)
    slow_sink, fast_sink = FakeSink(), FakeSink()
    slow, fast = _track(slow_sink), _track(fast_sink)
    up.sinks = {slow, fast}
    seq = 0

    def send(payload: bytes) -> None:
        nonlocal seq
        broadcast.fan_out(up, 1234, seq, seq * 3000, True, payload)
        seq += 1

    send(KEY)
    send(INTER)
    slow_sink.backed_up = True
    send(INTER)
    assert up.requests == 1  # the slow hall needs a fresh start
    slow_sink.backed_up = False
    send(INTER)  # drained, but an inter frame would decode against a missing reference
    send(INTER)
    assert len(slow_sink.sent) == 2
    send(KEY)
    assert len(slow_sink.sent) == 3 and slow_sink.sent[-1].endswith(b"k" * 100)
    # The fast hall got everything, in order, untouched by the slow one.
    assert len(fast_sink.sent) == 6
    seqs = [int.from_bytes(p[2:4], "big") for p in fast_sink.sent]
    assert [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs)] == [1] * 5
    # The slow hall's numbering goes on without a jump back.
    slow_seqs = [int.from_bytes(p[2:4], "big") for p in slow_sink.sent]
    assert all(0 < (b - a) & 0xFFFF < 10 for a, b in itertools.pairwise(slow_seqs))
