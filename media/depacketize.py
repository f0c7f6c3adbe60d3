"""RTP payloads back into the frames they carry, for a recording that is remuxed, never decoded.

Sans-I/O: a `Depacketizer` takes one track's packets in arrival order (the bridge drops
duplicates upstream) and returns the whole frames they complete. A frame is the packets of one
RTP timestamp up to the marker bit, with no sequence gap; a video frame that lost a packet is
dropped, and so is everything after it until the next keyframe, so the file never holds a frame
its decoder cannot use. VP8 per RFC 7741; H.264 per RFC 6184 (single NAL units, STAP-A, FU-A),
written in Annex B form; Opus (RFC 7587) is one frame a packet, as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .rtp import seq_add

ANNEX_B = b"\x00\x00\x00\x01"
_STAP_A = 24
_FU_A = 28
_IDR = 5
_SPS = 7
_PPS = 8


@dataclass(frozen=True)
class Frame:
    timestamp: int  # RTP timestamp of the frame, as sent
    keyframe: bool
    data: bytes


def vp8_payload(payload: bytes) -> tuple[bool, bytes] | None:
    """(starts a frame, the VP8 data after the payload descriptor) of one packet (RFC 7741
    section 4.2), or None if the descriptor is cut short."""
    if not payload:
        return None
    first = payload[0]
    i = 1
    if first & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            return None
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, one or two bytes
            if len(payload) <= i:
                return None
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: one byte for both
            i += 1
    if i > len(payload):
        return None
    start = bool(first & 0x10) and (first & 0x07) == 0  # S set, partition 0
    return start, payload[i:]


def vp8_keyframe(frame: bytes) -> bool:
    """A VP8 frame's P bit is 0 on a keyframe (RFC 6386 section 9.1)."""
    return bool(frame) and not frame[0] & 0x01


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 keyframe, from its start code's header."""
    if len(frame) < 10 or not vp8_keyframe(frame) or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(
        frame[8:10], "little"
    ) & 0x3FFF


def h264_nals(payload: bytes, pending: bytearray | None) -> tuple[list[bytes], bytearray | None]:
    """The whole NAL units one packet completes (RFC 6184 section 5.6-5.8), and the FU-A
    being gathered after it (None when none is)."""
    if not payload:
        return [], pending
    kind = payload[0] & 0x1F
    if kind == _STAP_A:
        nals, i = [], 1
        while i + 2 <= len(payload):
            size = int.from_bytes(payload[i : i + 2], "big")
            i += 2
            if size == 0 or i + size > len(payload):
                break
            nals.append(payload[i : i + size])
            i += size
        return nals, None
    if kind == _FU_A:
        if len(payload) < 2:
            return [], None
        header = payload[1]
        if header & 0x80:  # S: the first fragment carries the NAL header's type
            pending = bytearray([(payload[0] & 0xE0) | (header & 0x1F)])
        if pending is None:
            return [], None  # a middle fragment whose start was lost
        pending += payload[2:]
        if header & 0x40:  # E
            return [bytes(pending)], None
        return [], pending
    if 1 <= kind <= 23:
        return [payload], None
    return [], None  # STAP-B, MTAP, FU-B: not sent by WebRTC encoders


