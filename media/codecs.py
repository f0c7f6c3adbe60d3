"""What the bridge must know of codecs without decoding them: identity and keyframe starts."""

from __future__ import annotations

from collections.abc import Callable

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

# The publisher may send these; subscribers get exactly the publisher's codec.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/vp8", "video/h264")}

KeyframeTest = Callable[[bytes], bool]


def is_rtx(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.lower().endswith("/rtx")


def _h264_profile(codec: RTCRtpCodecParameters) -> str:
    # profile_idc and profile_iop; the level may differ, decoders take any level of a profile.
    # Absent, RFC 6184 says 420010: constrained-less baseline.
    return str(codec.parameters.get("profile-level-id", "420010"))[:4].lower()


def same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    """True when a receiver negotiated for b can decode a bitstream sent as a."""
    if a.mimeType.lower() != b.mimeType.lower() or a.clockRate != b.clockRate:
        return False
    if a.mimeType.lower() == "video/h264":
        mode_a = int(str(a.parameters.get("packetization-mode", 0)))
        mode_b = int(str(b.parameters.get("packetization-mode", 0)))
        return mode_a == mode_b and _h264_profile(a) == _h264_profile(b)
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
