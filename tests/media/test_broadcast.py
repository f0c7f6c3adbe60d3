"""A real aiortc publisher over WHIP and real aiortc viewers over WHEP, through `diemcau serve`."""

from __future__ import annotations

import asyncio
import itertools
import struct
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket

from diemcau.server.store import Store
from tests.conftest import Server, start_server, stop_server
from tests.peers import (
    AudioStreamTrack,
    CountingVideoTrack,
    EncodedVideoTrack,
    Viewer,
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


async def test_viewers_get_sender_reports_that_count_what_they_received(server: Server) -> None:
    """Sender reports ride the fan-out: each viewer's tracks get them, with its own SSRC and
    the bridge's count of packets sent, for lip sync and the RTT."""
    session = server.create_session(SITES[:1], title="Báo cáo gửi")
    publisher = await publish(
        session["host"]["whip_url"],
        session["host"]["token"],
        video=CountingVideoTrack(),
        audio=AudioStreamTrack(),
    )
    viewer = await play(session["invites"][0]["whep_url"], session["invites"][0]["token"])
    try:
        assert await wait_for(lambda: viewer.decoded["video"] > 10, 20)
        await asyncio.sleep(2)  # the first report at once, then video every 0.5-1.5 s

        async def reports() -> dict[str, object]:
            stats = await viewer.pc.getStats()
            return {s.kind: s for s in stats.values() if s.type == "remote-outbound-rtp"}

        found = await reports()
        assert set(found) == {"audio", "video"}
        for kind, report in found.items():
            received = viewer.packets[kind]
            assert report.ssrc == received[-1].ssrc  # type: ignore[attr-defined]
            # Sent no later than now: at most what has arrived since (and nothing lost here).
            assert 0 < report.packetsSent <= len(received)  # type: ignore[attr-defined]
    finally:
        await viewer.close()
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


def _state(server: Server, session: dict) -> str:
    with server.admin() as client:
        return str(client.get(f"/api/sessions/{session['id']}").json()["state"])


def _events(server: Server, session_id: str) -> list[tuple[str, str | None, dict, str | None]]:
    store = Store.open(server.data_dir / "diemcau.sqlite3")
    try:
        return [(e.type, e.site_id, e.body, e.conn) for e in store.events(session_id)]
    finally:
        store.close()


async def test_join_and_leave_are_logged_and_end_closes_everyone(
    server: Server, vp8_frames: list[bytes]
) -> None:
    session = server.create_session(SITES[:2], title="Nhật ký tham dự")
    a, b = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(vp8_frames)
    )
    # Live once the publisher's media arrives (not at its POST): then the halls join.
    assert await wait_for(lambda: _state(server, session) == "live", 15)
    viewer_a = await play(a["whep_url"], a["token"])
    viewer_b = await play(b["whep_url"], b["token"])
    try:
        assert await wait_for(lambda: viewer_a.decoded["video"] > 5 and viewer_b.connected_at, 20)
        # The hall closes its player: DELETE on the resource ends the WHEP session.
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.delete(
                viewer_a.location, headers={"Authorization": f"Bearer {a['token']}"}
            )
            assert response.status_code == 200
            again = await client.delete(
                viewer_a.location, headers={"Authorization": f"Bearer {a['token']}"}
            )
            assert again.status_code == 404
        status = _sites_status(server, session)
        assert status[a["site"]]["connected"] is False
        assert status[a["site"]]["packets_sent"] > 0  # what was sent stays counted
        assert status[b["site"]]["connected"] is True

        with server.admin() as client:
            assert client.post(f"/api/sessions/{session['id']}/end").status_code == 200
        events = _events(server, session["id"])
        kinds = [(t, site, body.get("reason")) for t, site, body, _ in events]
        assert kinds[0] == ("session_start", None, None)
        assert ("join", a["site"], None) in kinds and ("join", b["site"], None) in kinds
        assert ("leave", a["site"], "closed") in kinds
        assert ("leave", b["site"], "closed") in kinds
        # Ended in the log first (no one new gets in), then the open connections close.
        assert kinds.index(("session_end", None, None)) > kinds.index(("join", b["site"], None))
        # Every leave closes a join of the same connection.
        joins = sorted(e[3] for e in events if e[0] == "join")
        leaves = sorted(e[3] for e in events if e[0] == "leave")
        assert joins == leaves and len(joins) == 2 and None not in joins

        late = await play(b["whep_url"], b["token"])
        assert late.response.status_code == 409
        assert late.response.json()["error"] == "session_ended"
        await late.close()
    finally:
        await viewer_a.close()
        await viewer_b.close()
        await publisher.pc.close()


