"""GET /metrics, scraped and parsed with prometheus_client's own parser: on a real serve with a
publisher and a hall connected by aiortc peers (one of them on a lossy link: the media's
repairs, the hall's round trip and loss), and, for the totals' bookkeeping, with a bridge that
only reports links."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.applications import Starlette

from diemcau.media.links import SiteLink
from diemcau.media.stats import BridgeStats, Counters, HallStats, PublisherStats, SessionStats
from diemcau.server.config import Config
from diemcau.server.metrics import Metrics
from diemcau.server.store import Store
from tests import linkfaults
from tests.conftest import start_server, stop_server
from tests.linkfaults import candidate_ports
from tests.peers import EncodedVideoTrack, encode_vp8, play, publish, wait_for
from tests.server.conftest import ADMIN_TOKEN, admin_headers, bearer, create_session, put_sites

METRICS_TOKEN = "scraper-token-0123456789"


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample by its name, every family checked to be diemcau's."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("diemcau_"), family.name
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def value(found: dict[str, list[Sample]], name: str, **labels: str) -> float | None:
    for sample in found.get(name, []):
        if sample.labels == labels:
            return sample.value
    return None


def scrape(base_url: str, token: str) -> dict[str, list[Sample]]:
    response = httpx.get(f"{base_url}/metrics", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.mark.netns
async def test_a_scrape_of_a_live_session_with_a_hall_connected(tmp_path: Path) -> None:
    server = await asyncio.to_thread(
        start_server, tmp_path / "data", None, ADMIN_TOKEN, ("--metrics-token", METRICS_TOKEN)
    )
    try:
        session = server.create_session([{"id": "nga-thanh", "name": "Xã Nga Thạnh"}])
        before = scrape(server.base_url, ADMIN_TOKEN)
        assert value(before, "diemcau_forwarded_packets_total") == 0
        assert value(before, "diemcau_halls_connected", session=session["id"]) is None
        publisher = await publish(
            session["host"]["whip_url"],
            session["host"]["token"],
            video=EncodedVideoTrack(encode_vp8(60)),
        )
        invite = session["invites"][0]
        viewer = await play(invite["whep_url"], invite["token"])
        try:
            assert await wait_for(lambda: viewer.decoded["video"] > 5, 30)
            live = await asyncio.to_thread(scrape, server.base_url, METRICS_TOKEN)
            assert value(live, "diemcau_halls_connected", session=session["id"]) == 1
            assert value(live, "diemcau_hall_connections", session=session["id"]) == 1
            assert value(live, "diemcau_sessions_live") == 1
            forwarded = value(live, "diemcau_forwarded_packets_total")
            assert forwarded is not None and forwarded >= 5
            assert (value(live, "diemcau_forwarded_bytes_total") or 0) > forwarded * 12
            # The hall's join was written, and timed.
            assert (value(live, "diemcau_join_log_write_seconds_count") or 0) >= 1
            assert await wait_for(lambda: viewer.decoded["video"] > 20, 30)
            later = await asyncio.to_thread(scrape, server.base_url, ADMIN_TOKEN)
            assert (value(later, "diemcau_forwarded_packets_total") or 0) > forwarded
        finally:
            await viewer.close()
            await publisher.pc.close()
        with server.admin() as admin:
            assert admin.post(f"/api/sessions/{session['id']}/end").status_code == 200
        ended = await asyncio.to_thread(scrape, server.base_url, ADMIN_TOKEN)
        # The session is gone from the bridge; what it forwarded is still counted.
        assert value(ended, "diemcau_halls_connected", session=session["id"]) is None
        assert value(ended, "diemcau_sessions_live") == 0
        assert (value(ended, "diemcau_forwarded_packets_total") or 0) >= (
            value(later, "diemcau_forwarded_packets_total") or 0
        )
        assert (value(ended, "diemcau_event_loop_lag_seconds_count") or 0) >= 1
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            for token in ("wrong-token-0123456789", invite["token"], session["host"]["token"]):
                assert (await http.get("/metrics", headers=bearer(token))).status_code == 401
            assert (await http.get("/metrics")).status_code == 401
    finally:
        await asyncio.to_thread(stop_server, server)
    assert METRICS_TOKEN not in server.log()


async def scraped_until(
    base_url: str, ready: Callable[[dict[str, list[Sample]]], bool], within: float
) -> dict[str, list[Sample]]:
    """Scrapes (off the event loop, where the peers run) until `ready` says yes."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await asyncio.to_thread(scrape, base_url, ADMIN_TOKEN)
        if ready(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.5)


