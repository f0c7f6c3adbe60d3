"""POST /api/sessions/{id}/sites/{site}/people_count (server/peoplecount.py): the hall camera's
count written to the join log, with the headcount's refusals, and the report's stable count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from diemcau.server.auth import ANY_ROLE
from diemcau.server.store import Store

from .auth_cases import check_auth
from .conftest import ADMIN_TOKEN, MAX_BODY_BYTES, World, bearer


def url(session_id: str, site_id: str) -> str:
    return f"/api/sessions/{session_id}/sites/{site_id}/people_count"


@pytest.mark.parametrize("who", ["site", "host", "admin"])
async def test_the_count_is_logged(
    client: httpx.AsyncClient, world: World, store: Store, who: str
) -> None:
    token = {"site": world.site(world.a, "nga-thanh"), "host": world.host_a, "admin": ADMIN_TOKEN}
    response = await client.post(
        url(world.a, "nga-thanh"), json={"count": 22}, headers=bearer(token[who])
    )
    assert response.status_code == 201
    body = response.json()
    assert (set(body), body["site"], body["count"]) == ({"site", "count", "ts"}, "nga-thanh", 22)
    [event] = store.events(world.a)
    assert (event.type, event.site_id, event.conn, event.body) == (
        "people_count",
        "nga-thanh",
        None,
        {"count": 22},
    )
    assert event.ts == datetime.fromisoformat(body["ts"])


async def test_authorization(client: httpx.AsyncClient, world: World, store: Store) -> None:
    let_through = await check_auth(
        client, world, "POST", url, allow=ANY_ROLE, site_scoped=True, json={"count": 3}
    )
    assert let_through == ["admin", "lowercase scheme", "host", "site"]
    assert len(store.events(world.a)) == len(let_through)


async def test_a_site_cannot_count_for_another(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    response = await client.post(
        url(world.a, "tan-loc"), json={"count": 3}, headers=bearer(world.site(world.a, "nga-thanh"))
    )
    assert (response.status_code, response.json()["error"]) == (403, "wrong_site")
    assert store.events(world.a) == []


BAD_BODIES = [
    ("missing", {"json": {}}, 422, "count"),
    ("null", {"json": {"count": None}}, 422, "count"),
    ("negative", {"json": {"count": -1}}, 422, "count"),
    ("too many", {"json": {"count": 1_000_001}}, 422, "count"),
    ("bool", {"json": {"count": True}}, 422, "count"),
    ("string", {"json": {"count": "12"}}, 422, "count"),
    ("fraction", {"json": {"count": 12.5}}, 422, "count"),
    ("the headcount's field", {"json": {"present": 12}}, 422, "present"),
    ("a picture", {"json": {"count": 1, "frame": "data:image/jpeg;base64,AAAA"}}, 422, "frame"),
    ("not JSON", {"content": b"count=12"}, 400, None),
    ("array", {"json": [12]}, 400, None),
    ("too large", {"json": {"count": 1, "pad": "x" * MAX_BODY_BYTES}}, 413, None),
]


@pytest.mark.parametrize(
    ("request_args", "status", "field"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_bodies_log_nothing(
    client: httpx.AsyncClient,
    world: World,
    store: Store,
    request_args: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    response = await client.post(
        url(world.a, "nga-thanh"), headers=bearer(world.site(world.a, "nga-thanh")), **request_args
    )
    assert response.status_code == status
    if field is not None:
        assert field in response.json()["details"]["fields"]
    assert store.events(world.a) == []


async def test_no_count_after_the_end(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    t0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    store.start_session(world.a, t0)
    store.end_session(world.a, t0 + timedelta(hours=1))
    response = await client.post(
        url(world.a, "nga-thanh"),
        json={"count": 9},
        headers=bearer(world.site(world.a, "nga-thanh")),
    )
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")
    assert [e.type for e in store.events(world.a)] == ["session_start", "session_end"]


@pytest.mark.parametrize(
    ("who", "site", "status", "error"),
    [
        ("admin", "ubnd", 409, "removed"),  # its invite revoked, as the chair's remove does
        ("host", "ubnd", 409, "removed"),
        ("admin", "no-such-site", 404, "not_found"),
        ("host_b", "tan-loc", 404, "not_found"),  # session b does not invite it
    ],
)
async def test_no_count_for_a_site_removed_or_not_invited(
    client: httpx.AsyncClient,
    world: World,
    store: Store,
    who: str,
    site: str,
    status: int,
    error: str,
) -> None:
    session = world.b if who == "host_b" else world.a
    token = {"admin": ADMIN_TOKEN, "host": world.host_a, "host_b": world.host_b}[who]
    response = await client.post(url(session, site), json={"count": 3}, headers=bearer(token))
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert store.events(session) == []


async def test_the_report_shows_the_stable_count(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    site = bearer(world.site(world.a, "nga-thanh"))
    await client.post(f"/api/sessions/{world.a}/start", headers=bearer(world.host_a))
    for count in (21, 22, 22, 40, 22, 23):  # 40: one frame; 22 held three times in a row
        assert (
            await client.post(url(world.a, "nga-thanh"), json={"count": count}, headers=site)
        ).status_code == 201
    await client.post(
        f"/api/sessions/{world.a}/sites/nga-thanh/headcount", json={"present": 30}, headers=site
    )
    report = await client.get(f"/api/sessions/{world.a}/attendance", headers=bearer(world.host_a))
    sites = {s["site"]: s for s in report.json()["sites"]}
    assert (sites["nga-thanh"]["people_count"], sites["nga-thanh"]["people_count_disagrees"]) == (
        22,
        True,  # 30 declared: 8 more than the camera saw
    )
    assert (sites["tan-loc"]["people_count"], sites["tan-loc"]["people_count_disagrees"]) == (
        None,
        None,
    )
