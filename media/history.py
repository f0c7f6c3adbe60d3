"""Per-subscriber retransmission history: the last packets sent, by sequence number.

An entry is the subscriber's header fields and a reference to the publisher's payload, which all
subscribers share: nothing is copied per subscriber, and the packet is rebuilt, byte for byte as
it was sent, only when a NACK asks for it.
"""

from __future__ import annotations

from .rtp import RTP_HEADER, RTP_VERSION_BITS

# About 2 s of 2 Mbps video in 1,200-byte packets; NACKs for older packets are too late to help.
DEFAULT_HISTORY_SIZE = 512
_pack_header = RTP_HEADER.pack


class PacketHistory:
    """A ring indexed by sequence number; a slot is valid only if its stored seq matches."""

    __slots__ = ("entries", "mask", "ssrc")

    def __init__(self, size: int = DEFAULT_HISTORY_SIZE, ssrc: int = 0) -> None:
        # A power of two divides 65,536, so slots stay consistent when sequence numbers wrap.
        if size <= 0 or size & (size - 1) or size > 0x10000:
            raise ValueError(f"history size must be a power of two up to 65536, not {size}")
        self.ssrc = ssrc
        # (seq, second header byte: marker and payload type, timestamp, payload) at seq & mask.
        # DownTrack.forward_burst stores there itself, as put() does: one call less a packet
        # and subscriber.
        self.entries: list[tuple[int, int, int, bytes] | None] = [None] * size
        self.mask = size - 1

    def put(self, seq: int, second: int, timestamp: int, payload: bytes) -> None:
        self.entries[seq & self.mask] = (seq, second, timestamp, payload)

    def get(self, seq: int) -> bytes | None:
        """The packet sent with this sequence number, if it is still here."""
        entry = self.entries[seq & self.mask]
        if entry is None or entry[0] != seq:
            return None
        _, second, timestamp, payload = entry
        return _pack_header(RTP_VERSION_BITS, second, seq, timestamp, self.ssrc) + payload
