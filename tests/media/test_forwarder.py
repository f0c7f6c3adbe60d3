"""DownTrack: the publisher's RTP rewritten for one subscriber, packet by packet."""

from __future__ import annotations

import itertools
import random
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.codecs import vp8_keyframe_start
from diemcau.media.forwarder import REORDER_WINDOW, DownTrack
from diemcau.media.history import PacketHistory
from diemcau.media.rtp import RTP_HEADER_SIZE, parse_header, payload_of, seq_diff

OUT_SSRC = 0x5EED0001
RTX_SSRC = 0x5EED0002
VIDEO_PT, RTX_PT = 96, 97

# VP8 payloads: descriptor (S=1, PID=0), then the frame tag whose bit 0 is 0 on keyframes.
KEY = b"\x10\x10" + b"k" * 20
DELTA = b"\x10\x11" + b"d" * 20
CONTINUATION = b"\x00" + b"c" * 20


def video_track(**overrides: object) -> DownTrack:
    arguments: dict = {
        "ssrc": OUT_SSRC,
        "payload_type": VIDEO_PT,
        "clock_rate": 90000,
        "is_keyframe": vp8_keyframe_start,
        "rng": random.Random(7),
    }
    return DownTrack(**{**arguments, **overrides})


def video_track_with_rtx(**overrides: object) -> DownTrack:
    return video_track(rtx_ssrc=RTX_SSRC, rtx_payload_type=RTX_PT, **overrides)


def audio_track(**overrides: object) -> DownTrack:
    arguments: dict = {"ssrc": OUT_SSRC, "payload_type": 111, "clock_rate": 48000}
    return DownTrack(**{**arguments, "rng": random.Random(7), **overrides})


@dataclass
class Out:
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes


def parsed(packet: bytes | None) -> Out:
    assert packet is not None, "the packet was dropped"
    pt, marker, seq, ts, ssrc = parse_header(packet)
    return Out(pt, marker, seq, ts, ssrc, payload_of(packet))


