"""server/writelimit.py: a rate limit per token on every write of the admin API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.writelimit import WriteBuckets

from .conftest import ADMIN_TOKEN, BASE_URL, admin_headers, bearer, shut_down

BURST = 5


@pytest.mark.parametrize(
    ("calls", "allowed"),
    [
        # (key, moment): the burst is per key; one key's flood leaves the other alone.
        ([(b"a", 0)] * 3, [True, True, False]),
        ([(b"a", 0), (b"a", 0), (b"b", 0), (b"a", 0), (b"b", 0)], [True, True, True, False, True]),
        # One a second refills one.
        ([(b"a", 0), (b"a", 0), (b"a", 0), (b"a", 1.0)], [True, True, False, True]),
    ],
)
def test_buckets_per_key(calls: list[tuple[bytes, float]], allowed: list[bool]) -> None:
    buckets = WriteBuckets(rate=1.0, burst=2.0)
    assert [buckets.retry_after(key, now) is None for key, now in calls] == allowed


def test_a_refused_write_says_how_long_to_wait() -> None:
    buckets = WriteBuckets(rate=0.5, burst=1.0)
    assert buckets.retry_after(b"a", 0) is None
    assert buckets.retry_after(b"a", 0) == pytest.approx(2.0)
    assert buckets.retry_after(b"a", 1.5) == pytest.approx(0.5)


def test_made_up_tokens_do_not_grow_memory_without_end() -> None:
    buckets = WriteBuckets(rate=1.0, burst=1.0, limit=100)
    for n in range(1000):
        buckets.retry_after(n.to_bytes(4, "big"), 0)
    assert len(buckets) == 100
    # The one just used is kept: still empty, so refused.
    assert buckets.retry_after((999).to_bytes(4, "big"), 0) is not None


@pytest.fixture
async def limited(config: Config) -> AsyncIterator[httpx.AsyncClient]:
    # A burst of BURST writes and (almost) no refill, so that the cut is exact.
    app = create_app(replace(config, write_burst=BURST, write_rate=0.001), ADMIN_TOKEN)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client
    finally:
        await shut_down(app)


async def test_a_burst_is_cut_off_and_exactly_the_acknowledged_writes_happened(
    limited: httpx.AsyncClient,
) -> None:
    async def put(n: int) -> tuple[str, httpx.Response]:
        site = f"xa-{n:02d}"
        body = {"name": f"Xã {n}", "kind": "commune", "expected": 10}
        return site, await limited.put(f"/api/sites/{site}", json=body, headers=admin_headers())

    answers = await asyncio.gather(*(put(n) for n in range(20)))
    acknowledged = {site for site, r in answers if r.status_code == 201}
    refused = [r for _, r in answers if r.status_code == 429]
    assert len(acknowledged) == BURST
    assert len(refused) == 20 - BURST
    for response in refused:
        assert response.json()["error"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1
    # Reads are not limited, and they show exactly the writes that were acknowledged.
    listed = await limited.get("/api/sites", headers=admin_headers())
    assert listed.status_code == 200
    assert {s["id"] for s in listed.json()["sites"]} == acknowledged


async def test_headcounts_are_limited_per_token(limited: httpx.AsyncClient) -> None:
    await limited.put(
        "/api/sites/nga-thanh",
        json={"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40},
        headers=admin_headers(),
    )
    created = await limited.post(
        "/api/sessions",
        json={
            "title": "Giới hạn",
            "scheduled_start": "2026-03-05T01:00:00Z",
            "scheduled_end": "2026-03-05T03:00:00Z",
            "sites": ["nga-thanh"],
        },
        headers=admin_headers(),
    )
    session = created.json()
    site = bearer(session["invites"][0]["token"])
    path = f"/api/sessions/{session['id']}/sites/nga-thanh/headcount"
    codes = [
        (await limited.post(path, json={"present": n}, headers=site)).status_code
        for n in range(BURST + 3)
    ]
    # The session's POST and the site's PUT spent the admin's bucket, not the hall's.
    assert codes == [201] * BURST + [429] * 3, codes
    # The hall's flood does not stop its host from writing.
    host = bearer(session["host"]["token"])
    started = await limited.post(f"/api/sessions/{session['id']}/start", headers=host)
    assert started.status_code == 200
    events = await limited.get(f"/api/sessions/{session['id']}/events", headers=admin_headers())
    written = [json.loads(line) for line in events.text.splitlines()]
    assert [e["present"] for e in written if e["type"] == "headcount"] == list(range(BURST))


async def test_writes_without_a_token_count_per_client_address_behind_a_trusted_proxy(
    config: Config,
) -> None:
    """The phones checking in at the halls (docs/api.md, Check-in) come through the proxy: each
    is limited by its own address, not all of them by the proxy's."""
    proxied = replace(config, write_burst=BURST, write_rate=0.001, trusted_proxies=("127.0.0.1",))
    app = create_app(proxied, ADMIN_TOKEN)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:

            async def tokenless(address: str) -> int:
                # No such code: answered 404 when let through, without writing anything.
                response = await client.post(
                    "/api/checkin/nothing", json={}, headers={"X-Forwarded-For": address}
                )
                return response.status_code

            first = [await tokenless("198.51.100.7") for _ in range(BURST + 2)]
            assert first == [404] * BURST + [429] * 2
            assert await tokenless("198.51.100.8") == 404
    finally:
        await shut_down(app)