@pytest.mark.netns
async def test_a_scrape_shows_a_lossy_halls_link_and_its_repairs(tmp_path: Path) -> None:
    server = await asyncio.to_thread(start_server, tmp_path / "data", None, ADMIN_TOKEN)
    try:
        session = server.create_session([{"id": "nga-thanh", "name": "Xã Nga Thạnh"}])
        hall = {"session": session["id"], "site": "nga-thanh"}
        # A keyframe only every 10 s: what is lost is repaired by NACK and RTX, not waited out.
        publisher = await publish(
            session["host"]["whip_url"],
            session["host"]["token"],
            video=EncodedVideoTrack(encode_vp8(330, gop=300)),
        )
        invite = session["invites"][0]
        viewer = await play(invite["whep_url"], invite["token"])
        try:
            assert await wait_for(lambda: viewer.decoded["video"] > 5, 30)
            calm = await asyncio.to_thread(scrape, server.base_url, ADMIN_TOKEN)
            # The hall's join asked the publisher for a keyframe; nothing was dropped.
            assert (value(calm, "diemcau_plis_sent_total") or 0) >= 1
            assert value(calm, "diemcau_send_drops_total", reason="backed_up") == 0
            # Listed, whatever they say (a loaded machine may lose a packet even here).
            assert value(calm, "diemcau_hall_slow", **hall) in (0, 1)
            assert value(calm, "diemcau_slow_halls", session=session["id"]) in (0, 1)
            with linkfaults.loss() as drop:
                drop(candidate_ports(viewer.pc.localDescription.sdp), 5)
                lossy = await scraped_until(
                    server.base_url,
                    lambda found: (
                        (value(found, "diemcau_rtx_packets_sent_total") or 0) > 0
                        and value(found, "diemcau_hall_rtt_seconds", **hall) is not None
                    ),
                    30,
                )
            assert (value(lossy, "diemcau_nacks_received_total") or 0) > 0
            nacked = value(lossy, "diemcau_nacked_packets_total") or 0
            rtx = value(lossy, "diemcau_rtx_packets_sent_total") or 0
            assert nacked >= rtx > 0
            # What nftables dropped on its way out was refused to the bridge's send (EPERM).
            assert (value(lossy, "diemcau_send_drops_total", reason="refused") or 0) > 0
            rtt = value(lossy, "diemcau_hall_rtt_seconds", **hall)
            assert rtt is not None and rtt >= 0
            loss = value(lossy, "diemcau_hall_loss_ratio", **hall)
            assert loss is not None and 0 <= loss <= 1
            program = {"session": session["id"], "site": "host"}
            uplink = value(lossy, "diemcau_publisher_loss_ratio", **program)
            assert uplink is not None and 0 <= uplink <= 1
            assert value(lossy, "diemcau_keyframe_requests_received_total", type="fir") == 0
        finally:
            await viewer.close()
            await publisher.pc.close()
        gone = await scraped_until(
            server.base_url,
            lambda found: value(found, "diemcau_hall_slow", **hall) is None,
            10,
        )
        # The hall left the gauges; what it counted stays counted.
        for name in ("diemcau_hall_slow", "diemcau_hall_rtt_seconds", "diemcau_hall_loss_ratio"):
            assert value(gone, name, **hall) is None, name
        assert (value(gone, "diemcau_rtx_packets_sent_total") or 0) >= rtx
        assert (value(gone, "diemcau_nacked_packets_total") or 0) >= nacked
    finally:
        await asyncio.to_thread(stop_server, server)


