"""What the bridge must know of codecs without decoding them: identity and keyframe starts."""

from __future__ import annotations

from collections.abc import Callable

from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters
from aiortc.sdp import H264Profile, parse_h264_profile_level_id

# The publisher may send these; subscribers get exactly the publisher's codec.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/vp8", "video/h264")}

KeyframeTest = Callable[[bytes], bool]

# H.264 as encoders send it (RFC 6184 profile-level-id: profile_idc, profile-iop, level):
# constrained baseline and baseline (browsers), main, high and constrained high (OBS and
# FFmpeg's libx264 default is high), in packetization modes 1 and 0. aiortc negotiates only
# its own two, constrained baseline and baseline in mode 1; an offer with another profile
# would find no common codec. The level is not matched: decoders take any level.
H264_PROFILE_LEVEL_IDS = ("42001f", "42e01f", "4d001f", "640c1f", "64001f")
H264_PACKETIZATION_MODES = ("1", "0")


def negotiate_every_h264_profile(table: dict[str, list[RTCRtpCodecParameters]] = CODECS) -> None:
    """Add the H.264 profiles and modes aiortc lacks to its codec table (aiortc.codecs.CODECS,
    which its negotiation reads), each with its RTX: the bridge decodes nothing, so it can take
    any profile an encoder sends. Idempotent; aiortc's own entries stay first and unchanged."""
    video = table["video"]
    have = {_h264_variant(c) for c in video if c.mimeType.lower() == "video/h264"}
    used = {c.payloadType for codecs in table.values() for c in codecs}
    free = (pt for pt in range(96, 128) if pt not in used)
    feedback = [
        RTCRtcpFeedback(type="nack"),
        RTCRtcpFeedback(type="nack", parameter="pli"),
        RTCRtcpFeedback(type="goog-remb"),
    ]
    for mode in H264_PACKETIZATION_MODES:
        for profile_level_id in H264_PROFILE_LEVEL_IDS:
            parameters: dict[str, str | int | None] = {
                "level-asymmetry-allowed": "1",
                "packetization-mode": mode,
                "profile-level-id": profile_level_id,
            }
            codec = RTCRtpCodecParameters("video/H264", 90000, parameters=parameters)
            if _h264_variant(codec) in have:
                continue
            codec.payloadType, rtx_pt = next(free), next(free)
            codec.rtcpFeedback = list(feedback)
            rtx = RTCRtpCodecParameters(
                "video/rtx", 90000, payloadType=rtx_pt, parameters={"apt": codec.payloadType}
            )
            video += [codec, rtx]
            have.add(_h264_variant(codec))


def _h264_variant(codec: RTCRtpCodecParameters) -> tuple[H264Profile | None, int]:
    return _h264_profile(codec), _packetization_mode(codec)


def is_rtx(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.lower().endswith("/rtx")


def _h264_profile(codec: RTCRtpCodecParameters) -> H264Profile | None:
    """The profile an H.264 codec's profile-level-id names; None when it names none.
    Absent, RFC 6184 says 420010: baseline."""
    profile_level_id = str(codec.parameters.get("profile-level-id", "420010"))
    try:
        return parse_h264_profile_level_id(profile_level_id)[0]
    except ValueError:
        return None


def _packetization_mode(codec: RTCRtpCodecParameters) -> int:
    try:
        return int(str(codec.parameters.get("packetization-mode", 0)))
    except ValueError:
        return -1


def same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    """True when a receiver negotiated for b can decode a bitstream sent as a.

    H.264 is matched on its packetization mode, not on its profile: browsers decode H.264
    with FFmpeg's decoder, which takes every profile whatever the SDP label (a Chromium hall
    answered with baseline plays a high stream: tests/interop checks it). A mode 0
    stream (single NAL units) is also a valid mode 1 stream (RFC 6184 section 6.3); not the
    other way round: a mode 0 receiver takes no STAP-A or FU-A.
    """
    if a.mimeType.lower() != b.mimeType.lower() or a.clockRate != b.clockRate:
        return False
    if a.mimeType.lower() == "video/h264":
        mode_a, mode_b = _packetization_mode(a), _packetization_mode(b)
        return mode_a in (0, 1) and (mode_a == mode_b or (mode_a, mode_b) == (0, 1))
    return True


def forwardable(kind: str, codecs: list[RTCRtpCodecParameters]) -> list[RTCRtpCodecParameters]:
    """The negotiated codecs the bridge can forward, with their RTX companions."""
    allowed = FORWARDED_MIME_TYPES.get(kind, ())
    media = [c for c in codecs if c.mimeType.lower() in allowed]
    types = {c.payloadType for c in media}
    rtx = [c for c in codecs if is_rtx(c) and c.parameters.get("apt") in types]
    return media + rtx


def rtx_for(codecs: list[RTCRtpCodecParameters], payload_type: int) -> int | None:
    for codec in codecs:
        if is_rtx(codec) and codec.parameters.get("apt") == payload_type:
            return codec.payloadType
    return None


def vp8_keyframe_start(payload: bytes) -> bool:
    """First packet of a VP8 keyframe (RFC 7741: S=1, PID=0, then the P bit of the frame is 0)."""
    if not payload:
        return False
    first = payload[0]
    if not (first & 0x10) or (first & 0x07):
        return False
    i = 1
    if first & 0x80:  # X: extended control bits
        if len(payload) < 2:
            return False
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: TID/KEYIDX
            i += 1
    return len(payload) > i and not (payload[i] & 0x01)


_H264_KEY_NALS = (5, 7)  # IDR slice, sequence parameter set


def h264_keyframe_start(payload: bytes) -> bool:
    """A packet that begins an IDR access unit (single NAL, STAP-A, or FU-A start; RFC 6184)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in _H264_KEY_NALS:
        return True
    if nal_type == 24:  # STAP-A: 2-byte sizes, then NAL units
        i = 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i : i + 2], "big")
            if size == 0 or i + 2 + size > len(payload):
                return False
            if payload[i + 2] & 0x1F in _H264_KEY_NALS:
                return True
            i += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in _H264_KEY_NALS
    return False


def keyframe_test(codec: RTCRtpCodecParameters) -> KeyframeTest | None:
    mime = codec.mimeType.lower()
    if mime == "video/vp8":
        return vp8_keyframe_start
    if mime == "video/h264":
        return h264_keyframe_start
    return None


negotiate_every_h264_profile()
