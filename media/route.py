"""How a hall's media connection runs: the route its selected candidate pair took. Sans-I/O.

The server is ICE-controlled and gathers only host candidates, all on one UDP port, so the pair's
local side says nothing; its remote candidate, the hall's side, tells the whole story.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aioice import Candidate

CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")

# A relay candidate's type preference (its priority's top byte) says how the hall reaches its
# TURN server: libwebrtc (p2p/base/p2p_constants.h) gives TLS 0 and TCP 1, then UDP 2 in older
# releases and DTLS 2, UDP 3 in newer ones; Firefox gives TCP and TLS 0, UDP 5. So 0 and 1 are
# TCP, anything above runs over UDP. aioice gives every relay 0 whatever its transport, so an
# aiortc hall's relay always reads as TCP.
_RELAY_OVER_TCP_MAX_PREFERENCE = 1


@dataclass(frozen=True)
class Route:
    candidate: str  # the hall's side of the selected pair: "host" | "srflx" | "prflx" | "relay"
    protocol: str  # "udp" | "tcp": how the hall's packets ran; for a relay, its leg to TURN
    address: str | None  # the hall's public address as far as the server can tell

    def fields(self) -> dict[str, str]:
        """What goes into a join-log event; no address when none could be told."""
        fields = {"candidate": self.candidate, "protocol": self.protocol}
        if self.address is not None:
            fields["address"] = self.address
        return fields


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text is None:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # ::ffff:203.0.113.7, from a dual-stack socket, is an IPv4 hall.
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


def route_of(remote: Candidate, remote_addr: tuple[str, int]) -> Route:
    """The route of a pair whose remote candidate is `remote`, reached at `remote_addr`.

    A candidate the hall never signalled but whose checks reached the server is prflx (aioice
    makes it one). Raises ValueError for a candidate type ICE does not have.
    """
    if remote.type not in CANDIDATE_TYPES:
        raise ValueError(f"unknown ICE candidate type {remote.type!r}")
    # The network address, not the candidate's: an mDNS host candidate names a ".local" host.
    reached = _ip(remote_addr[0])
    address = None if reached is None else str(reached)
    if remote.type != "relay":
        protocol = remote.transport.lower()
        if protocol not in ("udp", "tcp"):
            raise ValueError(f"unknown ICE candidate transport {remote.transport!r}")
        return Route(remote.type, protocol, address)
    preference = remote.priority >> 24
    protocol = "tcp" if preference <= _RELAY_OVER_TCP_MAX_PREFERENCE else "udp"
    # raddr is the hall's public address as its TURN server saw it, unless the browser hides
    # it (0.0.0.0 or ::): then the relay's own address is all the server can tell.
    related = _ip(remote.related_address)
    if related is not None and not related.is_unspecified:
        address = str(related)
    return Route("relay", protocol, address)


def masked(address: str) -> str:
    """The address with its last part hidden: "203.0.113.x"; IPv6 keeps its /48, "2001:db8:1::x".

    Raises ValueError when `address` is not an IP address.
    """
    ip = _ip(address)
    if ip is None:
        raise ValueError(f"not an IP address: {address!r}")
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip).rsplit(".", 1)[0] + ".x"
    # The last 80 bits (subnet and interface) narrow an address down to a household; the /48
    # still names the provider and the area. Zeroed, they compress to a trailing "::".
    return f"{ipaddress.IPv6Address(int(ip) >> 80 << 80)}x"
