"""The hybrid meeting's media with real peers: halls send return feeds, the district hall sees
them as mosaic tiles, and the hall given the floor is heard and seen by everyone else."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import Server
from tests.peers import (
    AudioStreamTrack,
    EncodedVideoTrack,
    encode_vp8,
    play,
    publish,
    wait_for,
)

pytestmark = pytest.mark.netns

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
    {"id": "nga-dien", "name": "Xã Nga Điền"},
]
PROGRAM_VIDEO, PROGRAM_AUDIO, FLOOR_VIDEO, FLOOR_AUDIO = range(4)


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return encode_vp8(frames=150, gop=30)


async def _control(server: Server, session: dict, token: str) -> websockets.ClientConnection:
    ws = await websockets.connect(
        server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"
    )
    await ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def test_the_floor_carries_the_granted_hall_to_everyone_else(
    server: Server, frames: list[bytes]
) -> None:
    session = server.create_session(SITES, title="Thảo luận")
    one, two, three = session["invites"]
    base = server.base_url
    host_token = session["host"]["token"]
    program = await publish(
        session["host"]["whip_url"], host_token, video=EncodedVideoTrack(frames)
    )
    # Each hall sends its camera and microphone from the moment it joins.
    uplinks = {
        invite["site"]: await publish(
            f"{base}/whip/{session['id']}/{invite['site']}",
            invite["token"],
            video=EncodedVideoTrack(frames[::-1]),
            audio=AudioStreamTrack(),
        )
        for invite in (one, two, three)
    }
    for uplink in uplinks.values():
        assert uplink.response.status_code == 201, uplink.response.text
    players = {
        invite["site"]: await play(invite["whep_url"], invite["token"], slots=2)
        for invite in (one, two, three)
    }
    mosaic = await play(
        f"{base}/whep/{session['id']}/host/uplink/{two['site']}", host_token, audio=False
    )
    hall = await play(f"{base}/whep/{session['id']}/host/floor", host_token)
    chair = await _control(server, session, host_token)
    speaker = await _control(server, session, two["token"])
    everyone = [*players.values(), mosaic, hall]
    try:
        assert mosaic.response.status_code == 201 and hall.response.status_code == 201
        assert await wait_for(lambda: all(v.connected_at for v in everyone), 20)
        # The mosaic tile shows commune 2's camera before anyone has the floor.
        assert await wait_for(lambda: len(mosaic.by_slot[0]) > 20, 15)
        assert await wait_for(
            lambda: all(len(p.by_slot[PROGRAM_VIDEO]) > 0 for p in players.values()), 15
        )
        assert all(len(p.by_slot[FLOOR_VIDEO]) == 0 for p in players.values())

        await speaker.send(json.dumps({"type": "request_floor"}))
        await chair.send(json.dumps({"type": "grant", "site": two["site"]}))
        listeners = [players[one["site"]], players[three["site"]]]
        got_floor = await wait_for(
            lambda: (
                all(
                    len(p.by_slot[FLOOR_VIDEO]) > 20 and len(p.by_slot[FLOOR_AUDIO]) > 20
                    for p in listeners
                )
                and len(hall.by_slot[0]) > 20
                and len(hall.by_slot[1]) > 20
            ),
            15,
        )
        assert got_floor, [[len(s) for s in p.by_slot] for p in [*listeners, hall]]
        # The speaking hall does not hear itself back.
        assert len(players[two["site"]].by_slot[FLOOR_AUDIO]) == 0
        # The floor starts on a keyframe, in one continuous stream per slot.
        first = listeners[0].by_slot[FLOOR_VIDEO][0].payload
        assert first[0] & 0x10 and not (first[0] & 0x07)

        # Muted by the chair: the hall's sound stops at the bridge, its picture goes on.
        await chair.send(json.dumps({"type": "mute", "site": two["site"], "muted": True}))
        await asyncio.sleep(1.0)
        audio_counts = [len(p.by_slot[FLOOR_AUDIO]) for p in listeners]
        video_counts = [len(p.by_slot[FLOOR_VIDEO]) for p in listeners]
        await asyncio.sleep(1.5)
        assert [len(p.by_slot[FLOOR_AUDIO]) for p in listeners] == audio_counts
        assert all(
            len(p.by_slot[FLOOR_VIDEO]) > c for p, c in zip(listeners, video_counts, strict=True)
        )

        await chair.send(json.dumps({"type": "take_back"}))
        await asyncio.sleep(1.0)
        counts = [len(p.by_slot[FLOOR_VIDEO]) for p in listeners]
        await asyncio.sleep(1.5)
        assert [len(p.by_slot[FLOOR_VIDEO]) for p in listeners] == counts  # stopped
        # And the program never stopped.
        assert all(len(p.by_slot[PROGRAM_VIDEO]) > 100 for p in players.values())
    finally:
        await chair.close()
        await speaker.close()
        for viewer in everyone:
            await viewer.close()
        for uplink in uplinks.values():
            await uplink.pc.close()
        await program.pc.close()
