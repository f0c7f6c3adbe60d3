"""GStreamer's webrtcbin (tests/interop/gst_client.py) publishing and playing through a real
`diemcau serve`: its own RSA certificate for DTLS, VP8 and Opus."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import Server
from tests.peers import AudioStreamTrack, EncodedVideoTrack, encode_vp8, play, publish, wait_for

# Debian's python3-gi and GStreamer, outside the test venv.
SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = Path(__file__).with_name("gst_client.py")

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(SYSTEM_PYTHON) is None, reason="no /usr/bin/python3"),
]

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "nga-hai", "name": "Xã Nga Hải"}]


def hall_events(server: Server, session_id: str, site: str) -> list[tuple[str, str | None]]:
    """The site's join-log events: (type, reason)."""
    with server.admin() as client:
        lines = client.get(f"/api/sessions/{session_id}/events").text.splitlines()
    events = [json.loads(line) for line in lines]
    return [(e["type"], e.get("reason")) for e in events if e.get("site") == site]


class GstClient:
    """gst_client.py as a subprocess, its JSON events read as they come."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: IO[bytes]) -> None:
        self.process = process
        self.stderr = stderr
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, mode: str, url: str, token: str, *options: str) -> GstClient:
        stderr = tempfile.TemporaryFile()  # a file: GStreamer's warnings never block it
        process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            str(CLIENT),
            *options,
            "--",  # a token may begin with "-" (token_urlsafe): never an option
            mode,
            url,
            token,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        return cls(process, stderr)

    async def next(self, event: str, within: float = 25) -> dict[str, Any]:
        """The next event of that name (after those read so far)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(within):
            while line := await self.process.stdout.readline():
                self.events.append(json.loads(line))
                if self.events[-1]["event"] == event:
                    return self.events[-1]
        code = await self.process.wait()
        self.stderr.seek(0)
        stderr = self.stderr.read().decode(errors="replace")[-3000:]
        raise AssertionError(
            f"gst_client ended ({code}) without {event!r}: {self.events}, {stderr}"
        )

    async def finish(self) -> dict[str, Any]:
        """Close its stdin (it DELETEs its resource and exits); its last event."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        deleted = await self.next("deleted")
        await self.process.wait()
        return deleted

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self.stderr.close()


async def test_gstreamer_publishes_vp8_and_opus_to_a_gstreamer_player(server: Server) -> None:
    """An actpass offer each: the server answers passive and is the DTLS server, so GStreamer's
    RSA certificate meets the server's ECDSA one with GStreamer as the DTLS client."""
    session = server.create_session(SITES[:1], title="GStreamer")
    host, invite = session["host"], session["invites"][0]
    publisher = await GstClient.start("publish", host["whip_url"], host["token"])
    player = None
    try:
        answer = await publisher.next("answer")
        assert answer["status"] == 201 and answer["setup"] == "passive", answer
        await publisher.next("connected")
        player = await GstClient.start(
            "play", invite["whep_url"], invite["token"], "--frames", "30"
        )
        played = await player.next("answer")
        assert played["status"] == 201 and played["setup"] == "passive", played
        await player.next("connected")
        await player.next("decoding")
        joined = lambda: hall_events(server, session["id"], invite["site"])  # noqa: E731
        assert await wait_for(joined, 10, step=0.2)
        deleted = await player.finish()
        assert deleted["status"] == 200
        assert deleted["video_frames"] >= 30 and deleted["audio_buffers"] > 0
        assert player.process.returncode == 0
        deleted = await publisher.finish()
        assert deleted["status"] == 200 and publisher.process.returncode == 0
        # The hall joined, and left when its player deleted the resource.
        assert hall_events(server, session["id"], invite["site"]) == [
            ("join", None),
            ("leave", "closed"),
        ]
    finally:
        await publisher.close()
        if player is not None:
            await player.close()


async def test_gstreamer_offering_passive_makes_the_server_the_dtls_client(
    server: Server,
) -> None:
    """The server as DTLS client of GStreamer's RSA certificate: it offers ECDHE-RSA suites."""
    session = server.create_session(SITES[:1], title="GStreamer passive")
    host, invite = session["host"], session["invites"][0]
    publisher = await GstClient.start(
        "publish", host["whip_url"], host["token"], "--setup", "passive"
    )
    viewer = None
    try:
        answer = await publisher.next("answer")
        assert answer["status"] == 201 and answer["setup"] == "active", answer
        await publisher.next("connected")
        viewer = await play(invite["whep_url"], invite["token"])
        assert viewer.response.status_code == 201
        assert await wait_for(
            lambda: viewer.decoded["video"] >= 30 and viewer.decoded["audio"] > 0, 20
        ), viewer.decoded
        deleted = await publisher.finish()
        assert deleted["status"] == 200
    finally:
        await publisher.close()
        if viewer is not None:
            await viewer.close()


async def test_a_gstreamer_player_decodes_an_aiortc_publisher(server: Server) -> None:
    session = server.create_session(SITES[1:], title="aiortc to GStreamer")
    host, invite = session["host"], session["invites"][0]
    video = EncodedVideoTrack(encode_vp8(frames=120, gop=30))
    publisher = await publish(
        host["whip_url"], host["token"], video=video, audio=AudioStreamTrack()
    )
    assert publisher.response.status_code == 201
    player = await GstClient.start("play", invite["whep_url"], invite["token"], "--frames", "30")
    try:
        played = await player.next("answer")
        assert played["status"] == 201 and played["setup"] == "passive", played
        await player.next("decoding")
        deleted = await player.finish()
        assert deleted["status"] == 200 and deleted["video_frames"] >= 30
        assert player.process.returncode == 0
    finally:
        await player.close()
        await publisher.pc.close()
