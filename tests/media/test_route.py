"""The route of a hall's media connection, read from the remote side of its selected pair, and
addresses masked for exports."""

from __future__ import annotations

import ipaddress

import pytest
from aioice import Candidate
from aioice.candidate import candidate_priority
from hypothesis import given
from hypothesis import strategies as st

from diemcau.media.route import Route, masked, route_of

RADDR = "198.51.100.20"  # the hall, as its TURN server saw it


def priority(type_preference: int, local_preference: int = 32767, component: int = 1) -> int:
    """RFC 8445 section 5.1.2.1, as libwebrtc and Firefox compute it."""
    return type_preference << 24 | local_preference << 8 | (256 - component)


def relay(type_preference: int, raddr: str | None = RADDR) -> Candidate:
    related = "" if raddr is None else f" raddr {raddr} rport 40000"
    return Candidate.from_sdp(
        f"1 1 udp {priority(type_preference)} 203.0.113.50 50000 typ relay{related}"
    )


RELAY_ADDR = ("203.0.113.50", 50000)

# name: (remote candidate, the address the server reached it at, the route)
ROUTES: dict[str, tuple[Candidate, tuple[str, int], Route]] = {
    "a host on the server's own network": (
        Candidate.from_sdp(f"1 1 udp {priority(126)} 192.168.10.20 51000 typ host"),
        ("192.168.10.20", 51000),
        Route("host", "udp", "192.168.10.20"),
    ),
    "an mDNS host candidate: the address is where the checks came from": (
        Candidate.from_sdp(
            f"1 1 UDP {priority(126)} 9b2f3c1e-4d5a-4b6c-8d7e-0f1a2b3c4d5e.local 51000 typ host"
        ),
        ("192.168.10.20", 51000),
        Route("host", "udp", "192.168.10.20"),
    ),
    "an IPv6 host": (
        Candidate.from_sdp(f"1 1 udp {priority(126)} 2001:db8:1:2::20 51000 typ host"),
        ("2001:db8:1:2::20", 51000),
        Route("host", "udp", "2001:db8:1:2::20"),
    ),
    "a hall behind NAT, as its STUN server saw it": (
        Candidate.from_sdp(
            f"1 1 udp {priority(100)} 203.0.113.7 61000 typ srflx raddr 10.0.0.5 rport 51000"
        ),
        ("203.0.113.7", 61000),
        Route("srflx", "udp", "203.0.113.7"),
    ),
    "checks from an address the hall never signalled: peer-reflexive": (
        Candidate("prflx1", 1, "udp", priority(110), "203.0.113.8", 62000, "prflx"),
        ("203.0.113.8", 62000),
        Route("prflx", "udp", "203.0.113.8"),
    ),
    "a dual-stack socket's IPv4-mapped address is the IPv4 one": (
        Candidate("prflx2", 1, "udp", priority(110), "::ffff:203.0.113.9", 62000, "prflx"),
        ("::ffff:203.0.113.9", 62000),
        Route("prflx", "udp", "203.0.113.9"),
    ),
    # Relays: the transport from the type preference, the address from raddr.
    "libwebrtc, older: TURN over UDP is 2": (relay(2), RELAY_ADDR, Route("relay", "udp", RADDR)),
    "libwebrtc, newer: TURN over UDP is 3": (relay(3), RELAY_ADDR, Route("relay", "udp", RADDR)),
    "libwebrtc, newer: TURN over DTLS (UDP) is 2": (
        relay(2),
        RELAY_ADDR,
        Route("relay", "udp", RADDR),
    ),
    "libwebrtc: TURN over TCP is 1": (relay(1), RELAY_ADDR, Route("relay", "tcp", RADDR)),
    "libwebrtc: TURN over TLS is 0": (relay(0), RELAY_ADDR, Route("relay", "tcp", RADDR)),
    "Firefox: TURN over UDP is 5": (relay(5), RELAY_ADDR, Route("relay", "udp", RADDR)),
    "Firefox: TURN over TCP or TLS is 0": (relay(0), RELAY_ADDR, Route("relay", "tcp", RADDR)),
    "a hidden raddr (0.0.0.0): the relay's address": (
        relay(2, raddr="0.0.0.0"),
        RELAY_ADDR,
        Route("relay", "udp", "203.0.113.50"),
    ),
    "a hidden IPv6 raddr (::): the relay's address": (
        relay(2, raddr="::"),
        RELAY_ADDR,
        Route("relay", "udp", "203.0.113.50"),
    ),
    "no raddr at all: the relay's address": (
        relay(1, raddr=None),
        RELAY_ADDR,
        Route("relay", "tcp", "203.0.113.50"),
    ),
    "a raddr that is no address: the relay's address": (
        relay(1, raddr="garbage"),
        RELAY_ADDR,
        Route("relay", "tcp", "203.0.113.50"),
    ),
    "a remote address that is no IP address: no address": (
        Candidate.from_sdp(f"1 1 udp {priority(126)} hall.local 51000 typ host"),
        ("hall.local", 51000),
        Route("host", "udp", None),
    ),
}


