"""The hybrid meeting in headless Chromium (fake camera and microphone): the console's mosaic
shows each commune hall's camera; a hall asks for the floor, the chair grants it, and the
district hall and the other halls receive its picture and sound on the floor slots until the
chair takes the floor back; a removed hall is refused when it comes back; the end of the
session reaches every page at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import Server
from tests.e2e.conftest import eventually, video_state, wait_playing

pytestmark = [pytest.mark.netns, pytest.mark.browser]

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
    {"id": "thi-tran", "name": "Thị trấn Nga Sơn"},
]


async def floor_stats(page: Page) -> dict[str, Any] | None:
    """Bytes received so far on the page's floor slot, by kind."""
    stats: dict[str, Any] | None = await page.evaluate("() => window.diemcau.floorStats()")
    return stats


async def floor_bytes(page: Page) -> tuple[int, int]:
    stats = await floor_stats(page)
    if stats is None:
        return (0, 0)
    return (stats["video"]["bytes"], stats["audio"]["bytes"])


async def tile_plays(console: Page, site: str) -> bool:
    selector = f'#mosaic .tile[data-site="{site}"] video'
    first = await video_state(console, selector)
    if first["w"] <= 0:
        return False
    await asyncio.sleep(0.5)
    return (await video_state(console, selector))["t"] > first["t"]


async def test_a_hall_asks_for_the_floor_and_everyone_else_receives_it(
    server: Server, browser: Browser
) -> None:
    session = server.create_session(SITES, title="Hội nghị trực tuyến thảo luận")
    one, two, three = session["invites"]
    context = await browser.new_context()
    errors: list[str] = []
    console = await context.new_page()
    console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
    await console.goto(session["host"]["console_url"])
    halls: dict[str, Page] = {}
    for invite in (one, two, three):
        page = await context.new_page()
        page.on("pageerror", lambda exc, site=invite["site"]: errors.append(f"{site}: {exc}"))
        await page.goto(invite["join_url"])
        halls[invite["site"]] = page
    await console.locator("#go-live").click()

    # The mosaic: each hall's camera plays in its tile, which says it is connected.
    for invite in (one, two, three):
        assert await eventually(lambda site=invite["site"]: tile_plays(console, site), 25), invite
        tile = console.locator(f'#mosaic .tile[data-site="{invite["site"]}"]')
        assert await tile.get_attribute("data-state") == "connected"
    # Every hall sends its camera, its microphone silent.
    for page in halls.values():
        assert await page.evaluate("() => window.diemcau.uplinkState()") == {
            "camera": True,
            "microphone": "off",
            "sending": "connected",
        }

    # Commune 2 asks for the floor; the chair sees the request and grants it.
    speaker = halls[two["site"]]
    await speaker.locator("#request").click()
    request = console.locator(f'#requests li[data-site="{two["site"]}"]')
    await request.wait_for(timeout=5000)
    assert "Xã Nga Hải" in await request.inner_text()
    await request.locator(".request-grant").click()

    await speaker.locator("#on-air").wait_for(state="visible", timeout=5000)
    assert "ĐANG PHÁT BIỂU" in await speaker.locator("#on-air").inner_text()
    assert await eventually(lambda: _microphone(speaker, "on"), 5), (
        "the speaker's microphone is heard once it has the floor"
    )
    assert "Xã Nga Hải" in await console.locator("#floor-holder").inner_text()

    # The district hall and communes 1 and 3 receive commune 2's picture and sound.
    listeners = [console, halls[one["site"]], halls[three["site"]]]

    async def all_receive() -> bool:
        before = [await floor_bytes(page) for page in listeners]
        await asyncio.sleep(1.0)
        after = [await floor_bytes(page) for page in listeners]
        return all(
            a[0] > b[0] and a[1] > b[1] and a[0] > 10_000
            for a, b in zip(after, before, strict=True)
        )

    assert await eventually(all_receive, 15), [await floor_stats(p) for p in listeners]
    # The speaking hall does not get itself back.
    assert await floor_bytes(speaker) == (0, 0)
    assert await halls[one["site"]].locator("#floor").is_visible()

    # The chair takes the floor back: the floor slots fall silent, the microphone too.
    await console.locator("#take-back").click()
    await speaker.locator("#on-air").wait_for(state="hidden", timeout=5000)
    assert await eventually(lambda: _microphone(speaker, "off"), 5)
    await asyncio.sleep(1.0)
    stopped = [await floor_bytes(page) for page in listeners]
    await asyncio.sleep(1.5)
    assert [await floor_bytes(page) for page in listeners] == stopped

    # The chair removes commune 3: its page says so, and so does it when the link is opened
    # again (its token no longer works for this session).
    await console.locator(f'#mosaic .tile[data-site="{three["site"]}"] .tile-button').click()
    await console.locator("#spotlight-remove").click()
    await console.locator("#remove-ok").click()
    removed = halls[three["site"]]
    await removed.wait_for_function(
        "() => document.body.dataset.phase === 'removed'", timeout=10000
    )
    assert "mời rời" in (await removed.locator("#card").inner_text()).lower()
    await removed.goto("about:blank")
    await removed.goto(three["join_url"])
    await removed.wait_for_function(
        "() => document.body.dataset.phase === 'removed'", timeout=10000
    )
    assert "mời rời" in (await removed.locator("#card").inner_text()).lower()
    tile = console.locator(f'#mosaic .tile[data-site="{three["site"]}"]')
    assert await eventually(lambda: _attribute_is(tile, "data-state", "removed"), 5), (
        "the mosaic says the hall was removed"
    )

    # The chair ends the session: the halls' pages say so at once.
    await console.locator("#end").click()
    await console.locator("#confirm-ok").click()
    for page in (halls[one["site"]], speaker):
        await page.wait_for_function("() => document.body.dataset.phase === 'ended'", timeout=3000)
    assert errors == []
    await context.close()


