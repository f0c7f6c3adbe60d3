"""ICE candidates of a resource: those an offer carries, those a PATCH trickles (RFC 9725
section 4.3, RFC 8840), and the server's side of an ICE restart.

Offers lose their mDNS candidates before aiortc reads them; a fragment's candidates are checked
against the peer connection's media sections; a restart takes new credentials and answers with
the media port's candidates. Bridge.add_candidates and restart_ice find the resource and call
these.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioice import Connection
from aiortc import RTCIceCandidate, RTCPeerConnection
from aiortc.rtcicetransport import candidate_from_aioice
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp

from . import seams
from .offer import OfferError
from .port import UdpPort


@dataclass
class IceRestart:
    """The server's side of an ICE restart: its new credentials and candidates."""

    ufrag: str
    pwd: str
    candidates: list[str]  # "candidate:..." attribute values
    mid: str  # of the first media section, which the fragment names


def trickled(pc: RTCPeerConnection, mid_candidates: list[tuple[str, str]]) -> list[RTCIceCandidate]:
    """The (mid, "candidate:...") pairs of a fragment, parsed: TCP and mDNS ones left out (the
    server has UDP candidates only; mDNS: see without_mdns). OfferError for a mid the
    session does not have or a candidate that does not parse; then nothing is taken."""
    mids = {t.mid for t in pc.getTransceivers()}
    out = []
    for mid, value in mid_candidates:
        if mid not in mids:
            raise OfferError(
                400, "invalid_candidate", f"the session has no media section with mid {mid!r}"
            )
        try:
            candidate = candidate_from_sdp(value.removeprefix("candidate:"))
        except (AssertionError, ValueError, IndexError) as exc:
            raise OfferError(
                400, "invalid_candidate", f"the candidate cannot be parsed: {value!r}"
            ) from exc
        if candidate.protocol.lower() != "udp" or candidate.ip.lower().endswith(".local"):
            continue
        candidate.sdpMid = mid
        out.append(candidate)
    return out


async def add(pc: RTCPeerConnection, candidates: list[RTCIceCandidate], end: bool) -> None:
    """Check the candidates at once; with `end`, the peer's gathering is over."""
    transport = seams.ice_transport(pc)
    for candidate in candidates:
        await seams.add_remote_candidate(transport, candidate)
    if end:
        await seams.add_remote_candidate(transport, None)


def restart(pc: RTCPeerConnection, port: UdpPort, ufrag: str, pwd: str) -> Connection:
    """The peer's new credentials taken, and new ones of ours, under which the port now knows
    the connection; media goes on over the old pair until a new one is nominated."""
    connection = seams.ice_connection(pc)
    try:
        old = seams.restart_ice(connection, ufrag, pwd)
    except ValueError as exc:
        raise OfferError(400, "invalid_fragment", str(exc)) from exc
    port.rename(connection, old)
    return connection


def answer(pc: RTCPeerConnection, connection: Connection, port: UdpPort) -> IceRestart:
    """The server's fragment after a restart: its credentials and the port's candidates."""
    return IceRestart(
        ufrag=connection.local_username,
        pwd=connection.local_password,
        candidates=[
            "candidate:" + candidate_to_sdp(candidate_from_aioice(c)) for c in port.candidates()
        ],
        mid=pc.getTransceivers()[0].mid or "0",
    )


def without_mdns(sdp: str) -> str:
    """The offer without its mDNS (.local) host candidates: resolving them would open a socket
    on 5353, and the hall's checks reach the media port anyway, as peer-reflexive candidates."""
    lines = sdp.split("\r\n") if "\r\n" in sdp else sdp.split("\n")
    kept = [line for line in lines if not (line.startswith("a=candidate:") and _is_mdns(line))]
    return ("\r\n" if "\r\n" in sdp else "\n").join(kept)


def candidate_types(sdp: str) -> set[str]:
    """The types of the candidates in an SDP body or fragment (host, srflx, prflx, relay)."""
    types = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if "typ" in parts[:-1]:
                types.add(parts[parts.index("typ") + 1])
    return types


def _is_mdns(candidate_line: str) -> bool:
    parts = candidate_line.split()
    return len(parts) > 4 and parts[4].lower().endswith(".local")