@pytest.mark.parametrize(("remote", "remote_addr", "route"), ROUTES.values(), ids=ROUTES.keys())
def test_route_of(remote: Candidate, remote_addr: tuple[str, int], route: Route) -> None:
    assert route_of(remote, remote_addr) == route


def test_an_aiortc_relay_reads_as_tcp_whatever_its_transport() -> None:
    # aioice gives every relay candidate type preference 0 (a documented limit of route_of).
    remote = Candidate(
        "r", 1, "udp", candidate_priority(1, "relay"), "203.0.113.50", 50000, "relay"
    )
    assert route_of(remote, RELAY_ADDR).protocol == "tcp"


@pytest.mark.parametrize(
    ("remote", "message"),
    [
        (Candidate("x", 1, "udp", 1, "203.0.113.7", 1, "turn"), "unknown ICE candidate type"),
        (Candidate("x", 1, "sctp", 1, "203.0.113.7", 1, "host"), "unknown ICE candidate transport"),
    ],
)
def test_what_ice_does_not_have_is_refused(remote: Candidate, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        route_of(remote, ("203.0.113.7", 1))


def test_fields() -> None:
    assert Route("relay", "tcp", "198.51.100.20").fields() == {
        "candidate": "relay",
        "protocol": "tcp",
        "address": "198.51.100.20",
    }
    assert Route("host", "udp", None).fields() == {"candidate": "host", "protocol": "udp"}


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("203.0.113.7", "203.0.113.x"),
        ("10.0.0.255", "10.0.0.x"),
        ("::ffff:198.51.100.9", "198.51.100.x"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::x"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::x"),
        ("2001:db8::1", "2001:db8::x"),
        ("fe80::1%eth0", "fe80::x"),
        ("::1", "::x"),
    ],
)
def test_masked(address: str, shown: str) -> None:
    assert masked(address) == shown


@pytest.mark.parametrize("address", ["", "hall.local", "203.0.113", "203.0.113.x", "2001:db8::x"])
def test_masking_what_is_no_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        masked(address)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_keeps_its_first_three_octets(ip: ipaddress.IPv4Address) -> None:
    shown = masked(str(ip))
    assert shown == str(ip).rsplit(".", 1)[0] + ".x"


@given(st.ip_addresses(v=6))
def test_an_ipv6_address_keeps_its_48_bits_and_nothing_else(ip: ipaddress.IPv6Address) -> None:
    if ip.ipv4_mapped is not None:
        return
    shown = masked(str(ip))
    assert shown.endswith("::x")
    kept = ipaddress.IPv6Address(shown.removesuffix("x"))
    assert kept == ipaddress.IPv6Network((int(ip), 48), strict=False).network_address


@given(st.integers(0, 126), st.integers(0, 65535))
def test_a_relay_runs_over_udp_or_tcp(type_preference: int, local_preference: int) -> None:
    remote = Candidate(
        "r", 1, "udp", priority(type_preference, local_preference), "203.0.113.50", 1, "relay"
    )
    assert route_of(remote, RELAY_ADDR).protocol == ("tcp" if type_preference <= 1 else "udp")
