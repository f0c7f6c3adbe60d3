"""Why a hall is not connected now, on the console's live list GET /api/sessions/{id}/sites
(server/livecause.py): the report's classifier over the halls' link events up to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from diemcau.media.links import SiteLink
from diemcau.server.store import Store

from .conftest import World, bearer
from .test_api import FakeBridge, bridge

__all__ = ["bridge"]  # the fixture, imported for pytest

START = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


async def causes(client: httpx.AsyncClient, world: World) -> dict[str, tuple[str | None, ...]]:
    response = await client.get(f"/api/sessions/{world.a}/sites", headers=bearer(world.host_a))
    assert response.status_code == 200, response.text
    return {s["site"]: (s["cause"], s["cause_reason"]) for s in response.json()["sites"]}


async def test_each_hall_not_connected_says_why(
    client: httpx.AsyncClient, world: World, bridge: FakeBridge, store: Store
) -> None:
    # Before the start no hall is missing: no cause, whatever the log holds.
    store.append_event(world.a, "page_open", START - timedelta(minutes=9), site_id="nga-thanh")
    assert set((await causes(client, world)).values()) == {(None, None)}

    store.start_session(world.a, START)
    at = START + timedelta(minutes=1)
    # nga-thanh opened its page and its media failed; tan-loc connected and lost its network;
    # ubnd never opened its link.
    store.append_event(world.a, "attempt_failed", at, site_id="nga-thanh", reason="ice_timeout")
    store.append_event(world.a, "join", at, site_id="tan-loc", conn="c1")
    store.append_event(
        world.a, "leave", at + timedelta(minutes=5), "tan-loc", "c1", reason="failed"
    )
    assert await causes(client, world) == {
        "nga-thanh": ("media_failed", "ice_timeout"),
        "tan-loc": ("network_lost", "failed"),
        "ubnd": ("never_opened", None),
    }

    # tan-loc is back (the bridge says so), ubnd opens its link and connects then leaves by
    # itself: neither has a cause to name.
    bridge.links[world.a] = {"tan-loc": SiteLink(True, at, 1, 10, 1000)}
    store.append_event(world.a, "join", at + timedelta(minutes=6), "tan-loc", "c2")
    store.append_event(world.a, "page_open", at + timedelta(minutes=7), site_id="ubnd")
    store.append_event(world.a, "join", at + timedelta(minutes=8), "ubnd", "c3")
    store.append_event(world.a, "leave", at + timedelta(minutes=9), "ubnd", "c3", reason="closed")
    assert await causes(client, world) == {
        "nga-thanh": ("media_failed", "ice_timeout"),
        "tan-loc": (None, None),
        "ubnd": (None, None),
    }
