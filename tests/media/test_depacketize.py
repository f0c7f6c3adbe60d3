"""RTP payloads back into frames: VP8 descriptors, H.264 packetizations, losses. Pure."""

from __future__ import annotations

import pytest

from diemcau.media.depacketize import (
    ANNEX_B,
    Depacketizer,
    h264_keyframe,
    h264_nals,
    h264_parameter_sets,
    h264_size,
    vp8_payload,
    vp8_size,
)

# A VP8 keyframe's first bytes: P bit 0, the start code, 320x240.
VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + b"k" * 20
VP8_INTER = bytes([0x11, 0x02, 0x00]) + b"i" * 20


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x10abc", (True, b"abc")),  # S, partition 0, no extension
        (b"\x00abc", (False, b"abc")),  # a continuation
        (b"\x11abc", (False, b"abc")),  # S on partition 1 does not start a frame
        (b"\x90\x80\x05abc", (True, b"abc")),  # X, I with a 7-bit picture id
        (b"\x90\x80\x85\x01abc", (True, b"abc")),  # I with a 15-bit picture id
        (b"\x90\xe0\x85\x01\x07\x20abc", (True, b"abc")),  # I, L and T
        (b"\x90\x10\x40abc", (True, b"abc")),  # K alone
        (b"", None),
        (b"\x90", None),
    ],
)
def test_vp8_payload_descriptor(payload: bytes, expected: tuple[bool, bytes] | None) -> None:
    assert vp8_payload(payload) == expected


def test_vp8_size_of_a_keyframe_only() -> None:
    assert vp8_size(VP8_KEY[:3] + VP8_KEY[3:]) == (320, 240)
    assert vp8_size(VP8_INTER) is None


def vp8_packets(frame: bytes, size: int = 8) -> list[bytes]:
    chunks = [frame[i : i + size] for i in range(0, len(frame), size)]
    return [bytes([0x10 if i == 0 else 0x00]) + c for i, c in enumerate(chunks)]


def test_vp8_frames_from_their_packets_and_a_loss_waits_for_the_next_keyframe() -> None:
    d = Depacketizer("vp8")
    seq, out = 100, []
    stream = [(0, VP8_KEY), (3000, VP8_INTER), (6000, VP8_INTER), (9000, VP8_KEY)]
    sent = []
    for ts, frame in stream:
        for i, p in enumerate(packets := vp8_packets(frame)):
            sent.append((seq, ts, i == len(packets) - 1, p))
            seq += 1
    del sent[6]  # a packet of the first inter frame
    for s, ts, m, p in sent:
        out += d.push(s, ts, m, p)
    assert [(f.timestamp, f.keyframe, f.data) for f in out] == [
        (0, True, VP8_KEY),
        (9000, True, VP8_KEY),
    ]
    assert d.frames_dropped == 2  # the broken frame, and the intact one after it


def test_vp8_nothing_before_a_keyframe_and_a_frame_without_its_marker_is_dropped() -> None:
    d = Depacketizer("vp8")
    assert d.push(1, 0, True, b"\x10" + VP8_INTER) == []  # no keyframe yet
    assert d.push(2, 3000, False, b"\x10" + VP8_KEY) == []  # its marker never comes
    assert d.push(3, 6000, True, b"\x10" + VP8_KEY)[0].timestamp == 6000


def test_vp8_sequence_numbers_wrap() -> None:
    d = Depacketizer("vp8")
    p = vp8_packets(VP8_KEY)
    frames = [
        f for i, x in enumerate(p) for f in d.push((65534 + i) & 0xFFFF, 7, i == len(p) - 1, x)
    ]
    assert [f.data for f in frames] == [VP8_KEY]


SPS, PPS, IDR, SLICE = b"\x67\x42\x00\x1f", b"\x68\xce", b"\x65" + b"I" * 30, b"\x41" + b"P" * 30


def test_h264_single_stap_a_and_fu_a() -> None:
    assert h264_nals(SLICE, None) == ([SLICE], None)
    stap = bytes([24]) + len(SPS).to_bytes(2, "big") + SPS + len(PPS).to_bytes(2, "big") + PPS
    assert h264_nals(stap, None) == ([SPS, PPS], None)
    start = bytes([0x7C, 0x85]) + IDR[1:11]
    middle = bytes([0x7C, 0x05]) + IDR[11:21]
    end = bytes([0x7C, 0x45]) + IDR[21:]
    nals, pending = h264_nals(start, None)
    assert nals == [] and pending is not None
    nals, pending = h264_nals(middle, pending)
    nals, pending = h264_nals(end, pending)
    assert nals == [bytes([0x65]) + IDR[1:]] == [IDR] and pending is None
    assert h264_nals(middle, None) == ([], None)  # its start was lost


def test_h264_access_units_keyframes_and_parameter_sets() -> None:
    d = Depacketizer("h264")
    stap = bytes([24]) + len(SPS).to_bytes(2, "big") + SPS + len(PPS).to_bytes(2, "big") + PPS
    assert d.push(1, 0, False, stap) == []
    (key,) = d.push(2, 0, True, IDR)
    assert key.keyframe and key.data == ANNEX_B + SPS + ANNEX_B + PPS + ANNEX_B + IDR
    assert (
        h264_keyframe(key.data) and h264_parameter_sets(key.data) == ANNEX_B + SPS + ANNEX_B + PPS
    )
    (inter,) = d.push(3, 3000, True, SLICE)
    assert not inter.keyframe
    assert d.push(5, 6000, True, SLICE) == []  # after a loss: until the next keyframe
    assert not h264_keyframe(ANNEX_B + IDR)  # an IDR without its parameter sets


def test_opus_is_one_frame_a_packet() -> None:
    d = Depacketizer("opus")
    assert [f.data for f in d.push(1, 960, True, b"\xfc\x01")] == [b"\xfc\x01"]
    assert d.push(9, 1920, False, b"") == []


@pytest.mark.parametrize(
    ("sps", "size"),
    [
        # aiortc's libx264, constrained baseline, 320x180 (cropped from 320x192)
        (b"gB\xc0\x1f\xd9\x01A\x9f\x9e\x10\x00\x00\x03\x00\x10\x00\x00\x03\x03\xc8\xf1\x83$\x80",
         (320, 180)),
        # libx264's default, high profile (chroma format and bit depths read), 320x180
        (b"gd\x00\r\xac\xd9AA\x9f\x9e\x10\x00\x00\x03\x00\x10\x00\x00\x03\x03\xc0\xf1B\x99`",
         (320, 180)),
        (b"gB\xc0", None),  # cut short
    ],
)  # fmt: skip
def test_h264_picture_size_from_the_sps(sps: bytes, size: tuple[int, int] | None) -> None:
    assert h264_size(ANNEX_B + sps + ANNEX_B + IDR) == size
