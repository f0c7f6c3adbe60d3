"""The publisher's media: 720p30 VP8 at about 1.8 Mbps and Opus, encoded once into a file.

The file is made with PyAV the first time and kept under benchmarks/.cache; the publisher reads its
packets (no decoding) and paces them by timestamp. The picture is busy on purpose (a noise patch
that changes every frame over moving bars), so the encoder spends its whole bitrate, as a camera
on a hall would; the sound is a sweep with noise, so that no two Opus packets are alike and each
can be recognised by its bytes at the subscribers.
"""

from __future__ import annotations

import fractions
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

CACHE = Path(
    os.environ.get("DIEMCAU_BENCH_CACHE", Path(__file__).resolve().parent.parent / ".cache")
)
WIDTH, HEIGHT, FPS = 1280, 720, 30
VIDEO_BITRATE = 1_800_000
AUDIO_BITRATE = 64_000
SECONDS = 30  # looped by the publisher; VP8 picture ids keep packets unique across loops
GOP = 60  # a keyframe every 2 s, as OBS sends by default
VIDEO_CLOCK, AUDIO_CLOCK = 90_000, 48_000
OPUS_FRAME = 960  # 20 ms


@dataclass
class Recording:
    path: Path
    # (pts in 1/90000, frame) and (pts in 1/48000, Opus packet), in order.
    video: list[tuple[int, bytes]]
    audio: list[tuple[int, bytes]]
    keyframes: int

    @property
    def duration(self) -> float:
        return SECONDS

    @property
    def video_bitrate(self) -> float:
        return sum(len(f) for _, f in self.video) * 8 / SECONDS

    @property
    def audio_bitrate(self) -> float:
        return sum(len(f) for _, f in self.audio) * 8 / SECONDS


def _path() -> Path:
    name = f"hall-{WIDTH}x{HEIGHT}p{FPS}-vp8-{VIDEO_BITRATE // 1000}k-opus-{SECONDS}s-gop{GOP}.webm"
    return CACHE / name


def _picture(index: int, rng: np.random.Generator, noise: np.ndarray) -> av.VideoFrame:
    yuv = np.empty((HEIGHT * 3 // 2, WIDTH), dtype=np.uint8)
    x = np.arange(WIDTH)
    yuv[:HEIGHT] = ((x + index * 6) // 80 % 2 * 120 + 40)[None, :]
    yuv[:HEIGHT] += (np.arange(HEIGHT)[:, None] // 4 % 16).astype(np.uint8)
    # A patch of fresh noise every frame: what costs bits in a real hall is motion and detail.
    ph, pw = 160, 272
    top = (index * 3) % (HEIGHT - ph)
    left = (index * 5) % (WIDTH - pw)
    shift = index % 64
    yuv[top : top + ph, left : left + pw] = noise[shift : shift + ph, :pw]
    yuv[top : top + ph // 2, left : left + pw // 2] ^= rng.integers(
        0, 48, (ph // 2, pw // 2), dtype=np.uint8
    )
    yuv[HEIGHT:] = 128
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts = index
    frame.time_base = fractions.Fraction(1, FPS)
    return frame


def _sound(index: int, rng: np.random.Generator) -> av.AudioFrame:
    t = (index * OPUS_FRAME + np.arange(OPUS_FRAME)) / AUDIO_CLOCK
    tone = np.sin(2 * np.pi * (220 + 40 * t) * t) * 6000 + rng.normal(0, 800, OPUS_FRAME)
    samples = np.repeat(tone.astype(np.int16), 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
    frame.sample_rate = AUDIO_CLOCK
    frame.pts = index * OPUS_FRAME
    frame.time_base = fractions.Fraction(1, AUDIO_CLOCK)
    return frame


def _make(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / ".gitignore").write_text("*\n")
    partial = path.with_suffix(".partial")
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (320, 400), dtype=np.uint8)
    with av.open(str(partial), "w", format="webm") as container:
        video = container.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = VIDEO_BITRATE
        video.codec_context.gop_size = GOP
        video.codec_context.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "minrate": str(VIDEO_BITRATE),
            "maxrate": str(VIDEO_BITRATE),
            "keyint_min": str(GOP),
        }
        audio = container.add_stream("libopus", rate=AUDIO_CLOCK)
        audio.bit_rate = AUDIO_BITRATE
        audio.layout = "stereo"
        for index in range(SECONDS * FPS):
            container.mux(video.encode(_picture(index, rng, noise)))
        container.mux(video.encode(None))
        for index in range(SECONDS * AUDIO_CLOCK // OPUS_FRAME):
            container.mux(audio.encode(_sound(index, rng)))
        container.mux(audio.encode(None))
    partial.rename(path)


def load() -> Recording:
    """The recording, made first if the cache has none."""
    path = _path()
    if not path.exists():
        _make(path)
    video: list[tuple[int, bytes]] = []
    audio: list[tuple[int, bytes]] = []
    keyframes = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0 or packet.pts is None:
                continue
            # WebM keeps milliseconds: the timestamps are rebuilt from the frame rates.
            if packet.stream.type == "video":
                video.append((len(video) * VIDEO_CLOCK // FPS, bytes(packet)))
                keyframes += bool(packet.is_keyframe)
            elif packet.stream.type == "audio":
                audio.append((len(audio) * OPUS_FRAME, bytes(packet)))
    return Recording(path, video, audio, keyframes)
