"""WHIP and WHEP clients from npm, in Debian's Chromium, from a page on another origin than the
server's (so every answer must carry CORS headers): @eyevinn/whip-web-client publishes the fake
camera and microphone, @eyevinn/webrtc-player and whip-whep's WHEPClient play; whip-whep's
WHIPClient publishes too. Each player decodes frames, and each client's DELETE ends its
resource. The packages are pinned in tests/interop/package.json; tests/run installs them."""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, Response

from tests.conftest import Server, free_port
from tests.e2e.conftest import browser as browser

pytestmark = [pytest.mark.netns, pytest.mark.browser, pytest.mark.slow]

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
SITES = [{"id": "nga-thanh", "name": "Xã Nga Thạnh"}, {"id": "nga-hai", "name": "Xã Nga Hải"}]

# whip-whep's stop() closes its peer connection, then sends DELETE: the server may have ended
# the resource at the DTLS close already (the site left, reason "closed"), and then the DELETE
# finds it gone. Either answer means the resource is gone.
WHIP_WHEP_DELETE = (200, 404)

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>npm clients</title>
<video id="player" autoplay muted playsinline></video>
"""


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A static server on another port than diemcau's: the clients' page and modules."""
    if not (NODE_MODULES / ".bin" / "esbuild").exists():
        pytest.skip("the npm clients are not installed: tests/run installs them (npm ci)")
    root = tmp_path_factory.mktemp("npm-origin")
    (root / "index.html").write_text(PAGE)
    subprocess.run(
        [
            str(NODE_MODULES / ".bin" / "esbuild"),
            str(HERE / "npm_clients.js"),
            "--bundle",
            "--format=esm",
            "--platform=browser",
            f"--outfile={root / 'eyevinn.js'}",
            "--log-level=warning",
        ],
        check=True,
        cwd=HERE,
    )
    for name in ("whip.js", "whep.js"):
        shutil.copy(NODE_MODULES / "whip-whep" / name, root / name)
    handler = partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Exchanges:
    """Every answer the page got from diemcau: (method, path, status)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.seen: list[tuple[str, str, int]] = []

    def record(self, response: Response) -> None:
        if response.url.startswith(self.server.base_url):
            path = response.url.removeprefix(self.server.base_url)
            self.seen.append((response.request.method, path, response.status))

    def deletes(self) -> dict[str, int]:
        """The status of each DELETE, by the endpoint of its resource."""
        return {
            path.split("/r/")[0]: status for method, path, status in self.seen if method == "DELETE"
        }

    async def deleted(self, count: int) -> dict[str, int]:
        """deletes(), once `count` answers have come (their events may trail the page's
        promise), or after 5 s."""
        for _ in range(50):
            if len(self.deletes()) >= count:
                break
            await asyncio.sleep(0.1)
        return self.deletes()


@pytest.fixture
async def context(browser: Any, server: Server) -> AsyncIterator[tuple[BrowserContext, Exchanges]]:
    context = await browser.new_context()
    exchanges = Exchanges(server)
    context.on("response", exchanges.record)
    yield context, exchanges
    await context.close()


async def _open(context: BrowserContext, origin: str, errors: list[str]) -> Page:
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{origin}/index.html")
    return page


async def _eyevinn_player(
    context: BrowserContext, origin: str, errors: list[str], invite: dict[str, str]
) -> Page:
    """A page playing the hall's WHEP URL with @eyevinn/webrtc-player."""
    page = await _open(context, origin, errors)
    await page.evaluate(
        """async ([url, token]) => {
            const {WebRTCPlayer} = await import('/eyevinn.js');
            window.player = new WebRTCPlayer({video: document.querySelector('#player'),
                                              type: 'whep', iceServers: []});
            await window.player.load(new URL(url), 'Bearer ' + token);  // the header as is
            window.pc = window.player.peer;
        }""",
        [invite["whep_url"], invite["token"]],
    )
    return page


# getStats of the page's peer connection `window.pc`: frames decoded, and the codec.
INBOUND_VIDEO = """async () => {
    const stats = await window.pc.getStats();
    const inbound = [...stats.values()].find(r => r.type === 'inbound-rtp' && r.kind === 'video');
    const codec = inbound && stats.get(inbound.codecId);
    return {frames: inbound ? inbound.framesDecoded || 0 : 0,
            codec: codec ? codec.mimeType : ''};
}"""


async def _decodes(page: Page, frames: int = 30, within: float = 20) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = await page.evaluate(INBOUND_VIDEO)
    while state["frames"] <= frames and loop.time() < deadline:
        await asyncio.sleep(0.25)
        state = await page.evaluate(INBOUND_VIDEO)
    return dict(state)


