"""RTP header arithmetic on raw bytes (RFC 3550, RTX per RFC 4588). Sans-I/O."""

from __future__ import annotations

import struct

RTP_HEADER = struct.Struct("!BBHII")
RTP_HEADER_SIZE = RTP_HEADER.size  # 12: the bridge never forwards CSRCs or header extensions
RTP_VERSION_BITS = 0x80


def seq_add(seq: int, n: int) -> int:
    return (seq + n) & 0xFFFF


def ts_add(ts: int, n: int) -> int:
    return (ts + n) & 0xFFFFFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 16-bit sequence space, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def build_packet(
    payload_type: int, marker: bool, seq: int, timestamp: int, ssrc: int, payload: bytes
) -> bytes:
    """One RTP packet with a bare 12-byte header."""
    second = (0x80 if marker else 0) | payload_type
    return RTP_HEADER.pack(RTP_VERSION_BITS, second, seq, timestamp, ssrc) + payload


def parse_header(packet: bytes) -> tuple[int, bool, int, int, int]:
    """(payload_type, marker, seq, timestamp, ssrc) of a packet; ValueError if it is not RTP."""
    if len(packet) < RTP_HEADER_SIZE or packet[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    _, second, seq, timestamp, ssrc = RTP_HEADER.unpack_from(packet)
    return second & 0x7F, bool(second & 0x80), seq, timestamp, ssrc


def payload_of(packet: bytes) -> bytes:
    """The payload of a packet built by build_packet (bare header, no padding)."""
    return packet[RTP_HEADER_SIZE:]


def wrap_rtx(packet: bytes, rtx_payload_type: int, rtx_seq: int, rtx_ssrc: int) -> bytes:
    """RFC 4588: the retransmission carries the original sequence number before the payload."""
    _, marker, seq, timestamp, _ = parse_header(packet)
    return build_packet(
        rtx_payload_type,
        marker,
        rtx_seq,
        timestamp,
        rtx_ssrc,
        struct.pack("!H", seq) + packet[RTP_HEADER_SIZE:],
    )
