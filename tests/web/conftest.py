"""For the tests of web/js modules in Chromium without a server: one browser a module, and
pages on a made-up origin that Playwright serves web/ to (as /static/...); and for the office
pages' tests, the real app in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, async_playwright
from starlette.applications import Starlette

from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Store
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.server.conftest import ADMIN_TOKEN, shut_down

WEB = Path(__file__).resolve().parents[2] / "web"
ORIGIN = "http://diemcau.test"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def static_page(browser: Browser) -> Page:
    """A blank page at ORIGIN/ whose /static/ is web/; anything else is 404."""

    async def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if path == "/":
            await route.fulfill(body="<!doctype html><title>t</title>", content_type="text/html")
            return
        file = WEB / path.removeprefix("/static/")
        if not path.startswith("/static/") or not file.is_file():
            await route.fulfill(status=404)
            return
        await route.fulfill(body=file.read_bytes(), content_type="text/javascript")

    page = await browser.new_page()
    await page.route(f"{ORIGIN}/**", serve)
    await page.goto(f"{ORIGIN}/")
    return page


# The office pages' tests (tests/web/officeapp.py): the real app, its store, and a Chromium
# of each test's own.


@pytest.fixture
async def office_app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """The real app on a fresh data directory."""
    app = create_app(Config(data_dir=tmp_path / "data", write_burst=1e9), ADMIN_TOKEN)
    yield app
    await shut_down(app)


@pytest.fixture
def office_store(office_app: Starlette) -> Store:
    store: Store = app_state(office_app).store
    return store


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, one for each test (its app and loop are the test's own)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()
