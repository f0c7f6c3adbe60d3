"""The headcount, the console's live totals and the attendance page, in headless Chromium
against a fake API.

Every request of the page goes to Playwright's router: the pages and their files come from
web/ with the headers the server sends (so the real Content-Security-Policy applies), /api/
answers from a table, and the control channel's WebSocket is answered with a welcome. No
server, no socket: what is checked is the pages' own logic — tokens, requests, times in the
district's zone, the timeline, downloads, errors said plainly.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, Request, Route, WebSocketRoute, async_playwright

from diemcau.server import pages

pytestmark = pytest.mark.browser

WEB = Path(__file__).resolve().parents[2] / "web"
ORIGIN = "http://diemcau.test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_FILES = {"console": "console.html", "join": "join.html", "attendance": "attendance.html"}


@dataclass
class Call:
    method: str
    path: str
    query: str
    authorization: str | None
    body: Any


@dataclass
class FakeApi:
    """Answers by (method, path): a status and a JSON body, or a (status, bytes, headers)."""

    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # The control channel: the room its welcome carries, and the messages the page sent.
    room: dict[str, Any] = field(
        default_factory=lambda: {
            "present": [],
            "requests": [],
            "floor": None,
            "muted": [],
            "removed": [],
            "headcounts": {},
        }
    )
    messages: list[Any] = field(default_factory=list)

    def control(self, ws: WebSocketRoute) -> None:
        def received(text: str | bytes) -> None:
            message = json.loads(text)
            self.messages.append(message)
            if message.get("type") == "hello":
                welcome = {"type": "welcome", "session": session(), "room": self.room}
                ws.send(json.dumps(welcome))

        ws.on_message(received)

    def called(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    async def handle(self, route: Route, request: Request) -> None:
        url = request.url.removeprefix(ORIGIN)
        path, _, query = url.partition("?")
        path = path.split("#")[0]
        if path.startswith("/api/") or path.startswith("/whep/"):
            body = request.post_data
            self.calls.append(
                Call(
                    request.method,
                    path,
                    query,
                    request.headers.get("authorization"),
                    json.loads(body) if body and path.startswith("/api/") else body,
                )
            )
            answer = self.answers.get((request.method, path))
            if answer is None:
                await route.fulfill(status=503, json={"error": "unavailable", "message": "no"})
            elif isinstance(answer, tuple) and isinstance(answer[1], bytes):
                status, data, headers = answer
                await route.fulfill(status=status, body=data, headers=headers)
            else:
                status, data = answer if isinstance(answer, tuple) else (200, answer)
                await route.fulfill(status=status, json=data)
            return
        if path.startswith("/static/"):
            name = path.removeprefix("/static/")
            file = WEB / name
            content_type = pages.CONTENT_TYPES.get(PurePosixPath(name).suffix)
            if content_type is None or not file.is_file():
                await route.fulfill(status=404, body="")
                return
            await route.fulfill(
                status=200,
                body=file.read_bytes(),
                headers={**pages.COMMON_HEADERS, "Content-Type": content_type},
            )
            return
        page = PAGE_FILES.get(path.split("/")[1])
        if page is None:
            await route.fulfill(status=404, body="")
            return
        await route.fulfill(
            status=200,
            body=(WEB / page).read_bytes(),
            headers={**pages.PAGE_HEADERS, "Content-Type": "text/html; charset=utf-8"},
        )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Opened:
    page: Page
    problems: list[str]


async def open_page(browser: Browser, api: FakeApi, url: str, timezone: str = "UTC") -> Opened:
    # A browser in another zone than the district's: the page must still show district time.
    context = await browser.new_context(
        timezone_id=timezone, locale="vi-VN", accept_downloads=True, base_url=ORIGIN
    )
    await context.route("**/*", api.handle)
    await context.route_web_socket(re.compile(r"/ws/"), api.control)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))

    def console(message: Any) -> None:
        # Refused requests are logged by the browser; policy violations and bugs are not fine.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    page.on("console", console)
    await page.goto(ORIGIN + url)
    return Opened(page, problems)


def session(state: str = "live") -> dict[str, Any]:
    return {
        "id": "s1",
        "title": "Hội nghị sơ kết quý I",
        "state": state,
        "scheduled_start": "2026-03-05T01:00:00Z",
        "scheduled_end": "2026-03-05T03:00:00Z",
        "started_at": "2026-03-05T01:00:00Z",
        "ended_at": None if state != "ended" else "2026-03-05T03:00:00Z",
        "created_at": "2026-03-01T00:00:00Z",
    }


def attendance_report(live: bool = False) -> dict[str, Any]:
    def site(site_id: str, name: str, status: str, intervals: list[list[str]], **more: Any) -> Any:
        return {
            "site": site_id,
            "name": name,
            "kind": "commune",
            "expected": 40,
            "status": status,
            "late": False,
            "left_early": False,
            "first_join": intervals[0][0] if intervals else None,
            "last_leave": intervals[-1][1] if intervals else None,
            "connected_seconds": 0.0,
            "coverage": 0.0,
            "interruptions": max(len(intervals) - 1, 0),
            "longest_outage_seconds": 0.0,
            "headcount": None,
            "headcount_rate": None,
            "intervals": intervals,
            **more,
        }

    return {
        "session": "s1",
        "title": "Hội nghị sơ kết quý I",
        "live": live,
        "timezone": "Asia/Ho_Chi_Minh",
        "window": {
            "start": "2026-03-05T01:00:00.000Z",
            "end": "2026-03-05T03:00:00.000Z",
            "seconds": 7200.0,
        },
        "rules": {
            "present_coverage": 0.8,
            "late_after_seconds": 300.0,
            "early_before_seconds": 300.0,
            "gap_grace_seconds": 60.0,
        },
        "skipped_lines": 2,
        "sites": [
            site(
                "nga-thanh",
                "Xã Nga Thạnh",
                "present",
                [
                    ["2026-03-05T01:00:30.000Z", "2026-03-05T01:40:00.000Z"],
                    ["2026-03-05T01:41:00.000Z", "2026-03-05T03:00:00.000Z"],
                ],
                coverage=0.99,
                connected_seconds=7110.0,
                headcount=35,
                headcount_rate=0.875,
            ),
            site(
                "nga-hai",
                "Xã Nga Hải",
                "partial",
                [["2026-03-05T01:20:00.000Z", "2026-03-05T02:30:00.000Z"]],
                late=True,
                left_early=True,
                coverage=0.583333,
                connected_seconds=4200.0,
            ),
            site("ubnd", "Văn phòng UBND huyện", "absent", []),
        ],
        "unknown_sites": [],
        "totals": {
            "invited": 3,
            "present": 1,
            "partial": 1,
            "absent": 1,
            "expected": 120,
            "headcount": 35,
            "participation_rate": 0.291667,
            "connected_rate": 0.666667,
        },
    }


async def test_zone_arithmetic_is_the_districts_whatever_the_browsers(browser: Browser) -> None:
    opened = await open_page(browser, FakeApi(), "/attendance", timezone="America/New_York")
    result = await opened.page.evaluate(
        """async () => {
            const zone = await import('/static/js/zone.js');
            const api = await import('/static/js/api.js');
            const start = Date.parse('2026-03-05T01:00:00Z');
            const {step, ticks} = zone.axisTicks(start, start + 2 * 3600e3, 'Asia/Ho_Chi_Minh');
            const odd = zone.axisTicks(Date.parse('2026-03-05T01:07:10Z'),
                                       Date.parse('2026-03-05T01:58:00Z'), 'Asia/Ho_Chi_Minh');
            return {
                step, first: ticks[0] === start, count: ticks.length,
                oddStep: odd.step, oddFirst: new Date(odd.ticks[0]).toISOString(),
                offset: zone.zoneOffset(start, 'Asia/Ho_Chi_Minh'),
                newYear: zone.localDate(Date.parse('2025-12-31T18:00:00Z'), 'Asia/Ho_Chi_Minh'),
                year: zone.yearOf(Date.parse('2025-12-31T18:00:00Z'), 'Asia/Ho_Chi_Minh'),
                dates: ['2026-02-29', '2024-02-29', '2026-1-01', ''].map(zone.isDate),
                gaps: zone.gapsBetween([[0, 10], [15, 20], [20, 30], [40, 50]]),
                names: [
                    api.attachmentName('attachment; filename="diemdanh-s1.csv"'),
                    api.attachmentName("attachment; filename*=UTF-8''%C4%91i%E1%BB%83m.csv"),
                    api.attachmentName('attachment; filename="../../etc/passwd"'),
                    api.attachmentName(null),
                ],
            };
        }"""
    )
    assert result["step"] == 15 * 60_000 and result["first"] and result["count"] == 9
    # Ticks fall on round minutes of the district's clock: 08:10 there.
    assert result["oddStep"] == 10 * 60_000 and result["oddFirst"] == "2026-03-05T01:10:00.000Z"
    assert result["offset"] == 7 * 3600_000
    assert result["newYear"] == "2026-01-01"
    assert result["year"] == {"from": "2026-01-01", "to": "2026-12-31"}
    assert result["dates"] == [False, True, False, False]
    assert result["gaps"] == [[10, 15], [30, 40]]
    assert result["names"] == ["diemdanh-s1.csv", "điểm.csv", "_.._etc_passwd", ""]


async def test_the_session_record_in_district_time_with_its_timeline(browser: Browser) -> None:
    api = FakeApi()
    api.answers[("GET", "/api/sessions/s1/attendance")] = attendance_report()
    csv_file = "\ufeffsite,name\r\nnga-thanh,Xã Nga Thạnh\r\n".encode()
    opened = await open_page(
        browser, api, "/attendance/s1#token=host-token", timezone="America/New_York"
    )
    page = opened.page
    await page.wait_for_selector("#site-rows tr")
    # The token left the address bar, and went to the server as a bearer token only.
    assert "token" not in page.url
    (call,) = api.called("GET", "/api/sessions/s1/attendance")
    assert call.authorization == "Bearer host-token"
    assert "format=json" in call.query and "intervals=1" in call.query

    assert await page.locator("#title").text_content() == "Hội nghị sơ kết quý I"
    subtitle = await page.locator("#subtitle").text_content() or ""
    assert subtitle.startswith("08:00 – 10:00") and "05/03/2026" in subtitle
    assert await page.locator("#live").is_hidden()
    assert await page.locator("#site-rows tr").count() == 3
    first_row = await page.locator("#site-rows tr").first.locator("td").all_text_contents()
    assert "08:00:30" in first_row and "35 / 40" in first_row
    # Status by word as well as colour; late and early said in words.
    assert "Có mặt" in first_row[1]
    second_row = await page.locator("#site-rows tr").nth(1).locator("td").all_text_contents()
    assert "Muộn" in second_row and "Về sớm" in second_row

    timeline = page.locator("#timeline")
    assert await timeline.locator(".timeline-track").count() == 3
    assert await timeline.locator(".bar").count() == 3
    assert await timeline.locator(".outage").count() == 1
    assert await timeline.locator(".mark-late").count() == 1
    assert await timeline.locator(".mark-early").count() == 1
    labels = await timeline.locator(".timeline-axis text").all_text_contents()
    assert labels[0] == "08:00" and labels[-1] == "10:00"
    # Focus on the outage says what it was, in district time.
    await timeline.locator(".outage").focus()
    assert await page.locator("#tip").is_visible()
    tip = await page.locator("#tip").text_content() or ""
    assert "Xã Nga Thạnh" in tip and "08:40:00" in tip and "08:41:00" in tip and "1:00" in tip
    notes = await page.locator("#log-notes").text_content() or ""
    assert "2 dòng" in notes

    # A download goes with the token and keeps the server's file name.
    api.answers[("GET", "/api/sessions/s1/attendance")] = (
        200,
        csv_file,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="diemdanh-s1.csv"',
        },
    )
    async with page.expect_download() as info:
        await page.locator('[data-export="csv"]').click()
    download = await info.value
    assert download.suggested_filename == "diemdanh-s1.csv"
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == csv_file
    csv_call = api.called("GET", "/api/sessions/s1/attendance")[-1]
    assert "format=csv" in csv_call.query and csv_call.authorization == "Bearer host-token"
    assert opened.problems == []


async def test_each_hall_that_missed_time_says_why(browser: Browser) -> None:
    report = attendance_report()
    causes = [
        ("network_lost", "failed"),
        ("opened_late", None),
        ("media_failed", "ice_timeout"),
    ]
    for site, (cause, reason) in zip(report["sites"], causes, strict=True):
        site.update(cause=cause, cause_reason=reason)
    report["sites"].append(
        {
            **report["sites"][2],
            "site": "nga-an",
            "name": "Xã Nga An",
            "cause": "never_opened",
            "cause_reason": None,
        }
    )
    report["sites"].append({**report["sites"][0], "site": "nga-son", "name": "Thị trấn Nga Sơn"})
    report["sites"][-1].update(cause=None, cause_reason=None)
    api = FakeApi()
    api.answers[("GET", "/api/sessions/s1/attendance")] = report
    opened = await open_page(browser, api, "/attendance/s1#token=host-token")
    page = opened.page
    await page.wait_for_selector("#site-rows tr")
    rows = page.locator("#site-rows tr")
    said = [await rows.nth(i).locator("td").nth(1).text_content() for i in range(5)]
    assert said == [
        "Có mặtĐã kết nối, bị mất mạng: mạng của điểm cầu mất tín hiệu",
        "Một phầnMở trang muộn",
        "VắngĐã mở trang, không kết nối được hình và tiếng: không tìm được đường kết nối"
        " (hết thời gian chờ)",
        "VắngKhông mở đường dẫn",
        "Có mặt",
    ]
    causes_shown = await page.locator("#site-rows .cause").evaluate_all(
        "notes => notes.map(n => n.dataset.cause)"
    )
    assert causes_shown == ["network_lost", "opened_late", "media_failed", "never_opened"]
    assert opened.problems == []


async def test_the_record_shows_each_halls_camera_count_and_its_disagreement(
    browser: Browser,
) -> None:
    report = attendance_report()
    nga_thanh, nga_hai, ubnd = report["sites"]
    nga_thanh.update(people_count=22, people_count_disagrees=True)  # 35 declared
    nga_hai.update(people_count=18, people_count_disagrees=None)  # nothing to compare
    ubnd.update(people_count=None, people_count_disagrees=None)
    api = FakeApi()
    api.answers[("GET", "/api/sessions/s1/attendance")] = report
    opened = await open_page(browser, api, "/attendance/s1#token=host-token")
    page = opened.page
    await page.wait_for_selector("#site-rows tr")
    header = page.locator("th[data-i18n='report.col_people_count']")
    assert await header.text_content() == "Camera đếm (ước tính)"
    assert "ổn định" in (await header.get_attribute("title") or "")
    cells = page.locator("#site-rows td.people-count")
    assert await cells.all_text_contents() == ["22 · lệch", "18", "—"]
    assert [await cells.nth(i).get_attribute("data-disagrees") for i in range(3)] == [
        "true",
        "false",
        "false",
    ]
    assert opened.problems == []


async def test_a_live_session_refreshes_and_one_not_started_says_so(browser: Browser) -> None:
    api = FakeApi()
    api.answers[("GET", "/api/sessions/s1/attendance")] = (
        409,
        {"error": "not_started", "message": "not yet"},
    )
    api.answers[("GET", "/api/sessions/s1/me")] = {
        "role": "host",
        "session": session("scheduled"),
        "site": None,
        "whip_url": "x",
    }
    opened = await open_page(browser, api, "/attendance/s1#token=host-token")
    page = opened.page
    await page.wait_for_selector("#blocker:not([hidden])")
    assert await page.locator("#blocker-title").text_content() == "Hội nghị chưa bắt đầu"
    assert "08:00" in (await page.locator("#blocker-detail").text_content() or "")

    api.answers[("GET", "/api/sessions/s1/attendance")] = attendance_report(live=True)
    await page.clock.install()  # from here on, the page's timers run when told
    await page.reload()
    await page.wait_for_selector("#site-rows tr")
    assert await page.locator("#live").is_visible()
    asked = len(api.called("GET", "/api/sessions/s1/attendance"))
    await page.clock.run_for(10_500)
    await page.wait_for_function(
        "() => document.querySelector('#generated').textContent.length > 0"
    )
    assert len(api.called("GET", "/api/sessions/s1/attendance")) > asked
    assert opened.problems == []


async def test_the_period_asks_for_the_admin_token_and_this_year(browser: Browser) -> None:
    api = FakeApi()
    api.answers[("GET", "/api/attendance")] = {
        "from": "2026-01-01",
        "to": "2026-12-31",
        "timezone": "Asia/Ho_Chi_Minh",
        "rules": attendance_report()["rules"],
        "totals": {
            "sessions_held": 12,
            "average_coverage": 0.93,
            "participation_rate": 0.9,
            "connected_rate": 0.98,
            "invited": 360,
            "expected": 9500,
            "headcount": 8550,
        },
        "sessions": [
            {
                "id": "s1",
                "title": "Hội nghị sơ kết quý I",
                "window": attendance_report()["window"],
                "live": False,
                "invited": 3,
                "present": 1,
                "partial": 1,
                "absent": 1,
                "expected": 120,
                "headcount": 35,
                "average_coverage": 0.52,
                "participation_rate": 0.29,
                "connected_rate": 0.67,
            }
        ],
        "sites": [
            {
                "site": "nga-hai",
                "name": "Xã Nga Hải",
                "kind": "commune",
                "sessions": 12,
                "present": 9,
                "partial": 2,
                "absent": 1,
                "average_coverage": 0.81,
                "repeatedly_absent_or_partial": True,
            },
            {
                "site": "nga-thanh",
                "name": "Xã Nga Thạnh",
                "kind": "commune",
                "sessions": 12,
                "present": 12,
                "partial": 0,
                "absent": 0,
                "average_coverage": 0.99,
                "repeatedly_absent_or_partial": False,
            },
        ],
    }
    api.answers[("GET", "/api/sessions/s1/attendance")] = attendance_report()
    opened = await open_page(browser, api, "/attendance")
    page = opened.page
    await page.wait_for_selector("#login:not([hidden])")
    assert api.calls == []
    await page.locator("#login-token").fill("admin-token-0123456789")
    await page.locator("#login-token").press("Enter")
    await page.wait_for_selector("#session-rows tr")
    (call,) = api.called("GET", "/api/attendance")
    year = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).year
    assert call.query == f"from={year}-01-01&to={year}-12-31"
    assert call.authorization == "Bearer admin-token-0123456789"
    headline = await page.locator("#headline").text_content() or ""
    assert headline.startswith("Năm 2026: đã tổ chức 12 hội nghị") and "98%" in headline
    assert await page.locator("#flagged-list li").count() == 1
    flagged = page.locator('#period-site-rows tr[data-flagged="true"]')
    assert await flagged.count() == 1 and "Xã Nga Hải" in (await flagged.text_content() or "")
    # The link to a session shows no token; this tab's storage carries it.
    link = page.locator("#session-rows a")
    assert await link.get_attribute("href") == "/attendance/s1"
    await link.click()
    await page.wait_for_selector("#site-rows tr")
    assert api.called("GET", "/api/sessions/s1/attendance")[0].authorization == (
        "Bearer admin-token-0123456789"
    )
    assert await page.locator("#back-link").is_visible()

    # A wrong token is said to be wrong and forgotten.
    api.answers[("GET", "/api/attendance")] = (401, {"error": "invalid_token", "message": "no"})
    await page.goto(ORIGIN + "/attendance#token=wrong")
    await page.wait_for_selector("#login-error:not([hidden])")
    stored = await page.evaluate("sessionStorage.getItem('diemcau.token.admin')")
    assert stored is None
    assert [p for p in opened.problems if "401" not in p] == []


async def test_a_hall_reports_and_corrects_its_headcount(browser: Browser) -> None:
    api = FakeApi()
    me = {
        "role": "site",
        "session": session(),
        "whep_url": f"{ORIGIN}/whep/s1/nga-thanh",
        "site": {"id": "nga-thanh", "name": "Xã Nga Thạnh", "kind": "commune", "expected": 40},
        "headcount": None,
    }
    api.answers[("GET", "/api/sessions/s1/me")] = me
    api.answers[("POST", "/api/sessions/s1/sites/nga-thanh/headcount")] = (
        201,
        {"site": "nga-thanh", "present": 36, "ts": "2026-03-05T01:12:00.000Z"},
    )
    opened = await open_page(browser, api, "/join/s1/nga-thanh#token=site-token")
    page = opened.page
    button = page.locator("#headcount-open")
    await button.wait_for(state="visible")
    assert await page.locator("#headcount-label").text_content() == "Báo số người dự"

    # Keyboard only, as on a projector PC: the button, a number, Enter.
    await button.focus()
    await page.keyboard.press("Enter")
    assert await page.locator("#headcount").is_visible()
    await page.keyboard.type("-3")
    await page.keyboard.press("Enter")
    assert await page.locator("#headcount-error").is_visible()
    assert api.called("POST", "/api/sessions/s1/sites/nga-thanh/headcount") == []

    await page.locator("#headcount-input").fill("36")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#headcount", state="hidden")
    (call,) = api.called("POST", "/api/sessions/s1/sites/nga-thanh/headcount")
    assert call.body == {"present": 36} and call.authorization == "Bearer site-token"
    assert await page.locator("#headcount-label").text_content() == "Số người dự: 36"

    # After the end the server refuses, and the dialog says why.
    api.answers[("POST", "/api/sessions/s1/sites/nga-thanh/headcount")] = (
        409,
        {"error": "session_ended", "message": "ended"},
    )
    await button.click()
    await page.locator("#headcount-input").fill("30")
    await page.keyboard.press("Enter")
    error = page.locator("#headcount-error")
    await error.wait_for(state="visible")
    assert "đã kết thúc" in (await error.text_content() or "")
    assert opened.problems == []


async def test_the_console_shows_people_and_opens_the_record(browser: Browser) -> None:
    api = FakeApi()
    api.answers[("GET", "/api/sessions/s1/me")] = {
        "role": "host",
        "session": session(),
        "site": None,
        "whip_url": f"{ORIGIN}/whip/s1",
    }
    api.answers[("GET", "/api/sessions/s1/sites")] = {
        "session": "s1",
        "state": "live",
        "sites": [
            {
                "site": "nga-thanh",
                "name": "Xã Nga Thạnh",
                "kind": "commune",
                "expected": 40,
                "connected": True,
                "connected_since": "2026-03-05T01:00:30Z",
                "connections": 1,
                "packets_sent": 10,
                "bytes_sent": 1000,
                "headcount": 36,
                "headcount_at": "2026-03-05T01:12:00.000Z",
            },
            {
                "site": "nga-hai",
                "name": "Xã Nga Hải",
                "kind": "commune",
                "expected": 35,
                "connected": False,
                "connected_since": None,
                "connections": 0,
                "packets_sent": 0,
                "bytes_sent": 0,
                "headcount": None,
                "headcount_at": None,
            },
        ],
        "totals": {
            "invited": 2,
            "connected": 1,
            "expected": 75,
            "headcount": 36,
            "participation_rate": 0.48,
        },
    }
    api.answers[("GET", "/api/sessions/s1/attendance")] = attendance_report(live=True)
    opened = await open_page(browser, api, "/console/s1#token=host-token")
    page = opened.page
    await page.wait_for_selector("#sites tr", state="attached")
    assert await page.locator("#sites-count").text_content() == "1 / 2 điểm cầu đã kết nối"
    assert await page.locator("#people-count").text_content() == "Người dự: 36 / 75 (48%)"
    # Each hall's tile: its state and the people it reported, of those expected.
    tile = page.locator('#mosaic .tile[data-site="nga-thanh"]')
    assert await tile.get_attribute("data-state") == "connected"
    assert await tile.locator(".tile-people").text_content() == "36/40"
    absent = page.locator('#mosaic .tile[data-site="nga-hai"]')
    assert await absent.get_attribute("data-state") == "absent"
    assert await absent.locator(".tile-state").text_content() == "Chưa tham gia"
    assert api.messages[0] == {"type": "hello", "token": "host-token"}
    # The connection details are folded away under the mosaic.
    await page.locator(".site-details summary").click()
    cells = await page.locator("#sites tr").first.locator("td").all_text_contents()
    assert cells[1] == "36 / 40"
    link = page.locator("#attendance-link")
    assert await link.is_visible()
    assert await link.get_attribute("href") == "/attendance/s1"
    async with page.context.expect_page() as info:
        await link.click()
    report = await info.value
    await report.wait_for_selector("#site-rows tr")
    assert "token" not in report.url
    assert api.called("GET", "/api/sessions/s1/attendance")[0].authorization == "Bearer host-token"
    assert [p for p in opened.problems if not re.search(r"whip|503", p)] == []
