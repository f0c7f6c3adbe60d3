"""FFmpeg's WHIP muxer (FFmpeg >= 8, the binary of the imageio-ffmpeg wheel: Debian's FFmpeg has
no WHIP) publishes H.264 and Opus from test sources into a real `diemcau serve`; an aiortc WHEP
player decodes them; FFmpeg stops, and its DELETE ends the resource."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest
from playwright.async_api import Browser

from tests.conftest import Server
from tests.e2e.conftest import browser as browser
from tests.peers import play, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "nga-hai", "name": "Xã Nga Hải"}]


def ffmpeg_whip(url: str, token: str, log: Path, *encoder: str) -> subprocess.Popen[bytes]:
    """FFmpeg publishing a moving test picture and a tone, encoded as docs/media.md advises:
    libx264 without B-frames (the muxer refuses them), a keyframe a second, Opus."""
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "debug",  # its SDP offer, ICE, DTLS and HTTP exchanges: what a failure needs
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-c:v",
        "libx264",
        "-tune",
        "zerolatency",
        "-g",
        "30",
        "-b:v",
        "500k",
        *encoder,
        "-c:a",
        "libopus",
        "-ac",
        "2",
        "-b:a",
        "64k",
        "-t",
        "60",  # a bound, should the test not stop it
        "-f",
        "whip",
        "-authorization",
        token,
        url,
    ]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=log.open("wb"))


@pytest.fixture
def ffmpeg_log(tmp_path: Path) -> Path:
    return tmp_path / "ffmpeg.log"


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """As a user's Ctrl-C: FFmpeg closes the muxer, which sends the DELETE."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    ("encoder", "profile_idc"),
    [
        # libx264's default profile, high, and FFmpeg's default DTLS role (its offer says
        # passive: the server is the DTLS client).
        ((), "64"),
        # Constrained baseline, with FFmpeg as the DTLS client (its offer says active).
        (("-profile:v", "baseline", "-whip_flags", "dtls_active"), "42"),
    ],
    ids=["high", "baseline-dtls-active"],
)
async def test_ffmpeg_publishes_h264_and_opus_a_player_decodes_and_delete_ends_it(
    server: Server, ffmpeg_log: Path, encoder: tuple[str, ...], profile_idc: str
) -> None:
    session = server.create_session(SITES, title="FFmpeg WHIP")
    host, invite = session["host"], session["invites"][0]
    process = ffmpeg_whip(host["whip_url"], host["token"], ffmpeg_log, *encoder)
    viewer = None
    try:
        log = ""
        for _ in range(100):  # until FFmpeg's DTLS is up, or it gave up
            await asyncio.sleep(0.1)
            log = _text(ffmpeg_log)
            if "DTLS handshake is done" in log or process.poll() is not None:
                break
        assert "DTLS handshake is done" in log, log[-3000:]
        offer = re.search(r"profile-level-id=([0-9a-f]{6})", log)
        assert offer is not None and offer.group(1).startswith(profile_idc), offer
        location = re.search(r"location=(http\S+?),", log)
        assert location is not None
        resource = location.group(1)

        viewer = await play(invite["whep_url"], invite["token"])
        assert viewer.response.status_code == 201, viewer.response.text
        assert await wait_for(
            lambda: (
                viewer is not None and viewer.decoded["video"] > 30 and viewer.decoded["audio"] > 30
            ),
            15,
        ), (viewer.decoded, _text(ffmpeg_log)[-3000:])
        media = {viewer.codecs["video"][p.payload_type].mimeType for p in viewer.packets["video"]}
        assert media == {"video/H264"}

        _stop(process)
        log = _text(ffmpeg_log)
        path = resource.removeprefix(server.base_url)
        assert f"request: DELETE {path} " in log
        # Answered 200, Content-Length: 0. FFmpeg 9 logs "Failed to read response from
        # DELETE" all the same (its HTTP reader ends the empty body with an I/O error); users
        # of other servers report the same line.
        assert f'"DELETE {path} HTTP/1.1" 200' in server.log()
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {host['token']}"}
        ) as client:
            assert (await client.delete(resource)).status_code == 404  # gone
    finally:
        _stop(process)
        if viewer is not None:
            await viewer.close()


async def test_a_vp8_only_player_joining_ffmpegs_h264_broadcast_is_refused(
    server: Server, ffmpeg_log: Path
) -> None:
    session = server.create_session(SITES, title="FFmpeg WHIP, a VP8 player")
    host, invite = session["host"], session["invites"][1]
    process = ffmpeg_whip(host["whip_url"], host["token"], ffmpeg_log)
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if "DTLS handshake is done" in _text(ffmpeg_log):
                break
        vp8_only = await play(invite["whep_url"], invite["token"], codec="video/VP8")
        try:
            assert vp8_only.response.status_code == 422, vp8_only.response.text
            assert "H264" in vp8_only.response.json()["message"]
            assert "VP8" in vp8_only.response.json()["message"]
        finally:
            await vp8_only.close()
    finally:
        _stop(process)


@pytest.mark.browser
async def test_chromium_answered_with_a_profile_it_offered_decodes_ffmpegs_high_stream(
    server: Server, ffmpeg_log: Path, browser: Browser
) -> None:
    """Debian's Chromium offers H.264 42001f, 42e01f, 4d001f and f4001f, not high: the hall
    is answered with a profile it offered and sent libx264's high as it is. Its decoder
    (FFmpeg's) decodes it: why the bridge matches H.264 on packetization mode only."""
    session = server.create_session(SITES, title="FFmpeg WHIP, Chromium")
    host, invite = session["host"], session["invites"][0]
    process = ffmpeg_whip(host["whip_url"], host["token"], ffmpeg_log)
    try:
        page = await browser.new_page()
        await page.goto(f"{server.base_url}/healthz")  # the server's origin, for its modules
        token = invite["join_url"].split("#token=")[1]
        await page.evaluate(
            """async ([url, token]) => {
                const whip = await import('/static/js/whip.js');
                window.session = await whip.play(url, token, {audio: false});
            }""",
            [invite["whep_url"], token],
        )
        video = """async () => {
            const stats = await window.session.pc.getStats();
            const inbound = [...stats.values()].find(r => r.type === 'inbound-rtp'
                                                       && r.kind === 'video');
            const codec = inbound && stats.get(inbound.codecId);
            return {frames: inbound ? inbound.framesDecoded || 0 : 0,
                    width: inbound ? inbound.frameWidth || 0 : 0,
                    codec: codec ? codec.mimeType + ' ' + codec.sdpFmtpLine : ''};
        }"""
        state = await page.evaluate(video)
        for _ in range(60):
            if state["frames"] > 60:
                break
            await asyncio.sleep(0.25)
            state = await page.evaluate(video)
        assert state["frames"] > 60 and state["width"] == 320, state
        # Labelled with a profile Chromium offered, while the stream is high.
        assert state["codec"].startswith("video/H264"), state
        assert "profile-level-id=64" not in state["codec"], state
        assert re.search(r"profile-level-id=64", _text(ffmpeg_log)), "FFmpeg sent high"
    finally:
        _stop(process)
