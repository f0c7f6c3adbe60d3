"""The little RTP parsing the benchmark's peers need: where the payload starts, and its key.

A packet is recognised at both ends by the CRC-32 of its payload, which the bridge forwards
unchanged while it rewrites the header; the publisher's aiortc sender adds header extensions and
the bridge sends a bare 12-byte header, so the payload offset is computed, not assumed.
"""

from __future__ import annotations

from zlib import crc32


def payload_offset(packet: bytes) -> int:
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    return offset


def payload_key(packet: bytes) -> int:
    return crc32(memoryview(packet)[payload_offset(packet) :])


def is_rtcp(packet: bytes) -> bool:
    """RFC 5761: RTCP packet types 192-223 sit where RTP has marker + payload type."""
    return 191 < packet[1] < 224
