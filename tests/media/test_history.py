"""The retransmission ring: a slot answers only for the sequence number stored in it, and gives
back the packet as it was sent, rebuilt from the header fields and the shared payload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.history import DEFAULT_HISTORY_SIZE, PacketHistory
from diemcau.media.rtp import RTP_HEADER

SSRC = 0x5EED5EED


def header(seq: int, second: int = 0x60) -> bytes:
    return RTP_HEADER.pack(0x80, second, seq, seq * 3000 & 0xFFFFFFFF, SSRC)


class Ring:
    """The history seen as seq -> payload, checking every rebuilt header on the way."""

    def __init__(self, size: int = DEFAULT_HISTORY_SIZE) -> None:
        self.history = PacketHistory(size, SSRC)

    def put(self, seq: int, payload: bytes) -> None:
        self.history.put(seq, 0x60, seq * 3000 & 0xFFFFFFFF, payload)

    def get(self, seq: int) -> bytes | None:
        packet = self.history.get(seq)
        if packet is None:
            return None
        assert packet[:12] == header(seq)
        return packet[12:]


def test_the_packet_comes_back_byte_for_byte() -> None:
    history = PacketHistory(8, SSRC)
    payload = b"shared payload"
    history.put(0xFFFF, 0x80 | 0x60, 0xFFFF * 3000 & 0xFFFFFFFF, payload)  # marker set
    assert history.get(0xFFFF) == header(0xFFFF, 0xE0) + payload
    assert history.get(0xFFFF - 8) is None


@pytest.mark.parametrize("size", [0, 3, 1000, 0x20000])
def test_sizes_that_do_not_divide_the_sequence_space_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        PacketHistory(size)


def test_put_then_get() -> None:
    history = Ring(8)
    history.put(3, b"three")
    history.put(4, b"four")
    assert history.get(3) == b"three"
    assert history.get(4) == b"four"
    assert history.get(5) is None


def test_empty_history_answers_nothing() -> None:
    history = Ring(8)
    assert [history.get(seq) for seq in range(16)] == [None] * 16
    assert history.get(0xFFFF) is None


def test_overwritten_slot_forgets_the_old_seq() -> None:
    history = Ring(8)
    history.put(5, b"old")
    history.put(13, b"new")  # same slot: 13 % 8 == 5
    assert history.get(5) is None
    assert history.get(13) == b"new"
    assert history.get(21) is None  # the same slot again, never stored


def test_same_seq_put_twice_keeps_the_latest() -> None:
    history = Ring(8)
    history.put(7, b"first")
    history.put(7, b"second")
    assert history.get(7) == b"second"


def test_wrap_of_16_bit_seq() -> None:
    history = Ring(16)
    seqs = [(0xFFF8 + i) & 0xFFFF for i in range(16)]  # 0xfff8 .. 0xffff, 0 .. 7
    for seq in seqs:
        history.put(seq, seq.to_bytes(2, "big"))
    assert [history.get(seq) for seq in seqs] == [s.to_bytes(2, "big") for s in seqs]
    history.put(8, b"next")  # evicts 0xfff8: 8 and 0xfff8 share a slot
    assert history.get(0xFFF8) is None
    assert history.get(8) == b"next"
    assert history.get(0xFFF9) == b"\xff\xf9"


def test_default_size_divides_the_sequence_space() -> None:
    # Slots then line up across the 16-bit wrap: seq 65535 and seq 0 are neighbours.
    assert 0x10000 % DEFAULT_HISTORY_SIZE == 0
    history = Ring()
    history.put(0xFFFF, b"last")
    history.put(0, b"first")
    assert (history.get(0xFFFF), history.get(0)) == (b"last", b"first")


@given(
    st.integers(0, 7).map(lambda k: 1 << k),
    st.integers(0xFF00, 0xFFFF) | st.integers(0, 0xFFFF),  # often across the wrap
    st.integers(1, 300),
)
def test_holds_exactly_the_last_size_packets_of_a_run(size: int, start: int, count: int) -> None:
    # Sizes that divide 65536 (the default does) keep the slots in step across the wrap.
    history = Ring(size)
    seqs = [(start + i) & 0xFFFF for i in range(count)]
    for seq in seqs:
        history.put(seq, b"p%d" % seq)
    kept = seqs[-size:]
    for seq in kept:
        assert history.get(seq) == b"p%d" % seq
    for seq in seqs[:-size]:
        assert history.get(seq) is None


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=4)), max_size=60))
def test_matches_a_model(puts: list[tuple[int, bytes]]) -> None:
    size = 16
    history = Ring(size)
    model: dict[int, tuple[int, bytes]] = {}  # slot -> (seq, packet)
    for seq, packet in puts:
        history.put(seq, packet)
        model[seq % size] = (seq, packet)
    for seq, _ in puts:
        stored = model.get(seq % size)
        assert history.get(seq) == (stored[1] if stored and stored[0] == seq else None)
