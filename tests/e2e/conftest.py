"""What the browser tests share: Debian's Chromium with a fake camera and microphone, and ways
to tell that a <video> plays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, Page, async_playwright

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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def video_state(page: Page, selector: str = "video") -> dict[str, float]:
    """The size and play position of the first <video> the selector finds."""
    return await page.evaluate(
        """(selector) => { const v = document.querySelector(selector);
                   return v ? {w: v.videoWidth, h: v.videoHeight, t: v.currentTime}
                            : {w: 0, h: 0, t: 0}; }""",
        selector,
    )


async def wait_playing(page: Page, within: float = 30, selector: str = "video") -> dict[str, float]:
    """Waits until the <video> has a picture and has played half a second; its last state.
    Chromium plays a 2x2 placeholder for a remote track before its first frame: a picture is
    larger than that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = await video_state(page, selector)
    while loop.time() < deadline:
        state = await video_state(page, selector)
        if state["w"] > 2 and state["h"] > 2 and state["t"] > 0.5:
            return state
        await asyncio.sleep(0.25)
    return state


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Calls `check` every quarter second until it is true or `within` seconds passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await check():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.25)