class LinksOnly:
    """A bridge that only reports links (the bridge is not under test here)."""

    def __init__(self) -> None:
        self.links: dict[str, dict[str, SiteLink]] = {}
        self.media = BridgeStats(sessions={}, totals=Counters())

    def site_links(self, session_id: str) -> dict[str, SiteLink]:
        return self.links.get(session_id, {})

    def stats(self) -> BridgeStats:
        return self.media


def link(connected: bool, packets: int, connections: int = 1) -> SiteLink:
    since = datetime.now(UTC) if connected else None
    return SiteLink(connected, since, connections if connected else 0, packets, packets * 1000)


async def test_the_totals_never_go_down_as_sessions_end(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    a = (await create_session(client, ["nga-thanh", "tan-loc"]))["id"]
    b = (await create_session(client, ["ubnd"]))["id"]
    for session in (a, b):
        started = await client.post(f"/api/sessions/{session}/start", headers=admin_headers())
        assert started.status_code == 200
    bridge = LinksOnly()
    metrics = Metrics(store, bridge, ADMIN_TOKEN, None)  # type: ignore[arg-type]

    def scraped() -> tuple[float | None, float | None, float | None, float | None]:
        found = samples(metrics.exposition().decode())
        return (
            value(found, "diemcau_halls_connected", session=a),
            value(found, "diemcau_halls_connected", session=b),
            value(found, "diemcau_forwarded_packets_total"),
            value(found, "diemcau_forwarded_bytes_total"),
        )

    # (links of a, links of b, session ended before the scrape) -> (halls a, halls b, packets)
    steps: list[tuple[dict[str, SiteLink] | None, dict[str, SiteLink] | None, str | None, tuple]]
    steps = [
        ({}, {}, None, (0, 0, 0, 0)),
        ({"nga-thanh": link(True, 10)}, {}, None, (1, 0, 10, 10_000)),
        (
            {"nga-thanh": link(True, 30, 2), "tan-loc": link(False, 5)},
            {"ubnd": link(True, 7)},
            None,
            (1, 1, 42, 42_000),
        ),
        # a ends: the bridge forgets it; its 35 stay counted.
        (None, {"ubnd": link(True, 9)}, a, (None, 1, 44, 44_000)),
        # b's broadcast counted afresh (a publisher back after the bridge dropped it).
        (None, {"ubnd": link(True, 2)}, None, (None, 1, 46, 46_000)),
    ]
    for links_a, links_b, ending, expected in steps:
        if ending is not None:
            ended = await client.post(f"/api/sessions/{ending}/end", headers=admin_headers())
            assert ended.status_code == 200
        bridge.links = {s: links for s, links in ((a, links_a), (b, links_b)) if links is not None}
        assert scraped() == expected


def test_each_halls_link_is_in_the_gauges_until_it_leaves(store: Store) -> None:
    bridge = LinksOnly()
    metrics = Metrics(store, bridge, ADMIN_TOKEN, None)  # type: ignore[arg-type]

    def hall(site: str, slow: bool, rtt: float | None, loss: float | None) -> HallStats:
        return HallStats(site, 1, backed_up=slow, slow=slow, rtt=rtt, loss=loss, drops=0)

    totals = Counters(nacks_received=4, rtx_sent=9, plis_received=2, firs_received=1)
    totals.drops_backed_up, totals.drops_refused, totals.plis_sent = 7, 3, 5
    bridge.media = BridgeStats(
        sessions={
            "s1": SessionStats(
                halls={
                    "nga-thanh": hall("nga-thanh", True, 0.042, 0.25),
                    "tan-loc": hall("tan-loc", False, None, None),  # no report yet
                },
                publishers={"host": PublisherStats("host", 0.01)},
            )
        },
        totals=totals,
    )
    found = samples(metrics.exposition().decode())
    a, b = {"session": "s1", "site": "nga-thanh"}, {"session": "s1", "site": "tan-loc"}
    assert value(found, "diemcau_slow_halls", session="s1") == 1
    assert (value(found, "diemcau_hall_slow", **a), value(found, "diemcau_hall_slow", **b)) == (
        1,
        0,
    )
    assert value(found, "diemcau_hall_rtt_seconds", **a) == 0.042
    assert value(found, "diemcau_hall_loss_ratio", **a) == 0.25
    assert value(found, "diemcau_hall_rtt_seconds", **b) is None
    assert value(found, "diemcau_hall_loss_ratio", **b) is None
    host = {"session": "s1", "site": "host"}
    assert value(found, "diemcau_publisher_loss_ratio", **host) == 0.01
    assert value(found, "diemcau_send_drops_total", reason="backed_up") == 7
    assert value(found, "diemcau_send_drops_total", reason="refused") == 3
    assert value(found, "diemcau_keyframe_requests_received_total", type="pli") == 2
    assert value(found, "diemcau_keyframe_requests_received_total", type="fir") == 1
    assert value(found, "diemcau_nacks_received_total") == 4
    assert value(found, "diemcau_rtx_packets_sent_total") == 9
    assert value(found, "diemcau_plis_sent_total") == 5
    # nga-thanh left, then the session ended: out of the gauges, the counters as they were.
    only_b = SessionStats(halls={"tan-loc": hall("tan-loc", False, None, None)}, publishers={})
    bridge.media = BridgeStats(sessions={"s1": only_b}, totals=totals)
    found = samples(metrics.exposition().decode())
    assert value(found, "diemcau_hall_slow", **a) is None
    assert value(found, "diemcau_hall_rtt_seconds", **a) is None
    assert value(found, "diemcau_publisher_loss_ratio", **host) is None
    assert value(found, "diemcau_slow_halls", session="s1") == 0
    bridge.media = BridgeStats(sessions={}, totals=totals)
    found = samples(metrics.exposition().decode())
    assert value(found, "diemcau_slow_halls", session="s1") is None
    assert value(found, "diemcau_hall_slow", **b) is None
    assert value(found, "diemcau_rtx_packets_sent_total") == 9


async def test_metrics_need_the_admin_or_the_metrics_token(tmp_path: Path) -> None:
    from diemcau.server.app import create_app

    config = Config(data_dir=tmp_path / "data", udp_port=0, metrics_token=METRICS_TOKEN)
    app = create_app(config, ADMIN_TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for token in (ADMIN_TOKEN, METRICS_TOKEN):
                answer = await client.get("/metrics", headers=bearer(token))
                assert answer.status_code == 200
                assert value(samples(answer.text), "diemcau_forwarded_packets_total") == 0
            refused = await client.get("/metrics", headers=bearer("not-the-token-0123456789"))
            assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
            missing = await client.get("/metrics")
            assert (missing.status_code, missing.json()["error"]) == (401, "missing_token")
            assert (await client.post("/metrics", headers=bearer(ADMIN_TOKEN))).status_code == 405


async def test_control_messages_and_errors_are_counted(tmp_path: Path) -> None:
    server = await asyncio.to_thread(start_server, tmp_path / "data", None, ADMIN_TOKEN)
    try:
        session = server.create_session([{"id": "nga-thanh", "name": "Xã Nga Thạnh"}])
        url = server.base_url.replace("http://", "ws://") + f"/ws/{session['id']}"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": "not-a-token"}))
            assert json.loads(await ws.recv())["code"] == "invalid_token"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": session["invites"][0]["token"]}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            for sent in (
                {"type": "ping"},
                {"type": "request_floor"},
                {"type": "grant", "site": "nga-thanh"},  # a hall may not
                {"type": "ping"},
            ):
                await ws.send(json.dumps(sent))
            await ws.send("not json")
            errors = 0
            async with asyncio.timeout(10):
                while errors < 2:
                    errors += json.loads(await ws.recv())["type"] == "error"
        found = await asyncio.to_thread(scrape, server.base_url, ADMIN_TOKEN)
    finally:
        await asyncio.to_thread(stop_server, server)
    counted = {
        kind: value(found, "diemcau_control_messages_total", type=kind)
        for kind in ("ping", "request_floor", "grant")
    }
    assert counted == {"ping": 2, "request_floor": 1, "grant": 1}
    errors_by_code = {
        code: value(found, "diemcau_control_errors_total", code=code)
        for code in ("invalid_token", "forbidden", "invalid_message")
    }
    assert errors_by_code == {"invalid_token": 1, "forbidden": 1, "invalid_message": 1}
