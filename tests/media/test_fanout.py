"""UpTrack.forward with fake sinks: one slow hall must not slow or spoil the others."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from diemcau.media import seams
from diemcau.media.bridge import Bridge
from diemcau.media.broadcast import Broadcast
from diemcau.media.codecs import vp8_keyframe_start
from diemcau.media.forwarder import DownTrack
from diemcau.media.ingest import UpTrack

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
    buffer: memoryview = field(default_factory=seams.scratch)
    sent: list[bytes] = field(default_factory=list)

    def ready(self) -> bool:
        return True

    def push(self, offset: int, length: int) -> int:
        """What RtpSink sends: the packet the fan-out assembled in the scratch buffer."""
        if self.backed_up:
            return -1
        self.sent.append(bytes(seams.scratch()[offset : offset + length]))
        return offset + length

    def finish(self) -> bool:
        return not self.backed_up


class FakeTrack:
    """What fan_out reads of a subscriber track."""

    def __init__(self, sink: FakeSink) -> None:
        self.down = DownTrack(
            ssrc=99, payload_type=96, clock_rate=90000, is_keyframe=vp8_keyframe_start
        )
        self.bound_codec = VP8
        self.sink = sink
        self.report_due = float("inf")  # sender reports: tests/media/test_bridge.py


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
        up.forward(1234, seq, seq * 3000, True, payload)
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


def test_each_hall_gets_its_packets_where_its_sink_said() -> None:
    broadcast = Broadcast(Bridge(), "s1")
    up = RecordingUpTrack(broadcast)

    class OwnBuffer(FakeSink):
        def push(self, offset: int, length: int) -> int:
            self.sent.append(bytes(self.buffer[offset : offset + length]))
            return offset + length

    sinks = [OwnBuffer(buffer=memoryview(bytearray(4096))) for _ in range(2)]
    up.sinks = {_track(sink) for sink in sinks}
    up.stage(1234, 0, 0, False, KEY)
    up.stage(1234, 1, 0, True, INTER)
    up.flush()
    for sink in sinks:
        assert [p[12:] for p in sink.sent] == [KEY, INTER]


def test_a_burst_reaches_each_hall_back_to_back_and_in_order() -> None:
    broadcast = Broadcast(Bridge(), "s1")
    up = RecordingUpTrack(broadcast)
    log: list[tuple[int, int]] = []

    class LoggingSink(FakeSink):
        def push(self, offset: int, length: int) -> int:
            log.append((id(self), int.from_bytes(seams.scratch()[offset + 2 : offset + 4], "big")))
            return super().push(offset, length)

    sinks = [LoggingSink() for _ in range(3)]
    up.sinks = {_track(sink) for sink in sinks}
    for seq, payload in enumerate([KEY, INTER, INTER, INTER]):
        up.stage(1234, seq, 0, seq == 3, payload)
    assert log == []  # staged, not sent
    up.flush()
    # Each hall's four packets in one run: its SRTP context and socket stay warm.
    runs = [who for who, _ in itertools.groupby(log, key=lambda entry: entry[0])]
    assert sorted(runs) == sorted(id(sink) for sink in sinks)
    for sink in sinks:
        seqs = [seq for who, seq in log if who == id(sink)]
        assert [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs)] == [1, 1, 1]
        assert [p[12:] for p in sink.sent] == [KEY, INTER, INTER, INTER]
    up.flush()  # nothing staged: nothing sent again
    assert len(log) == 12 and up.requests == 0


def test_a_keyframe_later_in_the_burst_is_waited_for_not_requested() -> None:
    broadcast = Broadcast(Bridge(), "s1")
    up = RecordingUpTrack(broadcast)
    sink = FakeSink()
    up.sinks = {_track(sink)}
    for seq, payload in enumerate([INTER, KEY, INTER]):
        up.stage(1234, seq, 0, False, payload)
    up.flush()
    # The new hall skipped the inter frame and started on the keyframe of the same burst.
    assert [p[12:] for p in sink.sent] == [KEY, INTER] and up.requests == 0

    # Backed up after the burst's keyframe start: that hall needs another one.
    other = FakeSink()
    up.sinks.add(_track(other))
    up.stage(1234, 3, 0, False, KEY)
    up.stage(1234, 4, 0, False, INTER)

    class BacksUpOnInter(FakeSink):
        def push(self, offset: int, length: int) -> int:
            self.backed_up = bytes(seams.scratch()[offset + 12 : offset + length]) == INTER
            return super().push(offset, length)

    slow = BacksUpOnInter()
    up.sinks.add(_track(slow))
    up.flush()
    assert [p[12:] for p in other.sent] == [KEY, INTER]
    assert [p[12:] for p in slow.sent] == [KEY] and up.requests == 1