async def _connected(page: Page, within: float = 20) -> str:
    """The connection state of the page's `window.pc`, once connected or after `within`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = await page.evaluate("window.pc.connectionState")
    while state != "connected" and loop.time() < deadline:
        await asyncio.sleep(0.1)
        state = await page.evaluate("window.pc.connectionState")
    return str(state)


async def test_eyevinn_whip_client_publishes_and_eyevinn_player_and_whip_whep_play(
    server: Server, origin: str, context: tuple[BrowserContext, Exchanges]
) -> None:
    ctx, exchanges = context
    session = server.create_session(SITES, title="npm: Eyevinn")
    host, invites = session["host"], session["invites"]
    errors: list[str] = []

    console = await _open(ctx, origin, errors)
    await console.evaluate(
        """async ([url, token]) => {
            const {WHIPClient} = await import('/eyevinn.js');
            const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
            // No STUN server: the client's default is an outside one.
            window.client = new WHIPClient({endpoint: url, opts: {authkey: token, iceServers: []}});
            await window.client.ingest(stream);
            window.pc = window.client.peer;
        }""",
        [host["whip_url"], host["token"]],
    )
    assert await _connected(console) == "connected"

    eyevinn = await _eyevinn_player(ctx, origin, errors, invites[0])
    whip_whep = await _open(ctx, origin, errors)
    await whip_whep.evaluate(
        """async ([url, token]) => {
            const {WHEPClient} = await import('/whep.js');
            window.pc = new RTCPeerConnection({iceServers: []});
            window.pc.addTransceiver('video', {direction: 'recvonly'});
            window.pc.addTransceiver('audio', {direction: 'recvonly'});
            window.whep = new WHEPClient();
            await window.whep.view(window.pc, url, token);
        }""",
        [invites[1]["whep_url"], invites[1]["token"]],
    )
    for page in (eyevinn, whip_whep):
        state = await _decodes(page)
        assert state["frames"] > 30, (state, exchanges.seen)

    await eyevinn.evaluate("window.player.unload()")
    await whip_whep.evaluate("window.whep.stop()")
    await console.evaluate("window.client.destroy()")
    deletes = await exchanges.deleted(3)
    whep = f"/whep/{session['id']}"
    assert deletes.keys() == {f"/whip/{session['id']}", *(f"{whep}/{i['site']}" for i in invites)}
    assert deletes[f"/whip/{session['id']}"] == 200, exchanges.seen
    assert deletes[f"{whep}/{invites[0]['site']}"] == 200, exchanges.seen
    assert deletes[f"{whep}/{invites[1]['site']}"] in WHIP_WHEP_DELETE, exchanges.seen
    await _gone(server, session["id"], [site["id"] for site in SITES])
    assert errors == []


async def test_whip_whep_client_publishes_and_eyevinn_player_plays(
    server: Server, origin: str, context: tuple[BrowserContext, Exchanges]
) -> None:
    ctx, exchanges = context
    session = server.create_session(SITES[:1], title="npm: whip-whep")
    host, invite = session["host"], session["invites"][0]
    errors: list[str] = []

    console = await _open(ctx, origin, errors)
    await console.evaluate(
        """async ([url, token]) => {
            const {WHIPClient} = await import('/whip.js');
            const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
            window.pc = new RTCPeerConnection({iceServers: []});
            for (const track of stream.getTracks())
                window.pc.addTransceiver(track, {direction: 'sendonly'});
            window.whip = new WHIPClient();
            await window.whip.publish(window.pc, url, token);
        }""",
        [host["whip_url"], host["token"]],
    )
    assert await _connected(console) == "connected"

    player = await _eyevinn_player(ctx, origin, errors, invite)
    state = await _decodes(player)
    assert state["frames"] > 30, (state, exchanges.seen)

    await player.evaluate("window.player.unload()")
    await console.evaluate("window.whip.stop()")
    deletes = await exchanges.deleted(2)
    assert deletes.keys() == {f"/whip/{session['id']}", f"/whep/{session['id']}/{invite['site']}"}
    assert deletes[f"/whep/{session['id']}/{invite['site']}"] == 200, exchanges.seen
    assert deletes[f"/whip/{session['id']}"] in WHIP_WHEP_DELETE, exchanges.seen
    await _gone(server, session["id"], [invite["site"]])
    assert errors == []


async def _gone(server: Server, session_id: str, sites: list[str]) -> None:
    """Every site disconnected, each having joined once and left once, its client closing."""
    with server.admin() as client:
        links = client.get(f"/api/sessions/{session_id}/sites").json()["sites"]
        lines = client.get(f"/api/sessions/{session_id}/events").text.splitlines()
    assert [site["connected"] for site in links] == [False] * len(sites), links
    events = [json.loads(line) for line in lines]
    for site in sites:
        kinds = [(e["type"], e.get("reason")) for e in events if e.get("site") == site]
        assert kinds == [("join", None), ("leave", "closed")], kinds
