"""Fuzzing SDP offers: mutations of offers captured from HeadlessChrome and aiortc (lines dropped,
duplicated, swapped, inserted, values altered), judged by media/offer.py alone and posted to the
real app's WHIP and WHEP endpoints, where aiortc parses them for real. An offer is answered or
refused with a 4xx and a message; never a 5xx, never a traceback in the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from starlette.applications import Starlette

from diemcau.media.offer import OfferError, check_publish, check_subscribe, parse, with_directions
from diemcau.server.app import create_app
from diemcau.server.config import Config
from tests.fuzz import LONG_SEED, LoopCaller, failures, fuzz_settings, in_thread, long_examples
from tests.server.conftest import shut_down

from .test_offer import captured

ADMIN_TOKEN = "admin-token-for-offer-fuzz-0123456789"
PUBLISHERS = ["chromium_publisher", "aiortc_publisher"]
PLAYERS = ["chromium_player", "aiortc_player"]

# Lines an offer may gain: each is a way an offer has been or could be wrong.
INSERTED = [
    "a=group:BUNDLE 0 1 2",
    "a=group:BUNDLE",
    "a=group:LS 0 1",
    "m=text 9 RTP/AVP 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "m=audio 9 UDP/TLS/RTP/SAVPF",
    "a=mid:0",
    "a=mid:",
    "a=sendrecv",
    "a=inactive",
    "a=fingerprint:md5 " + ":".join(["AB"] * 16),
    "a=fingerprint:sha-256",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + " extra",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:96",
    "a=rtpmap:abc H264/x",
    "a=fmtp:96 apt=",
    "a=fmtp:102 profile-level-id=zzzzzz;packetization-mode=7",
    "a=rtcp-fb:96",
    "a=ssrc-group:FID",
    "a=ssrc-group:SIM 1 2 3",
    "a=ssrc:abc cname:x",
    "a=ssrc:1",
    "a=rid:q send",
    "a=simulcast:send q;h",
    "a=extmap:1",
    "a=extmap:99999 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=setup:holdconn",
    "a=setup:",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=ice-lite",
    "a=msid:",
    "a=rtcp:abc",
    "a=sctp-port:x",
    "a=max-message-size:-1",
    "b=AS:-1",
    "c=IN IP6 ::",
    "c=IN IP4",
    "a=",
    "x",
    "",
]
ALTERED = [
    "",
    "0",
    "-1",
    "65536",
    "99999999999999999999",
    "text",
    "application",
    "sha-1",
    "md5",
    "SHA-256",
    "BUNDLE",
    "sendonly",
    "recvonly",
    "UDP/DTLS/SCTP",
    "RTP/AVP",
    "\u00e9",
    "a=b",
    ":",
]


@st.composite
def mutated_offers(draw: st.DrawFn, names: list[str]) -> str:
    lines = captured(draw(st.sampled_from(names))).split("\r\n")[:-1]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "duplicate", "swap", "insert", "alter", "alter"]))
        if how == "drop" and len(lines) > 1:
            del lines[where]
        elif how == "duplicate":
            lines.insert(where, lines[where])
        elif how == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[where], lines[other] = lines[other], lines[where]
        elif how == "insert":
            lines.insert(where, draw(st.sampled_from(INSERTED) | st.text(max_size=30)))
        else:
            lines[where] = _altered(draw, lines[where])
    ending = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    return ending.join(lines) + ending


def _altered(draw: st.DrawFn, line: str) -> str:
    # One word of the line (split at spaces, colons, slashes, '=') replaced.
    words = line.replace(":", " : ").replace("/", " / ").replace("=", " = ", 1).split(" ")
    index = draw(st.integers(0, len(words) - 1))
    words[index] = draw(st.sampled_from(ALTERED) | st.text(max_size=12))
    return " ".join(words).replace(" : ", ":").replace(" / ", "/").replace(" = ", "=", 1)


# The checks alone: only OfferError, whatever the offer.


@fuzz_settings(max(fuzz_settings().max_examples * 3, 100))
@given(sdp=mutated_offers(PUBLISHERS + PLAYERS), pairs=st.sampled_from([1, 2]))
def test_the_checks_refuse_only_with_an_offer_error(sdp: str, pairs: int) -> None:
    offer = parse(sdp)
    for check in (lambda: check_publish(offer), lambda: check_subscribe(offer, pairs)):
        try:
            check()
        except OfferError as refused:
            assert refused.status in (400, 422) and refused.message
    assert parse(with_directions(sdp)).sections == offer.sections


# Through the app: WHIP for the program, WHEP for a hall.


@dataclass(frozen=True)
class Live:
    client: httpx.AsyncClient
    whip: str
    whep: str
    host_token: str
    site_token: str


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    app = create_app(Config(data_dir=tmp_path / "data"), ADMIN_TOKEN)
    yield app
    await shut_down(app)


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[Live]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        site = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
        assert (await client.put("/api/sites/nga-thanh", json=site, headers=admin)).is_success
        body = {
            "title": "Họp thử",
            "scheduled_start": "2026-03-05T01:00:00Z",
            "scheduled_end": "2026-03-05T03:00:00Z",
        }
        created = (await client.post("/api/sessions", json=body, headers=admin)).json()
        session = created["id"]
        started = await client.post(f"/api/sessions/{session}/start", headers=admin)
        assert started.status_code == 200
        yield Live(
            client,
            f"/whip/{session}",
            f"/whep/{session}/nga-thanh",
            created["host"]["token"],
            created["invites"][0]["token"],
        )


async def post_offer(live: Live, whip: bool, sdp: str) -> tuple[int, str]:
    path, token = (live.whip, live.host_token) if whip else (live.whep, live.site_token)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    response = await live.client.post(path, content=sdp.encode(), headers=headers)
    if response.status_code == 201:
        # Gone at once: the next offer is judged alone, not against connections piling up.
        gone = await live.client.delete(response.headers["location"], headers=headers)
        assert gone.status_code == 200
    return response.status_code, response.text


def search(live: Live, examples: int) -> Any:
    @fuzz_settings(examples)
    @given(data=st.data())
    def check(data: st.DataObject, run: LoopCaller) -> None:
        whip = data.draw(st.booleans(), label="whip")
        sdp = data.draw(mutated_offers(PUBLISHERS if whip else PLAYERS), label="sdp")
        status, text = run(post_offer(live, whip, sdp))
        assert status < 500, (status, text)
        if status >= 400:
            assert "message" in text

    return check


async def run_search(
    live: Live, caplog: pytest.LogCaptureFixture, examples: int, seeded: bool = False
) -> None:
    caplog.set_level(logging.INFO)
    check = search(live, examples)
    if seeded:
        check = seed(LONG_SEED)(check)
    await in_thread(lambda run: check(run=run))
    assert failures(caplog.records) == []
    # Unmutated, both are still answered.
    assert (await post_offer(live, True, captured("chromium_publisher")))[0] == 201
    assert (await post_offer(live, False, captured("chromium_player")))[0] == 201


async def test_mutated_offers_never_answer_5xx(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    await run_search(live, caplog, max(fuzz_settings().max_examples // 2, 30))


@pytest.mark.slow
async def test_mutated_offers_never_answer_5xx_longer(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    await run_search(live, caplog, long_examples(), seeded=True)
