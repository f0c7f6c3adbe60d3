"""RTP header arithmetic: build/parse, 16-bit sequence space, RTX wrapping (RFC 3550, RFC 4588)."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.rtp import (
    RTP_HEADER_SIZE,
    build_packet,
    parse_header,
    payload_of,
    seq_add,
    seq_diff,
    ts_add,
    wrap_rtx,
)

payload_types = st.integers(0, 127)
seqs = st.integers(0, 0xFFFF)
timestamps = st.integers(0, 0xFFFFFFFF)
ssrcs = st.integers(0, 0xFFFFFFFF)


@given(payload_types, st.booleans(), seqs, timestamps, ssrcs, st.binary(max_size=64))
def test_build_then_parse_round_trip(
    pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes
) -> None:
    packet = build_packet(pt, marker, seq, ts, ssrc, payload)
    assert len(packet) == RTP_HEADER_SIZE + len(payload)
    assert parse_header(packet) == (pt, marker, seq, ts, ssrc)
    assert payload_of(packet) == payload


@given(payload_types, st.booleans(), seqs, timestamps, ssrcs, st.binary(min_size=1, max_size=64))
def test_built_packet_is_what_aiortc_parses(
    pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes
) -> None:
    # An independent parser: the bytes we send are a plain version-2 header, no CSRC/extension.
    parsed = RtpPacket.parse(build_packet(pt, marker, seq, ts, ssrc, payload))
    assert (parsed.version, parsed.payload_type, parsed.marker) == (2, pt, int(marker))
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (seq, ts, ssrc)
    assert (parsed.csrc, parsed.padding_size, parsed.payload) == ([], 0, payload)


def test_header_layout_on_the_wire() -> None:
    packet = build_packet(96, True, 0x1234, 0xDEADBEEF, 0x01020304, b"\xaa")
    assert packet == bytes.fromhex("80e0 1234 deadbeef 01020304 aa")
    assert build_packet(111, False, 1, 2, 3, b"")[:2] == bytes([0x80, 111])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (5, 5, 0),
        (6, 5, 1),
        (5, 6, -1),
        (0, 0xFFFF, 1),  # wrap forward
        (0xFFFF, 0, -1),  # wrap backward
        (10, 0xFFF0, 26),
        (0xFFF0, 10, -26),
        (0x7FFF, 0, 0x7FFF),  # farthest ahead
        (0x8000, 0, -0x8000),  # half the space away reads as behind
        (0, 0x8000, -0x8000),
        (0, 0x8001, 0x7FFF),
    ],
)
def test_seq_diff_table(a: int, b: int, expected: int) -> None:
    assert seq_diff(a, b) == expected


@given(seqs, st.integers(-0x8000, 0x7FFF))
def test_seq_diff_inverts_seq_add(seq: int, n: int) -> None:
    later = seq_add(seq, n)
    assert 0 <= later <= 0xFFFF
    assert seq_diff(later, seq) == n


@pytest.mark.parametrize(
    ("seq", "n", "expected"), [(0xFFFF, 1, 0), (0, -1, 0xFFFF), (0xFFFE, 5, 3), (7, 0x10000, 7)]
)
def test_seq_add_wraps(seq: int, n: int, expected: int) -> None:
    assert seq_add(seq, n) == expected


@pytest.mark.parametrize(
    ("ts", "n", "expected"),
    [(0xFFFFFFFF, 1, 0), (0xFFFFFF00, 0x200, 0x100), (0, -1, 0xFFFFFFFF), (3000, 3000, 6000)],
)
def test_ts_add_wraps(ts: int, n: int, expected: int) -> None:
    assert ts_add(ts, n) == expected


@given(payload_types, st.booleans(), seqs, timestamps, ssrcs, st.binary(max_size=64))
def test_wrap_rtx_follows_rfc4588(
    pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes
) -> None:
    original = build_packet(pt, marker, seq, ts, ssrc, payload)
    rtx = wrap_rtx(original, rtx_payload_type=97, rtx_seq=4321, rtx_ssrc=0xCAFE)
    # The RTX stream's own pt/seq/ssrc; the original's marker and timestamp.
    assert parse_header(rtx) == (97, marker, 4321, ts, 0xCAFE)
    # Payload: the original sequence number (OSN, network order) first, then the payload.
    assert payload_of(rtx) == struct.pack("!H", seq) + payload


def test_wrap_rtx_bytes() -> None:
    original = build_packet(96, True, 0xABCD, 90000, 1, b"\x10\x20")
    rtx = wrap_rtx(original, 97, 0x0102, 2)
    assert rtx == bytes.fromhex("80e1 0102 00015f90 00000002 abcd 1020")


def test_wrap_rtx_round_trips_through_aiortc_unwrap() -> None:
    original = build_packet(96, False, 65535, 123456, 0x11111111, b"payload")
    rtx = RtpPacket.parse(wrap_rtx(original, 97, 0, 0x22222222))
    restored = unwrap_rtx(rtx, payload_type=96, ssrc=0x11111111)
    assert restored.serialize(HeaderExtensionsMap()) == original


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x80",
        b"\x80\x60" + bytes(9),  # 11 bytes: one short of a header
        b"\x00\x60" + bytes(10),  # version 0
        b"\x40\x60" + bytes(10),  # version 1
        b"\xc0\x60" + bytes(10),  # version 3
        b"\x16\xfe\xfd" + bytes(20),  # a DTLS record
        b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12),  # a STUN binding request
    ],
    ids=["empty", "one-byte", "short", "v0", "v1", "v3", "dtls", "stun"],
)
def test_parse_header_rejects_non_rtp(packet: bytes) -> None:
    with pytest.raises(ValueError, match="not an RTP packet"):
        parse_header(packet)


def test_parse_header_accepts_bare_header() -> None:
    assert parse_header(bytes([0x80, 0x80 | 100]) + bytes(10)) == (100, True, 0, 0, 0)


@given(st.binary(max_size=40))
def test_parse_header_only_raises_value_error(data: bytes) -> None:
    try:
        pt, _, seq, ts, ssrc = parse_header(data)
    except ValueError:
        assert len(data) < RTP_HEADER_SIZE or data[0] >> 6 != 2
    else:
        assert 0 <= pt <= 127 and 0 <= seq <= 0xFFFF
        assert 0 <= ts <= 0xFFFFFFFF and 0 <= ssrc <= 0xFFFFFFFF
