"""A session's links: shown again, re-issued (the old token refused at once, its page cut off),
a removal undone; the link key in the data directory, and sessions of before the key."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from diemcau.server.links import KEY_NAME, LinkKey, LinkKeyError
from diemcau.server.state import app_state
from diemcau.server.store import Store
from diemcau.signaling.tokens import hash_token, new_token
from tests.conftest import Server
from tests.server.conftest import World, admin_headers, bearer, put_sites
from tests.server.test_control import participant, receive, ws_url


async def links_of(client: httpx.AsyncClient, session_id: str) -> dict:
    response = await client.get(f"/api/sessions/{session_id}/links", headers=admin_headers())
    assert response.status_code == 200, response.text
    return response.json()


async def test_links_are_shown_again_as_they_were_handed_out(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    links = await links_of(client, world.a)
    created = world.created_a
    assert links["console_url"] == created["host"]["console_url"]
    assert links["attendance_url"] == created["host"]["console_url"].replace(
        "/console/", "/attendance/"
    )
    by_site = {entry["site"]: entry for entry in links["sites"]}
    assert [e["site"] for e in links["sites"]] == ["nga-thanh", "tan-loc", "ubnd"]
    for invite in created["invites"]:
        entry = by_site[invite["site"]]
        assert (entry["token"], entry["join_url"]) == (invite["token"], invite["join_url"])
        assert entry["name"] == invite["name"]
    assert by_site["ubnd"]["removed"] is True
    assert by_site["nga-thanh"]["removed"] is False
    # The same again, and nothing of it is in the database.
    assert await links_of(client, world.a) == links
    data = [p for p in store.path.parent.iterdir() if p.name != KEY_NAME]
    assert data and all(created["invites"][0]["token"].encode() not in p.read_bytes() for p in data)


async def test_the_links_are_the_admins_only(client: httpx.AsyncClient, world: World) -> None:
    for headers in ({}, bearer(world.host_a), bearer(world.site(world.a, "nga-thanh"))):
        response = await client.get(f"/api/sessions/{world.a}/links", headers=headers)
        assert response.status_code in (401, 403)
        response = await client.post(
            f"/api/sessions/{world.a}/sites/nga-thanh/reissue", headers=headers
        )
        assert response.status_code in (401, 403)
    response = await client.get("/api/sessions/nosuchsession/links", headers=admin_headers())
    assert response.status_code == 404


async def test_a_reissue_refuses_the_old_token_and_shows_the_new(
    client: httpx.AsyncClient, world: World
) -> None:
    old = world.site(world.a, "nga-thanh")
    me = f"/api/sessions/{world.a}/me"
    assert (await client.get(me, headers=bearer(old))).status_code == 200
    response = await client.post(
        f"/api/sessions/{world.a}/sites/nga-thanh/reissue", headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["generation"] == 1 and entry["token"] not in (None, old)
    assert entry["join_url"].endswith(f"/join/{world.a}/nga-thanh#token={entry['token']}")
    assert (await client.get(me, headers=bearer(old))).status_code == 401
    assert (await client.get(me, headers=bearer(entry["token"]))).json()["role"] == "site"
    # The other halls' links are untouched, and the new one is shown again.
    links = {e["site"]: e for e in (await links_of(client, world.a))["sites"]}
    assert links["nga-thanh"]["token"] == entry["token"]
    assert links["tan-loc"]["token"] == world.site(world.a, "tan-loc")


async def test_bad_reissues_and_restores_change_nothing(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    before = await links_of(client, world.a)
    cases = [
        (f"/api/sessions/{world.a}/sites/no-such/reissue", 404, "not_found"),
        ("/api/sessions/nosuchsession/sites/nga-thanh/reissue", 404, "not_found"),
        (f"/api/sessions/{world.a}/sites/nga-thanh/restore", 409, "not_removed"),
        (f"/api/sessions/{world.a}/sites/no-such/restore", 404, "not_found"),
    ]
    for path, status, error in cases:
        response = await client.post(path, headers=admin_headers())
        assert (response.status_code, response.json()["error"]) == (status, error), path
    assert await links_of(client, world.a) == before
    store.end_session(world.b, datetime.now(UTC))
    response = await client.post(
        f"/api/sessions/{world.b}/sites/nga-thanh/reissue", headers=admin_headers()
    )
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")


async def test_a_removal_is_undone_with_the_same_link(
    client: httpx.AsyncClient, world: World, app: Starlette
) -> None:
    token = world.site(world.a, "ubnd")
    me = f"/api/sessions/{world.a}/me"
    assert (await client.get(me, headers=bearer(token))).status_code == 403
    app_state(app).meeting.room(world.a)  # a room that knows the removal
    response = await client.post(
        f"/api/sessions/{world.a}/sites/ubnd/restore", headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    assert (response.json()["removed"], response.json()["token"]) == (False, token)
    assert (await client.get(me, headers=bearer(token))).status_code == 200
    assert "ubnd" not in app_state(app).meeting.room(world.a).removed


async def test_tokens_of_before_the_key_are_not_shown_and_a_reissue_mends_them(
    client: httpx.AsyncClient, store: Store
) -> None:
    """A session made with random tokens (before this version) says its links cannot be shown;
    a re-issue gives its hall a link that can."""
    await put_sites(client)
    session = store.create_session(
        title="Phiên cũ",
        scheduled_start=datetime(2025, 1, 1, 1, tzinfo=UTC),
        scheduled_end=datetime(2025, 1, 1, 2, tzinfo=UTC),
        host_token_hash=hash_token(new_token()),
        invite_token_hashes={"nga-thanh": hash_token(new_token())},
        now=datetime.now(UTC),
    )
    links = await links_of(client, session.id)
    assert (links["console_url"], links["attendance_url"]) == (None, None)
    assert [(e["token"], e["join_url"], e["generation"]) for e in links["sites"]] == [
        (None, None, None)
    ]
    response = await client.post(
        f"/api/sessions/{session.id}/sites/nga-thanh/reissue", headers=admin_headers()
    )
    token = response.json()["token"]
    assert token is not None
    me = await client.get(f"/api/sessions/{session.id}/me", headers=bearer(token))
    assert me.status_code == 200


async def test_a_new_key_shows_no_link_rather_than_a_wrong_one(
    client: httpx.AsyncClient, world: World, app: Starlette
) -> None:
    app_state(app).link_key = LinkKey(os.urandom(32))
    links = await links_of(client, world.a)
    assert links["console_url"] is None
    assert all(entry["join_url"] is None for entry in links["sites"])


def test_the_key_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    key = LinkKey.load_or_create(tmp_path)
    path = tmp_path / KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = LinkKey.load_or_create(tmp_path)
    assert again.site_token("s", "a", 0) == key.site_token("s", "a", 0)
    assert key.site_token("s", "a", 0) != key.site_token("s", "a", 1)
    assert key.site_token("s", "a", 0) != key.host_token("s", 0)
    assert len(key.site_token("s", "a", 0)) == len(new_token())
    assert [p.name for p in tmp_path.iterdir()] == [KEY_NAME]  # no partial file left
    path.write_text("not hex\n")
    with pytest.raises(LinkKeyError, match="damaged"):
        LinkKey.load(tmp_path)


async def test_a_reissue_cuts_off_the_old_links_open_page(server: Server) -> None:
    """A real server: the hall's control channel is told and closed, the old token refused."""
    session = server.create_session([{"id": "nga-thanh", "name": "Xã Nga Thạnh"}], title="Cấp lại")
    old = session["invites"][0]["token"]
    async with participant(server, session, session["host"]["token"]) as host:
        async with participant(server, session, old) as hall:
            with server.admin() as admin:
                answer = admin.post(f"/api/sessions/{session['id']}/sites/nga-thanh/reissue")
            assert answer.status_code == 200, answer.text
            assert (await receive(hall, "link_reissued"))["site"] == "nga-thanh"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await receive(hall)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "link_reissued")
        assert (await receive(host, "link_reissued"))["site"] == "nga-thanh"
    async with websockets.connect(ws_url(server, session)) as again:
        await again.send(json.dumps({"type": "hello", "token": old}))
        assert (await receive(again))["code"] == "invalid_token"
    async with participant(server, session, answer.json()["token"]) as hall:
        assert hall is not None


