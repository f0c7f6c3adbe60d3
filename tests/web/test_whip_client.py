"""web/js/whip.js's trickle ICE and ICE restarts in Chromium, against a scripted peer connection
and fetch: the offer leaves at once, candidates follow in batched PATCHes with If-Match, an older
server (405/501) gets complete offers, and an ICE failure restarts ICE over the same resource
before anything is torn down. The module is served from web/ by Playwright, no server needed.
The real thing, a page against the real server, is in tests/e2e/test_browser.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from .conftest import ORIGIN, static_page

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

ENDPOINT = "/whep/s-1/nga-thanh"
RESOURCE = f"{ORIGIN}{ENDPOINT}/r/res1"
HOST = "candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host"
RELAY = "candidate:2 1 udp 41885439 198.51.100.9 40000 typ relay raddr 0.0.0.0 rport 0"
SERVER = "candidate:9 1 udp 2130706431 10.77.0.1 8189 typ host"

# A peer connection as scripted as the test needs: its offers have the ICE credentials of
# generation N (u1xx/..., u2xx/... after a restart), it records the descriptions it is given,
# and the test fires its candidates and ICE states. fetch answers from window.reply(request).
FAKES = r"""
window.requests = [];
window.pcs = [];
const offerSdp = n => ['v=0', 'o=- 7 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', `a=ice-ufrag:u${n}xx`,
    `a=ice-pwd:${'p'.repeat(22)}${n}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1',
    `a=ice-ufrag:u${n}xx`, `a=ice-pwd:${'p'.repeat(22)}${n}`, ''].join('\r\n');
window.ANSWER = ['v=0', 'o=- 1 2 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', 'a=ice-ufrag:srv1',
    'a=ice-pwd:serverpasswordserverpw1', 'a=candidate:1 1 udp 2130706431 10.77.0.1 9 typ host',
    'a=end-of-candidates', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=ice-ufrag:srv1',
    'a=ice-pwd:serverpasswordserverpw1', ''].join('\r\n');
window.FakePC = class extends EventTarget {
    constructor(config) {
        super();
        Object.assign(this, {config, connectionState: 'new', iceConnectionState: 'new',
            signalingState: 'stable', iceGatheringState: 'new', localDescription: null,
            remoteDescription: null, generation: 0, remote: []});
        window.pcs.push(this);
    }
    addTransceiver(kind) { return {kind}; }
    getTransceivers() { return []; }
    getSenders() { return []; }
    async createOffer(options = {}) {
        if (options.iceRestart || !this.generation)
            this.generation += 1;
        return {type: 'offer', sdp: offerSdp(this.generation)};
    }
    async setLocalDescription(d) {
        if (d.type === 'rollback') {
            this.localDescription = this.stable;
        } else {
            this.stable = this.localDescription;
            this.localDescription = d;
        }
        this.signalingState = d.type === 'rollback' ? 'stable' : 'have-local-offer';
    }
    async setRemoteDescription(d) {
        this.remoteDescription = d;
        this.remote.push(d.sdp);
        this.signalingState = 'stable';
    }
    close() { this.connectionState = 'closed'; }
    found(candidate, ufrag) {
        const event = new Event('icecandidate');
        event.candidate = candidate && {candidate, sdpMid: '0', usernameFragment: ufrag};
        this.dispatchEvent(event);
    }
    gathered() {
        this.iceGatheringState = 'complete';
        this.dispatchEvent(new Event('icegatheringstatechange'));
    }
    ice(state) {
        this.iceConnectionState = state;
        this.connectionState = state;
        this.dispatchEvent(new Event('iceconnectionstatechange'));
        this.dispatchEvent(new Event('connectionstatechange'));
    }
};
window.RTCPeerConnection = window.FakePC;
window.etag = '"e1"';
window.reply = request => request.method === 'POST'
    ? {status: 201, body: window.ANSWER,
       headers: {Location: '/whep/s-1/nga-thanh/r/res1', ETag: window.etag}}
    : {status: 204, headers: {ETag: window.etag}};
window.fetch = async (url, init = {}) => {
    const pc = window.pcs[window.pcs.length - 1];
    const request = {url: new URL(String(url), location.href).href, method: init.method,
        headers: init.headers || {}, body: init.body || null, gathering: pc.iceGatheringState};
    window.requests.push(request);
    const reply = await window.reply(request);
    const response = new Response(
        reply.body || null, {status: reply.status, headers: reply.headers});
    Object.defineProperty(response, 'url', {value: request.url});
    return response;
};
window.patches = () => window.requests.filter(r => r.method === 'PATCH');
window.states = [];
window.start = async options => {
    window.session = await window.whip.play('/whep/s-1/nga-thanh', 'tok', options);
    window.session.addEventListener('connectionstatechange',
        () => window.states.push(window.session.state));
};
true;
"""


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    page = await static_page(browser)
    await page.evaluate(FAKES)
    await page.evaluate(
        """async () => { window.whip = await import('/static/js/whip.js');
            window.reconnecting = await import('/static/js/reconnecting.js'); }"""
    )
    yield page
    await page.close()


async def js(page: Page, code: str, arg: Any = None) -> Any:
    return await page.evaluate(code, arg)


async def patched(page: Page, count: int) -> list[dict]:
    await page.wait_for_function(f"() => window.patches().length >= {count}")
    patches: list[dict] = await js(page, "window.patches()")
    return patches


async def test_the_offer_leaves_at_once_and_the_candidates_follow_batched(page: Page) -> None:
    servers = [{"urls": "turns:198.51.100.7:443?transport=tcp", "username": "u", "credential": "c"}]
    # The server takes its time to answer: candidates found meanwhile wait for the Location.
    await js(
        page,
        """() => { window.release = null;
                   const post = window.reply;
                   window.reply = r => r.method === 'POST'
                       ? new Promise(go => { window.release = () => go(post(r)); }) : post(r); }""",
    )
    await js(page, "servers => { window.playing = window.start({iceServers: servers}); }", servers)
    await page.wait_for_function("() => window.requests.length === 1 && window.release")
    post = (await js(page, "window.requests"))[0]
    assert post["method"] == "POST" and post["gathering"] == "new"  # not waiting for gathering
    assert await js(page, "window.pcs[0].config") == {
        "bundlePolicy": "max-bundle",
        "iceServers": servers,
    }
    await js(
        page,
        f"() => {{ window.pcs[0].found({HOST!r}, 'u1xx'); "
        f"window.pcs[0].found({RELAY!r}, 'u1xx'); }}",
    )
    await js(page, "async () => { window.release(); await window.playing; }")

    first = (await patched(page, 1))[0]
    assert first["url"] == RESOURCE
    assert first["headers"] == {
        "Content-Type": "application/trickle-ice-sdpfrag",
        "Authorization": "Bearer tok",
        "If-Match": '"e1"',
    }
    assert first["body"] == (
        "a=ice-ufrag:u1xx\r\na=ice-pwd:pppppppppppppppppppppp1\r\n"
        f"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na={HOST}\r\na={RELAY}\r\n"
    )
    await js(page, "() => window.pcs[0].found(null)")
    end = (await patched(page, 2))[1]
    assert end["body"].endswith("a=mid:0\r\na=end-of-candidates\r\n")
    assert "a=candidate" not in end["body"]
    assert [r["method"] for r in await js(page, "window.requests")] == ["POST", "PATCH", "PATCH"]


async def test_a_server_without_trickle_gets_complete_offers(page: Page) -> None:
    await js(
        page,
        """() => { window.reply = r => r.method === 'POST'
            ? {status: 201, body: window.ANSWER, headers: {Location: '/whep/s-1/nga-thanh/r/res1'}}
            : {status: 501, body: '{"error": "not_implemented"}'}; }""",
    )
    await js(page, "() => window.start({})")
    await js(page, f"() => window.pcs[0].found({HOST!r}, 'u1xx')")
    refused = (await patched(page, 1))[0]
    assert "If-Match" not in refused["headers"]  # the 201 gave no ETag
    await page.wait_for_function("() => window.session.trickleRefused")
    await js(
        page, f"() => {{ window.pcs[0].found({RELAY!r}, 'u1xx'); window.pcs[0].found(null); }}"
    )

    # The next offer to this endpoint waits for gathering, and its candidates are not PATCHed.
    await js(page, "() => { window.again = window.whip.play('/whep/s-1/nga-thanh', 'tok'); }")
    await page.wait_for_function("() => window.pcs.length === 2")
    await js(page, "async () => { window.pcs[1].gathered(); await window.again; }")
    posts = [r for r in await js(page, "window.requests") if r["method"] == "POST"]
    assert [p["gathering"] for p in posts] == ["new", "complete"]
    await js(page, f"() => window.pcs[1].found({RELAY!r}, 'u1xx')")
    assert len(await js(page, "window.patches()")) == 1


async def test_an_ice_failure_restarts_ice_over_the_same_resource(page: Page) -> None:
    await js(page, "() => window.start({})")
    await js(page, "() => window.pcs[0].ice('connected')")
    await js(
        page,
        f"""() => {{ window.reply = r => r.method === 'PATCH' && r.headers['If-Match'] === '*'
            ? {{status: 200,
               headers: {{ETag: '"e2"', 'Content-Type': 'application/trickle-ice-sdpfrag'}},
               body: 'a=group:BUNDLE 0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 0\\r\\na=mid:0\\r\\n'
                   + 'a=ice-ufrag:srv2\\r\\na=ice-pwd:serverpasswordserverpw2\\r\\n'
                   + 'a={SERVER}\\r\\na=end-of-candidates\\r\\n'}}
            : {{status: 204, headers: {{ETag: '"e2"'}}}}; }}""",
    )
    await js(page, "() => window.pcs[0].ice('failed')")
    # Recovering, not failed: nobody tears the connection down meanwhile.
    assert await js(page, "window.session.state") == "disconnected"
    restart = (await patched(page, 1))[0]
    assert restart["url"] == RESOURCE and restart["headers"]["If-Match"] == "*"
    assert restart["body"].startswith(
        "a=ice-ufrag:u2xx\r\na=ice-pwd:pppppppppppppppppppppp2\r\nm=audio"
    )
    await page.wait_for_function("() => window.pcs[0].remote.length === 2")
    answer = (await js(page, "window.pcs[0].remote"))[1]
    assert answer.count("a=ice-ufrag:srv2") == 2 and "srv1" not in answer
    assert answer.count("a=ice-pwd:serverpasswordserverpw2") == 2
    assert (
        f"a=mid:0\r\na=ice-ufrag:srv2\r\na=ice-pwd:serverpasswordserverpw2\r\na={SERVER}\r\n"
        "a=end-of-candidates\r\nm=audio" in answer
    )
    assert "10.77.0.1 9 typ host" not in answer  # the old candidate is gone
    assert answer.startswith("v=0\r\no=- 1 3 IN IP4")

    await js(page, "() => window.pcs[0].ice('connected')")
    assert await js(page, "[window.session.state, window.session.recovering]") == [
        "connected",
        False,
    ]
    assert "failed" not in await js(page, "window.states")
    # The new generation's candidates go under the new ETag; the old generation's nowhere.
    await js(
        page,
        f"() => {{ window.pcs[0].found({HOST!r}, 'u1xx'); "
        f"window.pcs[0].found({RELAY!r}, 'u2xx'); }}",
    )
    trickle = (await patched(page, 2))[1]
    assert trickle["headers"]["If-Match"] == '"e2"'
    assert RELAY in trickle["body"] and HOST not in trickle["body"]
    assert [r["method"] for r in await js(page, "window.requests")].count("POST") == 1


@pytest.mark.parametrize("status", [412, 404, 501])
async def test_a_refused_restart_falls_back_to_a_new_offer(page: Page, status: int) -> None:
    await js(
        page,
        f"""() => {{ const post = window.reply;
            window.reply = r => r.headers['If-Match'] === '*'
                ? {{status: {status}, body: '{{"error": "x", "message": "no"}}'}} : post(r);
            window.kept = new window.reconnecting.ReconnectingSession(
                () => window.whip.play('/whep/s-1/nga-thanh', 'tok'), {{delay: () => 0}});
            window.kept.start(); }}""",
    )
    await page.wait_for_function("() => window.kept.session")
    await js(page, "() => window.pcs[0].ice('connected')")
    assert await js(page, "window.kept.state") == "connected"
    await js(page, "() => window.pcs[0].ice('failed')")
    # The restart is refused: the kept connection gives this one up and offers anew (after
    # gathering, to a server that takes no PATCH).
    await page.wait_for_function("() => window.pcs.length === 2")
    await js(page, "() => window.pcs[1].gathered()")
    await page.wait_for_function(
        "() => window.kept.session && window.kept.session.pc === window.pcs[1]"
    )
    assert await js(page, "window.pcs[0].signalingState") == "stable"  # rolled back
    methods = [
        (r["method"], r["headers"].get("If-Match")) for r in await js(page, "window.requests")
    ]
    assert methods[:2] == [("POST", None), ("PATCH", "*")]
    assert ("POST", None) in methods[2:]
    posts = [r for r in await js(page, "window.requests") if r["method"] == "POST"]
    assert posts[-1]["gathering"] == ("complete" if status == 501 else "new")
    await js(page, "() => window.kept.stop()")


async def test_fragments_read_and_written(page: Page) -> None:
    built = await js(
        page,
        """() => window.whip.buildFragment({ufrag: null, pwd: null, mid: '0', end: true,
                candidates: [{mid: '0', candidate: 'candidate:a'},
                             {mid: '1', candidate: 'candidate:b'}]})""",
    )
    assert built == (
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:a\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=candidate:b\r\na=end-of-candidates\r\n"
    )
    parsed = await js(
        page,
        "() => window.whip.parseFragment('a=ice-ufrag:abcd\\na=ice-pwd:x\\nm=audio 9 X 0\\n"
        "a=mid:v\\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\\na=end-of-candidates\\n')",
    )
    assert parsed == {
        "ufrag": "abcd",
        "pwd": "x",
        "mid": "v",
        "candidates": [{"mid": "v", "candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"}],
        "end": True,
    }
    assert await js(page, "window.whip.iceCredentials(window.ANSWER)") == {
        "ufrag": "srv1",
        "pwd": "serverpasswordserverpw1",
    }
    assert await js(page, "window.whip.iceCredentials('v=0\\r\\n')") is None
    assert await js(page, "window.whip.candidatesOf(window.ANSWER)") == [
        "candidate:1 1 udp 2130706431 10.77.0.1 9 typ host"
    ]


async def test_refusals_are_classified_by_status_and_code(page: Page) -> None:
    """A codec refusal is 422 unsupported_codec (RFC 9725 section 4.2), 406 from older
    servers; another 422 (an offer the server would only half serve) is no codec problem."""
    cases = [
        (422, "unsupported_codec", "codec"),
        (406, "unsupported_codec", "codec"),
        (422, "too_many_tracks", "protocol"),
        (401, "missing_token", "invalid_link"),
        (409, "session_ended", "ended"),
    ]
    for status, error, failure in cases:
        got = await js(page, f"window.whip.classify({status}, '{error}')")
        assert got == failure, (status, error)
