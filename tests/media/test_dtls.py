"""The DTLS role of the bridge's answers (seams.answer_dtls), between real aiortc peers and a
real `diemcau serve`: to actpass it is the DTLS server, otherwise it follows the offer."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.conftest import Server
from tests.peers import AudioStreamTrack, EncodedVideoTrack, encode_vp8, play, publish, wait_for

pytestmark = pytest.mark.netns

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}]


def setups(sdp: str) -> list[str]:
    return re.findall(r"^a=setup:(\w+)", sdp, re.M)


@pytest.fixture(scope="module")
def vp8_frames() -> list[bytes]:
    return encode_vp8(frames=90, gop=30)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("actpass", "passive"), ("active", "passive"), ("passive", "active")],
)
async def test_publisher_and_player_connect_whatever_role_they_offer(
    server: Server,
    vp8_frames: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    offered: str,
    answered: str,
) -> None:
    create_offer = RTCPeerConnection.createOffer

    async def offer_with_setup(pc: RTCPeerConnection) -> RTCSessionDescription:
        # The client's offer says `offered`; aiortc then takes the role the answer leaves it.
        offer = await create_offer(pc)
        return RTCSessionDescription(
            sdp=offer.sdp.replace("a=setup:actpass", f"a=setup:{offered}"), type="offer"
        )

    monkeypatch.setattr(RTCPeerConnection, "createOffer", offer_with_setup)
    session = server.create_session(SITES, title=f"DTLS {offered}")
    host, invite = session["host"], session["invites"][0]
    video = EncodedVideoTrack(vp8_frames)
    publisher = await publish(
        host["whip_url"], host["token"], video=video, audio=AudioStreamTrack()
    )
    viewer = await play(invite["whep_url"], invite["token"])
    try:
        assert publisher.response.status_code == viewer.response.status_code == 201
        assert setups(publisher.pc.localDescription.sdp) == [offered, offered]
        assert setups(publisher.response.text) == [answered, answered]
        assert setups(viewer.response.text) == [answered, answered]
        assert await wait_for(
            lambda: viewer.decoded["video"] >= 30 and viewer.decoded["audio"] > 0, 20
        ), (viewer.decoded, server.log()[-2000:])
    finally:
        await viewer.close()
        await publisher.pc.close()
