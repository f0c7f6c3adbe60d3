"""A synthetic publisher for the demo: colour bars with a moving marker, and a tone each second.

The pattern is encoded once at start (VP8 and Opus, with PyAV) and then played in a loop, so the
broadcast costs almost nothing and the bridge forwards it exactly as it forwards a camera.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import random
import secrets
import time

import av
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .bridge import Bridge
from .ingest import Publisher, UpTrack
from .rtp import seq_add, ts_add

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
MAX_PAYLOAD = 1200

# Y, U, V of 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
BARS = [
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
]


def vp8_packetize(frame: bytes, picture_id: int, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """RFC 7741 payloads with a 15-bit picture id; S=1 on the first, partition 0 throughout."""
    pid = bytes([0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF])
    chunk = max_payload - 4
    payloads = []
    for offset in range(0, len(frame), chunk):
        start = 0x10 if offset == 0 else 0x00
        payloads.append(bytes([0x80 | start, 0x80]) + pid + frame[offset : offset + chunk])
    return payloads


def _planes(width: int, height: int, index: int, frames: int) -> tuple[bytes, bytes, bytes]:
    bar_width = math.ceil(width / len(BARS))
    y_row = bytearray()
    u_row = bytearray()
    v_row = bytearray()
    for y, u, v in BARS:
        y_row += bytes([y]) * bar_width
        u_row += bytes([u]) * (bar_width // 2)
        v_row += bytes([v]) * (bar_width // 2)
    y_row, u_row, v_row = y_row[:width], u_row[: width // 2], v_row[: width // 2]
    # A black band at the bottom with a white marker sweeping across once per loop.
    band = height // 5
    marker = bytearray(b"\x10" * width)
    x = (index * (width - width // 10)) // max(frames - 1, 1)
    marker[x : x + width // 10] = b"\xeb" * (width // 10)
    y_plane = bytes(y_row) * (height - band) + bytes(marker) * band
    u_plane = bytes(u_row) * ((height - band) // 2) + b"\x80" * (width // 2) * (band // 2)
    v_plane = bytes(v_row) * ((height - band) // 2) + b"\x80" * (width // 2) * (band // 2)
    return y_plane, u_plane, v_plane


def encode_video(width: int, height: int, fps: int, seconds: int) -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = 1_000_000
    codec.gop_size = fps  # a keyframe every second: a hall that joins waits at most that long
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames = fps * seconds
    out: list[bytes] = []
    for index in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, data in zip(frame.planes, _planes(width, height, index, frames), strict=True):
            line = plane.line_size
            rows = plane.height
            row_width = len(data) // rows
            padded = b"".join(
                data[r * row_width : (r + 1) * row_width].ljust(line, b"\x00") for r in range(rows)
            )
            plane.update(padded)
        frame.pts = index
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out


def encode_audio(seconds: int) -> list[bytes]:
    """A 880 Hz beep of 100 ms at the start of each second, silence otherwise; 20 ms packets."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 64000
    out: list[bytes] = []
    samples = 960
    for index in range(seconds * 50):
        pcm = bytearray()
        for n in range(samples):
            t = (index * samples + n) / 48000
            value = int(8000 * math.sin(2 * math.pi * 880 * t)) if (t % 1.0) < 0.1 else 0
            pcm += value.to_bytes(2, "little", signed=True) * 2
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = 48000
        frame.pts = index * samples
        frame.time_base = fractions.Fraction(1, 48000)
        out.extend(bytes(p) for p in codec.encode(frame))
    return out


class PatternTrack(UpTrack):
    """Pre-encoded frames have keyframes every second; requests need no answer."""


class TestPattern:
    """Plays the encoded loop into a session of the bridge until stopped."""

    def __init__(self, width: int = 640, height: int = 360, fps: int = 30, seconds: int = 4):
        self.fps = fps
        self.video = encode_video(width, height, fps, seconds)
        self.audio = encode_audio(seconds)
        self._task: asyncio.Task[None] | None = None

    def attach(self, bridge: Bridge, session_id: str) -> Publisher:
        broadcast = bridge.broadcast(session_id)
        publisher = Publisher("pattern-" + secrets.token_urlsafe(6))
        video = PatternTrack(broadcast, "video")
        video.set_codec(VP8)
        audio = PatternTrack(broadcast, "audio")
        audio.set_codec(OPUS)
        publisher.tracks = {"video": video, "audio": audio}
        self._task = asyncio.ensure_future(self._play(video, audio))
        publisher.on_close = self.stop
        bridge.attach(session_id, publisher)
        return publisher

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _play(self, video: UpTrack, audio: UpTrack) -> None:
        rng = random.Random()
        v_ssrc, a_ssrc = rng.getrandbits(32), rng.getrandbits(32)
        video.media_ssrc, audio.media_ssrc = v_ssrc, a_ssrc
        v_seq, a_seq = rng.randrange(0x8000), rng.randrange(0x8000)
        v_ts, a_ts = rng.getrandbits(32), rng.getrandbits(32)
        frame_no = audio_no = 0
        start = time.monotonic()
        while True:
            now = time.monotonic() - start
            while frame_no / self.fps <= now:
                payloads = vp8_packetize(self.video[frame_no % len(self.video)], frame_no & 0x7FFF)
                for i, payload in enumerate(payloads):
                    marker = i == len(payloads) - 1
                    video.stage(v_ssrc, v_seq, v_ts, marker, payload)
                    v_seq = seq_add(v_seq, 1)
                video.flush()  # a frame's packets back to back, as a camera's encoder sends them
                v_ts = ts_add(v_ts, 90000 // self.fps)
                frame_no += 1
            while audio_no * 0.02 <= now:
                payload = self.audio[audio_no % len(self.audio)]
                audio.forward(a_ssrc, a_seq, a_ts, False, payload)
                a_seq = seq_add(a_seq, 1)
                a_ts = ts_add(a_ts, 960)
                audio_no += 1
            await asyncio.sleep(0.01)
