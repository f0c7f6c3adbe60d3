"""The recorder with a real aiortc publisher: the file is checked by FFmpeg, frame for frame.

The publisher sends a fixed number of pre-encoded VP8 frames (and aiortc's Opus); the session
ends; the WebM must hold exactly those frames, with the codecs and the duration sent.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import av
import imageio_ffmpeg
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from diemcau.media.bridge import Bridge
from diemcau.media.recorder import Recorder, Recording
from tests.peers import (
    CountingVideoTrack,
    EncodedVideoTrack,
    _configuration,
    _prefer,
    encode_vp8,
    wait_for,
)

pytestmark = pytest.mark.netns


class FiniteVideoTrack(EncodedVideoTrack):
    """Sends `count` frames, then ends."""

    def __init__(self, frames: list[bytes], count: int) -> None:
        super().__init__(frames)
        self.count = count

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.sent >= self.count:
            raise MediaStreamError
        return await super().recv()


def probe(path: Path) -> dict[str, tuple[str, int]]:
    """Each stream's codec and packet count, read by FFmpeg's demuxer (stream copy)."""
    out: dict[str, tuple[str, int]] = {}
    with av.open(str(path)) as container:
        counts = {s.index: 0 for s in container.streams}
        for packet in container.demux():
            if packet.size:
                counts[packet.stream.index] += 1
        for s in container.streams:
            out[s.metadata.get("title", s.type)] = (s.codec_context.name, counts[s.index])
    return out


def ffmpeg_frames(path: Path) -> tuple[int, str]:
    """FFmpeg's own count of the video frames it decodes, and its report."""
    run = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-i",
            str(path),
            "-map",
            "0:v",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    frames = [line for line in run.stderr.replace("\r", "\n").splitlines() if "frame=" in line]
    return int(frames[-1].split("frame=")[1].split()[0]), run.stderr


