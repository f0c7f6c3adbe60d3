"""Fixtures for the server tests: an app on a temporary data directory, a client for it, and a
small world of sites and sessions with every kind of token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Store

T = TypeVar("T")

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
BASE_URL = "http://127.0.0.1:8080"
# Small, so that the body-size tests need no megabytes.
MAX_BODY_BYTES = 4096

SITES = {
    "nga-thanh": {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40},
    "tan-loc": {"name": "Thị trấn Tân Lộc", "kind": "town", "expected": 25},
    "ubnd": {"name": "Văn phòng UBND huyện", "kind": "agency", "expected": 12},
}


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # Writes are not rate-limited here (tests/server/test_writelimit.py tests that limit), so
    # that fuzzing and long tests exercise the handlers rather than the 429.
    return Config(data_dir=tmp_path / "data", max_body_bytes=MAX_BODY_BYTES, write_burst=1e9)


@pytest.fixture
async def app(config: Config) -> AsyncIterator[Starlette]:
    app = create_app(config, ADMIN_TOKEN)
    yield app
    await shut_down(app)


async def shut_down(app: Starlette) -> None:
    """What the lifespan does at its end, for an app served by httpx's ASGITransport, which runs
    no lifespan: the bridge closed, the writes asked for done, the store closed."""
    state = app_state(app)
    await state.bridge.close()
    await state.writer.close()
    state.store.close()


def stand_in_bridge(app: Starlette, fake: T) -> Iterator[T]:
    """For a fixture: `fake` takes the bridge's place in `app` for one test."""
    real = app_state(app).bridge
    app_state(app).bridge = fake
    yield fake
    app_state(app).bridge = real


@pytest.fixture
def store(app: Starlette) -> Store:
    store: Store = app_state(app).store
    return store


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@dataclass(frozen=True)
class World:
    """Session `a` invites nga-thanh, tan-loc and ubnd (ubnd's invite revoked); session `b`
    invites nga-thanh. Every token is at hand."""

    a: str
    b: str
    host_a: str
    host_b: str
    # site tokens by (session, site)
    site_tokens: dict[tuple[str, str], str]
    created_a: dict  # the 201 body of session a

    def site(self, session: str, site: str) -> str:
        return self.site_tokens[(session, site)]


async def put_sites(client: httpx.AsyncClient, sites: dict[str, dict] = SITES) -> None:
    for site_id, site in sites.items():
        response = await client.put(f"/api/sites/{site_id}", json=site, headers=admin_headers())
        assert response.status_code in (200, 201), response.text


async def create_session(
    client: httpx.AsyncClient, sites: list[str] | None = None, title: str = "Họp giao ban"
) -> dict:
    body: dict = {
        "title": title,
        "scheduled_start": "2025-03-01T08:00:00+07:00",
        "scheduled_end": "2025-03-01T11:00:00+07:00",
    }
    if sites is not None:
        body["sites"] = sites
    response = await client.post("/api/sessions", json=body, headers=admin_headers())
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def world(client: httpx.AsyncClient, store: Store) -> World:
    await put_sites(client)
    a = await create_session(client, ["nga-thanh", "tan-loc", "ubnd"])
    b = await create_session(client, ["nga-thanh"], title="Phiên B")
    assert store.revoke_invite(a["id"], "ubnd", datetime.now(UTC))
    tokens = {
        (session["id"], invite["site"]): invite["token"]
        for session in (a, b)
        for invite in session["invites"]
    }
    return World(a["id"], b["id"], a["host"]["token"], b["host"]["token"], tokens, a)
