"""Codec identity and keyframe starts, checked against real VP8 and H.264 bitstreams.

The frames are encoded once per module with PyAV (libvpx, libx264) and packetized by aiortc's own
packetizers, so the payload descriptors are the ones a real aiortc publisher sends.
"""

from __future__ import annotations

import fractions
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import CODECS
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av.video.codeccontext import VideoCodecContext
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.codecs import (
    forwardable,
    h264_keyframe_start,
    is_rtx,
    keyframe_test,
    negotiate_every_h264_profile,
    rtx_for,
    same_codec,
    vp8_keyframe_start,
)

WIDTH, HEIGHT = 160, 120


@dataclass(frozen=True)
class EncodedFrame:
    data: bytes
    key: bool


def _pictures(count: int) -> Iterator[av.VideoFrame]:
    # Noise makes frames span several packets; the shifting red plane makes inter frames non-empty.
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for i in range(count):
        image = base.copy()
        image[:, :, 0] = np.roll(base[:, :, 0], i * 3, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        yield frame


def _encode(codec_name: str, options: dict[str, str]) -> list[EncodedFrame]:
    codec = cast(VideoCodecContext, av.CodecContext.create(codec_name, "w"))
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.bit_rate = 2_000_000
    codec.gop_size = 4  # frames 0 and 4 are keyframes, the others inter frames
    codec.options = options
    frames: list[EncodedFrame] = []
    for picture in [*_pictures(6), None]:
        frames.extend(EncodedFrame(bytes(p), p.is_keyframe) for p in codec.encode(picture))
    return frames


def _check_gop(frames: list[EncodedFrame]) -> None:
    assert [f.key for f in frames] == [True, False, False, False, True, False]


@pytest.fixture(scope="module")
def vp8_frames() -> list[EncodedFrame]:
    frames = _encode("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
    _check_gop(frames)
    # The VP8 frame tag (RFC 6386 9.1): bit 0 of the first byte is 0 for a keyframe.
    assert [f.data[0] & 1 == 0 for f in frames] == [f.key for f in frames]
    return frames


@pytest.fixture(scope="module")
def h264_frames() -> list[EncodedFrame]:
    frames = _encode("libx264", {"tune": "zerolatency", "preset": "ultrafast", "bf": "0"})
    _check_gop(frames)
    return frames


# -- VP8 ---------------------------------------------------------------------------------------


def vp8_descriptor(
    *,
    start: bool = True,
    partition: int = 0,
    extended: bool = False,
    picture_id: int | None = None,
    long_picture_id: bool = False,
    tl0picidx: int | None = None,
    tid: int | None = None,
    keyidx: int | None = None,
) -> bytes:
    """A VP8 payload descriptor, written from RFC 7741 section 4.2 independently of the code."""
    first = (0x10 if start else 0) | partition
    ext = (
        (0x80 if picture_id is not None else 0)
        | (0x40 if tl0picidx is not None else 0)
        | (0x20 if tid is not None else 0)
        | (0x10 if keyidx is not None else 0)
    )
    if not (ext or extended):
        return bytes([first])
    out = bytes([0x80 | first, ext])
    if picture_id is not None:
        out += struct.pack("!H", 0x8000 | picture_id) if long_picture_id else bytes([picture_id])
    if tl0picidx is not None:
        out += bytes([tl0picidx])
    if tid is not None or keyidx is not None:
        out += bytes([((tid or 0) << 6) | (keyidx or 0)])
    return out


PICTURE_IDS = [0, 1, 0x7E, 0x7F, 0x80, 0x1234, 0x1235, 0x7FFF]


@pytest.mark.parametrize("picture_id", PICTURE_IDS)
def test_vp8_aiortc_packets_15_bit_picture_id(
    vp8_frames: list[EncodedFrame], picture_id: int
) -> None:
    for frame in vp8_frames:
        packets = Vp8Encoder._packetize(frame.data, picture_id)
        assert len(packets) > 1  # the frames span packets, so continuations are tested too
        assert packets[0][:2] == b"\x90\x80" and packets[0][2] & 0x80  # X, S; I; M: 15 bits
        got = [vp8_keyframe_start(p) for p in packets]
        assert got == [frame.key] + [False] * (len(packets) - 1)


@pytest.mark.parametrize("picture_id", [p for p in PICTURE_IDS if p < 0x80])
def test_vp8_aiortc_packets_rewritten_to_7_bit_picture_id(
    vp8_frames: list[EncodedFrame], picture_id: int
) -> None:
    for frame in vp8_frames:
        packets = Vp8Encoder._packetize(frame.data, picture_id)
        short = [p[:2] + bytes([picture_id]) + p[4:] for p in packets]
        # Still a valid descriptor by aiortc's parser, carrying the same frame bytes.
        for original, rewritten in zip(packets, short, strict=True):
            descriptor, data = VpxPayloadDescriptor.parse(rewritten)
            assert descriptor.picture_id == picture_id
            assert data == VpxPayloadDescriptor.parse(original)[1]
        got = [vp8_keyframe_start(p) for p in short]
        assert got == [frame.key] + [False] * (len(short) - 1)


DESCRIPTOR_FIELDS = [
    {},
    {"extended": True},
    {"picture_id": 0x11},
    {"picture_id": 0x10},
    {"picture_id": 0x1235, "long_picture_id": True},
    {"picture_id": 0x1234, "long_picture_id": True},
    {"tl0picidx": 0x01},
    {"tl0picidx": 0x00},
    {"tid": 1},
    {"keyidx": 3},
    {"tid": 2, "keyidx": 0},
    {"picture_id": 0x21, "tl0picidx": 0xFF},
    {"picture_id": 0x7001, "long_picture_id": True, "tl0picidx": 0x03, "tid": 1},
    {"picture_id": 0x7000, "long_picture_id": True, "tl0picidx": 0x02, "tid": 3, "keyidx": 31},
    {"picture_id": 0x05, "keyidx": 1},
    {"tl0picidx": 0x81, "tid": 0, "keyidx": 0},
    {"tl0picidx": 0x01, "keyidx": 2},
]


@pytest.mark.parametrize("fields", DESCRIPTOR_FIELDS, ids=lambda f: ",".join(f) or "bare")
def test_vp8_hand_built_descriptors(vp8_frames: list[EncodedFrame], fields: dict) -> None:
    # Odd and even field values: a parser that skips one byte too few or too many reads a
    # field as the VP8 frame tag, and its low bit then decides wrongly for one of them.
    key, inter = vp8_frames[0].data[:32], vp8_frames[1].data[:32]
    for start, partition, frame, expected in [
        (True, 0, key, True),
        (True, 0, inter, False),
        (False, 0, key, False),  # a continuation of the keyframe
        (True, 1, key, False),  # start of a later partition
        (True, 7, key, False),
    ]:
        descriptor = vp8_descriptor(start=start, partition=partition, **fields)
        payload = descriptor + frame
        assert VpxPayloadDescriptor.parse(payload)[1] == frame  # our descriptor is well-formed
        assert vp8_keyframe_start(payload) is expected, (start, partition, descriptor.hex())


@st.composite
def vp8_descriptors(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(descriptor, whether it marks the start of partition 0)."""
    start = draw(st.booleans())
    partition = draw(st.integers(0, 7))
    long_picture_id = draw(st.booleans())
    picture_id = draw(st.none() | st.integers(0, 0x7FFF if long_picture_id else 0x7F))
    descriptor = vp8_descriptor(
        start=start,
        partition=partition,
        extended=draw(st.booleans()),
        picture_id=picture_id,
        long_picture_id=long_picture_id,
        tl0picidx=draw(st.none() | st.integers(0, 255)),
        tid=draw(st.none() | st.integers(0, 3)),
        keyidx=draw(st.none() | st.integers(0, 31)),
    )
    return descriptor, start and partition == 0


@given(vp8_descriptors(), st.booleans(), st.binary(max_size=8))
def test_vp8_any_descriptor_before_a_frame_tag(
    descriptor: tuple[bytes, bool], key: bool, rest: bytes
) -> None:
    header, starts_partition_0 = descriptor
    tag = bytes([0x10 if key else 0x11])  # P bit clear on keyframes
    assert vp8_keyframe_start(header + tag + rest) is (starts_partition_0 and key)


@given(vp8_descriptors())
def test_vp8_descriptor_without_frame_is_not_a_keyframe(descriptor: tuple[bytes, bool]) -> None:
    header, _ = descriptor
    for end in range(len(header) + 1):
        assert vp8_keyframe_start(header[:end]) is False


@given(st.binary(max_size=16))
def test_vp8_never_raises(payload: bytes) -> None:
    assert vp8_keyframe_start(payload) in (True, False)


# -- H.264 -------------------------------------------------------------------------------------

IDR, SPS, PPS, SEI, NON_IDR = b"\x65", b"\x67", b"\x68", b"\x06", b"\x41"


def stap_a(*nal_units: bytes) -> bytes:
    return b"\x78" + b"".join(struct.pack("!H", len(n)) + n for n in nal_units)


def fu_a(nal_type: int, *, start: bool = False, end: bool = False) -> bytes:
    return bytes([0x7C, (0x80 if start else 0) | (0x40 if end else 0) | nal_type]) + b"\xaa" * 8


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (IDR + b"\x88\x84", True),
        (SPS + b"\x42\xc0\x1f", True),
        (b"\x25\x88", True),  # IDR with a lower NRI
        (NON_IDR + b"\x9a", False),
        (PPS + b"\xce\x3c\x80", False),
        (SEI + b"\x05\xff", False),
        (stap_a(SPS + b"\x42\xc0\x1f", PPS + b"\xce"), True),
        (stap_a(SEI + b"\x05", PPS + b"\xce", IDR + b"\x88"), True),  # IDR found further in
        (stap_a(SEI + b"\x05", PPS + b"\xce"), False),
        (stap_a(NON_IDR + b"\x9a", NON_IDR + b"\x9b"), False),
        (fu_a(5, start=True), True),
        (fu_a(5), False),  # middle of an IDR slice
        (fu_a(5, end=True), False),
        (fu_a(1, start=True), False),  # start of a non-IDR slice
        (fu_a(1), False),
        (b"\x7d" + b"\x85" + b"\xaa", False),  # FU-B is not supported: never a start
    ],
    ids=[
        "idr",
        "sps",
        "idr-nri1",
        "non-idr",
        "pps",
        "sei",
        "stap-sps",
        "stap-idr-third",
        "stap-no-key",
        "stap-non-idr",
        "fu-a-idr-start",
        "fu-a-idr-middle",
        "fu-a-idr-end",
        "fu-a-non-idr-start",
        "fu-a-non-idr-middle",
        "fu-b",
    ],
)
def test_h264_keyframe_start_table(payload: bytes, expected: bool) -> None:
    assert h264_keyframe_start(payload) is expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x78",  # STAP-A header only
        b"\x78\x00",  # half a size
        b"\x78\x00\x05",  # a size and nothing after it
        b"\x78\x00\x05\x67\x42",  # SPS announced with 5 bytes, 2 present
        b"\x78\x00\x00\x67",  # a zero size
        stap_a(SEI + b"\x05") + b"\x00",  # trailing half size
        b"\x7c",  # FU-A indicator without header
    ],
)
def test_h264_truncated_is_not_a_keyframe(payload: bytes) -> None:
    assert h264_keyframe_start(payload) is False


@given(st.binary(max_size=24))
def test_h264_never_raises(payload: bytes) -> None:
    assert h264_keyframe_start(payload) in (True, False)


@given(st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=4))
def test_h264_stap_a_is_key_when_any_unit_is(nal_units: list[bytes]) -> None:
    expected = any(n[0] & 0x1F in (5, 7) for n in nal_units)
    assert h264_keyframe_start(stap_a(*nal_units)) is expected


def test_h264_aiortc_packets(h264_frames: list[EncodedFrame]) -> None:
    saw_fu_a = saw_stap_a = False
    for frame in h264_frames:
        packets = H264Encoder._packetize(H264Encoder._split_bitstream(frame.data))
        assert len(packets) > 1
        got = [h264_keyframe_start(p) for p in packets]
        if frame.key:
            assert got[0] is True  # SPS and PPS aggregated in front of the IDR
            saw_stap_a = saw_stap_a or packets[0][0] & 0x1F == 24
        else:
            assert not any(got)
        for packet, result in zip(packets, got, strict=True):
            if packet[0] & 0x1F == 28:
                saw_fu_a = True
                if not packet[1] & 0x80:  # continuation of a fragmented slice
                    assert result is False
                else:
                    assert result is (packet[1] & 0x1F == 5)
    assert saw_fu_a and saw_stap_a


# -- codec identity ----------------------------------------------------------------------------


def codec(
    mime: str, payload_type: int = 96, clock_rate: int = 90000, **parameters: int | str
) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=mime,
        clockRate=clock_rate,
        payloadType=payload_type,
        parameters={k.replace("_", "-"): v for k, v in parameters.items()},
    )


def h264(
    profile_level_id: str | None = "42e01f", mode: int | str | None = 1, pt: int = 102
) -> RTCRtpCodecParameters:
    parameters: dict[str, int | str | None] = {}
    if profile_level_id is not None:
        parameters["profile-level-id"] = profile_level_id
    if mode is not None:
        parameters["packetization-mode"] = mode
    return RTCRtpCodecParameters("video/H264", 90000, payloadType=pt, parameters=parameters)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (codec("video/VP8", 96), codec("video/VP8", 120), True),
        (codec("video/VP8"), codec("video/vp8"), True),
        (codec("video/VP8"), h264(), False),
        (codec("video/VP8"), codec("video/VP9"), False),
        (codec("video/VP8"), codec("video/VP8", clock_rate=48000), False),
        (codec("audio/opus", 111, 48000), codec("audio/OPUS", 96, 48000), True),
        (codec("audio/opus", 111, 48000), codec("audio/PCMU", 0, 8000), False),
        (h264("42e01f", 1), h264("42e01f", 1, pt=127), True),
        (h264("42e01f", 1), h264("42e034", 1), True),  # level differs only
        (h264("42E01F", 1), h264("42e01f", 1), True),
        (h264("42e01f", 1), h264("42e01f", "1"), True),  # fmtp parsed as text or as int
        (h264("42e01f", None), h264("42e01f", 0), True),  # packetization-mode defaults to 0
        (h264("42e01f", 1), h264("42e01f", "x"), False),
    ],
)
def test_same_codec_table(
    a: RTCRtpCodecParameters, b: RTCRtpCodecParameters, expected: bool
) -> None:
    assert same_codec(a, b) is expected
    assert same_codec(b, a) is expected


# What encoders send (OBS, FFmpeg's libx264: high; FFmpeg -profile:v main or baseline;
# browsers) against what Debian's Chromium offers to receive (it lists no high profile).
SENT = ["640014", "64001f", "640c1f", "640028", "4d001f", "4d401f", "42e01f", "42001f"]
CHROMIUM_RECEIVES = ["42001f", "42e01f", "4d001f", "f4001f"]


@pytest.mark.parametrize("sent", SENT)
@pytest.mark.parametrize("receiver", CHROMIUM_RECEIVES)
def test_same_codec_h264_any_profile_to_any_profile(sent: str, receiver: str) -> None:
    # FFmpeg's decoder (Chromium's) decodes every profile whatever the SDP label: checked in
    # Chromium by tests/interop/test_ffmpeg.py, a high stream to a hall answered with 42001f.
    assert same_codec(h264(sent, 1), h264(receiver, 1)) is True


@pytest.mark.parametrize(
    ("sent_mode", "receiver_mode", "expected"),
    [
        (1, 1, True),
        (0, 0, True),
        (0, 1, True),  # single NAL units are a valid mode 1 stream (RFC 6184 section 6.3)
        (1, 0, False),  # a mode 0 receiver takes no STAP-A or FU-A
        (2, 2, False),  # interleaved mode: never forwarded
        (None, 1, True),  # absent is 0
        (1, None, False),
    ],
)
def test_same_codec_h264_packetization_mode(
    sent_mode: int | None, receiver_mode: int | None, expected: bool
) -> None:
    assert same_codec(h264("64001f", sent_mode), h264("42e01f", receiver_mode)) is expected


def _table() -> dict[str, list[RTCRtpCodecParameters]]:
    """aiortc 1.16.0's own codec table, as its init_codecs() makes it."""
    h264_parameters = {"level-asymmetry-allowed": "1", "packetization-mode": "1"}
    return {
        "audio": [codec("audio/opus", 96, 48000), codec("audio/PCMU", 0, 8000)],
        "video": [
            codec("video/VP8", 97),
            codec("video/rtx", 98, apt=97),
            codec("video/H264", 99, **h264_parameters, profile_level_id="42001f"),
            codec("video/rtx", 100, apt=99),
            codec("video/H264", 101, **h264_parameters, profile_level_id="42e01f"),
            codec("video/rtx", 102, apt=101),
        ],
    }


def _h264_variants(codecs: list[RTCRtpCodecParameters]) -> list[tuple[str, str]]:
    return [
        (str(c.parameters["profile-level-id"]), str(c.parameters["packetization-mode"]))
        for c in codecs
        if c.mimeType.lower() == "video/h264"
    ]


def test_negotiate_every_h264_profile_adds_what_aiortc_lacks() -> None:
    table = _table()
    before = list(table["video"])
    negotiate_every_h264_profile(table)
    video = table["video"]
    assert video[: len(before)] == before  # aiortc's own first, unchanged
    assert sorted(_h264_variants(video)) == sorted(
        (p, m) for p in ["42001f", "42e01f", "4d001f", "640c1f", "64001f"] for m in ["1", "0"]
    )
    # Every payload type distinct and dynamic; every new codec with its RTX.
    types = [c.payloadType for codecs in table.values() for c in codecs]
    assert len(types) == len(set(types))
    added = video[len(before) :]
    assert all(96 <= (c.payloadType or 0) < 128 for c in added)
    media = [c for c in added if not is_rtx(c)]
    assert [c.parameters["apt"] for c in added if is_rtx(c)] == [c.payloadType for c in media]
    assert all({f.type for f in c.rtcpFeedback} == {"nack", "goog-remb"} for c in media)
    # Idempotent.
    negotiate_every_h264_profile(table)
    assert table["video"] == video


def test_aiortc_negotiates_the_bridge_h264_profiles() -> None:
    # Installed at import: aiortc's own table is the one its negotiation reads.
    assert set(_h264_variants(CODECS["video"])) >= {("640c1f", "1"), ("64001f", "0")}


@pytest.mark.parametrize(
    ("profile_level_id", "mode"),
    [("640014", "1"), ("640c1f", "1"), ("4d001f", "1"), ("42e01f", "0"), ("64001f", "0")],
)
async def test_aiortc_answers_an_encoder_offer_with_its_profile(
    profile_level_id: str, mode: str
) -> None:
    """An offer like FFmpeg's WHIP muxer's (one H.264 codec, high by default) gets an answer
    with that profile and mode, not aiortc's "no common codec"."""
    offer = FFMPEG_OFFER.replace("640014", profile_level_id).replace(
        "packetization-mode=1", f"packetization-mode={mode}"
    )
    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        fmtp = [line for line in pc.localDescription.sdp.splitlines() if "a=fmtp:106 " in line]
        assert len(fmtp) == 1, pc.localDescription.sdp
        assert f"profile-level-id={profile_level_id[:4]}" in fmtp[0]
        assert f"packetization-mode={mode}" in fmtp[0]
    finally:
        await pc.close()


# FFmpeg 8's WHIP muxer's video section (libx264 at 320x240: high, level 2.0).
FFMPEG_OFFER = "\r\n".join(
    [
        "v=0",
        "o=FFmpeg 4489045141692799359 2 IN IP4 127.0.0.1",
        "s=FFmpegPublishSession",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 106 105",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:c4a3c6f1",
        "a=ice-pwd:2f3fb7ca4232c7aa8420c342211e572e",
        "a=fingerprint:sha-256 41:C7:E0:5E:83:99:12:91:80:07:54:02:C7:57:97:0B:DB:48:18:1B:"
        "EA:9A:F2:0C:22:BA:B9:C0:EB:9B:E5:7B",
        "a=setup:active",
        "a=mid:0",
        "a=sendonly",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:106 H264/90000",
        "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640014",
        "a=rtcp-fb:106 nack",
        "a=rtpmap:105 rtx/90000",
        "a=fmtp:105 apt=106",
        "a=ssrc:2716198327 cname:FFmpeg",
        "",
    ]
)


def test_forwardable_video_keeps_vp8_h264_and_their_rtx() -> None:
    offered = [
        codec("video/VP8", 96),
        codec("video/rtx", 97, apt=96),
        codec("video/VP9", 98, profile_id="0"),
        codec("video/rtx", 99, apt=98),
        h264("42001f", 1, pt=102),
        codec("video/rtx", 103, apt=102),
        codec("video/AV1", 45),
        codec("video/rtx", 46, apt=45),
        codec("video/red", 116),
        codec("video/rtx", 117, apt=116),
        codec("video/ulpfec", 118),
    ]
    kept = forwardable("video", offered)
    assert [c.payloadType for c in kept] == [96, 102, 97, 103]


def test_forwardable_with_aiortcs_own_codec_list() -> None:
    video = forwardable("video", CODECS["video"])
    assert {c.mimeType for c in video} == {"video/VP8", "video/H264", "video/rtx"}
    assert len(video) == len(CODECS["video"])
    media_types = {c.payloadType for c in video if not is_rtx(c)}
    assert {c.parameters["apt"] for c in video if is_rtx(c)} == media_types
    audio = forwardable("audio", CODECS["audio"])
    assert [c.mimeType for c in audio] == ["audio/opus"]


def test_forwardable_drops_everything_of_an_unknown_kind() -> None:
    assert forwardable("application", [codec("video/VP8")]) == []
    assert forwardable("audio", [codec("video/VP8"), codec("video/rtx", 97, apt=96)]) == []


def test_rtx_for() -> None:
    codecs = [
        codec("video/VP8", 96),
        codec("video/rtx", 97, apt=96),
        h264(pt=102),
        codec("video/RTX", 103, apt=102),
    ]
    assert rtx_for(codecs, 96) == 97
    assert rtx_for(codecs, 102) == 103  # mime type compared case-insensitively
    assert rtx_for(codecs, 97) is None
    assert rtx_for(codecs, 45) is None
    assert rtx_for([], 96) is None


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("video/VP8", vp8_keyframe_start),
        ("video/vp8", vp8_keyframe_start),
        ("video/H264", h264_keyframe_start),
        ("audio/opus", None),
        ("video/VP9", None),
    ],
)
def test_keyframe_test(mime: str, expected: object) -> None:
    assert keyframe_test(codec(mime)) is expected
