"""Technical outage or organisational absence in Chromium, on a real server (tests/netns-run):
the hall's real join page records its page open (page_open) as its control channel opens, once
per connection, a reload again; the attendance page then tells the hall that opened its link
from the one that never did (issue 15 §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Server
from tests.peers import wait_for

HALLS = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "tan-loc", "name": "Thị trấn Tân Lộc"}]


def page_opens(server: Server, session_id: str) -> list[dict[str, Any]]:
    with server.admin() as client:
        log = client.get(f"/api/sessions/{session_id}/events").text
    return [e for e in map(json.loads, log.splitlines()) if e["type"] == "page_open"]


@pytest.mark.netns
async def test_the_join_page_records_its_opening_and_the_report_tells_who_never_came(
    server: Server, chromium: Browser
) -> None:
    session = server.create_session(HALLS, title="Hội nghị có điểm cầu vắng")
    with server.admin() as client:
        client.post(f"/api/sessions/{session['id']}/start").raise_for_status()
    invite = next(i for i in session["invites"] if i["site"] == "nga-thanh")
    context = await chromium.new_context(locale="vi-VN")
    hall = await context.new_page()
    problems: list[str] = []
    hall.on("pageerror", lambda exc: problems.append(str(exc)))
    await hall.goto(invite["join_url"])
    assert await wait_for(lambda: len(page_opens(server, session["id"])) == 1, 30)
    # Reloaded: its new control channel is its page opened again.
    await hall.reload()
    assert await wait_for(lambda: len(page_opens(server, session["id"])) == 2, 30)
    opens = page_opens(server, session["id"])
    assert [(e["site"], "conn" in e) for e in opens] == [("nga-thanh", False)] * 2
    await context.close()
    with server.admin() as client:
        client.post(f"/api/sessions/{session['id']}/end").raise_for_status()

    record = await chromium.new_page(locale="vi-VN")
    await record.goto(f"{server.base_url}/attendance/{session['id']}#token={server.admin_token}")
    rows = record.locator("#site-rows tr")
    await expect(rows).to_have_count(2, timeout=30_000)
    never = rows.filter(has_text="Thị trấn Tân Lộc").locator(".cause")
    await expect(never).to_have_text("Không mở đường dẫn")
    # The hall that opened its link is not said to have never opened it.
    opened = rows.filter(has_text="Xã Nga Thạnh")
    await expect(opened.locator('[data-cause="never_opened"]')).to_have_count(0)
    assert problems == []