async def test_h264_publisher_reaches_viewers_as_h264(server: Server) -> None:
    session = server.create_session(SITES[:2], title="H.264")
    video = CountingVideoTrack()
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=video, codec="video/H264"
    )
    assert publisher.response.status_code == 201, publisher.response.text
    assert "H264/90000" in publisher.response.text and "VP8/90000" not in publisher.response.text
    viewer = await play(session["invites"][0]["whep_url"], session["invites"][0]["token"])
    try:
        assert viewer.response.status_code == 201
        # Live already: the answer offers only the publisher's codec.
        assert "H264/90000" in viewer.response.text and "VP8/90000" not in viewer.response.text
        assert await wait_for(lambda: viewer.decoded["video"] > 10, 20)
        pt = viewer.packets["video"][0].payload_type
        assert viewer.codecs["video"][pt].mimeType.lower() == "video/h264"

        # A player that can only take VP8 is refused clearly, not sent what it cannot decode.
        vp8_only = await play(
            session["invites"][1]["whep_url"], session["invites"][1]["token"], codec="video/VP8"
        )
        assert vp8_only.response.status_code == 422  # issue 11: was 406
        assert "H264" in vp8_only.response.json()["message"]
        assert "VP8" in vp8_only.response.json()["message"]  # what it offered
        await vp8_only.close()
    finally:
        await viewer.close()
        await publisher.pc.close()


async def test_nack_is_answered_with_rtx_from_history(
    server: Server, vp8_frames: list[bytes]
) -> None:
    session = server.create_session(SITES[:1], title="NACK")
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(vp8_frames)
    )
    viewer = await play(session["invites"][0]["whep_url"], session["invites"][0]["token"])
    try:
        assert await wait_for(lambda: len(viewer.packets["video"]) > 50, 20)
        media = [
            p
            for p in viewer.packets["video"]
            if viewer.codecs["video"][p.payload_type].mimeType.lower() == "video/vp8"
        ]
        wanted = media[-20]
        transceiver = next(t for t in viewer.pc.getTransceivers() if t.kind == "video")
        await transceiver.receiver._send_rtcp_nack(wanted.ssrc, [wanted.sequence_number])

        def retransmission() -> RtpPacket | None:
            for p in viewer.packets["video"]:
                codec = viewer.codecs["video"][p.payload_type]
                if codec.mimeType.lower() == "video/rtx" and p.payload[:2] == struct.pack(
                    "!H", wanted.sequence_number
                ):
                    return p
            return None

        assert await wait_for(lambda: retransmission() is not None, 5)
        rtx = retransmission()
        assert rtx is not None and rtx.payload[2:] == wanted.payload
        assert rtx.ssrc != wanted.ssrc and rtx.timestamp == wanted.timestamp
    finally:
        await viewer.close()
        await publisher.pc.close()


async def test_server_restart_logs_server_shutdown(tmp_path: Path, vp8_frames: list[bytes]) -> None:
    first = start_server(tmp_path / "data")
    session = first.create_session(SITES[:1], title="Khởi động lại")
    invite = session["invites"][0]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(vp8_frames)
    )
    viewer = await play(invite["whep_url"], invite["token"])
    try:
        assert await wait_for(lambda: viewer.decoded["video"] > 5, 20)
    finally:
        stop_server(first)
        await viewer.close()
        await publisher.pc.close()
    leaves = [e for e in _events(first, session["id"]) if e[0] == "leave"]
    assert [(site, body["reason"]) for _, site, body, _ in leaves] == [
        (invite["site"], "server_shutdown")
    ]
    # Back on the same data: the session is still live and the hall can join again.
    second = start_server(tmp_path / "data", token=first.admin_token)
    try:
        again = await play(
            invite["whep_url"].replace(first.base_url, second.base_url), invite["token"]
        )
        assert again.response.status_code == 201
        await again.close()
    finally:
        stop_server(second)


