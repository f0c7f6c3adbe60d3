"""The bridge's way up for each connection: the deadline, failed attempts, what is pending.

Real aiortc offers in the namespace; a hall that never answers the server's checks is one whose
candidates are taken out of its offer and whose own connection is closed right after.
"""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from diemcau.media.bridge import Bridge
from diemcau.media.candidates import without_mdns
from tests.peers import _configuration, wait_for

pytestmark = pytest.mark.netns


async def dead_offer(direction: str = "recvonly", kind: str = "video", ended: bool = False) -> str:
    """A real offer whose peer is gone at once, without its candidates: the server has nowhere
    to send a check, as with a hall whose candidates were all unusable. Without `ended` it may
    still trickle some (no end-of-candidates), so only the deadline ends it."""
    pc = RTCPeerConnection(_configuration())
    pc.addTransceiver(kind, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    dropped = ("a=candidate:",) if ended else ("a=candidate:", "a=end-of-candidates")
    return "".join(line for line in sdp.splitlines(True) if not line.startswith(dropped))


@pytest.mark.parametrize(("ended", "reason"), [(False, "ice_timeout"), (True, "ice_failed")])
async def test_a_hall_that_never_comes_up_is_a_failed_attempt_and_frees_everything(
    ended: bool, reason: str
) -> None:
    failed: list[tuple[str, str, str, tuple[str, ...]]] = []
    joined: list[str] = []

    async def on_attempt_failed(
        session: str, site: str, conn: str, reason: str, offered: tuple[str, ...]
    ) -> None:
        failed.append((site, conn, reason, offered))

    async def on_join(session: str, site: str, conn: str, route: object) -> None:
        joined.append(site)

    bridge = Bridge(on_join=on_join, on_attempt_failed=on_attempt_failed, connect_timeout=1.5)
    try:
        answer = await bridge.subscribe("s1", "nga-thanh", await dead_offer(ended=ended))
        assert bridge.pending("s1") == bridge.pending("s1", "nga-thanh") == 1
        assert bridge.pending("s1", "tan-loc") == bridge.pending("s2") == 0
        assert bridge.port.connections == 1
        assert await wait_for(lambda: failed, 10)
        assert failed == [("nga-thanh", answer.resource_id, reason, ())]
        assert joined == []
        # Closed, off the port, and no longer anyone's resource.
        assert await wait_for(lambda: bridge.port.connections == 0, 5)
        assert bridge.pending("s1") == 0
        assert bridge.resource_site("s1", answer.resource_id) is None
    finally:
        await bridge.close()


async def test_a_publisher_that_never_comes_up_is_closed_too() -> None:
    bridge = Bridge(connect_timeout=1.0)
    try:
        answer = await bridge.publish("s1", await dead_offer("sendonly", "audio"))
        assert bridge.pending("s1", "host") == 1
        assert await wait_for(lambda: bridge.resource_site("s1", answer.resource_id) is None, 10)
        assert await wait_for(lambda: bridge.port.connections == 0, 5)
    finally:
        await bridge.close()


async def test_the_floor_and_a_mute_given_before_any_media_are_both_kept() -> None:
    # The chair may grant the floor before the session has a media connection: the first ones
    # must find it given, as they find a mute (set_floor once dropped it, set_muted kept it).
    bridge = Bridge()
    try:
        bridge.set_floor("s1", "nga-thanh")
        bridge.set_muted("s2", "tan-loc", True)
        assert (bridge.broadcast("s1").floor, bridge.broadcast("s1").muted) == ("nga-thanh", set())
        assert (bridge.broadcast("s2").floor, bridge.broadcast("s2").muted) == (None, {"tan-loc"})
    finally:
        await bridge.close()


def test_mdns_candidates_are_left_out_of_offers() -> None:
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2122260223 3f0e8c4a-1b2c-4d5e.local 61764 typ host\r\n"
        "a=candidate:2 1 udp 1686052607 203.0.113.7 61764 typ srflx raddr 0.0.0.0 rport 0\r\n"
    )
    kept = without_mdns(offer)
    assert ".local" not in kept
    assert "203.0.113.7 61764 typ srflx" in kept
    assert kept.endswith("\r\n")


async def test_a_hall_that_leaves_while_its_route_is_awaited_is_logged_joined_then_left() -> None:
    """A hall whose checks reach the server before any candidate of its (a peer-reflexive pair,
    more candidates possibly on their way) has its route awaited for up to a second: leaving
    meanwhile must leave a join and then a leave, not nothing."""
    log: list[tuple[str, str]] = []

    async def on_join(session: str, site: str, conn: str, route: object) -> None:
        log.append(("join", site))

    async def on_leave(session: str, site: str, conn: str, reason: str) -> None:
        log.append(("leave", site))

    bridge = Bridge(on_join=on_join, on_leave=on_leave)
    hall = RTCPeerConnection(_configuration())
    hall.addTransceiver("video", direction="recvonly")
    try:
        await hall.setLocalDescription(await hall.createOffer())
        offer = "".join(
            line
            for line in hall.localDescription.sdp.splitlines(True)
            if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        )
        answer = await bridge.subscribe("s1", "nga-thanh", offer)
        await hall.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        broadcast = bridge.broadcast("s1")
        sub = broadcast.subscribers[answer.resource_id]
        assert await wait_for(lambda: sub.joined_at is not None, 15)
        assert log == []  # up, its route still awaited
        assert await bridge.delete("s1", answer.resource_id)
        assert log == [("join", "nga-thanh"), ("leave", "nga-thanh")]
    finally:
        await hall.close()
        await bridge.close()
