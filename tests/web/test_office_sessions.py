"""The office's sessions page in headless Chromium, on the real app (tests/web/officeapp.py):
scheduling on the district's clock with the sites chosen, a template from the last session,
refusals said in the form, start, end and cancel from the lists, and a session's recordings
listed under it and downloaded with the admin token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Dialog, Locator, Page, expect
from starlette.applications import Starlette

from diemcau.server import recordings
from diemcau.server.state import app_state
from diemcau.server.store import Site, Store
from diemcau.signaling.session import SessionState
from tests.server.conftest import ADMIN_TOKEN

from .officeapp import admin_call, open_page

pytestmark = pytest.mark.browser

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
SITES = [
    Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
    Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
    Site("ubnd", "Văn phòng UBND huyện", "agency", 12),
]


@pytest.fixture(autouse=True)
def sites(office_store: Store) -> None:
    office_store.put_sites(SITES, datetime.now(UTC))


async def sessions_page(browser: Browser, app: Starlette) -> Page:
    opened = await open_page(browser, app, f"/office/sessions#token={ADMIN_TOKEN}")
    await expect(opened.page.locator("#office-view")).to_be_visible()
    return opened.page


async def morning_session(app: Starlette, title: str) -> dict:
    """A session scheduled from 08:00 to 11:00 on 5 March 2026, Việt Nam time."""
    body = {
        "title": title,
        "scheduled_start": "2026-03-05T08:00:00+07:00",
        "scheduled_end": "2026-03-05T11:00:00+07:00",
    }
    session: dict = await admin_call(app, "POST", "/api/sessions", json=body)
    return session


async def poll(check: Callable[[], bool]) -> bool:
    """Whether `check` holds within 10 s (the page writes through the API, then redraws)."""
    for _ in range(100):
        if check():
            return True
        await asyncio.sleep(0.1)
    return check()


def session_row(page: Page, table: str, session_id: str) -> Locator:
    return page.locator(f'#{table}-rows tr[data-session="{session_id}"]')


async def test_a_session_is_scheduled_on_the_districts_clock_with_the_sites_chosen(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    page = await sessions_page(chromium, office_app)
    await expect(page.locator("#sites-chosen")).to_have_text(
        "Đã chọn 3 / 3 điểm cầu · 77 người dự kiến"
    )
    await page.locator("#schedule-title").fill("Hội nghị sơ kết quý I")
    await page.locator("#schedule-start").fill("2026-03-05T08:00")
    await page.locator("#schedule-end").fill("2026-03-05T11:00")
    await page.get_by_label("Văn phòng UBND huyện").uncheck()
    await expect(page.locator("#sites-chosen")).to_have_text(
        "Đã chọn 2 / 3 điểm cầu · 65 người dự kiến"
    )
    await page.get_by_role("button", name="Lên lịch", exact=True).click()
    await expect(page.locator("#schedule-done")).to_contain_text("Hội nghị sơ kết quý I")

    [session] = office_store.list_sessions()
    assert session.title == "Hội nghị sơ kết quý I"
    # 08:00 in Việt Nam, whatever the browser's own zone.
    assert session.scheduled_start == datetime(2026, 3, 5, 8, tzinfo=HANOI)
    assert session.scheduled_end == datetime(2026, 3, 5, 11, tzinfo=HANOI)
    assert [i.site_id for i in office_store.invites(session.id)] == ["nga-thanh", "tan-loc"]
    row = session_row(page, "upcoming", session.id)
    await expect(row).to_contain_text("Chưa bắt đầu")
    await expect(row).to_contain_text("08:00")
    await expect(row.get_by_role("link", name="Điểm danh")).to_have_attribute(
        "href", f"/attendance/{session.id}"
    )


async def test_a_key_cadres_conference_is_scheduled_as_one_and_listed_so(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    page = await sessions_page(chromium, office_app)
    await expect(page.locator("#schedule-kind")).to_have_value("grassroots")
    await page.locator("#schedule-title").fill("Hội nghị cán bộ chủ chốt quý I")
    await page.locator("#schedule-start").fill("2026-03-05T08:00")
    await page.locator("#schedule-end").fill("2026-03-05T11:00")
    await page.get_by_label("Loại hội nghị").select_option("key")
    await page.get_by_role("button", name="Lên lịch", exact=True).click()
    await expect(page.locator("#schedule-done")).to_be_visible()
    [session] = office_store.list_sessions()
    assert session.kind == "key"
    row = session_row(page, "upcoming", session.id)
    await expect(row.locator(".session-kind")).to_have_value("key")
    # Put right from the list: the store has it, and the row shows it.
    await row.get_by_label("Loại hội nghị của “Hội nghị cán bộ chủ chốt quý I”").select_option(
        "grassroots"
    )
    await expect(row.locator(".session-kind")).to_have_value("grassroots")
    assert await poll(lambda: office_store.list_sessions()[0].kind == "grassroots")
    await row.locator(".session-kind").select_option("key")
    assert await poll(lambda: office_store.list_sessions()[0].kind == "key")
    # The template takes the last session's kind too.
    await expect(page.locator("#schedule-kind")).to_have_value("grassroots")  # the form reset
    await page.get_by_role("button", name="Lấy mẫu từ hội nghị trước").click()
    await expect(page.locator("#schedule-kind")).to_have_value("key")


@pytest.mark.parametrize(
    ("title", "start", "end", "untick", "said"),
    [
        ("", "2026-03-05T08:00", "2026-03-05T11:00", False, "Hãy nhập tên hội nghị."),
        ("Họp", "2026-03-05T08:00", "", False, "Hãy nhập ngày giờ bắt đầu và kết thúc."),
        ("Họp", "2026-03-05T11:00", "2026-03-05T08:00", False, "Giờ kết thúc phải sau"),
        ("Họp", "2026-03-05T08:00", "2026-03-05T11:00", True, "ít nhất một điểm cầu"),
    ],
)
async def test_a_schedule_that_is_not_a_session_is_said_and_sends_nothing(
    chromium: Browser,
    office_app: Starlette,
    office_store: Store,
    title: str,
    start: str,
    end: str,
    untick: bool,
    said: str,
) -> None:
    page = await sessions_page(chromium, office_app)
    await page.locator("#schedule-title").fill(title)
    await page.locator("#schedule-start").fill(start)
    await page.locator("#schedule-end").fill(end)
    if untick:
        await page.get_by_role("button", name="Bỏ chọn tất cả").click()
    await page.get_by_role("button", name="Lên lịch", exact=True).click()
    await expect(page.locator("#schedule-error")).to_contain_text(said)
    assert office_store.list_sessions() == []


async def test_the_last_session_is_a_template_on_the_next_day(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    start = datetime.now(HANOI).replace(hour=8, minute=0, second=0, microsecond=0)
    start -= timedelta(days=3)
    await admin_call(
        office_app,
        "POST",
        "/api/sessions",
        json={
            "title": "Giao ban tuần",
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=2, minutes=30)).isoformat(),
            "sites": ["tan-loc", "ubnd"],
        },
    )
    page = await sessions_page(chromium, office_app)
    await page.get_by_role("button", name="Lấy mẫu từ hội nghị trước").click()
    await expect(page.locator("#schedule-title")).to_have_value("Giao ban tuần")
    next_day = start + timedelta(days=3 if start + timedelta(days=3) > datetime.now(HANOI) else 4)
    await expect(page.locator("#schedule-start")).to_have_value(next_day.strftime("%Y-%m-%dT08:00"))
    await expect(page.locator("#schedule-end")).to_have_value(next_day.strftime("%Y-%m-%dT10:30"))
    await expect(page.get_by_label("Xã Nga Thạnh")).not_to_be_checked()
    await expect(page.get_by_label("Thị trấn Tân Lộc")).to_be_checked()
    await page.get_by_role("button", name="Lên lịch", exact=True).click()
    await expect(page.locator("#schedule-done")).to_be_visible()
    newest = office_store.list_sessions()[0]
    assert newest.title == "Giao ban tuần"
    assert newest.scheduled_start == next_day
    assert [i.site_id for i in office_store.invites(newest.id)] == ["tan-loc", "ubnd"]


async def test_sessions_are_started_ended_and_cancelled_from_the_lists(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    held = await morning_session(office_app, "Họp A")
    dropped = await morning_session(office_app, "Họp B")
    page = await sessions_page(chromium, office_app)
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await session_row(page, "upcoming", held["id"]).get_by_role("button", name="Bắt đầu").click()
    await expect(session_row(page, "upcoming", held["id"])).to_contain_text("Đang diễn ra")
    assert office_store.get_session(held["id"]).state is SessionState.LIVE

    await session_row(page, "upcoming", held["id"]).get_by_role("button", name="Kết thúc").click()
    await expect(session_row(page, "past", held["id"])).to_contain_text("Đã kết thúc")
    assert office_store.get_session(held["id"]).state is SessionState.ENDED

    await session_row(page, "upcoming", dropped["id"]).get_by_role("button", name="Hủy").click()
    row = session_row(page, "past", dropped["id"])
    await expect(row).to_contain_text("Đã hủy")
    # A cancelled session has no attendance to show.
    await expect(row.get_by_role("link", name="Điểm danh")).to_have_count(0)
    cancelled = office_store.get_session(dropped["id"])
    assert cancelled.state is SessionState.ENDED and cancelled.started_at is None
    assert asked == [
        "Kết thúc hội nghị “Họp A”? Mọi điểm cầu sẽ bị ngắt kết nối.",
        "Hủy hội nghị “Họp B”? Hội nghị chưa diễn ra sẽ không thể bắt đầu nữa.",
    ]
    await expect(page.locator("#upcoming-empty")).to_be_visible()


def put_recording(
    data_dir: Path, session_id: str, name: str, body: bytes, started: str, ended: str | None
) -> Path:
    """A recording as media/recorder.py leaves one: the file and its JSON sidecar."""
    path = recordings.directory(data_dir, session_id) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    fields = {"id": path.stem, "started_at": started, "ended_at": ended}
    path.with_suffix(".json").write_text(json.dumps(fields))
    return path


async def test_a_sessions_recordings_are_listed_under_it_and_download_with_the_token(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    held, live, bare, later = [
        await morning_session(office_app, title) for title in ("Họp A", "Họp B", "Họp C", "Họp D")
    ]
    for session in (held, live, bare):
        await admin_call(office_app, "POST", f"/api/sessions/{session['id']}/start")
    for session in (held, bare):
        await admin_call(office_app, "POST", f"/api/sessions/{session['id']}/end")
    data_dir = app_state(office_app).config.data_dir
    program = bytes(range(256)) * 40
    put_recording(
        data_dir,
        held["id"],
        "20260305T010203-1.webm",
        program,
        "2026-03-05T01:02:03.000Z",
        "2026-03-05T03:58:00.000Z",
    )
    put_recording(
        data_dir, held["id"], "20260305T035900-2.mkv", b"\x1a" * 999, "2026-03-05T03:59:00Z", None
    )
    put_recording(
        data_dir, live["id"], "20260305T010000-1.webm", b"\x1a" * 10, "2026-03-05T01:00:00Z", None
    )
    opened = await open_page(chromium, office_app, f"/office/sessions#token={ADMIN_TOKEN}")
    page = opened.page
    await expect(page.locator("#office-view")).to_be_visible()
    # A session that never ran has nothing recorded to show.
    await expect(
        session_row(page, "upcoming", later["id"]).get_by_role("button", name="Bản ghi hình")
    ).to_have_count(0)

    opener = session_row(page, "past", held["id"]).get_by_role("button", name="Bản ghi hình")
    await expect(opener).to_have_attribute("aria-expanded", "false")
    await opener.click()
    listed = page.locator(f'#past-rows tr[data-recordings-of="{held["id"]}"]')
    items = listed.locator("li.recording")
    await expect(items).to_have_count(2)
    await expect(opener).to_have_attribute("aria-expanded", "true")
    # On the district's clock: 01:02 UTC is 08:02 in Việt Nam.
    await expect(items.nth(0)).to_contain_text("08:02")
    await expect(items.nth(0)).to_contain_text("10:58")
    await expect(items.nth(0)).to_contain_text("10,2 kB")
    await expect(items.nth(1)).to_contain_text("bị ngắt giữa chừng")
    await expect(items.nth(1)).to_contain_text("999 B")

    async with page.expect_download() as waiting:
        await items.nth(0).get_by_role("button", name="Tải về").click()
    download = await waiting.value
    assert download.suggested_filename == "20260305T010203-1.webm"
    saved = await download.path()
    assert saved is not None and saved.read_bytes() == program
    await expect(listed).to_contain_text("Đã tải về 20260305T010203-1.webm")

    # One being written says so; a session without any says that too; a list closes again.
    live_row = session_row(page, "upcoming", live["id"])
    await live_row.get_by_role("button", name="Bản ghi hình").click()
    being = page.locator(f'#upcoming-rows tr[data-recordings-of="{live["id"]}"] li.recording')
    await expect(being).to_have_count(1)
    await expect(being).to_contain_text("đang ghi")
    await session_row(page, "past", bare["id"]).get_by_role("button", name="Bản ghi hình").click()
    await expect(page.locator(f'tr[data-recordings-of="{bare["id"]}"]')).to_contain_text(
        "không có bản ghi hình nào"
    )
    await opener.click()
    await expect(listed).to_have_count(0)
    assert opened.problems == []


async def test_a_cancel_that_crossed_the_start_ends_nothing_and_says_so(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    session = await morning_session(office_app, "Họp E")
    page = await sessions_page(chromium, office_app)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    row = session_row(page, "upcoming", session["id"])
    await expect(row).to_contain_text("Chưa bắt đầu")
    # The console went live while the clerk's page still showed it scheduled.
    await admin_call(office_app, "POST", f"/api/sessions/{session['id']}/start")
    await row.get_by_role("button", name="Hủy hội nghị").click()
    await expect(page.locator("#alert")).to_have_text(
        "Hội nghị “Họp E” đã bắt đầu nên không hủy được; muốn dừng hội nghị, hãy bấm “Kết thúc”."
    )
    await expect(row).to_contain_text("Đang diễn ra")
    assert office_store.get_session(session["id"]).state is SessionState.LIVE
