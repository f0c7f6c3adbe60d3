"""TURN servers handed to clients: their URLs (RFC 7064, RFC 7065) and the short-lived
credentials of the TURN REST scheme that coturn checks with `use-auth-secret`.

Sans-I/O: nothing here opens a socket or reads the clock; `now` is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

Scheme = Literal["stun", "stuns", "turn", "turns"]
Transport = Literal["udp", "tcp"]

# The ports of RFC 7064 and RFC 7065 when the URL gives none.
DEFAULT_PORTS: dict[str, int] = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_URL = re.compile(
    r"(?P<scheme>[A-Za-z]+):(?P<host>\[[^\]]*\]|[^:?\[\]]*)(?::(?P<port>[^?]*))?(?:\?(?P<query>.*))?"
)


@dataclass(frozen=True)
class IceUrl:
    """One STUN or TURN server address, as RFC 7064 and RFC 7065 spell it."""

    scheme: Scheme
    host: str  # a name, an IPv4 address, or an IPv6 address without brackets
    port: int
    # How the client reaches the server: turns: always runs over TLS, so over TCP.
    transport: Transport

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def tls(self) -> bool:
        return self.scheme in ("stuns", "turns")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.scheme}:{host}:{self.port}"
        return f"{text}?transport={self.transport}" if self.is_turn else text


def parse_ice_url(text: str) -> IceUrl:
    """The STUN or TURN URL `text`; ValueError says in plain words what is wrong with it."""
    text = text.strip()
    if "[" not in text and text.count(":") > 2:
        raise ValueError("an IPv6 address goes in brackets (turn:[2001:db8::1]:3478)")
    match = _URL.fullmatch(text)
    if match is None:
        raise ValueError("not a STUN or TURN URL (turn:host:port?transport=udp)")
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("must start with turn:, turns:, stun: or stuns:")
    host = _host(match["host"])
    port = _port(match["port"], DEFAULT_PORTS[scheme])
    query = match["query"]
    tls = scheme.endswith("s")
    transport: Transport = "tcp" if tls else "udp"
    if query is not None:
        if scheme.startswith("stun"):
            raise ValueError("a STUN URL takes no ?transport= (RFC 7064)")
        name, _, value = query.partition("=")
        if name.lower() != "transport" or value.lower() not in ("udp", "tcp"):
            raise ValueError("the only query a TURN URL takes is ?transport=udp or ?transport=tcp")
        transport = "udp" if value.lower() == "udp" else "tcp"
        if tls and transport == "udp":
            # TURN over DTLS: no browser speaks it.
            raise ValueError("turns: runs over TLS, so its transport is tcp")
    return IceUrl(cast(Scheme, scheme), host, port, transport)


def parse_turn_url(text: str) -> IceUrl:
    """A URL given to --turn: a TURN server (turn: or turns:), not a bare STUN one."""
    url = parse_ice_url(text)
    if not url.is_turn:
        raise ValueError("a STUN URL, where a TURN one (turn: or turns:) is wanted")
    return url


def _host(text: str) -> str:
    if text.startswith("["):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise ValueError(f"{text} is not an IPv6 address in brackets") from None
    if not text:
        raise ValueError("no host (turn:host:port)")
    if "@" in text:
        raise ValueError("must not hold a user name (the credentials are minted per client)")
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{text!r} is not a host name (an IPv6 address goes in brackets)")
    return text.lower()


def _port(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def mint_credentials(secret: str, identity: str, ttl: int, now: float) -> tuple[str, str]:
    """The username and password of the TURN REST scheme (coturn's use-auth-secret): the
    username is `<unix expiry>:<identity>`, the password base64(HMAC-SHA1(secret, username)).
    coturn recomputes the password from the username and refuses it once the expiry passed."""
    if not identity or ":" in identity:
        raise ValueError("the identity of TURN credentials must be non-empty, without ':'")
    username = f"{int(now) + ttl}:{identity}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class IceServer:
    """One RTCIceServer: the URLs of a server and the credentials they take."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The dictionary a browser's RTCPeerConnection takes in `iceServers`."""
        server: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            server["username"] = self.username
        if self.credential is not None:
            server["credential"] = self.credential
        return server

    def links(self) -> list[str]:
        """One Link header value per URL (RFC 9725 section 4.6), for WHIP and WHEP clients."""
        params = '; rel="ice-server"'
        if self.username is not None and self.credential is not None:
            params += (
                f"; username={_quoted(self.username)}; credential={_quoted(self.credential)}"
                '; credential-type="password"'
            )
        return [f"<{url}>{params}" for url in self.urls]


def _quoted(value: str) -> str:
    """An RFC 8288 quoted-string: backslash before every quote and backslash."""
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError("a Link parameter must be visible ASCII")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def ice_servers(
    urls: tuple[str, ...], secret: str | None, ttl: int, identity: str, now: float
) -> list[IceServer]:
    """The servers for one client (`identity`: a site id, or "host"), each TURN URL with
    credentials that expire `ttl` seconds after `now`; none without a secret."""
    if not urls or secret is None:
        return []
    username, credential = mint_credentials(secret, identity, ttl, now)
    return [IceServer((url,), username, credential) for url in urls]