async def test_a_hall_removed_by_the_chair_comes_back_once_restored(server: Server) -> None:
    """A real server: the chair's removal over the control channel, undone over the API; the
    hall's same link opens its channel again, and the chair hears it."""
    session = server.create_session([{"id": "nga-hai", "name": "Xã Nga Hải"}], title="Mời lại")
    token = session["invites"][0]["token"]
    async with participant(server, session, session["host"]["token"]) as host:
        async with participant(server, session, token) as hall:
            await host.send(json.dumps({"type": "remove", "site": "nga-hai"}))
            assert (await receive(hall, "removed"))["site"] == "nga-hai"
        with server.admin() as admin:
            restored = admin.post(f"/api/sessions/{session['id']}/sites/nga-hai/restore")
            assert (restored.status_code, restored.json()["removed"]) == (200, False)
            again = admin.post(f"/api/sessions/{session['id']}/sites/nga-hai/restore")
            assert (again.status_code, again.json()["error"]) == (409, "not_removed")
        assert (await receive(host, "restored"))["site"] == "nga-hai"
        async with participant(server, session, token) as hall:
            await hall.send(json.dumps({"type": "request_floor"}))
            assert (await receive(host, "requests"))["requests"] == ["nga-hai"]


async def test_a_host_reissue_gives_new_console_and_attendance_links(
    client: httpx.AsyncClient, world: World
) -> None:
    old = world.host_a
    response = await client.post(f"/api/sessions/{world.a}/host/reissue", headers=admin_headers())
    assert response.status_code == 200, response.text
    links = response.json()
    assert links["console_url"] not in (None, world.created_a["host"]["console_url"])
    new = links["console_url"].rsplit("#token=", 1)[1]
    assert links["attendance_url"].endswith(f"/attendance/{world.a}#token={new}")
    me = f"/api/sessions/{world.a}/me"
    assert (await client.get(me, headers=bearer(old))).status_code == 401
    assert (await client.get(me, headers=bearer(new))).json()["role"] == "host"
    # The halls' links are untouched.
    assert links["sites"][0]["token"] == world.site(world.a, "nga-thanh")
    missing = await client.post("/api/sessions/nosuchsession/host/reissue", headers=admin_headers())
    assert missing.status_code == 404


async def test_a_host_reissue_closes_the_old_consoles_channel_only(server: Server) -> None:
    session = server.create_session([{"id": "nga-son", "name": "Xã Nga Sơn"}], title="Chủ trì")
    async with participant(server, session, session["host"]["token"]) as host:
        async with participant(server, session, session["invites"][0]["token"]) as hall:
            with server.admin() as admin:
                answer = admin.post(f"/api/sessions/{session['id']}/host/reissue")
            assert answer.status_code == 200, answer.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await receive(host, "never")
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "link_reissued")
            # The hall hears it, and stays.
            assert (await receive(hall, "link_reissued"))["site"] is None
            await hall.send(json.dumps({"type": "ping"}))
            assert (await receive(hall, "pong"))["type"] == "pong"


async def test_a_removed_hall_stays_removed_through_a_reissue(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        f"/api/sessions/{world.a}/sites/ubnd/reissue", headers=admin_headers()
    )
    entry = response.json()
    assert (response.status_code, entry["removed"]) == (200, True)
    me = f"/api/sessions/{world.a}/me"
    assert (await client.get(me, headers=bearer(entry["token"]))).status_code == 403
    assert (await client.get(me, headers=bearer(world.site(world.a, "ubnd")))).status_code == 401
