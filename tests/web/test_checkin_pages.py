"""Check-in in Chromium on a real server (tests/netns-run): the hall's join page shows the QR
code of its check-in URL; a phone (a second browser context, a phone's screen) opens that URL,
finds its name typed without diacritics and checks in; the hall's clerk ticks a name and marks
an excused absence, and the district's clerk another on the attendance page; the record has all
of it, and the report (JSON and page) the three rates per hall and in total."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from diemcau.server.checkin import SLOT_SECONDS, CheckinKey
from diemcau.server.links import LinkKey
from diemcau.server.qr import qr_data_uri
from tests.conftest import Server

HALLS = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh", "expected": 40},
    {"id": "tan-loc", "name": "Thị trấn Tân Lộc", "expected": 25},
]
ROSTERS = (
    "site,name,code,position,unit\r\n"
    "nga-thanh,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy xã\r\n"
    "nga-thanh,Lê Thị Bình,,Phó Chủ tịch,UBND xã\r\n"
    "nga-thanh,Đỗ Đức Cường,38.000103,Đảng viên,Chi bộ 2\r\n"
    "nga-thanh,Nguyễn Văn Anh,,Đảng viên,Chi bộ 3\r\n"
    "tan-loc,Phạm Thị Dung,,Đảng viên,\r\n"
)


def halls_with_rosters(client: httpx.Client) -> None:
    for hall in HALLS:
        body = {"name": hall["name"], "kind": "commune", "expected": hall["expected"]}
        client.put(f"/api/sites/{hall['id']}", json=body).raise_for_status()
    client.post(
        "/api/rosters/import", content=ROSTERS.encode(), headers={"Content-Type": "text/csv"}
    ).raise_for_status()


def live_session(server: Server) -> dict[str, Any]:
    """Two halls with rosters, a session of both, started (no broadcast is needed to check in)."""
    with server.admin() as client:
        halls_with_rosters(client)
        session = server.create_session(HALLS, title="Hội nghị điểm danh")
        client.post(f"/api/sessions/{session['id']}/start").raise_for_status()
    return dict(session)


def people_events(server: Server, session_id: str) -> list[dict[str, Any]]:
    with server.admin() as client:
        log = client.get(f"/api/sessions/{session_id}/events").text
    events = [json.loads(line) for line in log.splitlines()]
    return [e for e in events if e["type"] in ("checkin", "checkin_revoked", "absence")]


async def hall_page(chromium: Browser, join_url: str) -> tuple[Page, list[str]]:
    context = await chromium.new_context(locale="vi-VN")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(join_url)
    return page, problems


@pytest.mark.netns
async def test_a_phone_checks_in_from_the_halls_qr_code_and_the_clerk_marks_the_rest(
    server: Server, chromium: Browser
) -> None:
    session = live_session(server)
    invite = next(i for i in session["invites"] if i["site"] == "nga-thanh")
    hall, problems = await hall_page(chromium, invite["join_url"])

    # The join page shows the QR code of its check-in URL.
    qr = hall.locator("#checkin-qr")
    await expect(qr).to_be_visible(timeout=20_000)
    await expect(qr).to_have_attribute("src", qr_data_uri(await qr.get_attribute("data-url") or ""))
    url = await qr.get_attribute("data-url") or ""
    assert url.startswith(f"{server.base_url}/checkin/") and len(url.rsplit("/", 1)[1]) == 30
    await expect(hall.locator("#checkin-count")).to_have_text("Đã điểm danh: 0/4 người")

    # A phone opens it, types a name without its diacritics, picks it, confirms.
    phone_context = await chromium.new_context(
        locale="vi-VN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = await phone_context.new_page()
    phone_problems: list[str] = []
    phone.on("pageerror", lambda exc: phone_problems.append(str(exc)))
    await phone.goto(url)
    await expect(phone.locator("#phone-site")).to_have_text("Xã Nga Thạnh")
    people = phone.locator("#phone-people .phone-person")
    await expect(people).to_have_count(4)
    await phone.locator("#phone-search").fill("nguyen van an")
    # "Nguyễn Văn An" and "Nguyễn Văn Anh": both hold the words; one more letter tells them apart.
    await expect(people).to_have_count(2)
    await phone.locator("#phone-search").fill("nguyen van anh")
    await expect(people).to_have_count(1)
    await phone.locator("#phone-search").fill("do duc cuong")  # đ typed as d
    await expect(people).to_have_count(1)
    await phone.locator("#phone-search").fill("Nguyen Van An  ")
    await people.filter(has_text="Bí thư").tap()
    await expect(phone.locator("#phone-confirm-text")).to_have_text("Bạn là Nguyễn Văn An?")
    await phone.locator("#phone-confirm-yes").tap()
    await expect(phone.locator("#phone-message")).to_contain_text("Đã điểm danh: Nguyễn Văn An")
    # The hall's count follows at once (the control channel's people message), not at its poll.
    await expect(hall.locator("#checkin-count")).to_have_text("Đã điểm danh: 1/4 người")

    # A second phone picking the same name is told where and when.
    again = await phone_context.new_page()
    await again.goto(url)
    await expect(
        again.locator('#phone-people .phone-person:has-text("Nguyễn Văn An")').first
    ).to_be_disabled()

    # The hall's clerk: the count follows; a name ticked; an excused absence with its reason.
    await hall.locator("#checkin-open").click()
    dialog = hall.locator("#checkin-dialog")
    await expect(dialog).to_be_visible()
    await hall.locator("#checkin-search").fill("do duc")
    row = dialog.locator('.checkin-person:has-text("Đỗ Đức Cường")')
    await expect(dialog.locator(".checkin-person")).to_have_count(1)
    await row.locator('[data-action="tick"]').click()
    await expect(row).to_have_attribute("data-state", "in")
    await hall.locator("#checkin-search").fill("le thi binh")
    row = dialog.locator('.checkin-person:has-text("Lê Thị Bình")')
    await row.locator('[data-action="absence"]').click()
    await hall.locator("#checkin-reason-input").fill("Ốm, có giấy của trạm y tế")
    await hall.locator("#checkin-reason button[type=submit]").click()
    await expect(row).to_have_attribute("data-state", "excused")
    await expect(row).to_contain_text("Vắng có lý do: Ốm, có giấy của trạm y tế")
    await hall.locator("#checkin-dialog button", has_text="Đóng").click()
    await expect(hall.locator("#checkin-count")).to_have_text("Đã điểm danh: 2/4 người")

    events = people_events(server, session["id"])
    an = next(e for e in events if e["type"] == "checkin" and e["method"] == "qr")
    assert an["site"] == "nga-thanh" and an["by"] == "site"
    assert [(e["type"], e.get("method"), e["by"]) for e in events] == [
        ("checkin", "qr", "site"),
        ("checkin", "clerk", "site"),
        ("absence", None, "site"),
    ]
    assert events[2]["reason"] == "Ốm, có giấy của trạm y tế"
    assert problems == [] and phone_problems == []
    await phone_context.close()

    # The district's clerk, on the attendance page with the admin token: Phạm Thị Dung of the
    # other hall is excused, with the reason.
    office = await chromium.new_context(locale="vi-VN")
    record = await office.new_page()
    record_problems: list[str] = []
    record.on("pageerror", lambda exc: record_problems.append(str(exc)))
    await record.goto(f"{server.base_url}/attendance/{session['id']}#token={server.admin_token}")
    other = record.locator('#people-sites .people-site[data-site="tan-loc"]')
    # The report first, then the people: on a loaded machine that may take a while.
    await expect(other.locator("h3")).to_have_text(
        "Thị trấn Tân Lộc: có mặt 0/1 (0%) · vắng có lý do 0 (0%) · vắng không lý do 1 (100%)",
        timeout=30_000,
    )
    mine = record.locator('#people-sites .people-site[data-site="nga-thanh"]')
    await expect(mine.locator("h3")).to_have_text(
        "Xã Nga Thạnh: có mặt 2/4 (50%) · vắng có lý do 1 (25%) · vắng không lý do 1 (25%)"
    )
    dung = other.locator("tr", has_text="Phạm Thị Dung")
    await dung.locator('button[data-action="absence"]').click()
    await dung.locator(".people-reason input").fill("Đi công tác theo quyết định của huyện")
    await dung.locator(".people-reason button[type=submit]").click()
    await expect(other.locator("h3")).to_have_text(
        "Thị trấn Tân Lộc: có mặt 0/1 (0%) · vắng có lý do 1 (100%) · vắng không lý do 0 (0%)"
    )
    # The record shows the three rates, per hall and in total.
    await expect(record.locator("#people-totals")).to_have_text(
        "Toàn hội nghị: có mặt 2/5 (40%) · vắng có lý do 2 (40%) · vắng không lý do 1 (20%)"
    )
    await expect(dung).to_contain_text("Đi công tác theo quyết định của huyện")
    assert record_problems == []
    dung_events = [e for e in people_events(server, session["id"]) if e["site"] == "tan-loc"]
    assert [(e["type"], e["by"], e["reason"]) for e in dung_events] == [
        ("absence", "admin", "Đi công tác theo quyết định của huyện")
    ]
    with server.admin() as client:
        report = client.get(f"/api/sessions/{session['id']}/attendance").json()
    rates = ("people_present_rate", "people_excused_rate", "people_unexcused_rate")
    sites = {site["site"]: site for site in report["sites"]}
    assert [sites["nga-thanh"][r] for r in rates] == [0.5, 0.25, 0.25]
    assert [sites["tan-loc"][r] for r in rates] == [0.0, 1.0, 0.0]
    assert [report["totals"][r] for r in rates] == [0.4, 0.4, 0.2]
    statuses = {
        p["name"]: (p["status"], p["method"], p["reason"]) for p in sites["nga-thanh"]["people"]
    }
    assert statuses == {
        "Nguyễn Văn An": ("present", "qr", None),
        "Lê Thị Bình": ("excused", None, "Ốm, có giấy của trạm y tế"),
        "Đỗ Đức Cường": ("present", "clerk", None),
        "Nguyễn Văn Anh": ("absent", None, None),
    }
    await office.close()


@pytest.mark.netns
async def test_the_phone_page_says_plainly_when_its_code_is_old_or_wrong(
    server: Server, chromium: Browser
) -> None:
    session = live_session(server)
    context = await chromium.new_context(locale="vi-VN", viewport={"width": 390, "height": 844})
    phone = await context.new_page()
    await phone.goto(f"{server.base_url}/checkin/{session['id']}{'a' * 20}")
    await expect(phone.locator("#phone-message")).to_contain_text("Mã điểm danh không đúng")
    await expect(phone.locator("#phone-pick")).to_be_hidden()
    # A code of two minutes ago, as a photo sent to a chat group would carry (drawn with the
    # server's own key, from its data directory).
    key = LinkKey.load(server.data_dir)
    assert key is not None
    drawn = datetime.now(UTC) - timedelta(minutes=2)
    old = CheckinKey(key.derived("checkin")).draw(session["id"], "nga-thanh", drawn).text
    await phone.goto(f"{server.base_url}/checkin/{old}")
    await expect(phone.locator("#phone-message")).to_contain_text("Mã QR đã hết hạn")
    await expect(phone.locator("#phone-pick")).to_be_hidden()

    # A code that runs out while the person looks for their name: told to scan again, and the
    # next scan has the name picked already.
    key_of = CheckinKey(key.derived("checkin"))
    now = datetime.now(UTC)
    if SLOT_SECONDS - now.timestamp() % SLOT_SECONDS < 5:
        await asyncio.sleep(5)  # not a code about to go this very second
        now = datetime.now(UTC)
    ending = key_of.draw(session["id"], "nga-thanh", now - timedelta(seconds=SLOT_SECONDS))
    await phone.goto(f"{server.base_url}/checkin/{ending.text}")
    await phone.locator("#phone-people .phone-person", has_text="Lê Thị Bình").click()
    await asyncio.sleep(max(0.0, (ending.expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    await phone.locator("#phone-confirm-yes").click()
    await expect(phone.locator("#phone-message")).to_contain_text("Mã QR đã hết hạn")
    fresh = key_of.draw(session["id"], "nga-thanh", datetime.now(UTC)).text
    await phone.goto(f"{server.base_url}/checkin/{fresh}")
    await expect(phone.locator("#phone-confirm-text")).to_have_text("Bạn là Lê Thị Bình?")
    await phone.locator("#phone-confirm-yes").click()
    await expect(phone.locator("#phone-message")).to_contain_text("Đã điểm danh: Lê Thị Bình")
    events = people_events(server, session["id"])
    assert [(e["type"], e["site"], e["method"]) for e in events] == [("checkin", "nga-thanh", "qr")]
    await context.close()


def scheduled_session(server: Server, starts_in: timedelta) -> dict[str, Any]:
    """The two halls with rosters, a session of both scheduled `starts_in` from now, not live."""
    with server.admin() as client:
        halls_with_rosters(client)
        begins = datetime.now(UTC) + starts_in
        response = client.post(
            "/api/sessions",
            json={
                "title": "Hội nghị cán bộ chủ chốt",
                "scheduled_start": begins.isoformat(),
                "scheduled_end": (begins + timedelta(hours=2)).isoformat(),
                "sites": [hall["id"] for hall in HALLS],
            },
        )
        response.raise_for_status()
        return dict(response.json())


@pytest.mark.netns
async def test_the_hall_shows_its_qr_code_before_going_live_once_check_in_opens(
    server: Server, chromium: Browser
) -> None:
    """People come before the operator goes live: within the hour before the scheduled start
    the hall's page, still waiting for the broadcast, shows the QR code and a phone checks in
    from it (on time in the report once live); three hours before, the page shows no code."""
    later = scheduled_session(server, timedelta(hours=3))
    invite = next(i for i in later["invites"] if i["site"] == "nga-thanh")
    context = await chromium.new_context(locale="vi-VN")
    early = await context.new_page()
    async with early.expect_response(lambda r: r.url.endswith("/sites/nga-thanh/checkin")) as r:
        await early.goto(invite["join_url"])
    refused = await r.value
    assert refused.status == 409 and (await refused.json())["error"] == "not_started"
    await expect(early.locator("body")).to_have_attribute("data-phase", "scheduled")
    await expect(early.locator("#checkin")).to_be_hidden()
    await context.close()

    session = scheduled_session(server, timedelta(minutes=30))
    invite = next(i for i in session["invites"] if i["site"] == "nga-thanh")
    hall, problems = await hall_page(chromium, invite["join_url"])
    await expect(hall.locator("body")).to_have_attribute("data-phase", "scheduled")
    qr = hall.locator("#checkin-qr")
    await expect(qr).to_be_visible(timeout=20_000)
    await expect(hall.locator("#card")).to_be_visible()  # still waiting for the broadcast
    await expect(hall.locator("#checkin-count")).to_have_text("Đã điểm danh: 0/4 người")
    url = await qr.get_attribute("data-url") or ""
    phone_context = await chromium.new_context(
        locale="vi-VN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = await phone_context.new_page()
    await phone.goto(url)
    await phone.locator("#phone-people .phone-person", has_text="Lê Thị Bình").tap()
    await phone.locator("#phone-confirm-yes").tap()
    await expect(phone.locator("#phone-message")).to_contain_text("Đã điểm danh: Lê Thị Bình")
    await expect(hall.locator("#checkin-count")).to_have_text("Đã điểm danh: 1/4 người")
    await phone_context.close()

    with server.admin() as client:
        client.post(f"/api/sessions/{session['id']}/start").raise_for_status()
        report = client.get(f"/api/sessions/{session['id']}/attendance").json()
    # Live now: the code stays.
    await expect(hall.locator("body")).to_have_attribute("data-phase", "live", timeout=20_000)
    await expect(qr).to_be_visible()
    people = next(s for s in report["sites"] if s["site"] == "nga-thanh")["people"]
    assert [(p["name"], p["status"]) for p in people if p["checked_in_at"]] == [
        ("Lê Thị Bình", "present")
    ]
    assert problems == []
