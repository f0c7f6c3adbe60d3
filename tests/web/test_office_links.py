"""A session's links page in headless Chromium, on the real app (tests/web/officeapp.py): each
hall's card with its QR code and link, the A4 sheet printed to PDF and read back, and a re-issue
after which the old link is refused; and on a real server (tests/netns-run), a re-issue that
cuts off the old link's open join page while the new link joins."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

import httpx
import pypdf
import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Page, WebSocket, expect
from starlette.applications import Starlette

from diemcau.server.store import Site, Store
from tests.conftest import Server
from tests.e2e.conftest import eventually, wait_playing
from tests.peers import EncodedVideoTrack, encode_vp8, publish
from tests.server.conftest import ADMIN_TOKEN

from .officeapp import ORIGIN, admin_call, open_page

pytestmark = pytest.mark.browser

SITES = [
    Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
    Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
]


async def scheduled(app: Starlette, store: Store) -> dict:
    store.put_sites(SITES, datetime.now(UTC))
    body = {
        "title": "Hội nghị sơ kết quý I",
        "scheduled_start": "2026-03-05T08:00:00+07:00",
        "scheduled_end": "2026-03-05T11:00:00+07:00",
    }
    session: dict = await admin_call(app, "POST", "/api/sessions", json=body)
    return session


async def me(app: Starlette, session_id: str, token: str) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        response = await client.get(
            f"/api/sessions/{session_id}/me", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


async def test_each_hall_has_a_card_and_the_sheet_prints_to_a4(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    session = await scheduled(office_app, office_store)
    links = await admin_call(office_app, "GET", f"/api/sessions/{session['id']}/links")
    opened = await open_page(
        chromium, office_app, f"/office/sessions/{session['id']}/links#token={ADMIN_TOKEN}"
    )
    page = opened.page
    cards = page.locator("#cards .link-card")
    await expect(cards).to_have_count(2)
    for card, hall in zip(await cards.all(), links["sites"], strict=True):
        await expect(card.locator(".link-name")).to_have_text(hall["name"])
        await expect(card.locator(".link-url")).to_have_text(hall["join_url"])
        src = await card.locator("img.link-qr").get_attribute("src")
        assert src is not None and src.startswith("data:image/svg+xml")
        # The image is drawn (an SVG that Chromium could read).
        width = await card.locator("img.link-qr").evaluate("img => img.naturalWidth")
        assert width > 0
    await expect(page.locator("#links-when")).to_contain_text("08:00")
    assert opened.problems == []

    pdf = await page.pdf(format="A4", print_background=True)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    # A4 is 595 x 842 points (Chromium rounds it to hundredths of an inch).
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Xã Nga Thạnh" in text and "Thị trấn Tân Lộc" in text
    assert "Hội nghị sơ kết quý I" in text
    for hall in links["sites"]:
        assert hall["join_url"].split("#")[0] in text.replace("\n", "")
    # The screen's buttons are not on paper.
    assert "Cấp lại" not in text and "Sao chép" not in text


async def test_a_reissue_gives_a_new_link_and_refuses_the_old_one(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    session = await scheduled(office_app, office_store)
    old = {i["site"]: i["token"] for i in session["invites"]}
    assert await me(office_app, session["id"], old["tan-loc"]) == 200
    opened = await open_page(
        chromium, office_app, f"/office/sessions/{session['id']}/links#token={ADMIN_TOKEN}"
    )
    page = opened.page
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    card = page.locator('#cards .link-card[data-site="tan-loc"]')
    before = await card.locator(".link-url").text_content()
    await card.get_by_role("button", name="Cấp lại").click()
    await expect(page.locator("#links-status")).to_contain_text("Thị trấn Tân Lộc")
    await expect(card.locator(".link-url")).not_to_have_text(before or "")
    assert len(asked) == 1 and "Thị trấn Tân Lộc" in asked[0]
    assert await me(office_app, session["id"], old["tan-loc"]) == 401
    assert await me(office_app, session["id"], old["nga-thanh"]) == 200
    new = (await card.locator(".link-url").text_content() or "").split("#token=")[1]
    assert await me(office_app, session["id"], new) == 200
    assert opened.problems == []


async def test_the_console_link_is_shown_reissued_and_never_printed(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    session = await scheduled(office_app, office_store)
    old_host = session["host"]["token"]
    opened = await open_page(
        chromium, office_app, f"/office/sessions/{session['id']}/links#token={ADMIN_TOKEN}"
    )
    page = opened.page
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    shown = page.locator("#host-console")
    await expect(shown).to_have_text(session["host"]["console_url"])
    await expect(shown).to_have_attribute("href", session["host"]["console_url"])
    # The console link carries the host token: it is not on the halls' sheet.
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(await page.pdf())).pages)
    assert old_host not in text.replace("\n", "") and "Bàn điều khiển" not in text

    await page.get_by_role("button", name="Cấp lại bàn điều khiển").click()
    await expect(page.locator("#links-status")).to_contain_text("bàn điều khiển mới")
    await expect(shown).not_to_have_text(session["host"]["console_url"])
    new_host = (await shown.text_content() or "").split("#token=")[1]
    assert await me(office_app, session["id"], old_host) == 401
    assert await me(office_app, session["id"], new_host) == 200
    # The halls' links are as they were.
    for invite in session["invites"]:
        assert await me(office_app, session["id"], invite["token"]) == 200
    assert opened.problems == []


async def test_a_removed_hall_is_shown_and_let_back_in_on_its_same_link(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    session = await scheduled(office_app, office_store)
    token = next(i["token"] for i in session["invites"] if i["site"] == "tan-loc")
    # As the chair's removal does (server/meeting.py): the hall's invite revoked.
    office_store.revoke_invite(session["id"], "tan-loc", datetime.now(UTC))
    assert await me(office_app, session["id"], token) == 403
    opened = await open_page(
        chromium, office_app, f"/office/sessions/{session['id']}/links#token={ADMIN_TOKEN}"
    )
    page = opened.page
    card = page.locator('#cards .link-card[data-site="tan-loc"]')
    await expect(card).to_have_class("link-card removed")
    await expect(card.locator(".link-removed")).to_have_text("Đã bị mời ra khỏi hội nghị")
    other = page.locator('#cards .link-card[data-site="nga-thanh"]')
    await expect(other.get_by_role("button", name="Cho tham gia lại")).to_have_count(0)

    await card.get_by_role("button", name="Cho tham gia lại").click()
    await expect(page.locator("#links-status")).to_have_text(
        "Đã cho Thị trấn Tân Lộc tham gia lại."
    )
    await expect(card).to_have_class("link-card")
    await expect(card.get_by_role("button", name="Cho tham gia lại")).to_have_count(0)
    assert await me(office_app, session["id"], token) == 200
    assert opened.problems == []


REPLACED = "đã được thay bằng đường dẫn mới"  # join.replaced in vi.json
# How long the real-server tests wait for a page to show something, in ms: the machine is
# shared and loaded; they wait for what happens, they never time it.
SLOW = 30_000


@pytest.mark.netns
async def test_a_reissue_cuts_off_the_old_links_page_and_the_new_link_joins(
    server: Server, chromium: Browser
) -> None:
    """On a real server: a hall's join page plays on its link; the clerk re-issues that link on
    the links page in another browser; the old page says its link was replaced, its media and
    control channel are cut and stay cut, and the new link joins."""
    halls = [{"id": s.id, "name": s.name, "expected": s.expected} for s in SITES]
    session = server.create_session(halls, title="Cấp lại đường dẫn")
    invite = next(i for i in session["invites"] if i["site"] == "tan-loc")
    other = next(i for i in session["invites"] if i["site"] == "nga-thanh")
    publisher = await publish(
        session["host"]["whip_url"],
        session["host"]["token"],
        video=EncodedVideoTrack(encode_vp8(frames=90, gop=30)),
    )
    try:
        hall = await chromium.new_context(locale="vi-VN")
        sockets: list[WebSocket] = []
        old = await hall.new_page()
        old.on("websocket", lambda socket: sockets.append(socket))
        await old.goto(invite["join_url"])
        playing = await wait_playing(old, within=60)
        assert playing["w"] > 2 and playing["t"] > 0.5, playing
        assert await eventually(lambda: _connections(server, session["id"], "tan-loc", 1), 60)
        assert [s for s in sockets if "/ws/" in s.url and not s.is_closed()]

        office, clerk = await links_page(chromium, server, session["id"])
        card = clerk.locator('#cards .link-card[data-site="tan-loc"]')
        await expect(card.locator(".link-url")).to_have_text(invite["join_url"], timeout=SLOW)
        await card.get_by_role("button", name="Cấp lại").click()
        await expect(card.locator(".link-url")).not_to_have_text(invite["join_url"], timeout=SLOW)
        new_url = await card.locator(".link-url").text_content() or ""
        assert new_url.startswith(invite["join_url"].split("#")[0] + "#token=")

        # The old page is told, and says so.
        await expect(old.locator("body")).to_have_attribute("data-phase", "replaced", timeout=SLOW)
        await expect(old.locator("#card")).to_contain_text(REPLACED, timeout=SLOW)
        # Its control channel is closed, its media connections too, and it stops playing.
        assert await eventually(lambda: _all_closed(sockets), 30)
        assert await old.evaluate("document.querySelector('video').srcObject") is None
        assert await eventually(lambda: _connections(server, session["id"], "tan-loc", 0), 60)
        # Nothing comes back from it: no new media connection, no control channel.
        opened = len(sockets)
        await asyncio.sleep(3)
        assert await _connections(server, session["id"], "tan-loc", 0)
        assert len(sockets) == opened

        # The new link joins; the other hall's link was not touched.
        fresh = await hall.new_page()
        await fresh.goto(new_url)
        playing = await wait_playing(fresh, within=60)
        assert playing["w"] > 2 and playing["t"] > 0.5, playing
        assert await eventually(lambda: _connections(server, session["id"], "tan-loc", 1), 60)
        assert await _me(server, session["id"], other["token"]) == 200
        assert await _me(server, session["id"], invite["token"]) == 401
        with server.admin() as client:
            log = client.get(f"/api/sessions/{session['id']}/events").text
        events = [json.loads(line) for line in log.splitlines()]
        mine = [e for e in events if e.get("site") == "tan-loc"]
        assert [e["reason"] for e in mine if e["type"] == "leave"] == ["reissued"]
        assert [e["type"] for e in mine if e["type"] in ("join", "leave")][-1] == "join"
        await hall.close()
        await office.close()
    finally:
        await publisher.pc.close()


async def links_page(
    chromium: Browser, server: Server, session_id: str
) -> tuple[BrowserContext, Page]:
    """The clerk's links page on the real server, in a browser of its own, saying yes to
    every question it asks."""
    office = await chromium.new_context(locale="vi-VN")
    clerk = await office.new_page()
    clerk.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await clerk.goto(
        f"{server.base_url}/office/sessions/{session_id}/links#token={server.admin_token}"
    )
    return office, clerk


async def _connections(server: Server, session_id: str, site: str, count: int) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        answer = await client.get(
            f"/api/sessions/{session_id}/sites",
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
    entry = next(s for s in answer.json()["sites"] if s["site"] == site)
    return bool(entry["connections"] == count)


async def _all_closed(sockets: list[WebSocket]) -> bool:
    return all(s.is_closed() for s in sockets)


async def _me(server: Server, session_id: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        answer = await client.get(
            f"/api/sessions/{session_id}/me", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code


@pytest.mark.netns
async def test_a_console_link_reissue_tells_the_old_console_and_the_new_one_opens(
    server: Server, chromium: Browser
) -> None:
    session = server.create_session([{"id": "nga-thanh", "name": "Xã Nga Thạnh"}], title="Bàn")
    district = await chromium.new_context(locale="vi-VN")
    console = await district.new_page()
    await console.goto(session["host"]["console_url"])
    await expect(console.locator("#channel")).to_have_attribute("data-state", "open", timeout=SLOW)

    office, clerk = await links_page(chromium, server, session["id"])
    shown = clerk.locator("#host-console")
    await expect(shown).to_have_text(session["host"]["console_url"], timeout=SLOW)
    await clerk.get_by_role("button", name="Cấp lại bàn điều khiển").click()
    await expect(shown).not_to_have_text(session["host"]["console_url"], timeout=SLOW)
    new_url = await shown.text_content() or ""

    await expect(console.locator("#blocker")).to_be_visible(timeout=SLOW)
    await expect(console.locator("#blocker-title")).to_have_text(
        "Đường dẫn bàn điều khiển đã được thay bằng đường dẫn mới", timeout=SLOW
    )
    await expect(console.locator("#console")).to_be_hidden(timeout=SLOW)
    fresh = await district.new_page()
    await fresh.goto(new_url)
    await expect(fresh.locator("#channel")).to_have_attribute("data-state", "open", timeout=SLOW)
    await expect(fresh.locator("#blocker")).to_be_hidden(timeout=SLOW)
    await district.close()
    await office.close()
