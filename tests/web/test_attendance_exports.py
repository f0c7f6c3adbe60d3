"""The attendance page's official downloads in headless Chromium, on the real app
(tests/web/officeapp.py): a session's PDF report and Vietnamese CSV, and a period's workbook
and PDF, each fetched with the token and saved under the server's name."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader
from starlette.applications import Starlette

from diemcau.server.store import Site, Store
from tests.server.conftest import ADMIN_TOKEN

from .officeapp import admin_call, open_page

pytestmark = pytest.mark.browser

START = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội


@pytest.fixture
async def held(office_app: Starlette, office_store: Store) -> str:
    """A key cadres' conference held on 5 March 2026: Xã Nga Thạnh there, Thị trấn Tân Lộc not."""
    office_store.put_sites(
        [
            Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
            Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
        ],
        START,
    )
    created = await admin_call(
        office_app,
        "POST",
        "/api/sessions",
        json={
            "title": "Hội nghị cán bộ chủ chốt quý I",
            "scheduled_start": START.isoformat(),
            "scheduled_end": (START + timedelta(hours=1)).isoformat(),
            "kind": "key",
        },
    )
    session_id: str = created["id"]
    office_store.start_session(session_id, START)
    office_store.append_event(session_id, "join", START, site_id="nga-thanh", conn="c1")
    office_store.append_event(session_id, "headcount", START, site_id="nga-thanh", present=38)
    office_store.end_session(session_id, START + timedelta(hours=1))
    return session_id


async def saved(page: Page, selector: str) -> tuple[str, bytes]:
    async with page.expect_download() as info:
        await page.locator(selector).click()
    download = await info.value
    path = Path(await download.path())
    return download.suggested_filename, await asyncio.to_thread(path.read_bytes)


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


async def test_a_sessions_pdf_and_vietnamese_csv_from_its_page(
    chromium: Browser, office_app: Starlette, held: str
) -> None:
    opened = await open_page(chromium, office_app, f"/attendance/{held}#token={ADMIN_TOKEN}")
    page = opened.page
    await expect(page.locator('[data-export="pdf"]')).to_be_visible()
    name, content = await saved(page, '[data-export="pdf"]')
    assert name == f"diemdanh-{held}.pdf" and content.startswith(b"%PDF")
    text = text_of(content)
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in text and "Hội nghị cán bộ chủ chốt quý I" in text
    assert "Xã Nga Thạnh" in text and "Thị trấn Tân Lộc" in text
    await expect(page.locator("#export-status")).to_contain_text(name)
    name, content = await saved(page, '[data-export="csv_vi"]')
    lines = content.decode("utf-8-sig").splitlines()
    assert name == f"diemdanh-{held}.csv" and lines[0].startswith("Mã điểm cầu,Tên điểm cầu")
    assert "có mặt" in lines[1] and "05/03/2026 08:00:00" in lines[1]
    assert opened.problems == []


async def test_a_periods_workbook_and_pdf_from_the_period_view(
    chromium: Browser, office_app: Starlette, held: str
) -> None:
    query = "from=2026-03-01&to=2026-03-31"
    opened = await open_page(chromium, office_app, f"/attendance?{query}#token={ADMIN_TOKEN}")
    page = opened.page
    await expect(page.locator("#period-view")).to_be_visible()
    name, content = await saved(page, '[data-period-export="xlsx"]')
    assert name == "diemdanh-2026-03-01-2026-03-31.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(content))
    kinds = [row[0] for row in book["Tổng hợp"].iter_rows(min_row=5, values_only=True)]
    assert kinds == ["Hội nghị cán bộ chủ chốt", "Hội nghị cấp cơ sở", "Tổng cộng"]
    name, content = await saved(page, '[data-period-export="pdf"]')
    assert name == "diemdanh-2026-03-01-2026-03-31.pdf"
    assert "1 hội nghị cán bộ chủ chốt, tỷ lệ tham dự 58,5%" in text_of(content)  # 38 of 65
    await expect(page.locator("#period-export-status")).to_contain_text(name)
    assert opened.problems == []
