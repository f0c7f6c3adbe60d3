"""The admin API end to end through the ASGI app."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.media.links import SiteLink
from diemcau.server.app import create_app
from diemcau.server.auth import ADMIN_ONLY, ADMIN_OR_HOST, ANY_ROLE
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Store
from diemcau.signaling.turn import mint_credentials

from .auth_cases import check_auth
from .conftest import (
    ADMIN_TOKEN,
    BASE_URL,
    MAX_BODY_BYTES,
    SITES,
    World,
    admin_headers,
    bearer,
    create_session,
    put_sites,
    shut_down,
)

ADMIN = admin_headers()
SESSION_BODY = {
    "title": "Họp giao ban tháng 3",
    "scheduled_start": "2025-03-01T08:00:00+07:00",
    "scheduled_end": "2025-03-01T11:00:00+07:00",
}


class FakeBridge:
    def __init__(self) -> None:
        self.links: dict[str, dict[str, SiteLink]] = {}
        self.closed: list[tuple[str, str]] = []

    def site_links(self, session_id: str) -> dict[str, SiteLink]:
        return self.links.get(session_id, {})

    async def close_session(self, session_id: str, reason: str = "closed") -> None:
        self.closed.append((session_id, reason))


@pytest.fixture
def bridge(app: Starlette) -> Iterator[FakeBridge]:
    real = app_state(app).bridge
    app_state(app).bridge = fake = FakeBridge()
    yield fake
    app_state(app).bridge = real


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the store holds, to show that a refused request changed nothing."""
    sessions = store.list_sessions()
    return {
        "sites": store.list_sites(),
        "sessions": sessions,
        "invites": [store.invites(s.id) for s in sessions],
        "events": [store.events(s.id) for s in sessions],
    }


# Sites


async def test_put_site_creates_then_updates(client: httpx.AsyncClient) -> None:
    site = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
    created = await client.put("/api/sites/nga-thanh", json=site, headers=ADMIN)
    assert created.status_code == 201
    assert created.json() == {"id": "nga-thanh", **site}
    assert created.headers["location"] == f"{BASE_URL}/api/sites/nga-thanh"

    same = await client.put("/api/sites/nga-thanh", json=site, headers=ADMIN)
    assert same.status_code == 200

    renamed = {**site, "name": "Xã Nga Thạnh (mới)", "expected": 45}
    updated = await client.put("/api/sites/nga-thanh", json=renamed, headers=ADMIN)
    assert (updated.status_code, updated.json()) == (200, {"id": "nga-thanh", **renamed})
    fetched = await client.get("/api/sites/nga-thanh", headers=ADMIN)
    assert fetched.json() == {"id": "nga-thanh", **renamed}


async def test_put_site_trims_and_composes_text(client: httpx.AsyncClient) -> None:
    decomposed = unicodedata.normalize("NFD", "Xã Nga Thạnh")
    body = {"name": f"  {decomposed} ", "kind": " commune\u00a0", "expected": 0}
    response = await client.put("/api/sites/nga-thanh", json=body, headers=ADMIN)
    assert response.status_code == 201
    assert response.json()["name"] == unicodedata.normalize("NFC", "Xã Nga Thạnh")
    assert response.json()["kind"] == "commune"
    assert response.json()["expected"] == 0


async def test_sites_are_listed_by_id(client: httpx.AsyncClient) -> None:
    await put_sites(client, {k: SITES[k] for k in ("ubnd", "nga-thanh", "tan-loc")})
    response = await client.get("/api/sites", headers=ADMIN)
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["sites"]] == ["nga-thanh", "tan-loc", "ubnd"]
    assert response.json()["sites"][0] == {"id": "nga-thanh", **SITES["nga-thanh"]}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("site_id", ["nowhere", "Not-A-Slug"])
async def test_unknown_site_is_404(client: httpx.AsyncClient, method: str, site_id: str) -> None:
    response = await client.request(method, f"/api/sites/{site_id}", headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


async def test_delete_site(client: httpx.AsyncClient) -> None:
    await put_sites(client)
    response = await client.delete("/api/sites/tan-loc", headers=ADMIN)
    assert response.status_code == 204
    assert (await client.get("/api/sites/tan-loc", headers=ADMIN)).status_code == 404
    assert (await client.delete("/api/sites/tan-loc", headers=ADMIN)).status_code == 404


async def test_site_of_an_open_session_cannot_be_deleted(
    client: httpx.AsyncClient, store: Store, bridge: FakeBridge
) -> None:
    await put_sites(client)
    session = await create_session(client, ["nga-thanh"])
    before = snapshot(store)
    for step in ("scheduled", "live"):
        response = await client.delete("/api/sites/nga-thanh", headers=ADMIN)
        assert response.status_code == 409, step
        assert response.json()["error"] == "site_in_use"
        assert response.json()["details"] == {"sessions": [session["id"]]}
        assert snapshot(store) == before
        await client.post(f"/api/sessions/{session['id']}/start", headers=ADMIN)
        before = snapshot(store)
    await client.post(f"/api/sessions/{session['id']}/end", headers=ADMIN)
    assert (await client.delete("/api/sites/nga-thanh", headers=ADMIN)).status_code == 204


async def test_renamed_or_deleted_site_keeps_its_snapshot_in_old_sessions(
    client: httpx.AsyncClient, bridge: FakeBridge
) -> None:
    await put_sites(client)
    session = await create_session(client, ["nga-thanh", "tan-loc"])
    await client.post(f"/api/sessions/{session['id']}/end", headers=ADMIN)
    renamed = {"name": "Phường Nga Thạnh", "kind": "ward", "expected": 99}
    await client.put("/api/sites/nga-thanh", json=renamed, headers=ADMIN)
    assert (await client.delete("/api/sites/tan-loc", headers=ADMIN)).status_code == 204

    response = await client.get(f"/api/sessions/{session['id']}", headers=ADMIN)
    invites = {i["site"]: i for i in response.json()["invites"]}
    assert invites["nga-thanh"]["name"] == "Xã Nga Thạnh"
    assert invites["nga-thanh"]["kind"] == "commune"
    assert invites["nga-thanh"]["expected"] == 40
    assert invites["tan-loc"]["name"] == "Thị trấn Tân Lộc"


GOOD_SITE = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}