async def test_a_published_program_is_recorded_frame_for_frame(tmp_path: Path) -> None:
    finished: list[Recording] = []
    bridge = Bridge(recorders=lambda s: Recorder(s, tmp_path / s, finished.append))
    frames = encode_vp8(frames=60, width=320, height=240, gop=30)
    video = FiniteVideoTrack(frames, count=90)  # 3 s at 30 fps, a keyframe each second
    publisher = RTCPeerConnection(_configuration())
    _prefer(publisher.addTransceiver(video, direction="sendonly"), "video/VP8")
    publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await bridge.publish("s1", publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    try:
        assert await wait_for(lambda: video.sent >= 90, 20)
        await asyncio.sleep(0.5)  # the last frames' packets arrive
        await bridge.close_session("s1")
    finally:
        await publisher.close()
        await bridge.close()
    assert len(finished) == 1
    recording = finished[0]
    assert recording.path.suffix == ".webm" and recording.path.exists()
    assert recording.bytes == recording.path.stat().st_size > 10_000
    assert recording.frames["program-video"] == 90
    streams = probe(recording.path)
    assert streams["program-video"] == ("vp8", 90)
    assert streams["program-audio"][0] == "opus"
    assert streams["program-audio"][1] > 100  # 20 ms frames over about 3 s
    decoded, report = ffmpeg_frames(recording.path)
    assert decoded == 90, report
    with av.open(str(recording.path)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (320, 240)
        duration = container.duration / 1_000_000
        assert 2.8 < duration < 4.0, duration
    side = json.loads(recording.path.with_suffix(".json").read_text())
    assert side["id"] == recording.id and side["ended_at"]


class FiniteCountingTrack(CountingVideoTrack):
    """aiortc's own test picture, encoded by aiortc (H.264 here), `count` frames."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.sent >= self.count:
            raise MediaStreamError
        frame = await super().recv()
        small = frame.reformat(width=320, height=180)  # not the 640x480 of aiortc's default
        small.pts, small.time_base = frame.pts, frame.time_base
        return small


async def test_an_h264_program_is_recorded_to_matroska(tmp_path: Path) -> None:
    finished: list[Recording] = []
    bridge = Bridge(recorders=lambda s: Recorder(s, tmp_path / s, finished.append))
    video = FiniteCountingTrack(60)
    publisher = RTCPeerConnection(_configuration())
    _prefer(publisher.addTransceiver(video, direction="sendonly"), "video/H264")
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await bridge.publish("s1", publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    try:
        assert await wait_for(lambda: video.sent >= 60, 30)
        await asyncio.sleep(0.5)
        await bridge.close_session("s1")
    finally:
        await publisher.close()
        await bridge.close()
    (recording,) = finished
    assert recording.path.suffix == ".mkv"
    assert probe(recording.path) == {"program-video": ("h264", 60)}
    decoded, report = ffmpeg_frames(recording.path)
    assert decoded == 60, report
    with av.open(str(recording.path)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (320, 180)
        # The track's avcC holds the publisher's own SPS (not an encoder's made up at muxing).
        avcc = bytes(v.codec_context.extradata or b"")
        sps = avcc[8 : 8 + int.from_bytes(avcc[6:8], "big")]
        first = next(bytes(p) for p in container.demux(v) if p.size)
        assert avcc[0] == 1 and sps[0] & 0x1F == 7 and sps in first


def _files(directory: Path) -> list[Path]:
    return list(directory.glob("*.webm"))


def _written(directory: Path) -> int:
    return sum(p.stat().st_size for p in _files(directory))


async def _record_until_killed(directory: Path) -> None:
    """The child of the crash test: a recording that never ends, its file's progress printed."""
    bridge = Bridge(recorders=lambda s: Recorder(s, directory))
    publisher = RTCPeerConnection(_configuration())
    frames = encode_vp8(frames=60, width=320, height=240, gop=30)
    _prefer(publisher.addTransceiver(EncodedVideoTrack(frames), direction="sendonly"), "video/VP8")
    publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await bridge.publish("s1", publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    while True:
        await asyncio.sleep(0.2)
        print(_written(directory), flush=True)


async def test_a_killed_server_leaves_a_file_that_plays_to_its_last_keyframe(
    tmp_path: Path,
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.media.test_recorder", str(tmp_path),
        cwd=Path(__file__).parents[2], stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        # Past 4 s of video (keyframes each second): some clusters are closed.
        while int((await asyncio.wait_for(child.stdout.readline(), 30)) or b"0") < 150_000:
            pass
    finally:
        child.kill()  # SIGKILL: no trailer, no cues, no sidecar's end
        await child.wait()
    (path,) = _files(tmp_path)
    assert "ended_at" not in json.loads(path.with_suffix(".json").read_text())
    decoded, report = ffmpeg_frames(path)
    assert decoded >= 90, report  # at least three seconds of pictures, decodable
    streams = probe(path)
    assert streams["program-video"][0] == "vp8" and streams["program-audio"][0] == "opus"


async def _publisher(bridge: Bridge, site: str | None) -> RTCPeerConnection:
    pc = RTCPeerConnection(_configuration())
    frames = encode_vp8(frames=30, width=320, height=240, gop=15)
    _prefer(pc.addTransceiver(EncodedVideoTrack(frames), direction="sendonly"), "video/VP8")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await bridge.publish("s1", pc.localDescription.sdp, site=site)
    await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    return pc


async def test_the_floor_given_to_a_hall_starts_a_segment_with_its_picture(tmp_path: Path) -> None:
    finished: list[Recording] = []
    bridge = Bridge(recorders=lambda s: Recorder(s, tmp_path / s, finished.append))
    program = await _publisher(bridge, None)
    hall = await _publisher(bridge, "nga-thanh")
    try:
        broadcast = bridge.broadcast("s1")
        assert await wait_for(lambda: "nga-thanh" in broadcast.uplinks, 20)
        await asyncio.sleep(2)
        bridge.set_floor("s1", "nga-thanh")
        await asyncio.sleep(2)
        await bridge.close_session("s1")
    finally:
        await program.close()
        await hall.close()
        await bridge.close()
    assert [sorted(r.frames) for r in finished] == [
        ["program-video"],
        ["floor-video", "program-video"],
    ]
    for recording in finished:
        streams = probe(recording.path)
        assert all(codec == "vp8" and count > 15 for codec, count in streams.values()), streams
        assert streams == {k: ("vp8", n) for k, n in recording.frames.items()}


if __name__ == "__main__":
    asyncio.run(_record_until_killed(Path(sys.argv[1])))


async def test_a_recording_that_cannot_be_written_says_so_once_and_starts_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (here the session's folder cannot be made; a full disk is the same
    OSError) is one log line with no traceback, and the recording starts again, in a new file
    from a keyframe, once writing works."""
    monkeypatch.setattr("diemcau.media.recorder.RETRY_AFTER", 0.5)
    blocked = tmp_path / "s1"
    blocked.write_text("not a folder")
    finished: list[Recording] = []
    bridge = Bridge(recorders=lambda s: Recorder(s, tmp_path / s, finished.append))
    frames = encode_vp8(frames=60, width=320, height=240, gop=30)
    video = FiniteVideoTrack(frames, count=180)  # 6 s, a keyframe each second
    publisher = RTCPeerConnection(_configuration())
    _prefer(publisher.addTransceiver(video, direction="sendonly"), "video/VP8")
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await bridge.publish("s1", publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
    try:
        assert await wait_for(lambda: "cannot be written" in caplog.text, 20)
        assert await wait_for(lambda: video.sent >= 60, 20)
        blocked.unlink()  # writing works again
        assert await wait_for(lambda: video.sent >= 180, 20)
        await asyncio.sleep(0.5)
        await bridge.close_session("s1")
    finally:
        await publisher.close()
        await bridge.close()
    failures = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info]
    assert "recording again" in caplog.text
    assert len(finished) == 1
    recording = finished[0]
    assert 0 < recording.frames["program-video"] <= 120
    decoded, report = ffmpeg_frames(recording.path)
    assert decoded == recording.frames["program-video"], report
