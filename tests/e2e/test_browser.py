"""End to end in headless Chromium (Debian's, fake camera and microphone): the district console
goes live over WHIP and three commune pages play the broadcast over WHEP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import Server

pytestmark = [pytest.mark.netns, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # Host candidates as plain addresses inside the test namespace, not mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
    {"id": "thi-tran", "name": "Thị trấn Nga Sơn"},
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _video_state(page: Page) -> dict[str, float]:
    return await page.evaluate(
        """() => { const v = document.querySelector('video');
                   return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime}; }"""
    )


async def _wait_playing(page: Page, within: float = 30) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = await _video_state(page)
    while loop.time() < deadline:
        state = await _video_state(page)
        if state["w"] > 0 and state["t"] > 0.5:
            return state
        await asyncio.sleep(0.25)
    return state


async def test_console_goes_live_and_three_commune_pages_play(
    server: Server, browser: Browser
) -> None:
    session = server.create_session(SITES, title="Hội nghị Ban Chấp hành")
    context = await browser.new_context()
    errors: list[str] = []
    console = await context.new_page()
    console.on("pageerror", lambda exc: errors.append(str(exc)))
    await console.goto(session["host"]["console_url"])

    # The commune halls open their links before the district goes live.
    communes = []
    for invite in session["invites"]:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(invite["join_url"])
        communes.append(page)

    await console.locator("#go-live").click()
    for page in communes:
        first = await _wait_playing(page)
        assert first["w"] > 0 and first["t"] > 0.5, first
        await asyncio.sleep(1.0)
        later = await _video_state(page)
        assert later["t"] > first["t"], "the picture must keep advancing"

    with server.admin() as client:
        sites = client.get(f"/api/sessions/{session['id']}/sites").json()["sites"]
    assert [s["connected"] for s in sites] == [True, True, True]
    assert all(s["packets_sent"] > 0 for s in sites)
    assert errors == []
    await context.close()
