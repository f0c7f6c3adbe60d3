"""A real aiortc publisher over WHIP and real aiortc viewers over WHEP, through `diemcau serve`."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import Server
from tests.peers import (
    AudioStreamTrack,
    CountingVideoTrack,
    EncodedVideoTrack,
    encode_vp8,
    play,
    publish,
    wait_for,
)

pytestmark = pytest.mark.netns

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-phuong", "name": "Xã Nga Phượng"},
    {"id": "thi-tran", "name": "Thị trấn Nga Sơn"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
]


def _sites_status(server: Server, session: dict) -> dict[str, dict]:
    with server.admin() as client:
        body = client.get(f"/api/sessions/{session['id']}/sites").json()
    return {s["site"]: s for s in body["sites"]}


@pytest.fixture(scope="module")
def vp8_frames() -> list[bytes]:
    return encode_vp8(frames=300, gop=60)


async def test_three_viewers_receive_identical_frames_and_audio(
    server: Server, vp8_frames: list[bytes]
) -> None:
    session = server.create_session(SITES[:3])
    invites = session["invites"]
    # Two halls connect before the district goes live; they start receiving when it does.
    early = [await play(i["whep_url"], i["token"]) for i in invites[:2]]
    for viewer in early:
        assert viewer.response.status_code == 201, viewer.response.text
    assert await wait_for(lambda: all(v.connected_at for v in early), 15)

    video = EncodedVideoTrack(vp8_frames)
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=video, audio=AudioStreamTrack()
    )
    assert publisher.response.status_code == 201, publisher.response.text
    assert publisher.location and publisher.location.startswith(f"/whip/{session['id']}/r/")
    late = await play(invites[2]["whep_url"], invites[2]["token"])
    viewers = [*early, late]
    try:
        assert await wait_for(
            lambda: all(v.decoded["video"] >= 60 and v.decoded["audio"] >= 50 for v in viewers), 30
        ), (
            [v.decoded for v in viewers],
            [len(v.packets["video"]) for v in viewers],
            server.log()[-3000:],
        )

        published = {frame: i for i, frame in enumerate(vp8_frames)}
        for viewer in viewers:
            frames = [data for data, complete in viewer.frames() if complete]
            assert len(frames) >= 60
            # Every complete frame is one the publisher encoded, byte for byte, in order.
            indices = [published.get(f) for f in frames]
            assert None not in indices
            assert indices == sorted(indices) or indices[0] > indices[-1]  # may loop once
            # The first video packet a viewer got begins a keyframe (clean start).
            first = viewer.packets["video"][0].payload
            assert first[0] & 0x10 and not (first[0] & 0x07)

        # Headers were rewritten per subscriber: own SSRC, own sequence numbering.
        ssrcs = {v.packets["video"][0].ssrc for v in viewers}
        assert len(ssrcs) == 3

        status = _sites_status(server, session)
        for invite in invites:
            site = status[invite["site"]]
            assert site["connected"] is True
            assert site["packets_sent"] > 100 and site["bytes_sent"] > 10_000
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.pc.close()


async def test_late_viewer_starts_on_requested_keyframe(server: Server) -> None:
    session = server.create_session(SITES[:2], title="Vào muộn")
    video = CountingVideoTrack()  # aiortc encodes live, keyframes only on request after the first
    publisher = await publish(session["host"]["whip_url"], session["host"]["token"], video=video)
    assert publisher.response.status_code == 201
    first = await play(session["invites"][0]["whep_url"], session["invites"][0]["token"])
    try:
        assert await wait_for(lambda: first.decoded["video"] > 10, 20)
        await asyncio.sleep(5)
        late = await play(session["invites"][1]["whep_url"], session["invites"][1]["token"])
        assert await wait_for(lambda: late.connected_at is not None, 15)
        sent_at_join = video.sent
        assert await wait_for(lambda: late.decoded["video"] > 0, 10)
        # Within one second of the publisher's own clock (30 frames) after the viewer connected.
        assert video.sent - sent_at_join <= 30 + 3
        assert late.packets["video"][0].payload[0] & 0x10
        await late.close()
    finally:
        await first.close()
        await publisher.pc.close()


async def test_whep_refuses_wrong_tokens(server: Server) -> None:
    session = server.create_session(SITES[:2], title="Sai mã")
    other = server.create_session(SITES[2:4], title="Phiên khác")
    url = session["invites"][0]["whep_url"]
    cases = [
        (None, 401, "missing_token"),
        ("not-a-token", 401, "invalid_token"),
        (session["invites"][1]["token"], 403, "wrong_site"),
        (other["invites"][0]["token"], 403, "wrong_session"),
        (session["host"]["token"], 403, "forbidden_role"),
    ]
    async with httpx.AsyncClient() as client:
        for token, status, code in cases:
            headers = {"Content-Type": "application/sdp"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = await client.post(url, content="v=0\r\n", headers=headers)
            assert (response.status_code, response.json()["error"]) == (status, code), token
    assert _sites_status(server, session)[session["invites"][0]["site"]]["connected"] is False
