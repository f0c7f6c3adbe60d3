"""The office's pages in headless Chromium, on the real app (tests/web/officeapp.py): the sites
list, a site added and edited in place, a CSV import previewed line by line (a bad line among
them) before it is applied, and the admin token asked for when the link has none or a wrong one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from starlette.applications import Starlette

from diemcau.server.store import Site, Store
from tests.server.conftest import ADMIN_TOKEN

from .officeapp import open_page

pytestmark = pytest.mark.browser

TAN_LOC = Site("tan-loc", "Thị trấn Tân Lộc", "town", 25)


def seed(store: Store, *sites: Site) -> None:
    store.put_sites(list(sites), datetime.now(UTC))


def row(page: Page, site_id: str) -> Locator:
    return page.locator(f'#site-rows tr[data-site="{site_id}"]')


async def test_the_list_shows_each_site_with_its_kind_and_expected_people(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC, Site("nga-thanh", "Xã Nga Thạnh", "commune", 40))
    opened = await open_page(chromium, office_app, f"/office#token={ADMIN_TOKEN}")
    page = opened.page
    await expect(page.locator("#office-view")).to_be_visible()
    await expect(row(page, "tan-loc")).to_contain_text("Thị trấn Tân Lộc")
    await expect(row(page, "tan-loc")).to_contain_text("Thị trấn")  # the kind's word
    await expect(row(page, "nga-thanh").locator("td.num")).to_have_text("40")
    await expect(page.locator("#sites-count")).to_have_text("2 điểm cầu · 65 người dự kiến")
    # The token left the address bar.
    assert "token" not in page.url
    assert opened.problems == []


async def test_an_import_with_a_bad_line_is_previewed_and_applied_only_when_asked(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC)
    opened = await open_page(chromium, office_app, f"/office#token={ADMIN_TOKEN}")
    page = opened.page
    csv_text = (
        "id,name,kind,expected\r\n"
        '"nga-thanh","Xã Nga Thạnh, huyện Nga Sơn",commune,40\r\n'
        "tan-loc,Thị trấn Tân Lộc,town,30\r\n"
        "phu-an,Xã Phú An,commune,-2\r\n"
    )
    await page.locator("#import-file").set_input_files(
        files=[{"name": "diemcau.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    await page.get_by_role("button", name="Xem trước").click()
    await expect(page.locator("#preview")).to_be_visible()
    rows = page.locator("#preview-rows tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("nga-thanh")
    await expect(rows.nth(0)).to_contain_text("Thêm mới")
    await expect(rows.nth(1)).to_contain_text("Cập nhật")
    await expect(rows.nth(2)).to_contain_text("Bị từ chối")
    await expect(rows.nth(2)).to_contain_text("expected must be")
    await expect(rows.nth(2).locator("td").first).to_have_text("4")
    await expect(page.locator("#preview-summary")).to_contain_text(
        "1 thêm mới, 1 cập nhật, 0 không đổi, 1 bị từ chối"
    )
    # The preview wrote nothing.
    assert office_store.list_sites() == [TAN_LOC]

    await page.get_by_role("button", name="Áp dụng").click()
    await expect(page.locator("#import-done")).to_contain_text("Đã nhập: 1 thêm mới, 1 cập nhật")
    await expect(page.locator("#preview")).to_be_hidden()
    await expect(row(page, "nga-thanh")).to_contain_text("Xã Nga Thạnh, huyện Nga Sơn")
    assert {s.id: s.expected for s in office_store.list_sites()} == {"nga-thanh": 40, "tan-loc": 30}
    assert opened.problems == []


async def test_a_file_that_is_not_our_csv_is_refused_whole(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC)
    page = (await open_page(chromium, office_app, f"/office#token={ADMIN_TOKEN}")).page
    await page.locator("#import-file").set_input_files(
        files=[{"name": "x.csv", "mimeType": "text/csv", "buffer": b"ma,ten\nx,y\n"}]
    )
    await page.get_by_role("button", name="Xem trước").click()
    await expect(page.locator("#alert")).to_contain_text("id,name,kind,expected")
    await expect(page.locator("#preview")).to_be_hidden()
    assert office_store.list_sites() == [TAN_LOC]


async def test_a_site_is_added_and_edited_in_place(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC)
    opened = await open_page(chromium, office_app, f"/office#token={ADMIN_TOKEN}")
    page = opened.page
    await page.get_by_role("button", name="Thêm điểm cầu").click()
    editor = page.locator("#site-rows tr.editing")
    await editor.get_by_label("Mã").fill("nga-an")
    await editor.get_by_label("Điểm cầu").fill("Xã Nga An")
    await editor.get_by_label("Loại").fill("commune")
    await editor.get_by_label("Số người dự kiến").fill("35")
    await editor.get_by_role("button", name="Lưu").click()
    await expect(row(page, "nga-an")).to_contain_text("Xã Nga An")
    assert office_store.get_site("nga-an") == Site("nga-an", "Xã Nga An", "commune", 35)

    await row(page, "tan-loc").get_by_role("button", name="Sửa Thị trấn Tân Lộc").click()
    editor = page.locator("#site-rows tr.editing")
    await editor.get_by_label("Điểm cầu").fill("")
    await editor.get_by_role("button", name="Lưu").click()
    # The server's reason, in the row, and nothing changed.
    await expect(editor.locator(".login-error")).to_be_visible()
    assert office_store.get_site("tan-loc") == TAN_LOC
    await editor.get_by_label("Điểm cầu").fill("Thị trấn Tân Lộc mới")
    await editor.get_by_label("Số người dự kiến").press("Enter")
    await expect(row(page, "tan-loc")).to_contain_text("Thị trấn Tân Lộc mới")
    assert office_store.get_site("tan-loc") == Site("tan-loc", "Thị trấn Tân Lộc mới", "town", 25)
    assert opened.problems == []


async def test_a_wrong_token_is_asked_for_again(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC)
    page = (await open_page(chromium, office_app, "/office#token=not-the-admin-token")).page
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#office-view")).to_be_hidden()
    await page.locator("#login-token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(row(page, "tan-loc")).to_be_visible()
    await expect(page.locator("#login")).to_be_hidden()


async def test_a_roster_import_is_previewed_then_applied_and_becomes_the_expected(
    chromium: Browser, office_app: Starlette, office_store: Store
) -> None:
    seed(office_store, TAN_LOC, Site("nga-thanh", "Xã Nga Thạnh", "commune", 40))
    opened = await open_page(chromium, office_app, f"/office#token={ADMIN_TOKEN}")
    page = opened.page
    csv_text = (
        "\ufeffsite,name,code,position,unit\r\n"
        "tan-loc,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy thị trấn\r\n"
        "tan-loc,Lê Thị Bình,,Đảng viên,Chi bộ 2\r\n"
        "phu-an,Hoàng Văn Hải,,Đảng viên,\r\n"
    )
    await page.locator("#roster-file").set_input_files(
        files=[{"name": "nguoidu.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    await page.get_by_role("button", name="Kiểm tra tệp").click()
    await expect(page.locator("#roster-preview")).to_be_visible()
    rows = page.locator("#roster-rows tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("Nguyễn Văn An")
    await expect(rows.nth(0)).to_contain_text("Thêm mới")
    await expect(rows.nth(2)).to_contain_text("Bị từ chối")
    await expect(rows.nth(2)).to_contain_text("unknown site phu-an")
    await expect(page.locator("#roster-summary")).to_contain_text(
        "2 thêm mới, 0 cập nhật, 0 không đổi, 1 bị từ chối, 0 người ra khỏi danh sách (1 điểm cầu)"
    )
    # The preview wrote nothing, and the sites' import is untouched by it.
    assert office_store.site_people("tan-loc") == []
    await expect(page.locator("#preview")).to_be_hidden()

    await page.get_by_role("button", name="Lưu danh sách").click()
    await expect(page.locator("#roster-done")).to_contain_text("Đã nhập danh sách: 2 thêm mới")
    await expect(page.locator("#roster-preview")).to_be_hidden()
    # The hall's expected is its roster's length now, in the list above.
    await expect(row(page, "tan-loc").locator("td.num")).to_have_text("2")
    await expect(page.locator("#sites-count")).to_have_text("2 điểm cầu · 42 người dự kiến")
    assert [p.name for p in office_store.site_people("tan-loc")] == ["Nguyễn Văn An", "Lê Thị Bình"]
    assert opened.problems == []