@dataclass
class Depacketizer:
    """One track's frames as its packets arrive: codec is "vp8", "h264" or "opus"."""

    codec: str
    _timestamp: int | None = None
    _next_seq: int | None = None
    _parts: list[bytes] = field(default_factory=list)
    _broken: bool = False  # the frame being gathered lost a packet
    _need_keyframe: bool = True  # video: nothing is written before a keyframe
    _fu: bytearray | None = None
    frames_dropped: int = 0

    def push(self, seq: int, timestamp: int, marker: bool, payload: bytes) -> list[Frame]:
        """One packet; the frames it completes (none, or one)."""
        if self.codec == "opus":
            return [Frame(timestamp, True, payload)] if payload else []
        out: list[Frame] = []
        lost = self._next_seq is not None and seq != self._next_seq
        self._next_seq = seq_add(seq, 1)
        if self._timestamp is not None and timestamp != self._timestamp:
            # A new frame began before the last one's marker arrived: that one is incomplete.
            self._drop()
        if lost:
            self._broken = True
            self._fu = None
        self._timestamp = timestamp
        if self.codec == "vp8":
            parsed = vp8_payload(payload)
            if parsed is None:
                self._broken = True
            else:
                start, data = parsed
                if start:
                    # A frame's first packet: a loss before it belonged to the frame dropped.
                    self._parts, self._broken = [], False
                elif not self._parts:
                    self._broken = True  # its first packet was lost
                self._parts.append(data)
        else:
            nals, self._fu = h264_nals(payload, self._fu)
            self._parts.extend(ANNEX_B + nal for nal in nals)
        if marker:
            frame = self._finish(timestamp)
            if frame is not None:
                out.append(frame)
        return out

    def _finish(self, timestamp: int) -> Frame | None:
        parts, broken = self._parts, self._broken
        self._parts, self._broken, self._timestamp, self._fu = [], False, None, None
        data = b"".join(parts)
        if broken or not data:
            self.frames_dropped += 1
            self._need_keyframe = True
            return None
        keyframe = vp8_keyframe(data) if self.codec == "vp8" else h264_keyframe(data)
        if self._need_keyframe and not keyframe:
            self.frames_dropped += 1
            return None
        self._need_keyframe = False
        return Frame(timestamp, keyframe, data)

    def _drop(self) -> None:
        if self._parts or self._broken:
            self.frames_dropped += 1
            self._need_keyframe = True
        self._parts, self._broken, self._timestamp, self._fu = [], False, None, None

    def restart(self) -> None:
        """The packets stop being consecutive on purpose (a new source): wait for a keyframe."""
        self._drop()
        self._next_seq = None
        self._need_keyframe = True


def h264_units(frame: bytes) -> list[bytes]:
    """The NAL units of an Annex B frame written by Depacketizer (4-byte start codes)."""
    return [unit for unit in frame.split(ANNEX_B) if unit]


def h264_keyframe(frame: bytes) -> bool:
    """An access unit with an IDR slice and its parameter sets: a decoder can start on it."""
    kinds = {unit[0] & 0x1F for unit in h264_units(frame)}
    return _IDR in kinds and _SPS in kinds and _PPS in kinds


def h264_parameter_sets(frame: bytes) -> bytes:
    """The SPS and PPS of a keyframe, in Annex B form: the track's extradata."""
    return b"".join(ANNEX_B + u for u in h264_units(frame) if u[0] & 0x1F in (_SPS, _PPS))


class _Bits:
    """Exp-Golomb reading of an SPS (H.264 section 7.3.2.1), emulation bytes removed."""

    def __init__(self, data: bytes) -> None:
        self.data = data.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]  # IndexError past the end
        self.pos += 1
        return (byte >> (7 - ((self.pos - 1) & 7))) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def h264_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a keyframe's SPS, cropping applied; None if it cannot be read
    (scaling matrices, which WebRTC encoders do not send, are not parsed)."""
    sps = next((u for u in h264_units(frame) if u[0] & 0x1F == _SPS), None)
    if sps is None:
        return None
    try:
        b = _Bits(sps[1:])
        profile = b.bits(8)
        b.bits(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = b.ue()
            if chroma == 3:
                b.bit()
            b.ue()
            b.ue()  # bit depths
            b.bit()
            if b.bit():
                return None  # seq_scaling_matrix_present
        b.ue()  # log2_max_frame_num
        poc = b.ue()
        if poc == 0:
            b.ue()
        elif poc == 1:
            b.bit()
            b.se()
            b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue()  # max_num_ref_frames
        b.bit()
        width_mbs, height_units = b.ue() + 1, b.ue() + 1
        frame_mbs_only = b.bit()
        if not frame_mbs_only:
            b.bit()
        b.bit()  # direct_8x8_inference
        width, height = width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)
        if b.bit():  # frame cropping
            left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
            crop_x = 2 if chroma in (1, 2) else 1
            crop_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
            width -= (left + right) * crop_x
            height -= (top + bottom) * crop_y
        return width, height
    except IndexError:
        return None