async def _microphone(page: Page, state: str) -> bool:
    uplink = await page.evaluate("() => window.diemcau.uplinkState()")
    return bool(uplink["microphone"] == state)


async def _attribute_is(locator: Any, name: str, value: str) -> bool:
    return bool(await locator.get_attribute(name) == value)


# A hall PC without a camera: the browser finds no video device.
NO_CAMERA = """
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = constraints => constraints && constraints.video
    ? Promise.reject(new DOMException('Requested device not found', 'NotFoundError'))
    : getUserMedia(constraints);
"""


async def test_a_hall_without_a_camera_still_joins_and_receives(
    server: Server, browser: Browser
) -> None:
    session = server.create_session(SITES[:1], title="Điểm cầu không có camera")
    (invite,) = session["invites"]
    context = await browser.new_context()
    errors: list[str] = []
    console = await context.new_page()
    console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
    await console.goto(session["host"]["console_url"])
    hall_context = await browser.new_context()
    await hall_context.add_init_script(NO_CAMERA)
    hall = await hall_context.new_page()
    hall.on("pageerror", lambda exc: errors.append(f"hall: {exc}"))
    await hall.goto(invite["join_url"])
    await console.locator("#go-live").click()

    assert (await wait_playing(hall, selector="#video"))["w"] > 0
    uplink = {"camera": False, "microphone": "off", "sending": "connected"}
    assert await eventually(lambda: _uplink_is(hall, uplink), 10), await hall.evaluate(
        "() => window.diemcau.uplinkState()"
    )
    assert "micrô" in await hall.locator("#self-caption").inner_text()
    tile = console.locator(f'#mosaic .tile[data-site="{invite["site"]}"]')
    assert await eventually(lambda: _attribute_is(tile, "data-state", "connected"), 10)
    assert await tile.get_attribute("data-picture") == "false"
    assert errors == []
    await hall_context.close()
    await context.close()


async def _uplink_is(page: Page, expected: dict[str, Any]) -> bool:
    return bool(await page.evaluate("() => window.diemcau.uplinkState()") == expected)
