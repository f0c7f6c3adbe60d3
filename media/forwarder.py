"""Per-subscriber rewriting of the publisher's RTP: the sans-I/O heart of the bridge.

A `DownTrack` maps one publisher track onto one subscriber's sender: its own SSRC, payload type,
sequence numbers and timestamps, continuous across publisher reconnects. It holds no socket and
no clock: the adapter passes `now` (seconds, monotonic) and sends the bytes it returns.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .codecs import KeyframeTest
from .history import PacketHistory
from .rtp import RTP_HEADER, RTP_VERSION_BITS, seq_add, ts_add, wrap_rtx

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer as WritableBuffer

# One publisher packet of a burst: (SSRC, sequence number, timestamp, marker, payload, its index
# in the burst, whether it starts a keyframe). The keyframe test runs once a packet, where the
# burst is staged (UpTrack.stage), not once a packet and subscriber.
BurstPacket = tuple[int, int, int, bool, bytes, int, bool]
# Takes the packet written at buf[offset:offset + length]; returns where the next one goes, or
# -1 when it was dropped because the link is backed up (RtpSink.push). buf is the sink's own
# buffer (RtpSink.buffer), which it protects in place.
Emit = Callable[[int, int], int]

# Packets later than this many sequence numbers behind the newest are dropped, not forwarded.
REORDER_WINDOW = 1000
_pack_header_into = RTP_HEADER.pack_into
RTP_HEADER_SIZE = RTP_HEADER.size


@dataclass
class DownTrackStats:
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_retransmitted: int = 0
    nacks_unanswered: int = 0
    packets_dropped_before_keyframe: int = 0


class DownTrack:
    """One publisher track as one subscriber receives it."""

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        is_keyframe: KeyframeTest | None = None,
        rtx_ssrc: int | None = None,
        rtx_payload_type: int | None = None,
        history_size: int = 512,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.is_keyframe = is_keyframe
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.history = PacketHistory(history_size, ssrc)
        self.stats = DownTrackStats()
        # Lower half of the space, as browsers do, so SRTP's rollover guess never goes wrong early.
        self._next_seq = rng.randrange(0, 0x8000)
        self._next_rtx_seq = rng.randrange(0, 0x8000)
        self._last_ts = rng.randrange(0, 1 << 32)
        self._last_time: float | None = None
        # Mapping of the current source (publisher SSRC); None until the first packet forwarded.
        self._source: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._first_in_seq = 0
        self._highest_out_seq = (self._next_seq - 1) & 0xFFFF
        self.last_out_ts = self._last_ts
        self.last_out_time: float | None = None
        # True while packets of a new source are being dropped until its first keyframe.
        self._awaiting_keyframe = False

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._awaiting_keyframe or (self._source is None and self.is_keyframe is not None)

    def set_payload_type(self, payload_type: int, rtx_payload_type: int | None) -> None:
        """The publisher changed codec (a reconnect); the subscriber negotiated this one too."""
        self.payload_type = payload_type
        self.rtx_payload_type = rtx_payload_type

    def source_ended(self) -> None:
        """The publisher's track went away; the next packets may come from a new source."""
        self._source = None

    def forward(
        self, in_ssrc: int, seq: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> bytes | None:
        """The packet to send to this subscriber, or None to drop it."""
        buf = bytearray(RTP_HEADER_SIZE + len(payload))
        out: list[bytes] = []

        def keep(offset: int, length: int) -> int:
            out.append(bytes(buf[offset : offset + length]))
            return offset + length

        keyframe = self.is_keyframe is not None and self.is_keyframe(payload)
        burst = [(in_ssrc, seq, timestamp, marker, payload, 0, keyframe)]
        self.forward_burst(buf, burst, now, keep)
        return out[0] if out else None

    def forward_burst(
        self, buf: WritableBuffer, burst: Sequence[BurstPacket], now: float, emit: Emit
    ) -> int:
        """This subscriber's packets for a burst of the publisher's, one after the other in buf.

        Each packet kept is written at the offset emit returned last (0 first): this
        subscriber's header, then the publisher's payload; then emit(offset, length) takes it and
        returns where the next one goes, or -1 when the link is backed up and it was dropped.
        Returns the index in the burst of the last packet after which this subscriber needs a
        keyframe (it waits for one, or it was dropped for a backed-up link), or -1.

        The fast path, per packet and subscriber: one pack_into, a copy of the payload, and a
        history entry that shares the payload rather than copying it.
        """
        needs_keyframe = -1
        offset = 0
        history, mask = self.history.entries, self.history.mask
        out_ssrc = self.ssrc
        payload_type = self.payload_type
        highest = self._highest_out_seq
        sent = 0
        sent_bytes = 0
        for in_ssrc, seq, timestamp, marker, payload, index, keyframe in burst:
            if in_ssrc != self._source:
                # A new source: video starts cleanly on a keyframe; then continue our numbering
                # right after what this subscriber last received, so its decoder sees no jump.
                if self.is_keyframe is not None and not keyframe:
                    self.stats.packets_dropped_before_keyframe += 1
                    self._awaiting_keyframe = True
                    needs_keyframe = index
                    continue
                self._awaiting_keyframe = False
                self._highest_out_seq = highest
                self._start_source(in_ssrc, seq, timestamp, now)
            # seq_diff(seq, first) inlined, as the others below: this runs per packet and
            # subscriber.
            since_first = ((seq - self._first_in_seq + 0x8000) & 0xFFFF) - 0x8000
            if since_first < 0:
                continue  # older than where this subscriber started, or far too late to help
            out_seq = (seq + self._seq_offset) & 0xFFFF
            out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
            second = payload_type | 0x80 if marker else payload_type
            _pack_header_into(buf, offset, RTP_VERSION_BITS, second, out_seq, out_ts, out_ssrc)
            history[out_seq & mask] = (out_seq, second, out_ts, payload)  # history.put inlined
            if ((out_seq - highest + 0x8000) & 0xFFFF) - 0x8000 > 0:
                highest = out_seq
                self.last_out_ts = out_ts
                self.last_out_time = now
                if since_first > REORDER_WINDOW:
                    # Trail the newest packet so the signed comparison above never wraps.
                    self._first_in_seq = (seq - REORDER_WINDOW) & 0xFFFF
            end = offset + RTP_HEADER_SIZE + len(payload)
            buf[offset + RTP_HEADER_SIZE : end] = payload  # type: ignore[index]
            sent += 1
            sent_bytes += end - offset
            offset = emit(offset, end - offset)
            if offset < 0:
                offset = 0
                if self.is_keyframe is not None:
                    # One slow hall must not slow the others: its packets are dropped, not
                    # queued, and its picture starts again cleanly on a keyframe once it drains.
                    self.source_ended()
                    needs_keyframe = index
        self._highest_out_seq = highest
        stats = self.stats
        stats.packets_sent += sent
        stats.bytes_sent += sent_bytes
        return needs_keyframe

    def _start_source(self, in_ssrc: int, seq: int, timestamp: int, now: float) -> None:
        out_seq = seq_add(self._highest_out_seq, 1)
        if self.last_out_time is None:
            out_ts = self._last_ts
        else:
            # Advance the clock by the wall time that passed, so the new source's frames
            # are not presented in the past.
            elapsed = max(now - self.last_out_time, 1.0 / 90)
            out_ts = ts_add(self.last_out_ts, int(elapsed * self.clock_rate))
        self._source = in_ssrc
        self._first_in_seq = seq
        self._seq_offset = (out_seq - seq) & 0xFFFF
        self._ts_offset = (out_ts - timestamp) & 0xFFFFFFFF

    def retransmit(self, seqs: list[int]) -> list[bytes]:
        """Answer a subscriber's NACK from the history: RTX-wrapped when RTX was negotiated."""
        out: list[bytes] = []
        for seq in seqs:
            packet = self.history.get(seq)
            if packet is None:
                self.stats.nacks_unanswered += 1
                continue
            if self.rtx_ssrc is not None and self.rtx_payload_type is not None:
                packet = wrap_rtx(packet, self.rtx_payload_type, self._next_rtx_seq, self.rtx_ssrc)
                self._next_rtx_seq = seq_add(self._next_rtx_seq, 1)
            self.stats.packets_retransmitted += 1
            self.stats.bytes_sent += len(packet)
            out.append(packet)
        return out