async def test_keyframe_requests_are_aggregated_toward_the_publisher(server: Server) -> None:
    session = server.create_session(SITES[:3], title="PLI")
    video = CountingVideoTrack()
    publisher = await publish(session["host"]["whip_url"], session["host"]["token"], video=video)
    sender = next(t.sender for t in publisher.pc.getTransceivers() if t.kind == "video")
    requests: list[float] = []
    original = sender._handle_rtcp_packet

    async def tap(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            requests.append(asyncio.get_running_loop().time())
        await original(packet)

    sender._handle_rtcp_packet = tap
    viewers = [await play(i["whep_url"], i["token"]) for i in session["invites"]]
    try:
        assert await wait_for(lambda: all(v.decoded["video"] > 5 for v in viewers), 20)
        requests.clear()
        # Three halls each ask for a keyframe ten times in a burst of one second.
        for _ in range(10):
            for viewer in viewers:
                receiver = next(
                    t.receiver for t in viewer.pc.getTransceivers() if t.kind == "video"
                )
                await receiver._send_rtcp_pli(viewer.packets["video"][-1].ssrc)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        # 30 requests became at most one per 0.5 s at the publisher, and at least one.
        assert 1 <= len(requests) <= 4, requests
        # The bridge spaces them 0.5 s apart; arrival here may jitter on a loaded machine.
        gaps = [b - a for a, b in itertools.pairwise(requests)]
        assert all(gap >= 0.3 for gap in gaps), gaps
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.pc.close()


async def _post_unreachable(url: str, token: str) -> httpx.Response:
    """A WHIP publisher that never completes DTLS: its candidates stripped from the offer, and
    its own connection closed right after the POST, so the bridge's ICE goes nowhere."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(CountingVideoTrack(), direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = "".join(
        line
        for line in pc.localDescription.sdp.splitlines(keepends=True)
        if not line.startswith("a=candidate:")
    )
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.post(
                url,
                content=sdp,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
            )
    finally:
        await pc.close()


async def test_a_publisher_that_never_connects_takes_nobody_off_air(
    tmp_path: Path, vp8_frames: list[bytes]
) -> None:
    """A second publisher posts while the first is live and never completes DTLS: the halls
    never stop, and once the bridge closes it at its deadline nothing has changed. A third
    that works takes over at its first media packet, and the halls continue on it. The same
    for a hall's return feed, as the district hall's mosaic tile shows it."""
    server = start_server(tmp_path / "data", options=("--connect-timeout", "2"))
    session = server.create_session(SITES[:2], title="Thay nguồn")
    whip_url, token = session["host"]["whip_url"], session["host"]["token"]
    hall = session["invites"][0]
    uplink_url = f"{server.base_url}/whip/{session['id']}/{hall['site']}"
    first = await publish(
        whip_url, token, video=EncodedVideoTrack(vp8_frames), audio=AudioStreamTrack()
    )
    uplink = await publish(uplink_url, hall["token"], video=EncodedVideoTrack(vp8_frames))
    halls = [await play(i["whep_url"], i["token"]) for i in session["invites"]]
    tile = await play(
        f"{server.base_url}/whep/{session['id']}/host/uplink/{hall['site']}", token, audio=False
    )
    viewers = [*halls, tile]
    third = None
    try:
        assert await wait_for(lambda: all(v.decoded["video"] > 10 for v in viewers), 20)
        broken = await _post_unreachable(whip_url, token)
        broken_uplink = await _post_unreachable(uplink_url, hall["token"])
        assert broken.status_code == 201, broken.text
        assert broken_uplink.status_code == 201, broken_uplink.text
        broken_ids = [
            (r.headers["location"].rsplit("/", 1)[1], who)
            for r, who in [(broken, "district hall"), (broken_uplink, hall["site"])]
        ]

        def dropped() -> bool:
            log = server.log()
            return all(f"publisher {i} ({who}) did not connect" in log for i, who in broken_ids)

        # Each half second until its deadline and past it, every hall decodes more frames.
        rounds = 0
        while not dropped() or rounds < 6:
            before = [v.decoded["video"] for v in viewers]
            await asyncio.sleep(0.5)
            assert all(v.decoded["video"] > n for v, n in zip(viewers, before, strict=True)), (
                rounds,
                server.log()[-2000:],
            )
            rounds += 1
            assert rounds < 40, "the bridge never closed the publisher that did not connect"
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            gone = await client.delete(
                broken.headers["location"], headers={"Authorization": f"Bearer {token}"}
            )
        assert gone.status_code == 404
        # The halls still get the first publisher's frames, byte for byte.
        published = set(vp8_frames)
        for viewer in viewers:
            assert [f for f, complete in viewer.frames() if complete][-1] in published

        # A publisher that works replaces the first at its first media packet.
        third = await publish(whip_url, token, video=CountingVideoTrack(), audio=AudioStreamTrack())
        assert third.response.status_code == 201

        def on_third(viewer: Viewer) -> bool:
            frames = [f for f, complete in viewer.frames() if complete]
            return bool(frames) and frames[-1] not in published

        assert await wait_for(lambda: all(on_third(v) for v in halls), 20)
        decoded = [v.decoded["video"] for v in viewers]
        assert await wait_for(
            lambda: all(v.decoded["video"] > n + 10 for v, n in zip(viewers, decoded, strict=True)),
            10,
        )
        assert not on_third(tile)  # the return feed is the hall's, untouched
        assert await wait_for(lambda: first.pc.connectionState == "closed", 10)
        kinds = [t for t, _, _, _ in _events(server, session["id"])]
        assert kinds.count("session_start") == 1 and "leave" not in kinds
    finally:
        for viewer in viewers:
            await viewer.close()
        await first.pc.close()
        await uplink.pc.close()
        if third is not None:
            await third.pc.close()
        stop_server(server)
