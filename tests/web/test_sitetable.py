"""The console's table of halls and its totals (web/js/sitetable.js) in Chromium on a real server
(tests/netns-run): a check-in shows up beside its hall and in the totals line, from the live
list (GET /api/sessions/{id}/sites) the console polls; and why a hall is not connected."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Server

from .test_checkin_pages import live_session

SLOW = 30_000  # a loaded machine: nothing is timed, the page is only waited for


@pytest.mark.netns
async def test_a_check_in_shows_up_on_the_console(server: Server, chromium: Browser) -> None:
    session = live_session(server)
    context = await chromium.new_context(locale="vi-VN")
    console = await context.new_page()
    problems: list[str] = []
    console.on("pageerror", lambda exc: problems.append(str(exc)))
    await console.goto(session["host"]["console_url"])
    totals = console.locator("#people-checked")
    await expect(totals).to_have_text("Điểm danh: 0 / 5 người (0%) · vắng có lý do 0", timeout=SLOW)
    hall = console.locator("#sites tr", has_text="Xã Nga Thạnh").locator("td.checked-in")
    await expect(hall).to_have_text("0 / 4")

    with server.admin() as client:
        people = client.get(f"/api/sessions/{session['id']}/people").json()["people"]
        an = next(p for p in people if p["name"] == "Nguyễn Văn An")
        dung = next(p for p in people if p["name"] == "Phạm Thị Dung")
        sid = session["id"]
        client.post(
            f"/api/sessions/{sid}/sites/nga-thanh/checkins", json={"person": an["id"]}
        ).raise_for_status()
        client.post(
            f"/api/sessions/{sid}/people/{dung['id']}/absence", json={"reason": "Đi công tác"}
        ).raise_for_status()

    await expect(totals).to_have_text(
        "Điểm danh: 1 / 5 người (20%) · vắng có lý do 1", timeout=SLOW
    )
    await expect(hall).to_have_text("1 / 4")
    # And on the hall's tile of the mosaic, the operator's main view.
    tile = console.locator('#mosaic .tile[data-site="nga-thanh"] .tile-checked')
    await expect(tile).to_have_text("✓ 1/4")
    assert await tile.get_attribute("title") == "Điểm danh: 1 / 4 người · 0 vắng có lý do"
    other = console.locator("#sites tr", has_text="Thị trấn Tân Lộc").locator("td.checked-in")
    await expect(other).to_have_text("0 / 1 · 1 có lý do")
    # Neither hall opened its link (only the console is open): the console says so.
    cause = console.locator("#sites tr", has_text="Thị trấn Tân Lộc").locator(".cause")
    await expect(cause).to_have_text("Không mở đường dẫn")
    await expect(cause).to_have_attribute("data-cause", "never_opened")
    assert problems == []
    await context.close()
