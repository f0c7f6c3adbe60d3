"""End to end in headless Chromium (Debian's, fake camera and microphone): the district console
goes live over WHIP and three commune pages play the broadcast over WHEP."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, Response

from tests.conftest import Server, free_port, start_server, stop_server
from tests.e2e.conftest import eventually, video_state, wait_playing

pytestmark = [pytest.mark.netns, pytest.mark.browser]

SITES = [
    {"id": "nga-thanh", "name": "Xã Nga Thạnh"},
    {"id": "nga-hai", "name": "Xã Nga Hải"},
    {"id": "thi-tran", "name": "Thị trấn Nga Sơn"},
]


async def test_console_goes_live_and_three_commune_pages_play(
    server: Server, browser: Browser
) -> None:
    session = server.create_session(SITES, title="Hội nghị Ban Chấp hành")
    context = await browser.new_context()
    errors: list[str] = []
    # Every page trickles its candidates: (path, status) of each PATCH.
    patches: list[tuple[str, int]] = []
    context.on(
        "response",
        lambda r: patches.append((r.url, r.status)) if r.request.method == "PATCH" else None,
    )
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
        first = await wait_playing(page)
        assert first["w"] > 0 and first["t"] > 0.5, first
        await asyncio.sleep(1.0)
        later = await video_state(page)
        assert later["t"] > first["t"], "the picture must keep advancing"

    with server.admin() as client:
        sites = client.get(f"/api/sessions/{session['id']}/sites").json()["sites"]
    assert [s["connected"] for s in sites] == [True, True, True]
    assert all(s["packets_sent"] > 0 for s in sites)
    assert any(f"/whip/{session['id']}/r/" in url and status == 204 for url, status in patches)
    for invite in session["invites"]:
        resource = f"/whep/{session['id']}/{invite['site']}/r/"
        assert any(resource in url and status == 204 for url, status in patches), patches
    assert errors == []
    await context.close()


async def test_a_hall_restarts_ice_over_its_resource_and_keeps_playing(
    server: Server, browser: Browser
) -> None:
    """An ICE restart as the pages make one after a network change, in real Chromium against
    the real bridge: new credentials both ways, media on, the same resource, no new join."""
    session = server.create_session(SITES[:1], title="Khởi động lại ICE")
    invite = session["invites"][0]
    context = await browser.new_context()
    console = await context.new_page()
    await console.goto(session["host"]["console_url"])
    await console.locator("#go-live").click()

    hall = await context.new_page()
    await hall.goto(f"{server.base_url}/healthz")  # the server's origin, for its modules
    token = invite["join_url"].split("#token=")[1]
    await hall.evaluate(
        """async ([url, token]) => {
            window.whip = await import('/static/js/whip.js');
            window.session = await window.whip.play(url, token, {audio: false});
            window.packets = async () =>
                (await window.whip.receivedBy(window.session.pc.getReceivers())).video.packets;
        }""",
        [invite["whep_url"], token],
    )

    async def receiving(more_than: int) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        packets = 0
        while loop.time() < deadline:
            packets = await hall.evaluate("window.packets()")
            if packets > more_than and await hall.evaluate("window.session.state") == "connected":
                break
            await asyncio.sleep(0.25)
        return int(packets)

    before = await receiving(0)
    assert before > 0
    # The ufrags both sides use now, and the local one of the pair ICE selected.
    ufrags = """async () => {
        const pc = window.session.pc;
        const stats = await pc.getStats();
        const transport = [...stats.values()].find(r => r.type === 'transport');
        const pair = transport && stats.get(transport.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        return [window.whip.iceCredentials(pc.localDescription.sdp).ufrag,
                window.whip.iceCredentials(pc.remoteDescription.sdp).ufrag,
                local ? local.usernameFragment : null];
    }"""
    old_local, old_remote, old_selected = await hall.evaluate(ufrags)
    assert old_selected == old_local
    resource = await hall.evaluate("window.session.resourceUrl")
    await hall.evaluate("() => window.session.restartIce()")
    after = await receiving(before + 50)
    assert after > before + 50
    new_local, new_remote, new_selected = await hall.evaluate(ufrags)
    assert new_local != old_local and new_remote != old_remote
    # Media runs over a pair of the new ICE session, not over the old one kept alive.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while new_selected != new_local and loop.time() < deadline:
        await asyncio.sleep(0.25)
        new_local, new_remote, new_selected = await hall.evaluate(ufrags)
    assert new_selected == new_local
    assert await hall.evaluate("window.session.resourceUrl") == resource

    sites = await _sites(server, session["id"])
    assert sites[0]["connected"] and sites[0]["connections"] == 1
    with server.admin() as client:
        log = client.get(f"/api/sessions/{session['id']}/events").text
    kinds = [json.loads(line)["type"] for line in log.splitlines()]
    assert kinds.count("join") == 1 and "leave" not in kinds, kinds
    await context.close()


OUTAGE_TABLE = "diemcau_outage"
RECOVERING = "Mạng vừa thay đổi. Đang khôi phục kết nối…"  # status.recovering in vi.json


def _nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True, capture_output=True)


async def test_a_network_outage_is_mended_by_an_ice_restart_not_a_new_offer(
    server: Server, browser: Browser
) -> None:
    """All UDP in the namespace dropped for a while, as a hall's router changing its uplink
    would: the join page says it is restoring the connection, restarts ICE over its resource
    once the outage ends, and plays on without a new offer."""
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed (tests/run installs it)")
    session = server.create_session(SITES[:1], title="Mất mạng")
    invite = session["invites"][0]
    context = await browser.new_context()
    requests: list[tuple[str, str]] = []
    restarts: list[int] = []
    context.on("request", lambda r: requests.append((r.method, r.url)))
    hall_resource = f"/whep/{session['id']}/{invite['site']}/r/"

    def answered(response: Response) -> None:
        if response.request.method == "PATCH" and hall_resource in response.url:
            if response.request.headers.get("if-match") == "*":
                restarts.append(response.status)

    context.on("response", answered)
    console = await context.new_page()
    await console.goto(session["host"]["console_url"])
    await console.locator("#go-live").click()
    hall = await context.new_page()
    await hall.goto(invite["join_url"])
    assert (await wait_playing(hall))["w"] > 0

    _nft("add", "table", "inet", OUTAGE_TABLE)
    shown: set[str] = set()
    try:
        _nft("add", "chain", "inet", OUTAGE_TABLE, "out", "{ type filter hook output priority 0; }")
        _nft("add", "rule", "inet", OUTAGE_TABLE, "out", "meta", "l4proto", "udp", "drop")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        # Until the restart is answered and the page says so; its checks fail meanwhile.
        while not (restarts and RECOVERING in shown) and loop.time() < deadline:
            shown.add(await hall.locator("#status").inner_text())
            await asyncio.sleep(0.1)
    finally:
        _nft("delete", "table", "inet", OUTAGE_TABLE)
    assert restarts == [200], restarts
    assert RECOVERING in shown, shown

    async def advancing() -> bool:
        before = await video_state(hall)
        await asyncio.sleep(0.5)
        return (await video_state(hall))["t"] > before["t"]

    assert await eventually(advancing, within=20)
    # Nobody offered again: the hall's player, its return feed, the console's upload and views.
    offers = [url for method, url in requests if method == "POST" and "/wh" in url]
    assert len(offers) == len(set(offers)), offers
    assert f"{server.base_url}/whep/{session['id']}/{invite['site']}" in offers
    sites = await _sites(server, session["id"])
    assert sites[0]["connected"] and sites[0]["connections"] == 1
    await context.close()


async def _sites(server: Server, session_id: str) -> list[dict]:
    with server.admin() as client:
        return list(client.get(f"/api/sessions/{session_id}/sites").json()["sites"])


async def test_pages_come_back_by_themselves_after_a_server_restart(
    tmp_path: Path, browser: Browser
) -> None:
    port = free_port()
    server = start_server(tmp_path / "data", port=port)
    try:
        session = server.create_session(SITES[:1], title="Khởi động lại máy chủ")
        context = await browser.new_context()
        console = await context.new_page()
        await console.goto(session["host"]["console_url"])
        commune = await context.new_page()
        await commune.goto(session["invites"][0]["join_url"])
        await console.locator("#go-live").click()
        assert (await wait_playing(commune))["w"] > 0

        stop_server(server)
        await asyncio.sleep(2)
        server = start_server(tmp_path / "data", port=port, token=server.admin_token)

        # Nobody touches either page: the console publishes again, the hall plays again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        sites = await _sites(server, session["id"])
        while loop.time() < deadline and not (sites[0]["connected"] and sites[0]["packets_sent"]):
            await asyncio.sleep(0.5)
            sites = await _sites(server, session["id"])
        assert sites[0]["connected"] and sites[0]["packets_sent"] > 0, sites
        before = await video_state(commune)
        await asyncio.sleep(1.5)
        after = await video_state(commune)
        assert after["w"] > 0 and after["t"] > before["t"]
        await context.close()
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [("#token=not-a-real-token", "invalid"), ("", "invalid")],
)
async def test_commune_page_says_when_the_link_is_wrong(
    server: Server, browser: Browser, fragment: str, expected: str
) -> None:
    session = server.create_session(SITES[:1], title="Sai đường dẫn")
    url = session["invites"][0]["join_url"].split("#")[0] + fragment
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_function(
        "() => document.querySelector('#phase')?.textContent.trim().length > 0"
    )
    await asyncio.sleep(1)
    text = (await page.locator("#card").inner_text()).lower()
    assert "không hợp lệ" in text, text  # "invalid" in the Vietnamese catalog
    await page.close()


async def test_commune_page_says_when_the_session_has_ended(
    server: Server, browser: Browser
) -> None:
    session = server.create_session(SITES[:1], title="Đã kết thúc")
    with server.admin() as client:
        assert client.post(f"/api/sessions/{session['id']}/end").status_code == 200
    page = await browser.new_page()
    await page.goto(session["invites"][0]["join_url"])
    await page.wait_for_function(
        "() => document.querySelector('#phase')?.textContent.includes('kết thúc')", timeout=15000
    )
    await page.close()


async def test_demo_broadcast_plays_in_a_commune_page(tmp_path: Path, browser: Browser) -> None:
    """The README's first command: `diemcau demo` serves a test pattern that a hall can watch."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "diemcau.server.cli",
        "demo",
        "--port",
        str(port),
        "--data",
        str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        join_url = None
        async with asyncio.timeout(60):
            while join_url is None:
                line = (await process.stdout.readline()).decode()
                if not line:
                    break
                match = re.search(r"(http://\S+/join/\S+#token=\S+)", line)
                if match:
                    join_url = match.group(1)
        assert join_url, "the demo printed no join link"
        page = await browser.new_page()
        await page.goto(join_url)
        state = await wait_playing(page)
        assert state["w"] == 640 and state["h"] == 360, state
        await page.close()
    finally:
        process.terminate()
        await process.wait()