@pytest.mark.parametrize(
    ("site_id", "body", "bad_fields"),
    [
        ("nga-thanh", {"kind": "commune", "expected": 40}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "name": ""}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "name": "   "}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "name": "x" * 201}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "name": "Xã\nNga"}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "name": 7}, {"name"}),
        ("nga-thanh", {**GOOD_SITE, "kind": "k" * 41}, {"kind"}),
        ("nga-thanh", {**GOOD_SITE, "expected": True}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expected": "40"}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expected": -1}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expected": 40.5}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expected": 10**20}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expected": None}, {"expected"}),
        ("nga-thanh", {**GOOD_SITE, "expcted": 40}, {"expcted"}),
        ("Nga-Thanh", GOOD_SITE, {"id"}),
        ("-nga", GOOD_SITE, {"id"}),
        ("x" * 65, GOOD_SITE, {"id"}),
        ("nga thanh", GOOD_SITE, {"id"}),
        ("xã", GOOD_SITE, {"id"}),
        ("nga-thanh", {"name": "", "kind": "", "expected": False}, {"name", "kind", "expected"}),
    ],
)
async def test_put_site_rejects_bad_fields(
    client: httpx.AsyncClient, store: Store, site_id: str, body: dict, bad_fields: set[str]
) -> None:
    await put_sites(client)
    before = snapshot(store)
    response = await client.put(f"/api/sites/{site_id}", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_body"
    assert set(response.json()["details"]["fields"]) == bad_fields
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b'"text"', b"", b'{"name": "x"', b'{"expected": NaN}', b"\xff\xfe{}"],
)
async def test_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, store: Store, content: bytes
) -> None:
    before = snapshot(store)
    response = await client.put("/api/sites/nga-thanh", content=content, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_body")
    assert snapshot(store) == before


# JSON bodies that parse but cannot be taken: refused with 400 on every JSON endpoint, never 500


def _nested(levels: int) -> bytes:
    """An object whose `name` holds arrays `levels` deep: levels + 1 in all."""
    return b'{"name": ' + b"[" * levels + b"]" * levels + b"}"


JSON_ROUTES = [
    ("PUT", "/api/sites/nga-thanh"),
    ("POST", "/api/sessions"),
    ("POST", "/api/sessions/{a}/sites/nga-thanh/headcount"),
]
UNREADABLE_JSON = [
    (_nested(32), "nests more than 32 levels"),
    # Deeper than the decoder recurses (within the tests' 4 KiB bodies).
    (b"[" * 2000 + b"]" * 2000, "nests more than 32 levels"),
    (b'{"name": "\\ud800", "kind": "commune", "expected": 1}', "lone surrogate"),
    (b'{"name": "Nga \\udfff Th", "kind": "commune", "expected": 1}', "lone surrogate"),
    (b'{"\\udc00": 1}', "lone surrogate"),
    (b'{"sites": [["ok", "\\ud83d"]]}', "lone surrogate"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize(("content", "says"), UNREADABLE_JSON)
async def test_json_too_deep_or_with_lone_surrogates_is_400(
    client: httpx.AsyncClient,
    store: Store,
    world: World,
    method: str,
    path: str,
    content: bytes,
    says: str,
) -> None:
    before = snapshot(store)
    url = path.format(a=world.a)
    response = await client.request(method, url, content=content, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_body")
    assert says in response.json()["message"]
    assert snapshot(store) == before


async def test_json_at_the_depth_limit_is_read(client: httpx.AsyncClient) -> None:
    # 32 levels: read, then refused for what the field holds (422), not for its shape.
    response = await client.put("/api/sites/nga-thanh", content=_nested(31), headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["details"]["fields"]["name"] == "must be a string"


async def test_a_pair_of_surrogates_is_one_character(client: httpx.AsyncClient) -> None:
    body = b'{"name": "X\\ud83c\\udfdb", "kind": "commune", "expected": 1}'
    response = await client.put("/api/sites/nga-thanh", content=body, headers=ADMIN)
    assert response.status_code == 201 and response.json()["name"] == "X\U0001f3db"


async def test_a_duplicate_check_on_a_large_sites_list_names_each_duplicate_once(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    before = snapshot(store)
    # Near the 960 KB list (the body limit raised for it): every id twice, some thrice.
    app_state(app).config = replace(app_state(app).config, max_body_bytes=2_000_000)
    ids = [f"site-{i:06d}" for i in range(40_000)]
    body = {**SESSION_BODY, "sites": ids + ids[:3] + ids}
    response = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (422, "invalid_body")
    named = response.json()["details"]["fields"]["sites"]
    assert named == "names a site twice: " + ", ".join(ids)
    assert snapshot(store) == before


async def test_a_large_csv_import_reports_every_duplicate_line(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    # 20,000 sites, then each again: every second record names the line it repeats.
    app_state(app).config = replace(app_state(app).config, max_body_bytes=2_000_000)
    ids = [f"xa-{i:05d}" for i in range(20_000)]
    records = [f"{site_id},Xã {site_id},commune,{i % 90}" for i, site_id in enumerate(ids)]
    csv_text = "\r\n".join(["id,name,kind,expected", *records, *records]) + "\r\n"
    response = await client.post(
        "/api/sites/import", content=csv_text.encode("utf-8"), headers=CSV_HEADERS
    )
    assert response.status_code == 200
    report = response.json()
    assert (report["created"], report["rejected"]) == (20_000, 20_000)
    repeated = report["lines"][20_000:]
    assert repeated[0] == {
        "line": 20_002,
        "id": ids[0],
        "result": "rejected",
        "error": "duplicate of line 2",
    }
    assert all(line["error"] == f"duplicate of line {i + 2}" for i, line in enumerate(repeated))
    assert len(store.list_sites()) == 20_000


# Body size, for every route that reads a body


async def _oversized_chunks() -> AsyncIterator[bytes]:
    # No Content-Length: the size is only found while reading.
    yield b'{"name": "'
    for _ in range(MAX_BODY_BYTES // 100 + 1):
        yield b"x" * 100
    yield b'", "kind": "commune", "expected": 1}'


BODY_ROUTES = [
    ("PUT", "/api/sites/nga-thanh", "application/json"),
    ("POST", "/api/sessions", "application/json"),
    ("POST", "/api/sites/import", "text/csv"),
]


@pytest.mark.parametrize(("method", "path", "content_type"), BODY_ROUTES)
async def test_body_too_large_by_content_length(
    client: httpx.AsyncClient, store: Store, method: str, path: str, content_type: str
) -> None:
    await put_sites(client)
    before = snapshot(store)
    headers = {**ADMIN, "Content-Type": content_type, "Content-Length": str(MAX_BODY_BYTES + 1)}
    response = await client.request(method, path, content=b"{}", headers=headers)
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")
    assert snapshot(store) == before


@pytest.mark.parametrize(("method", "path", "content_type"), BODY_ROUTES)
async def test_body_too_large_by_stream(
    client: httpx.AsyncClient, store: Store, method: str, path: str, content_type: str
) -> None:
    await put_sites(client)
    before = snapshot(store)
    headers = {**ADMIN, "Content-Type": content_type}
    response = await client.request(method, path, content=_oversized_chunks(), headers=headers)
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")
    assert snapshot(store) == before


async def test_body_at_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    body = b'{"name": "N", "kind": "commune", "expected": 1}'
    padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    response = await client.put("/api/sites/nga-thanh", content=padded, headers=ADMIN)
    assert response.status_code == 201


# CSV import

CSV_HEADERS = {**ADMIN, "Content-Type": "text/csv; charset=utf-8"}


async def test_import_sites_from_csv(client: httpx.AsyncClient) -> None:
    await put_sites(client, {"tan-loc": SITES["tan-loc"], "ubnd": SITES["ubnd"]})
    csv_text = (
        "\ufeffid,name,kind,expected\r\n"
        'nga-thanh,"Xã Nga Thạnh, huyện Nga Sơn",commune,40\r\n'
        "tan-loc,Thị trấn Tân Lộc,town,30\r\n"
        "ubnd,Văn phòng UBND huyện,agency,12\r\n"
        "\r\n"
        "Bad Id,Somewhere,commune,3\r\n"
        "nga-thanh,Xã Nga Thạnh,commune,41\r\n"
        "phu-an,Xã Phú An,commune,-2\r\n"
        "phu-an,,commune,2\r\n"
        "phu-an,Xã Phú An,commune\r\n"
        '"hoa-binh","Xã Hòa\nBình",commune,5\r\n'
        "my-loc, Xã Mỹ Lộc ,  commune ,  7 \r\n"
    )
    response = await client.post(
        "/api/sites/import", content=csv_text.encode("utf-8"), headers=CSV_HEADERS
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(line["line"], line["id"], line["result"]) for line in report["lines"]] == [
        (2, "nga-thanh", "created"),
        (3, "tan-loc", "updated"),
        (4, "ubnd", "unchanged"),
        (6, "Bad Id", "rejected"),
        (7, "nga-thanh", "rejected"),
        (8, "phu-an", "rejected"),
        (9, "phu-an", "rejected"),
        (10, "phu-an", "rejected"),
        (11, "hoa-binh", "rejected"),
        (13, "my-loc", "created"),
    ]
    errors = {line["line"]: line.get("error") for line in report["lines"]}
    assert "duplicate of line 2" in errors[7]
    assert errors[8].startswith("expected ")
    assert errors[9].startswith("name ")
    assert "fields" in errors[10]
    assert "control characters" in errors[11]
    assert (report["created"], report["updated"], report["unchanged"], report["rejected"]) == (
        2,
        1,
        1,
        6,
    )
    sites = {s["id"]: s for s in (await client.get("/api/sites", headers=ADMIN)).json()["sites"]}
    assert sites["nga-thanh"] == {
        "id": "nga-thanh",
        "name": "Xã Nga Thạnh, huyện Nga Sơn",
        "kind": "commune",
        "expected": 40,
    }
    assert sites["tan-loc"]["expected"] == 30
    assert sites["my-loc"] == {
        "id": "my-loc",
        "name": "Xã Mỹ Lộc",
        "kind": "commune",
        "expected": 7,
    }
    assert set(sites) == {"nga-thanh", "tan-loc", "ubnd", "my-loc"}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"id,name,kind\nnga-thanh,X,commune\n", "text/csv", 400, "invalid_body"),
        (b"name,id,kind,expected\nX,nga-thanh,commune,1\n", "text/csv", 400, "invalid_body"),
        (b"ID,Name,Kind,Expected\nnga-thanh,X,commune,1\n", "text/csv", 400, "invalid_body"),
        (b"", "text/csv", 400, "invalid_body"),
        (
            b"id,name,kind,expected\nnga-thanh,X,commune,1\ntan-loc,X\xe3 T\xe2n,town,2\n",
            "text/csv",
            400,
            "invalid_body",
        ),
        (b'id,name,kind,expected\nnga-thanh,"X"y,commune,1\n', "text/csv", 400, "invalid_body"),
        (b"id,name,kind,expected\nnga-thanh,X,commune,1\n", "application/json", 415, None),
        (b"id,name,kind,expected\nnga-thanh,X,commune,1\n", "", 415, None),
    ],
)
async def test_unreadable_csv_applies_nothing(
    client: httpx.AsyncClient,
    store: Store,
    content: bytes,
    content_type: str,
    status: int,
    error: str | None,
) -> None:
    before = snapshot(store)
    headers = {**ADMIN, "Content-Type": content_type}
    response = await client.post("/api/sites/import", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == (error or "unsupported_media_type")
    assert snapshot(store) == before


async def test_csv_not_utf8_names_the_line(client: httpx.AsyncClient) -> None:
    content = "id,name,kind,expected\nnga-son,Nga Sơn,commune,1\n".encode("cp1258")
    response = await client.post("/api/sites/import", content=content, headers=CSV_HEADERS)
    assert response.status_code == 400
    assert response.json()["details"] == {"line": 2}


async def test_a_dry_run_import_says_what_it_would_do_and_writes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client, {"tan-loc": SITES["tan-loc"], "ubnd": SITES["ubnd"]})
    csv_text = (
        "id,name,kind,expected\n"
        "nga-thanh,Xã Nga Thạnh,commune,40\n"
        "tan-loc,Thị trấn Tân Lộc,town,30\n"
        "ubnd,Văn phòng UBND huyện,agency,12\n"
        "phu-an,Xã Phú An,commune,-2\n"
    ).encode()
    before = snapshot(store)
    preview = await client.post(
        "/api/sites/import?dry_run=1", content=csv_text, headers=CSV_HEADERS
    )
    assert preview.status_code == 200, preview.text
    assert snapshot(store) == before
    applied = await client.post("/api/sites/import", content=csv_text, headers=CSV_HEADERS)
    # The preview is the answer the import then gives, but for the flag.
    assert preview.json() == {**applied.json(), "dry_run": True}
    assert applied.json()["dry_run"] is False
    assert [line["result"] for line in preview.json()["lines"]] == [
        "created",
        "updated",
        "unchanged",
        "rejected",
    ]
    assert snapshot(store) != before


@pytest.mark.parametrize("value", ["yes", "2", ""])
async def test_a_dry_run_flag_that_is_not_one_or_zero_is_refused(
    client: httpx.AsyncClient, store: Store, value: str
) -> None:
    before = snapshot(store)
    content = b"id,name,kind,expected\nnga-thanh,X,commune,1\n"
    response = await client.post(
        f"/api/sites/import?dry_run={value}", content=content, headers=CSV_HEADERS
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_query"
    assert snapshot(store) == before


# Sessions


async def test_create_session(client: httpx.AsyncClient, store: Store) -> None:
    await put_sites(client)
    body = {**SESSION_BODY, "sites": ["tan-loc", "nga-thanh"]}
    response = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    session_id = created["id"]
    assert created["title"] == "Họp giao ban tháng 3"
    assert created["state"] == "scheduled"
    assert created["scheduled_start"] == "2025-03-01T01:00:00Z"
    assert created["scheduled_end"] == "2025-03-01T04:00:00Z"
    assert created["started_at"] is None and created["ended_at"] is None
    assert response.headers["location"] == f"{BASE_URL}/api/sessions/{session_id}"

    host = created["host"]
    assert host["console_url"] == f"{BASE_URL}/console/{session_id}#token={host['token']}"
    assert host["whip_url"] == f"{BASE_URL}/whip/{session_id}"
    assert [i["site"] for i in created["invites"]] == ["tan-loc", "nga-thanh"]
    nga = created["invites"][1]
    assert nga["name"] == "Xã Nga Thạnh"
    assert nga["join_url"] == f"{BASE_URL}/join/{session_id}/nga-thanh#token={nga['token']}"
    assert nga["whep_url"] == f"{BASE_URL}/whep/{session_id}/nga-thanh"
    tokens = [host["token"], *(i["token"] for i in created["invites"])]
    assert len(set(tokens)) == 3
    assert all(len(t) >= 43 for t in tokens)

    # Only hashes are kept: no token is anywhere in the database files.
    database = b"".join(p.read_bytes() for p in Path(store_path(client)).parent.glob("*.sqlite3*"))
    assert all(t.encode() not in database for t in tokens)


def store_path(client: httpx.AsyncClient) -> Path:
    app = client._transport.app  # type: ignore[attr-defined]
    return app_state(app).config.data_dir / "diemcau.sqlite3"


async def test_create_session_without_sites_invites_every_site(
    client: httpx.AsyncClient,
) -> None:
    await put_sites(client)
    response = await client.post("/api/sessions", json=SESSION_BODY, headers=ADMIN)
    assert response.status_code == 201
    assert [i["site"] for i in response.json()["invites"]] == ["nga-thanh", "tan-loc", "ubnd"]


async def test_links_use_the_public_url(config: Config) -> None:
    app = create_app(replace(config, public_url="https://hop.nga-son.gov.vn/"), ADMIN_TOKEN)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            await put_sites(client, {"nga-thanh": SITES["nga-thanh"]})
            created = await create_session(client)
    finally:
        await shut_down(app)
    base = "https://hop.nga-son.gov.vn"
    assert created["host"]["whip_url"] == f"{base}/whip/{created['id']}"
    assert created["invites"][0]["join_url"].startswith(f"{base}/join/{created['id']}/nga-thanh#")


@pytest.mark.parametrize(
    ("change", "status", "error", "details"),
    [
        ({"title": None}, 422, "invalid_body", {"fields": {"title": "is required"}}),
        ({"title": " "}, 422, "invalid_body", {"fields": ["title"]}),
        ({"title": 3}, 422, "invalid_body", {"fields": ["title"]}),
        (
            {"scheduled_start": "2025-03-01T08:00:00"},
            422,
            "invalid_body",
            {"fields": ["scheduled_start"]},
        ),
        ({"scheduled_start": "2025-03-01"}, 422, "invalid_body", {"fields": ["scheduled_start"]}),
        ({"scheduled_start": "1 March 2025"}, 422, "invalid_body", {"fields": ["scheduled_start"]}),
        ({"scheduled_start": 1740790800}, 422, "invalid_body", {"fields": ["scheduled_start"]}),
        (
            {"scheduled_start": "2025-02-30T08:00:00Z"},
            422,
            "invalid_body",
            {"fields": ["scheduled_start"]},
        ),
        (
            {"scheduled_start": "0001-01-01T00:00:00+01:00"},
            422,
            "invalid_body",
            {"fields": ["scheduled_start"]},
        ),
        # Four-digit years from 1900 (in UTC): 0999 and 1000 reached the store and a 500.
        *(
            ({"scheduled_start": moment}, 422, "invalid_body", {"fields": ["scheduled_start"]})
            for moment in (
                "0999-01-01T00:00:00Z",
                "1000-01-01T00:00:00+00:00",
                "1899-12-31T23:59:59Z",
                "1900-01-01T06:00:00+07:00",
            )
        ),
        (
            {"scheduled_end": "9999-12-31T23:00:00-05:00"},
            422,
            "invalid_body",
            {"fields": ["scheduled_end"]},
        ),
        (
            {"scheduled_end": "2025-03-01T08:00:00+07:00"},
            422,
            "invalid_body",
            {"fields": ["scheduled_end"]},
        ),
        (
            {"scheduled_end": "2025-03-01T00:59:59Z"},
            422,
            "invalid_body",
            {"fields": ["scheduled_end"]},
        ),
        ({"sites": []}, 422, "invalid_body", {"fields": ["sites"]}),
        ({"sites": ["nga-thanh", "nga-thanh"]}, 422, "invalid_body", {"fields": ["sites"]}),
        ({"sites": "nga-thanh"}, 422, "invalid_body", {"fields": ["sites"]}),
        ({"sites": [1]}, 422, "invalid_body", {"fields": ["sites"]}),
        ({"site": ["nga-thanh"]}, 422, "invalid_body", {"fields": ["site"]}),
        (
            {"sites": ["nga-thanh", "nowhere", "Bad Id"]},
            422,
            "unknown_sites",
            {"sites": ["nowhere", "Bad Id"]},
        ),
        (
            {"title": "", "scheduled_start": "soon", "sites": []},
            422,
            "invalid_body",
            {"fields": ["title", "scheduled_start", "sites"]},
        ),
    ],
)
async def test_create_session_rejects_bad_bodies(
    client: httpx.AsyncClient,
    store: Store,
    change: dict,
    status: int,
    error: str,
    details: dict,
) -> None:
    await put_sites(client)
    before = snapshot(store)
    body = {k: v for k, v in {**SESSION_BODY, **change}.items() if v is not None}
    response = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    got = response.json()["details"]
    if isinstance(details.get("fields"), list):
        assert sorted(got["fields"]) == sorted(details["fields"])
    else:
        assert got == details
    assert snapshot(store) == before


async def test_create_session_with_its_kind(client: httpx.AsyncClient, store: Store) -> None:
    await put_sites(client)
    plain = await client.post("/api/sessions", json=SESSION_BODY, headers=ADMIN)
    key = await client.post("/api/sessions", json={**SESSION_BODY, "kind": "key"}, headers=ADMIN)
    assert (plain.status_code, key.status_code) == (201, 201), key.text
    assert (plain.json()["kind"], key.json()["kind"]) == ("grassroots", "key")
    stored = store.get_session(key.json()["id"])
    assert stored is not None and stored.kind == "key"
    shown = await client.get(f"/api/sessions/{key.json()['id']}", headers=ADMIN)
    assert shown.json()["kind"] == "key"
    listed = await client.get("/api/sessions", headers=ADMIN)
    assert [s["kind"] for s in listed.json()["sessions"]] == ["key", "grassroots"]


async def test_a_sessions_kind_is_put_right(client: httpx.AsyncClient, store: Store) -> None:
    await put_sites(client)
    created = (await client.post("/api/sessions", json=SESSION_BODY, headers=ADMIN)).json()
    path = f"/api/sessions/{created['id']}"
    response = await client.patch(path, json={"kind": "key"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {**{k: created[k] for k in response.json()}, "kind": "key"}
    stored = store.get_session(created["id"])
    assert stored is not None and stored.kind == "key"
    before = snapshot(store)
    for body, field in [({"kind": "other"}, "kind"), ({}, "kind"), ({"kind": "key", "x": 1}, "x")]:
        refused = await client.patch(path, json=body, headers=ADMIN)
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_body")
        assert field in refused.json()["details"]["fields"]
    host = await client.patch(
        path,
        json={"kind": "grassroots"},
        headers={"Authorization": f"Bearer {created['host']['token']}"},
    )
    assert (host.status_code, host.json()["error"]) == (403, "forbidden_role")
    missing = await client.patch("/api/sessions/nosuchone2", json={"kind": "key"}, headers=ADMIN)
    assert missing.status_code == 404
    assert snapshot(store) == before


@pytest.mark.parametrize("kind", ["KEY", "chủ chốt", "", 1, None, ["key"]])
async def test_create_session_refuses_an_unknown_kind(
    client: httpx.AsyncClient, store: Store, kind: object
) -> None:
    await put_sites(client)
    before = snapshot(store)
    body = {**SESSION_BODY, "kind": kind}
    response = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (422, "invalid_body")
    assert response.json()["details"]["fields"] == {"kind": "must be one of: key, grassroots"}
    assert snapshot(store) == before


async def test_create_session_needs_some_site(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.post("/api/sessions", json=SESSION_BODY, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (422, "invalid_body")
    assert list(response.json()["details"]["fields"]) == ["sites"]
    assert store.list_sessions() == []


async def test_list_sessions_newest_first_without_tokens(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/api/sessions", headers=ADMIN)
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [s["id"] for s in sessions] == [world.b, world.a]
    assert sessions[1]["title"] == "Họp giao ban"
    assert_no_tokens(response, world)


def assert_no_tokens(response: httpx.Response, world: World) -> None:
    for token in [world.host_a, world.host_b, ADMIN_TOKEN, *world.site_tokens.values()]:
        assert token not in response.text
    assert "token" not in response.text


@pytest.mark.parametrize("headers", ["admin", "host"])
async def test_get_session(client: httpx.AsyncClient, world: World, headers: str) -> None:
    auth = ADMIN if headers == "admin" else bearer(world.host_a)
    response = await client.get(f"/api/sessions/{world.a}", headers=auth)
    assert response.status_code == 200
    session = response.json()
    assert session["id"] == world.a
    assert session["state"] == "scheduled"
    assert session["invites"][0] == {
        "site": "nga-thanh",
        "name": "Xã Nga Thạnh",
        "kind": "commune",
        "expected": 40,
        "whep_url": f"{BASE_URL}/whep/{world.a}/nga-thanh",
    }
    assert [i["site"] for i in session["invites"]] == ["nga-thanh", "tan-loc", "ubnd"]
    assert_no_tokens(response, world)


async def test_start_and_end(
    client: httpx.AsyncClient, world: World, store: Store, bridge: FakeBridge
) -> None:
    host = bearer(world.host_a)
    started = await client.post(f"/api/sessions/{world.a}/start", headers=host)
    assert started.status_code == 200
    assert started.json()["state"] == "live"
    started_at = started.json()["started_at"]
    assert started_at.endswith("Z")
    assert datetime.fromisoformat(started_at) <= datetime.now(UTC)
    assert len(started.json()["invites"]) == 3

    again = await client.post(f"/api/sessions/{world.a}/start", headers=host)
    assert (again.status_code, again.json()["started_at"]) == (200, started_at)

    ended = await client.post(f"/api/sessions/{world.a}/end", headers=host)
    assert ended.status_code == 200
    assert ended.json()["state"] == "ended"
    assert ended.json()["started_at"] == started_at
    assert ended.json()["ended_at"] >= started_at
    assert bridge.closed == [(world.a, "closed")]

    again = await client.post(f"/api/sessions/{world.a}/end", headers=host)
    assert (again.status_code, again.json()["ended_at"]) == (200, ended.json()["ended_at"])

    before = snapshot(store)
    restart = await client.post(f"/api/sessions/{world.a}/start", headers=ADMIN)
    assert (restart.status_code, restart.json()["error"]) == (409, "session_ended")
    assert snapshot(store) == before
    assert [e.type for e in store.events(world.a)] == ["session_start", "session_end"]


async def test_ending_a_scheduled_session_cancels_it(
    client: httpx.AsyncClient, world: World, bridge: FakeBridge
) -> None:
    ended = await client.post(f"/api/sessions/{world.b}/end", headers=ADMIN)
    assert ended.json()["state"] == "ended"
    assert ended.json()["started_at"] is None
    assert ended.json()["ended_at"] is not None


async def test_cancel_ends_only_a_session_not_started(
    client: httpx.AsyncClient, world: World, store: Store, bridge: FakeBridge
) -> None:
    cancelled = await client.post(f"/api/sessions/{world.b}/cancel", headers=ADMIN)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "ended" and cancelled.json()["started_at"] is None
    again = await client.post(f"/api/sessions/{world.b}/cancel", headers=ADMIN)
    assert (again.status_code, again.json()) == (200, cancelled.json())
    assert [e.type for e in store.events(world.b)] == ["session_end"]

    # Once live, a cancel (a click that crossed the start) changes nothing.
    await client.post(f"/api/sessions/{world.a}/start", headers=ADMIN)
    bridge.closed.clear()
    before = snapshot(store)
    live = await client.post(f"/api/sessions/{world.a}/cancel", headers=bearer(world.host_a))
    assert (live.status_code, live.json()["error"]) == (409, "session_live")
    assert snapshot(store) == before and bridge.closed == []
    await client.post(f"/api/sessions/{world.a}/end", headers=ADMIN)
    held = await client.post(f"/api/sessions/{world.a}/cancel", headers=ADMIN)
    assert (held.status_code, held.json()["error"]) == (409, "session_ended")
    hall_token = bearer(world.site(world.a, "nga-thanh"))
    hall = await client.post(f"/api/sessions/{world.a}/cancel", headers=hall_token)
    assert hall.status_code == 403
    missing = await client.post("/api/sessions/nosuchsession/cancel", headers=ADMIN)
    assert missing.status_code == 404


async def test_session_sites_reports_the_bridge(
    client: httpx.AsyncClient, world: World, bridge: FakeBridge, store: Store
) -> None:
    since = datetime(2025, 3, 1, 1, 2, 3, tzinfo=UTC)
    bridge.links[world.a] = {
        "tan-loc": SiteLink(True, since, 2, 1500, 1_200_000),
        "not-invited": SiteLink(True, since, 1, 1, 1),
    }
    store.append_event(world.a, "headcount", since, site_id="tan-loc", present=15)
    # A correction overwrites.
    store.append_event(world.a, "headcount", since.replace(minute=5), site_id="tan-loc", present=20)
    store.append_event(world.a, "headcount", since.replace(minute=6), site_id="ubnd", present=9)
    response = await client.get(f"/api/sessions/{world.a}/sites", headers=bearer(world.host_a))
    assert response.status_code == 200
    body = response.json()
    assert (body["session"], body["state"]) == (world.a, "scheduled")
    assert body["sites"] == [
        {
            "site": "nga-thanh",
            "name": "Xã Nga Thạnh",
            "kind": "commune",
            "expected": 40,
            "connected": False,
            "connected_since": None,
            "connections": 0,
            "packets_sent": 0,
            "bytes_sent": 0,
            "headcount": None,
            "headcount_at": None,
            "people_expected": None,
            "people_present": None,
            "people_excused": None,
            "people_unexcused": None,
            "cause": None,
            "cause_reason": None,
        },
        {
            "site": "tan-loc",
            "name": "Thị trấn Tân Lộc",
            "kind": "town",
            "expected": 25,
            "connected": True,
            "connected_since": "2025-03-01T01:02:03Z",
            "connections": 2,
            "packets_sent": 1500,
            "bytes_sent": 1_200_000,
            "headcount": 20,
            "headcount_at": "2025-03-01T01:05:03Z",
            "people_expected": None,
            "people_present": None,
            "people_excused": None,
            "people_unexcused": None,
            "cause": None,
            "cause_reason": None,
        },
        {
            "site": "ubnd",
            "name": "Văn phòng UBND huyện",
            "kind": "agency",
            "expected": 12,
            "connected": False,
            "connected_since": None,
            "connections": 0,
            "packets_sent": 0,
            "bytes_sent": 0,
            "headcount": 9,
            "headcount_at": "2025-03-01T01:06:03Z",
            "people_expected": None,
            "people_present": None,
            "people_excused": None,
            "people_unexcused": None,
            "cause": None,
            "cause_reason": None,
        },
    ]
    # People are counted where the hall is connected now: tan-loc's 20, not ubnd's 9.
    assert body["totals"] == {
        "invited": 3,
        "connected": 1,
        "expected": 77,
        "headcount": 20,
        "participation_rate": 20 / 77,
        "people_expected": 0,
        "people_present": 0,
        "people_excused": 0,
        "people_unexcused": 0,
        "people_present_rate": None,
    }


async def test_me_for_each_role(client: httpx.AsyncClient, world: World) -> None:
    as_site = await client.get(
        f"/api/sessions/{world.a}/me", headers=bearer(world.site(world.a, "tan-loc"))
    )
    assert as_site.status_code == 200
    assert as_site.json()["role"] == "site"
    assert as_site.json()["site"] == {
        "id": "tan-loc",
        "name": "Thị trấn Tân Lộc",
        "kind": "town",
        "expected": 25,
    }
    assert as_site.json()["whep_url"] == f"{BASE_URL}/whep/{world.a}/tan-loc"
    assert "whip_url" not in as_site.json()
    session = as_site.json()["session"]
    assert (session["id"], session["title"], session["state"]) == (
        world.a,
        "Họp giao ban",
        "scheduled",
    )
    assert session["scheduled_start"] == "2025-03-01T01:00:00Z"

    as_host = await client.get(f"/api/sessions/{world.a}/me", headers=bearer(world.host_a))
    assert as_host.json()["role"] == "host"
    assert as_host.json()["site"] is None
    assert as_host.json()["whip_url"] == f"{BASE_URL}/whip/{world.a}"

    as_admin = await client.get(f"/api/sessions/{world.a}/me", headers=ADMIN)
    assert (as_admin.json()["role"], as_admin.json()["site"]) == ("admin", None)


async def test_me_after_the_end(
    client: httpx.AsyncClient, world: World, bridge: FakeBridge
) -> None:
    await client.post(f"/api/sessions/{world.a}/end", headers=ADMIN)
    response = await client.get(
        f"/api/sessions/{world.a}/me", headers=bearer(world.site(world.a, "nga-thanh"))
    )
    assert response.json()["session"]["state"] == "ended"


async def test_me_gives_the_turn_servers_with_credentials_for_whom_it_is(
    client: httpx.AsyncClient, world: World, app: Starlette
) -> None:
    path = f"/api/sessions/{world.a}/me"
    site = bearer(world.site(world.a, "tan-loc"))
    for headers in (site, bearer(world.host_a), ADMIN):
        assert (await client.get(path, headers=headers)).json()["ice_servers"] == []

    urls = ("turn:198.51.100.7:3478?transport=udp", "turns:198.51.100.7:443?transport=tcp")
    state = app_state(app)
    state.config = replace(state.config, turn_urls=urls, turn_secret="north", turn_ttl=600)
    for headers, identity in ((site, "tan-loc"), (bearer(world.host_a), "host"), (ADMIN, "host")):
        servers = (await client.get(path, headers=headers)).json()["ice_servers"]
        assert [server["urls"] for server in servers] == [[urls[0]], [urls[1]]]
        for server in servers:
            expiry, whom = server["username"].split(":")
            assert whom == identity
            assert server["credential"] == mint_credentials("north", identity, 0, int(expiry))[1]


# Who may call what: every route against the whole token table

SITE_BODY = {"name": "Xã Nga Thạnh", "kind": "commune", "expected": 40}
ROUTES = [
    ("GET", lambda s, site: "/api/sites", ADMIN_ONLY, False, {}),
    ("GET", lambda s, site: f"/api/sites/{site}", ADMIN_ONLY, False, {}),
    ("PUT", lambda s, site: f"/api/sites/{site}", ADMIN_ONLY, False, {"json": SITE_BODY}),
    ("DELETE", lambda s, site: "/api/sites/nowhere", ADMIN_ONLY, False, {}),
    (
        "POST",
        lambda s, site: "/api/sites/import",
        ADMIN_ONLY,
        False,
        {"content": b"id,name,kind,expected\n", "headers": {"Content-Type": "text/csv"}},
    ),
    ("GET", lambda s, site: "/api/sessions", ADMIN_ONLY, False, {}),
    ("POST", lambda s, site: "/api/sessions", ADMIN_ONLY, False, {"json": SESSION_BODY}),
    ("GET", lambda s, site: f"/api/sessions/{s}", ADMIN_OR_HOST, True, {}),
    ("GET", lambda s, site: f"/api/sessions/{s}/sites", ADMIN_OR_HOST, True, {}),
    ("POST", lambda s, site: f"/api/sessions/{s}/start", ADMIN_OR_HOST, True, {}),
    ("POST", lambda s, site: f"/api/sessions/{s}/end", ADMIN_OR_HOST, True, {}),
    ("GET", lambda s, site: f"/api/sessions/{s}/me", ANY_ROLE, True, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "allow", "session_scoped", "request_args"),
    ROUTES,
    ids=[f"{m} {p('{s}', '{site}')}" for m, p, *_ in ROUTES],
)
async def test_route_authorization(
    client: httpx.AsyncClient,
    world: World,
    store: Store,
    bridge: FakeBridge,
    method: str,
    path: Any,
    allow: frozenset[str],
    session_scoped: bool,
    request_args: dict,
) -> None:
    let_through = await check_auth(
        client, world, method, path, allow=allow, session_scoped=session_scoped, **request_args
    )
    assert ("admin" in let_through) == ("admin" in allow)
    assert ("host" in let_through) == ("host" in allow and session_scoped)
    assert ("site" in let_through) == ("site" in allow and session_scoped)


# Errors in general


async def test_unknown_api_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here", headers=ADMIN)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = await client.patch("/api/sites/nga-thanh", headers=ADMIN)
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}


async def test_paths_outside_the_api_keep_plain_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


async def test_tokens_never_reach_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, bridge: FakeBridge
) -> None:
    caplog.set_level(logging.DEBUG)
    await put_sites(client)
    created = await create_session(client)
    host = created["host"]["token"]
    site = created["invites"][0]["token"]
    session = created["id"]
    for token, path in [
        (host, f"/api/sessions/{session}/start"),
        (site, f"/api/sessions/{session}/start"),
        (site + "x", f"/api/sessions/{session}/me"),
        (host, "/api/sites"),
        (host, f"/api/sessions/{session}/end"),
    ]:
        await client.post(path, headers=bearer(token))
    await client.get(f"/api/sessions/{session}/me", headers=bearer(site))
    await client.get("/api/sessions/nope/me", headers={"Authorization": f"Basic {host}"})

    assert caplog.records, "the requests above should have logged something"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for token in [host, site, ADMIN_TOKEN, *(i["token"] for i in created["invites"])]:
        assert token not in logged


async def test_put_site_accepts_the_object_get_returns(client: httpx.AsyncClient) -> None:
    body = {"id": "nga-an", "name": "Xã Nga An", "kind": "commune", "expected": 30}
    created = await client.put("/api/sites/nga-an", json=body, headers=ADMIN)
    assert created.status_code == 201
    again = await client.put("/api/sites/nga-an", json=created.json(), headers=ADMIN)
    assert again.status_code == 200
    other = await client.put("/api/sites/nga-an", json={**body, "id": "nga-hai"}, headers=ADMIN)
    assert (other.status_code, other.json()["details"]["fields"]["id"]) == (
        422,
        "differs from the id in the path",
    )
    assert (await client.get("/api/sites/nga-hai", headers=ADMIN)).status_code == 404


# QR codes for the office's link sheet (server/qr.py)


async def test_qr_codes_are_svg_images_in_order(client: httpx.AsyncClient) -> None:
    texts = ["https://hop.example.gov.vn/join/a/b#token=x", "second"]
    response = await client.post("/api/qr", json={"texts": texts}, headers=ADMIN)
    assert response.status_code == 200, response.text
    svgs = response.json()["svgs"]
    assert len(svgs) == 2 and svgs[0] != svgs[1]
    assert all(svg.startswith("data:image/svg+xml") for svg in svgs)


@pytest.mark.parametrize("body", [{}, {"texts": "x"}, {"texts": [""]}, {"texts": [1]}])
async def test_qr_codes_of_no_texts_are_refused(client: httpx.AsyncClient, body: dict) -> None:
    response = await client.post("/api/qr", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert (await client.post("/api/qr", json={"texts": ["x"]})).status_code == 401
