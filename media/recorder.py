"""A session's program written to a file as it is forwarded: remuxed, never decoded.

The recorder is one more consumer of the tracks a hall's player receives (the program, and the
floor's picture and sound when a hall speaks): the broadcast points it at them (follow) where it
links publisher tracks to subscribers, and each publisher track hands it every burst it fans out
(UpTrack.taps), which costs the event loop one queue append a burst. A worker thread
depacketizes (media/depacketize.py) and muxes with PyAV into WebM (VP8, Opus) or Matroska (H.264).

A file is a segment: a new one starts whenever the set of recorded tracks changes (the
publisher replaced, the floor given or taken back, a mute), because a Matroska file cannot gain
or lose a track, nor change a track's codec, midway. Each segment starts on a keyframe of every
video track (one is requested), so every file plays from its first frame. Timestamps are the
RTP timestamps, rebased per track to the segment's first keyframe's arrival.

Matroska is written in clusters, each started at a video keyframe and flushed to the file as it
closes: a process killed mid-segment leaves a file that plays up to its last keyframe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from .depacketize import Depacketizer, Frame, h264_parameter_sets, h264_size, vp8_size

log = logging.getLogger("diemcau.media")

# Bursts waiting for the worker, beyond which new ones are dropped (the depacketizer then sees
# the gap and waits for a keyframe): the recorder never slows the fan-out, nor grows unbounded.
MAX_BACKLOG = 2048
# Frames held while a segment waits for a keyframe of each of its video tracks.
MAX_PENDING = 1000
# After a write failed: how long before a new file is tried (each try asks for a keyframe).
RETRY_AFTER = 10.0

# AV_CODEC_FLAG_GLOBAL_HEADER
_GLOBAL_HEADER = 1 << 22

# One staged packet as the fan-out holds it (media/forwarder.py BurstPacket).
Packet = tuple[int, int, int, bool, bytes, int, bool]


class Tapped(Protocol):
    """A publisher track as the recorder sees it (media/ingest.py UpTrack)."""

    kind: str
    taps: list[Callable[[list[Packet], float], None]]

    @property
    def codec_name(self) -> str | None: ...

    def request_keyframe(self, now: float) -> None: ...


@dataclass(frozen=True)
class Recording:
    """One closed file."""

    id: str
    session_id: str
    path: Path
    started_at: datetime
    ended_at: datetime
    bytes: int
    frames: dict[str, int]


def suffix(codecs: dict[str, str]) -> str:
    """WebM takes VP8 and Opus; H.264 goes in Matroska."""
    return ".mkv" if "h264" in codecs.values() else ".webm"


class Recorder:
    """One session's recording: the segments' files under `directory`."""

    def __init__(
        self,
        session_id: str,
        directory: Path,
        on_finished: Callable[[Recording], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.directory = directory
        self.on_finished = on_finished
        self.dropped_bursts = 0
        self.finished: list[Recording] = []
        self._sources: dict[str, Tapped] = {}
        self._codecs: dict[str, str] = {}
        self._taps: dict[str, Callable[[list[Packet], float], None]] = {}
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._backlog = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the event loop's side

    def follow(self, sources: dict[str, Tapped]) -> None:
        """Record these tracks ("program-video", "floor-audio", ...: what a hall's player
        receives) from now on; a change of tracks or codecs starts a new segment."""
        if self._closed:
            return
        ready = {key: up for key, up in sources.items() if up.codec_name is not None}
        codecs = {key: up.codec_name or "" for key, up in ready.items()}
        if codecs == self._codecs and all(self._sources.get(k) is up for k, up in ready.items()):
            return
        for key, up in self._sources.items():
            if self._taps[key] in up.taps:
                up.taps.remove(self._taps[key])
        self._sources, self._codecs, self._taps = dict(ready), codecs, {}
        self._start_worker()
        self._queue.put(("segment", dict(codecs)))
        now = time.monotonic()
        for key, up in ready.items():
            tap = self._tap(key, up)
            self._taps[key] = tap
            up.taps.append(tap)
            if up.kind == "video":
                up.request_keyframe(now)  # the segment starts on one

    def _tap(self, key: str, up: Tapped) -> Callable[[list[Packet], float], None]:
        put = self._queue.put

        def tap(staged: list[Packet], now: float) -> None:
            if self._backlog >= MAX_BACKLOG:
                self.dropped_bursts += 1
                up.request_keyframe(now)  # the gap is mended at the next keyframe
                return
            self._backlog += 1
            put(("packets", key, now, staged))

        return tap

    def _start_worker(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=_Worker(self).run, name=f"recorder-{self.session_id}", daemon=True
            )
            self._thread.start()

    def _request_keyframes(self) -> None:
        now = time.monotonic()
        for up in self._sources.values():
            if up.kind == "video":
                up.request_keyframe(now)

    def _finished(self, recording: Recording) -> None:
        self.finished.append(recording)
        if self.on_finished is not None:
            self.on_finished(recording)

    async def close(self) -> None:
        """The session ends: the last segment is closed and its file completed."""
        if self._closed:
            return
        self._closed = True
        for key, up in self._sources.items():
            if self._taps[key] in up.taps:
                up.taps.remove(self._taps[key])
        self._sources, self._taps = {}, {}
        if self._thread is not None:
            self._queue.put(("close",))
            await asyncio.to_thread(self._thread.join)


@dataclass
class _Track:
    codec: str
    depacketizer: Depacketizer
    clock: int
    stream: Any = None
    base: int | None = None  # unwrapped RTP timestamp of its first frame
    offset: int = 0  # its first frame's arrival after the segment's start, in clock units
    last_ts: int = 0
    unwrapped: int = 0
    last_pts: int = -1
    frames: int = 0


@dataclass
class _Segment:
    tracks: dict[str, _Track]
    pending: list[tuple[str, float, Frame]] = field(default_factory=list)
    container: Any = None
    path: Path | None = None
    id: str = ""
    started_at: datetime | None = None
    start: float = 0.0  # monotonic arrival of its first keyframe


class _Worker:
    """The recorder's thread: depacketizes, holds a segment until it can start, muxes."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.segment: _Segment | None = None
        self.count = 0
        # After a write failed (a full disk): the tracks to record again, and from when.
        self.retry_codecs: dict[str, str] | None = None
        self.retry_at = 0.0
        self.failures = 0  # in this run of failures
        self.reported_at = 0.0

    def run(self) -> None:
        q = self.recorder._queue
        while True:
            item = q.get()
            try:
                if item[0] == "packets":
                    self.recorder._backlog -= 1
                    self._packets(item[1], item[2], item[3])
                elif item[0] == "segment":
                    self._close_segment()
                    self.retry_codecs = None
                    self._arm(item[1])
                else:
                    self._close_segment()
                    return
            except OSError as exc:
                # A full disk, a vanished or read-only directory: not a bug, so one line (then
                # one a minute, with a count) and no traceback; the recording starts again in
                # a new file once writing works, without a keyframe storm in between.
                self._failed(exc)
            except Exception:
                log.exception("session %s: recording failed", self.recorder.session_id)
                self._abandon()

    def _arm(self, codecs: dict[str, str]) -> None:
        if codecs:
            tracks = {
                key: _Track(c, Depacketizer(c), 48000 if c == "opus" else 90000)
                for key, c in codecs.items()
            }
            self.segment = _Segment(tracks)

    def _failed(self, exc: OSError) -> None:
        segment = self.segment
        self._abandon()
        if segment is not None:
            self.retry_codecs = {k: t.codec for k, t in segment.tracks.items()}
        now = time.monotonic()
        self.retry_at = now + RETRY_AFTER
        self.failures += 1
        session = self.recorder.session_id
        if self.failures == 1:
            log.error(
                "session %s: the recording cannot be written (%s); trying again", session, exc
            )
            self.reported_at = now
        elif now - self.reported_at >= 60.0:
            log.error(
                "session %s: the recording still cannot be written (%s): %d failures",
                session,
                exc,
                self.failures,
            )
            self.reported_at = now

    def _retry(self, now: float) -> None:
        """Once RETRY_AFTER has passed since a failure: a new segment, from a keyframe."""
        codecs, self.retry_codecs = self.retry_codecs, None
        assert codecs is not None
        self._arm(codecs)
        loop = self.recorder._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.recorder._request_keyframes)

    def _packets(self, key: str, now: float, staged: list[Packet]) -> None:
        if self.retry_codecs is not None and now >= self.retry_at:
            self._retry(now)
        segment = self.segment
        track = segment.tracks.get(key) if segment is not None else None
        if segment is None or track is None:
            return
        for _, seq, timestamp, marker, payload, _, _ in staged:
            for frame in track.depacketizer.push(seq, timestamp, marker, payload):
                if segment.container is None:
                    self._hold(segment, key, now, frame)
                else:
                    self._write(segment, key, now, frame)

    def _hold(self, segment: _Segment, key: str, now: float, frame: Frame) -> None:
        segment.pending.append((key, now, frame))
        if len(segment.pending) > MAX_PENDING:
            del segment.pending[0]
        video = [k for k, t in segment.tracks.items() if t.codec != "opus"]
        firsts = {k: next((f for k2, _, f in segment.pending if k2 == k), None) for k in video}
        if any(f is None for f in firsts.values()):
            return  # a video track has not reached its keyframe yet
        # The segment starts at the earliest video keyframe held (every track's first frame is
        # its keyframe: the depacketizer drops what comes before).
        starts = [t for k, t, _ in segment.pending if k in video]
        segment.start = min(starts) if starts else segment.pending[0][1]
        self._open(segment, {k: f for k, f in firsts.items() if f is not None})
        pending, segment.pending = segment.pending, []
        for k, t, f in pending:
            if t >= segment.start or k in video:
                self._write(segment, k, t, f)

    def _open(self, segment: _Segment, keyframes: dict[str, Frame]) -> None:
        import av  # PyAV comes with aiortc; imported here, off the import path of the server

        recorder = self.recorder
        recorder.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        started = datetime.now(UTC)
        segment.started_at = started
        segment.id = f"{started:%Y%m%dT%H%M%S}-{self.count}"
        codecs = {k: t.codec for k, t in segment.tracks.items()}
        segment.path = recorder.directory / (segment.id + suffix(codecs))
        # flush_packets: each closed cluster reaches the file at once (a crash keeps it).
        segment.container = av.open(
            str(segment.path),
            "w",
            format="webm" if segment.path.suffix == ".webm" else "matroska",
            container_options={"flush_packets": "1"},
        )
        for key, track in segment.tracks.items():
            if track.codec == "opus":
                stream = segment.container.add_stream("libopus", rate=48000, layout="stereo")
            else:
                stream = segment.container.add_stream(
                    "libvpx" if track.codec == "vp8" else "libx264", rate=30
                )
                stream.pix_fmt = "yuv420p"
                first = keyframes[key].data
                size = vp8_size(first) if track.codec == "vp8" else h264_size(first)
                stream.width, stream.height = size or (640, 480)
                if track.codec == "h264":
                    # PyAV opens an encoder for each stream it muxes; without the global-header
                    # flag libx264 leaves the extradata alone: the publisher's own SPS and PPS.
                    stream.codec_context.flags &= ~_GLOBAL_HEADER
                    stream.codec_context.extradata = h264_parameter_sets(first)
            stream.time_base = Fraction(1, track.clock)
            stream.metadata["title"] = key
            track.stream = stream
        _write_sidecar(segment.path, {"id": segment.id, "started_at": _iso(started)})
        log.info("session %s: recording %s", recorder.session_id, segment.path.name)
        if self.failures:
            log.warning(
                "session %s: recording again, after %d failed writes",
                recorder.session_id,
                self.failures,
            )
            self.failures = 0

    def _write(self, segment: _Segment, key: str, now: float, frame: Frame) -> None:
        import av

        track = segment.tracks[key]
        if track.base is None:
            track.base = track.unwrapped = frame.timestamp
            track.last_ts = frame.timestamp
            track.offset = max(0, round((now - segment.start) * track.clock))
        else:
            delta = ((frame.timestamp - track.last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            track.unwrapped += delta
            track.last_ts = frame.timestamp
        pts = track.unwrapped - track.base + track.offset
        if pts <= track.last_pts:
            pts = track.last_pts + 1  # Matroska wants rising timestamps
        track.last_pts = pts
        packet = av.Packet(frame.data)
        packet.stream = track.stream
        packet.pts = packet.dts = pts
        packet.time_base = Fraction(1, track.clock)  # the muxer rescales to its own
        packet.is_keyframe = frame.keyframe
        segment.container.mux(packet)
        track.frames += 1

    def _close_segment(self) -> None:
        segment, self.segment = self.segment, None
        if segment is None or segment.container is None or segment.path is None:
            return
        segment.container.close()
        ended = datetime.now(UTC)
        assert segment.started_at is not None
        frames = {k: t.frames for k, t in segment.tracks.items()}
        recording = Recording(
            id=segment.id,
            session_id=self.recorder.session_id,
            path=segment.path,
            started_at=segment.started_at,
            ended_at=ended,
            bytes=segment.path.stat().st_size,
            frames=frames,
        )
        _write_sidecar(
            segment.path,
            {
                "id": segment.id,
                "started_at": _iso(segment.started_at),
                "ended_at": _iso(ended),
                "frames": frames,
            },
        )
        loop = self.recorder._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.recorder._finished, recording)

    def _abandon(self) -> None:
        segment, self.segment = self.segment, None
        if segment is not None and segment.container is not None:
            try:
                segment.container.close()
            except Exception:
                pass


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sidecar(path: Path) -> Path:
    """What is known of a recording beside its file: id, started_at, ended_at once closed."""
    return path.with_suffix(".json")


def _write_sidecar(path: Path, fields: dict[str, Any]) -> None:
    side = sidecar(path)
    tmp = side.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(fields))
    tmp.replace(side)