def ts_diff(a: int, b: int) -> int:
    """Signed a - b in 32-bit timestamp space."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


# -- header rewriting --------------------------------------------------------------------------


def test_output_header_is_the_subscribers() -> None:
    down = video_track()
    out = parsed(down.forward(0xAAAA, 1000, 555_000, True, KEY, now=1.0))
    assert (out.pt, out.ssrc, out.marker) == (VIDEO_PT, OUT_SSRC, True)
    assert out.payload == KEY
    out = parsed(down.forward(0xAAAA, 1001, 558_000, False, DELTA, now=1.03))
    assert (out.pt, out.ssrc, out.marker, out.payload) == (VIDEO_PT, OUT_SSRC, False, DELTA)


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 2**31),
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 6000), st.booleans(), st.binary(max_size=30)),
        max_size=40,
    ),
)
def test_seq_and_ts_shift_by_constant_offsets(
    first_seq: int,
    first_ts: int,
    seed: int,
    steps: list[tuple[int, int, bool, bytes]],
) -> None:
    down = audio_track(rng=random.Random(seed))
    first = parsed(down.forward(7, first_seq, first_ts, False, b"first", now=0.0))
    assert first.seq < 0x8000  # starts in the lower half of the sequence space
    seq_offset = (first.seq - first_seq) & 0xFFFF
    ts_offset = (first.ts - first_ts) & 0xFFFFFFFF
    seq, ts = first_seq, first_ts
    for i, (seq_step, ts_step, marker, payload) in enumerate(steps):
        seq, ts = (seq + seq_step) & 0xFFFF, (ts + ts_step) & 0xFFFFFFFF
        out = parsed(down.forward(7, seq, ts, marker, payload, now=0.02 * (i + 1)))
        assert out.seq == (seq + seq_offset) & 0xFFFF
        assert out.ts == (ts + ts_offset) & 0xFFFFFFFF
        assert (out.marker, out.payload, out.ssrc, out.pt) == (marker, payload, OUT_SSRC, 111)
    assert down.stats.packets_sent == len(steps) + 1


def test_payload_is_byte_identical_whatever_it_holds() -> None:
    down = audio_track()
    payloads = [b"", bytes(range(256)), b"\x80\x60" * 600, b"\x00"]
    for i, payload in enumerate(payloads):
        packet = down.forward(1, i, i * 960, False, payload, now=i * 0.02)
        assert packet is not None
        assert packet[RTP_HEADER_SIZE:] == payload
        assert len(packet) == RTP_HEADER_SIZE + len(payload)


def test_different_seeds_give_different_numbering() -> None:
    starts = {
        parsed(audio_track(rng=random.Random(seed)).forward(1, 0, 0, False, b"x", 0.0)).seq
        for seed in range(20)
    }
    assert len(starts) > 15
    assert all(seq < 0x8000 for seq in starts)


# -- starting -----------------------------------------------------------------------------------


def test_video_waits_for_a_keyframe_start() -> None:
    down = video_track()
    assert down.waiting_for_keyframe
    assert down.forward(1, 10, 0, False, DELTA, now=0.0) is None
    assert down.forward(1, 11, 0, False, CONTINUATION, now=0.0) is None
    assert down.forward(1, 12, 3000, True, CONTINUATION, now=0.03) is None
    assert down.stats.packets_dropped_before_keyframe == 3
    assert down.stats.packets_sent == down.stats.bytes_sent == 0
    assert down.last_out_time is None

    key = parsed(down.forward(1, 13, 6000, False, KEY, now=0.06))
    assert not down.waiting_for_keyframe
    rest = parsed(down.forward(1, 14, 6000, True, CONTINUATION, now=0.06))
    delta = parsed(down.forward(1, 15, 9000, False, DELTA, now=0.09))
    assert [rest.seq, delta.seq] == [(key.seq + 1) & 0xFFFF, (key.seq + 2) & 0xFFFF]
    assert [rest.ts - key.ts, delta.ts - key.ts] == [0, 3000]
    assert down.stats.packets_dropped_before_keyframe == 3
    assert down.stats.packets_sent == 3


def test_audio_starts_with_the_first_packet() -> None:
    down = audio_track()
    assert not down.waiting_for_keyframe
    assert down.forward(9, 500, 48000, False, b"opus", now=0.0) is not None
    assert down.stats.packets_dropped_before_keyframe == 0
    assert down.stats.packets_sent == 1


def test_reordered_packets_keep_their_relative_seq() -> None:
    down = video_track()
    arrivals = [100, 102, 101, 105, 103, 104, 106]
    payloads = {100: KEY} | {s: CONTINUATION for s in arrivals if s != 100}
    out = [parsed(down.forward(1, s, 9000 * (s // 3), False, payloads[s], 0.0)) for s in arrivals]
    base = out[0].seq
    assert [o.seq for o in out] == [(base + s - 100) & 0xFFFF for s in arrivals]
    assert [o.ts - out[0].ts for o in out] == [9000 * (s // 3) - 9000 * 33 for s in arrivals]


def test_packets_older_than_the_start_are_dropped() -> None:
    down = video_track()
    parsed(down.forward(1, 1000, 0, False, KEY, now=0.0))
    for late in (999, 990, 500, 0, 1000 - 0x7FFF):
        assert down.forward(1, late & 0xFFFF, 0, False, CONTINUATION, now=0.01) is None
    assert down.stats.packets_sent == 1
    assert down.stats.packets_dropped_before_keyframe == 0  # dropped as late, not as waiting
    assert down.forward(1, 1001, 0, False, CONTINUATION, now=0.01) is not None


def test_reorder_window_boundary() -> None:
    assert REORDER_WINDOW == 1000
    down = audio_track()
    held_back = {999, 1000, 1001}
    offset = None
    for seq in range(0, 2001):
        if seq not in held_back:
            out = parsed(down.forward(1, seq, seq * 960, False, b"a", now=seq * 0.02))
            offset = (out.seq - seq) & 0xFFFF if offset is None else offset
    assert offset is not None
    # Whatever the newest (2000, then 2001), a packet exactly REORDER_WINDOW behind it still
    # goes out, correctly numbered; one more behind is too late.
    for newest in (2000, 2001):
        if newest == 2001:
            down.forward(1, 2001, 2001 * 960, False, b"a", now=40.02)
        late = parsed(down.forward(1, newest - 1000, 0, False, b"late", now=41.0))
        assert late.seq == (newest - 1000 + offset) & 0xFFFF
    assert down.forward(1, 999, 999 * 960, False, b"later", now=41.0) is None


def test_late_packet_does_not_move_the_sender_report_clock() -> None:
    down = audio_track()
    for seq in (10, 12):
        down.forward(1, seq, seq * 960, False, b"a", now=seq / 100)
    newest_ts, newest_time = down.last_out_ts, down.last_out_time
    down.forward(1, 11, 11 * 960, False, b"a", now=0.5)
    assert (down.last_out_ts, down.last_out_time) == (newest_ts, newest_time)
    down.forward(1, 13, 13 * 960, False, b"a", now=0.6)
    assert ts_diff(down.last_out_ts, newest_ts) == 960 and down.last_out_time == 0.6


# -- 16-bit wrap over a long stream -------------------------------------------------------------


@pytest.mark.parametrize("reorder", [False, True], ids=["in-order", "pairs-swapped"])
def test_long_stream_across_seq_wrap(reorder: bool) -> None:
    # 70,000 packets: the input wraps once, and with it the trailing REORDER_WINDOW start
    # marker must keep following the stream, or everything after a half-space would be "late".
    down = video_track(history_size=64)
    count, first_seq, first_ts = 70_000, 0xFF00, 0xFFFF0000
    order = list(range(count))
    if reorder:
        for i in range(2, count - 1, 2):
            order[i], order[i + 1] = order[i + 1], order[i]
    base_seq = base_ts = -1
    for i in order:
        seq = (first_seq + i) & 0xFFFF
        ts = (first_ts + (i // 4) * 3000) & 0xFFFFFFFF
        payload = KEY if i == 0 else CONTINUATION
        packet = down.forward(3, seq, ts, i % 4 == 3, payload, now=i / 400)
        assert packet is not None, f"packet {i} (seq {seq}) dropped"
        _, marker, out_seq, out_ts, _ = parse_header(packet)
        if i == 0:
            base_seq, base_ts = out_seq, out_ts
        assert out_seq == (base_seq + i) & 0xFFFF, f"packet {i} misnumbered"
        assert out_ts == (base_ts + (i // 4) * 3000) & 0xFFFFFFFF
        assert marker == (i % 4 == 3)
    assert down.stats.packets_sent == count
    assert down.stats.packets_dropped_before_keyframe == 0


@given(
    st.integers(0, 0xFFFF),
    st.lists(st.integers(0, 60), min_size=2, max_size=300),
)
def test_jittered_arrival_within_the_window(first_seq: int, delays: list[int]) -> None:
    # Packet i arrives at i + delay[i]: what comes after the first arrival (in seq order)
    # goes out with one constant offset; what precedes it is older than the start and dropped.
    down = audio_track()
    arrival = sorted(range(len(delays)), key=lambda i: (i + delays[i], i))
    first = arrival[0]
    offset: int | None = None
    for i in arrival:
        seq = (first_seq + i) & 0xFFFF
        packet = down.forward(5, seq, i * 960, False, b"%d" % i, now=0.0)
        if i < first:
            assert packet is None
            continue
        out = parsed(packet)
        offset = (out.seq - seq) & 0xFFFF if offset is None else offset
        assert out.seq == (seq + offset) & 0xFFFF
        assert out.payload == b"%d" % i
    assert down.stats.packets_sent == len(delays) - first


# -- a new source: publisher reconnect, codec change ---------------------------------------------


def run_source(
    down: DownTrack, ssrc: int, seq: int, ts: int, count: int, start: float, ts_step: int = 3000
) -> list[Out]:
    """count packets at 30 per second, the first one a keyframe; all must go out."""
    out = []
    for i in range(count):
        payload = KEY if i == 0 else CONTINUATION
        packet = down.forward(
            ssrc,
            (seq + i) & 0xFFFF,
            (ts + i * ts_step) & 0xFFFFFFFF,
            True,
            payload,
            now=start + i / 30,
        )
        out.append(parsed(packet))
    return out


@pytest.mark.parametrize("announced", [True, False], ids=["source_ended", "new-ssrc-only"])
def test_publisher_reconnect_continues_numbering(announced: bool) -> None:
    down = video_track()
    before = run_source(down, ssrc=0x1111, seq=40_000, ts=123_456, count=30, start=100.0)
    last_time = 100.0 + 29 / 30
    if announced:
        down.source_ended()
        assert down.waiting_for_keyframe
    # The new publisher: unrelated ssrc, seq and ts; it starts with inter frames, then a keyframe
    # 2.5 s after the old one's last packet.
    assert down.forward(0x2222, 7, 999, False, DELTA, now=last_time + 2.4) is None
    assert down.stats.packets_dropped_before_keyframe == 1
    after = run_source(down, ssrc=0x2222, seq=8, ts=4_000_000_000, count=30, start=last_time + 2.5)

    assert after[0].seq == (before[-1].seq + 1) & 0xFFFF
    assert [seq_diff(b.seq, a.seq) for a, b in itertools.pairwise(after)] == [1] * 29
    jump = ts_diff(after[0].ts, before[-1].ts)
    assert jump == pytest.approx(2.5 * 90000, abs=2)
    assert [ts_diff(b.ts, a.ts) for a, b in itertools.pairwise(after)] == [3000] * 29
    assert {o.ssrc for o in before + after} == {OUT_SSRC}


def test_reconnect_with_the_same_ssrc_after_source_ended() -> None:
    down = audio_track()
    before = [
        parsed(down.forward(42, 60_000 + i, i * 960, False, b"a", now=i * 0.02)) for i in range(5)
    ]
    down.source_ended()
    # Same SSRC, but seq and ts start over lower: they must not look "older than the start".
    after = [
        parsed(down.forward(42, 3 + i, 50 + i * 960, False, b"b", now=1.08 + i * 0.02))
        for i in range(5)
    ]
    assert after[0].seq == (before[-1].seq + 1) & 0xFFFF
    assert ts_diff(after[0].ts, before[-1].ts) == pytest.approx(1.0 * 48000, abs=2)


@given(
    gap=st.floats(0, 60, allow_nan=False),
    new_seq=st.integers(0, 0xFFFF),
    new_ts=st.integers(0, 0xFFFFFFFF),
    old_seq=st.integers(0, 0xFFFF),
    old_ts=st.integers(0, 0xFFFFFFFF),
    clock_rate=st.sampled_from([8000, 48000, 90000]),
)
def test_reconnect_never_goes_backwards(
    gap: float, new_seq: int, new_ts: int, old_seq: int, old_ts: int, clock_rate: int
) -> None:
    down = audio_track(clock_rate=clock_rate)
    last = parsed(down.forward(1, old_seq, old_ts, False, b"old", now=10.0))
    first = parsed(down.forward(2, new_seq, new_ts, False, b"new", now=10.0 + gap))
    assert first.seq == (last.seq + 1) & 0xFFFF
    advance = ts_diff(first.ts, last.ts)
    # At least a tick of a 90 fps clock, so two sources never share a presentation time.
    assert advance >= clock_rate // 90
    # The elapsed time is truncated to whole ticks: within two of the exact product.
    assert advance == pytest.approx(max(gap, 1 / 90) * clock_rate, abs=2)


def test_reconnect_continues_from_the_newest_packet_not_the_last_arrived() -> None:
    down = audio_track()
    newest = None
    for seq in (10, 12, 11):  # 12 is the newest; 11 arrives last
        out = parsed(down.forward(1, seq, seq * 960, False, b"a", now=seq * 0.02))
        newest = out if seq == 12 else newest
    assert newest is not None
    first = parsed(down.forward(2, 9000, 0, False, b"b", now=12 * 0.02 + 0.5))
    assert first.seq == (newest.seq + 1) & 0xFFFF
    assert ts_diff(first.ts, newest.ts) == 24000


def test_late_packet_of_the_old_source_is_not_forwarded_on_video() -> None:
    down = video_track()
    run_source(down, ssrc=1, seq=100, ts=0, count=3, start=0.0)
    new = run_source(down, ssrc=2, seq=5000, ts=0, count=3, start=1.0)
    # A straggler from the old publisher is not a keyframe start: it does not take over.
    assert down.forward(1, 103, 9000, False, CONTINUATION, now=1.2) is None
    nxt = parsed(down.forward(2, 5003, 9000, False, CONTINUATION, now=1.2))
    assert nxt.seq == (new[-1].seq + 1) & 0xFFFF


def test_codec_change_via_set_payload_type() -> None:
    down = video_track_with_rtx()
    before = run_source(down, ssrc=1, seq=0, ts=0, count=3, start=0.0)
    assert {o.pt for o in before} == {VIDEO_PT}
    # The new publisher sends H.264; the subscriber negotiated it as 102 with RTX 103.
    down.set_payload_type(102, 103)
    down.is_keyframe = lambda payload: payload[:1] == b"\x67"  # starts with an SPS
    down.source_ended()
    assert down.forward(2, 50, 0, False, b"\x41slice", now=1.0) is None
    sps = parsed(down.forward(2, 51, 0, False, b"\x67sps", now=1.0))
    assert (sps.pt, sps.seq) == (102, (before[-1].seq + 1) & 0xFFFF)
    (rtx,) = down.retransmit([sps.seq])
    assert parse_header(rtx)[0] == 103
    assert payload_of(rtx)[2:] == b"\x67sps"
    # Without RTX for the new codec, retransmissions go out as they were sent.
    down.set_payload_type(102, None)
    assert down.retransmit([sps.seq]) == [down.history.get(sps.seq)]


# -- NACK --------------------------------------------------------------------------------------


def test_retransmit_returns_the_stored_packet() -> None:
    down = video_track()
    sent = [
        down.forward(1, 100 + i, i * 3000, i == 2, KEY if i == 0 else DELTA, now=0.0)
        for i in range(3)
    ]
    seqs = [parsed(p).seq for p in sent]
    assert down.retransmit([seqs[2], seqs[0]]) == [sent[2], sent[0]]
    assert down.stats.packets_retransmitted == 2
    assert down.stats.nacks_unanswered == 0


def test_retransmit_wraps_in_rtx_with_consecutive_seqs() -> None:
    down = video_track_with_rtx()
    sent = [
        down.forward(1, 100 + i, i * 3000, i == 2, KEY if i == 0 else DELTA, now=0.0)
        for i in range(3)
    ]
    originals = [parsed(p) for p in sent]
    rtx = [parsed(p) for p in down.retransmit([o.seq for o in originals])]
    rtx += [parsed(p) for p in down.retransmit([originals[1].seq])]
    assert [r.pt for r in rtx] == [RTX_PT] * 4
    assert [r.ssrc for r in rtx] == [RTX_SSRC] * 4
    assert [seq_diff(r.seq, rtx[0].seq) for r in rtx] == [0, 1, 2, 3]
    for r, o in zip(rtx, [*originals, originals[1]], strict=True):
        assert (r.ts, r.marker) == (o.ts, o.marker)
        assert r.payload == struct.pack("!H", o.seq) + o.payload
    assert down.stats.packets_retransmitted == 4


def test_rtx_seq_is_its_own_space() -> None:
    down = video_track_with_rtx()
    first = parsed(down.forward(1, 0, 0, False, KEY, now=0.0))
    (a,) = down.retransmit([first.seq])
    for i in range(1, 50):
        down.forward(1, i, 0, False, DELTA, now=0.0)  # media packets do not advance RTX seqs
    (b,) = down.retransmit([first.seq])
    assert seq_diff(parse_header(b)[2], parse_header(a)[2]) == 1


def test_unknown_and_evicted_seqs_are_counted_unanswered() -> None:
    down = audio_track(history_size=16)
    sent = [parsed(down.forward(1, i, i * 960, False, b"a", now=0.0)) for i in range(40)]
    evicted, kept = sent[0].seq, sent[-1].seq
    never_sent = (sent[-1].seq + 1) & 0xFFFF
    answered = down.retransmit([evicted, kept, never_sent, (sent[0].seq - 1) & 0xFFFF])
    assert [parsed(p).seq for p in answered] == [kept]
    assert down.stats.nacks_unanswered == 3
    assert down.stats.packets_retransmitted == 1
    assert down.retransmit([]) == []


def test_stats_counters() -> None:
    down = video_track_with_rtx()
    down.forward(1, 1, 0, False, DELTA, now=0.0)  # waiting: dropped
    sent = [down.forward(1, 2 + i, 0, False, KEY if i == 0 else DELTA, now=0.0) for i in range(5)]
    assert down.forward(1, 1, 0, False, DELTA, now=0.0) is None  # late: dropped, not counted
    assert all(p is not None for p in sent)
    media_bytes = sum(len(p) for p in sent if p is not None)
    rtx = down.retransmit([parsed(sent[1]).seq, 0xFFFF ^ parsed(sent[1]).seq])
    stats = down.stats
    assert stats.packets_sent == 5
    assert stats.packets_dropped_before_keyframe == 1
    assert stats.packets_retransmitted == 1
    assert stats.nacks_unanswered == 1
    assert stats.bytes_sent == media_bytes + len(rtx[0])
    assert len(rtx[0]) == len(sent[1] or b"") + 2  # the OSN


def test_waiting_for_keyframe_after_an_unannounced_new_source() -> None:
    """A new publisher SSRC without source_ended(): dropped until a keyframe, and it says so,
    so that the bridge asks the publisher for one."""

    key = bytes([0x10, 0x00])  # S=1, PID=0, then the VP8 P bit 0: keyframe start
    inter = bytes([0x10, 0x01])
    down = DownTrack(ssrc=1, payload_type=96, clock_rate=90000, is_keyframe=vp8_keyframe_start)
    assert down.forward(100, 1, 0, True, key, now=0.0) is not None
    assert not down.waiting_for_keyframe
    assert down.forward(200, 50, 0, True, inter, now=1.0) is None
    assert down.waiting_for_keyframe
    assert down.forward(200, 51, 3000, True, key, now=1.1) is not None
    assert not down.waiting_for_keyframe


def test_history_size_must_divide_the_sequence_space() -> None:

    for bad in (0, 1000, 3, 1 << 17):
        with pytest.raises(ValueError):
            PacketHistory(bad)


def test_a_burst_is_laid_out_packet_after_packet_where_emit_says() -> None:
    track = video_track()
    buf = bytearray(4096)
    placed: list[tuple[int, bytes]] = []

    def emit(offset: int, length: int) -> int:
        placed.append((offset, bytes(buf[offset : offset + length])))
        return offset + length + 16  # as a sink does: room for the SRTP tag after each

    burst = [
        (1234, 10 + i, 9000, i == 3, payload, i, vp8_keyframe_start(payload))
        for i, payload in enumerate([DELTA, KEY, CONTINUATION, CONTINUATION])
    ]
    # A new subscriber: the delta frame before the keyframe is dropped, and it needs a keyframe
    # after index 0 only, which the same burst brings at index 1.
    assert track.forward_burst(buf, burst, 1.0, emit) == 0
    offsets = [offset for offset, _ in placed]
    assert offsets == [
        0,
        RTP_HEADER_SIZE + len(KEY) + 16,
        2 * (RTP_HEADER_SIZE + 16) + len(KEY) + len(CONTINUATION),
    ]
    headers = [parse_header(packet) for _, packet in placed]
    assert [seq_diff(h[2], headers[0][2]) for h in headers] == [0, 1, 2]
    assert [payload_of(packet) for _, packet in placed] == [KEY, CONTINUATION, CONTINUATION]
    assert headers[-1][1] and not headers[0][1]
    assert track.stats.packets_sent == 3
    assert track.stats.packets_dropped_before_keyframe == 1


def test_a_backed_up_link_in_mid_burst_restarts_the_hall_on_a_keyframe() -> None:
    track = video_track()
    buf = bytearray(4096)
    taken: list[bytes] = []

    def emit(offset: int, length: int) -> int:
        if len(taken) == 1:
            taken.append(b"dropped")
            return -1  # the link is backed up: this one is lost
        taken.append(bytes(buf[offset : offset + length]))
        return offset + length

    burst = [
        (1234, 20 + i, 9000, False, payload, i, vp8_keyframe_start(payload))
        for i, payload in enumerate([KEY, CONTINUATION, CONTINUATION, DELTA])
    ]
    # Index 1 was dropped: the hall waits for a keyframe from there, and asks for one.
    assert track.forward_burst(buf, burst, 1.0, emit) == 3
    assert len(taken) == 2 and track.waiting_for_keyframe
    assert track.forward(1234, 24, 12000, False, DELTA, 1.1) is None
    packet = track.forward(1234, 25, 12000, False, KEY, 1.1)
    assert packet is not None  # and its numbering goes on, no jump back
    assert seq_diff(parse_header(packet)[2], parse_header(taken[0])[2]) == 2
