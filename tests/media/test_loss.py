"""Loss that nobody sees: 5% random loss made for real with nftables inside the test namespace.

On a viewer's link, its NACKs are answered from the bridge's history and its picture keeps
going while the other viewer sees nothing of it; on the publisher's link, the bridge's own NACKs
repair the stream once for everyone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import linkfaults
from tests.conftest import Server
from tests.linkfaults import candidate_ports
from tests.peers import EncodedVideoTrack, Viewer, encode_vp8, play, publish, wait_for

pytestmark = pytest.mark.netns

SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "nga-hai", "name": "Xã Nga Hải"}]


@pytest.fixture
def loss() -> Iterator[object]:
    with linkfaults.loss() as drop:
        yield drop


def _completeness(viewer: Viewer) -> tuple[int, int]:
    frames = viewer.frames()
    return sum(1 for _, complete in frames if complete), len(frames)


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    # A keyframe only every 10 s: a lost packet must be repaired, not waited out.
    return encode_vp8(frames=330, gop=300)


async def test_loss_on_one_viewer_is_repaired_and_the_other_sees_nothing(
    server: Server, frames: list[bytes], loss: object
) -> None:
    session = server.create_session(SITES, title="Mạng chập chờn")
    lossy_invite, clean_invite = session["invites"]
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    lossy = await play(lossy_invite["whep_url"], lossy_invite["token"])
    clean = await play(clean_invite["whep_url"], clean_invite["token"])
    try:
        assert await wait_for(lambda: lossy.decoded["video"] > 5 and clean.decoded["video"] > 5, 20)
        offer = lossy.pc.localDescription.sdp
        loss(candidate_ports(offer), 5)  # type: ignore[operator]
        before = lossy.decoded["video"]
        assert await wait_for(lambda: lossy.decoded["video"] > before + 150, 20)
        complete, total = _completeness(lossy)
        assert complete / total > 0.97, (complete, total)
        rtx = [
            p
            for p in lossy.packets["video"]
            if lossy.codecs["video"][p.payload_type].mimeType.lower() == "video/rtx"
        ]
        assert rtx, "the lossy viewer's NACKs were answered with retransmissions"
        complete, total = _completeness(clean)
        assert complete == total
        assert not [
            p
            for p in clean.packets["video"]
            if clean.codecs["video"][p.payload_type].mimeType.lower() == "video/rtx"
        ]
    finally:
        await lossy.close()
        await clean.close()
        await publisher.pc.close()


async def test_loss_on_the_publishers_link_is_repaired_by_the_bridge(
    server: Server, frames: list[bytes], loss: object
) -> None:
    session = server.create_session(SITES, title="Đường lên chập chờn")
    publisher = await publish(
        session["host"]["whip_url"], session["host"]["token"], video=EncodedVideoTrack(frames)
    )
    viewers = [await play(i["whep_url"], i["token"]) for i in session["invites"]]
    try:
        assert await wait_for(lambda: all(v.decoded["video"] > 5 for v in viewers), 20)
        # The bridge's ports for the publisher: what its WHIP answer offered.
        loss(candidate_ports(publisher.response.text), 5)  # type: ignore[operator]
        before = [v.decoded["video"] for v in viewers]
        assert await wait_for(
            lambda: all(v.decoded["video"] > b + 150 for v, b in zip(viewers, before, strict=True)),
            20,
        )
        for viewer in viewers:
            complete, total = _completeness(viewer)
            assert complete / total > 0.97, (complete, total)
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.pc.close()
