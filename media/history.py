"""Per-subscriber retransmission history: the last packets sent, as raw bytes, by seq number."""

from __future__ import annotations

# About 2 s of 2 Mbps video in 1,200-byte packets; NACKs for older packets are too late to help.
DEFAULT_HISTORY_SIZE = 512


class PacketHistory:
    """A ring indexed by sequence number; a slot is valid only if its stored seq matches."""

    __slots__ = ("_packets", "_seqs", "_size")

    def __init__(self, size: int = DEFAULT_HISTORY_SIZE) -> None:
        # A power of two divides 65,536, so slots stay consistent when sequence numbers wrap.
        if size <= 0 or size & (size - 1) or size > 0x10000:
            raise ValueError(f"history size must be a power of two up to 65536, not {size}")
        self._size = size
        self._seqs: list[int] = [-1] * size
        self._packets: list[bytes | None] = [None] * size

    def put(self, seq: int, packet: bytes) -> None:
        slot = seq % self._size
        self._seqs[slot] = seq
        self._packets[slot] = packet

    def get(self, seq: int) -> bytes | None:
        slot = seq % self._size
        return self._packets[slot] if self._seqs[slot] == seq else None

    def clear(self) -> None:
        self._seqs = [-1] * self._size
        self._packets = [None] * self._size
