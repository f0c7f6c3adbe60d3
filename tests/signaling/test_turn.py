"""TURN and STUN URLs, the TURN REST credentials, and that a real coturn accepts them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun

from diemcau.server.doctor import allocate
from diemcau.signaling.turn import (
    IceServer,
    IceUrl,
    ice_servers,
    mint_credentials,
    parse_ice_url,
    parse_turn_url,
)
from tests.coturn import ADDRESS, Coturn, start_coturn


@pytest.mark.parametrize(
    ("text", "url", "canonical"),
    [
        (
            "turn:turn.example.vn:3478?transport=udp",
            IceUrl("turn", "turn.example.vn", 3478, "udp"),
            "turn:turn.example.vn:3478?transport=udp",
        ),
        (
            "turns:turn.example.vn:443?transport=tcp",
            IceUrl("turns", "turn.example.vn", 443, "tcp"),
            "turns:turn.example.vn:443?transport=tcp",
        ),
        # The default ports and transports of RFC 7065.
        ("turn:turn.example.vn", IceUrl("turn", "turn.example.vn", 3478, "udp"), None),
        ("turns:turn.example.vn", IceUrl("turns", "turn.example.vn", 5349, "tcp"), None),
        ("turn:198.51.100.7?transport=tcp", IceUrl("turn", "198.51.100.7", 3478, "tcp"), None),
        # Schemes and hosts are case-insensitive; IPv6 goes in brackets, written canonically.
        (
            "TURN:Turn.Example.VN:80?transport=TCP",
            IceUrl("turn", "turn.example.vn", 80, "tcp"),
            None,
        ),
        (
            "turn:[2001:DB8::0:1]:3478",
            IceUrl("turn", "2001:db8::1", 3478, "udp"),
            "turn:[2001:db8::1]:3478?transport=udp",
        ),
        ("stun:stun.example.vn", IceUrl("stun", "stun.example.vn", 3478, "udp"), None),
        ("stuns:stun.example.vn:443", IceUrl("stuns", "stun.example.vn", 443, "tcp"), None),
    ],
)
def test_urls_parse_as_rfc_7064_and_7065_say(text: str, url: IceUrl, canonical: str | None) -> None:
    assert parse_ice_url(text) == url
    if canonical:
        assert str(url) == canonical
    # The canonical form reads back as the same URL.
    assert parse_ice_url(str(url)) == url


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a STUN or TURN URL"),
        ("https://turn.example.vn", "must start with turn:"),
        ("turnx:turn.example.vn", "must start with turn:"),
        ("turn:", "no host"),
        ("turn::3478", "no host"),
        ("turn:turn.example.vn:0", "port '0'"),
        ("turn:turn.example.vn:65536", "port '65536'"),
        ("turn:turn.example.vn:34x8", "port '34x8'"),
        ("turn:turn.example.vn:", "port ''"),
        ("turn:turn.example.vn?transport=sctp", "?transport=udp or ?transport=tcp"),
        ("turn:turn.example.vn?foo=bar", "?transport=udp or ?transport=tcp"),
        ("turns:turn.example.vn?transport=udp", "over TLS, so its transport is tcp"),
        ("stun:stun.example.vn?transport=udp", "takes no ?transport="),
        ("turn:user@turn.example.vn", "user name"),
        ("turn:2001:db8::1", "goes in brackets"),
        ("turn:[2001:db8::zz]:3478", "not an IPv6 address"),
        ("turn:[198.51.100.7]", "not an IPv6 address"),
        ("turn:turn_server.vn", "not a host name"),
        ("turn:-turn.example.vn", "not a host name"),
        ("turn:turn..example.vn", "not a host name"),
        ("turn:turn.example.vn/path", "not a host name"),
    ],
)
def test_bad_urls_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("?", r"\?")):
        parse_ice_url(text)


def test_turn_flag_takes_turn_urls_only() -> None:
    assert parse_turn_url("turns:turn.example.vn:443").tls
    with pytest.raises(ValueError, match="a STUN URL"):
        parse_turn_url("stun:stun.example.vn")


@pytest.mark.parametrize(
    ("secret", "identity", "ttl", "now", "username"),
    [
        ("north", "host", 86400, 1_700_000_000, "1700086400:host"),
        ("north", "nga-thanh", 60, 1_700_000_000.9, "1700000060:nga-thanh"),
        ("bí mật", "tan_loc", 3600, 0, "3600:tan_loc"),
    ],
)
def test_credentials_follow_the_turn_rest_scheme(
    secret: str, identity: str, ttl: int, now: float, username: str
) -> None:
    minted_user, credential = mint_credentials(secret, identity, ttl, now)
    assert minted_user == username
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == digest


def test_credentials_known_answer() -> None:
    # Worked out once with `printf '%s' 1700086400:host | openssl dgst -sha1 -hmac north -binary
    # | base64`, so that a change of the rule cannot pass unnoticed.
    assert mint_credentials("north", "host", 86400, 1_700_000_000) == (
        "1700086400:host",
        "dLGOX6nXz2TvkDVpeUNUw3oOLcU=",
    )


@pytest.mark.parametrize("identity", ["", "a:b"])
def test_credentials_need_an_identity_without_colon(identity: str) -> None:
    with pytest.raises(ValueError, match="identity"):
        mint_credentials("north", identity, 60, 0)


def test_ice_server_as_a_browser_and_a_whip_client_take_it() -> None:
    server = IceServer(("turn:198.51.100.7:3478?transport=udp",), "1700086400:host", "c2VjcmV0")
    assert server.to_json() == {
        "urls": ["turn:198.51.100.7:3478?transport=udp"],
        "username": "1700086400:host",
        "credential": "c2VjcmV0",
    }
    assert server.links() == [
        '<turn:198.51.100.7:3478?transport=udp>; rel="ice-server"; username="1700086400:host";'
        ' credential="c2VjcmV0"; credential-type="password"'
    ]
    stun_only = IceServer(("stun:stun.example.vn:3478", "stun:198.51.100.8:3478"))
    assert stun_only.to_json() == {"urls": ["stun:stun.example.vn:3478", "stun:198.51.100.8:3478"]}
    assert stun_only.links() == [
        '<stun:stun.example.vn:3478>; rel="ice-server"',
        '<stun:198.51.100.8:3478>; rel="ice-server"',
    ]


def test_link_parameters_are_quoted_strings() -> None:
    # RFC 8288 (and RFC 9110's quoted-string): a backslash before each quote and backslash.
    server = IceServer(("turn:198.51.100.7",), 'a"b', "c\\d")
    assert 'username="a\\"b"; credential="c\\\\d"' in server.links()[0]
    with pytest.raises(ValueError, match="visible ASCII"):
        IceServer(("turn:198.51.100.7",), "a\r\nSet-Cookie: x", "c").links()


def test_ice_servers_one_per_url_with_the_same_fresh_credentials() -> None:
    urls = ("turn:198.51.100.7:3478?transport=udp", "turns:198.51.100.7:443?transport=tcp")
    servers = ice_servers(urls, "north", 600, "nga-thanh", now=1000)
    assert [s.urls for s in servers] == [(urls[0],), (urls[1],)]
    assert {s.username for s in servers} == {"1600:nga-thanh"}
    assert ice_servers((), "north", 600, "host", now=1000) == []
    assert ice_servers(urls, None, 600, "host", now=1000) == []


# -- against coturn's own rule: a real turnserver with use-auth-secret --------------------------

SECRET = "coturn-static-auth-secret-for-tests"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    running = start_coturn(tmp_path_factory.mktemp("coturn"), SECRET)
    yield running
    running.stop()


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def _allocate(coturn: Coturn, url: str, secret: str, now: float) -> tuple[str, int]:
    username, password = mint_credentials(secret, "nga-thanh", 600, now)
    async with asyncio.timeout(10):
        return await allocate(parse_turn_url(url), username, password, _trusting(coturn.cert))


@pytest.mark.netns
@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_coturn_grants_an_allocation_to_minted_credentials(
    coturn: Coturn, transport: str
) -> None:
    url = coturn.tls_url if transport == "tls" else coturn.url(transport)
    relayed = await _allocate(coturn, url, SECRET, time.time())
    assert relayed[0] == ADDRESS
    assert relayed[1] > 0


@pytest.mark.netns
@pytest.mark.parametrize(
    ("secret", "age"),
    [
        ("not-" + SECRET, 0),
        # Right secret, but minted longer ago than its lifetime: coturn checks the expiry.
        (SECRET, 3600),
    ],
)
async def test_coturn_refuses_a_wrong_secret_and_expired_credentials(
    coturn: Coturn, secret: str, age: float
) -> None:
    with pytest.raises(stun.TransactionFailed) as refused:
        await _allocate(coturn, coturn.url("udp"), secret, time.time() - age)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
