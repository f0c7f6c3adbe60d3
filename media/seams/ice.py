"""aioice and aiortc's ICE transports: candidates gathered on the media port, trickled
candidates, ICE restarts, the nominated pair."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aioice import Connection
from aioice.ice import validate_password, validate_username
from aioice.utils import random_string
from aiortc import (
    RTCIceCandidate,
    RTCIceTransport,
    RTCPeerConnection,
)
from aiortc.rtcicetransport import candidate_to_aioice


def ice_transports(pc: RTCPeerConnection) -> set[RTCIceTransport]:
    """The ICE transports of a peer connection, once its remote offer is applied."""
    transports: set[RTCIceTransport] = pc._RTCPeerConnection__iceTransports  # type: ignore[attr-defined]
    return transports


def ice_connections(pc: RTCPeerConnection) -> list[Connection]:
    """The aioice connections of a peer connection, once its remote offer is applied."""
    return [transport._connection for transport in ice_transports(pc)]


def replace_gathering(
    connection: Connection, gather: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """aiortc's gatherer awaits connection.gather_candidates(): the port's, instead."""
    connection.gather_candidates = gather  # type: ignore[method-assign]


def new_local_username(connection: Connection) -> None:
    """Another username fragment, before the answer is made."""
    connection._local_username = random_string(4)


def set_gathered(connection: Connection, protocols: list[Any], candidates: list[Any]) -> None:
    """What aioice's own gathering leaves behind: the protocols that pair with remote
    candidates (one a socket), and the candidates the answer lists."""
    connection._local_candidates_start = True
    connection._protocols += protocols
    connection._local_candidates += candidates
    connection._local_candidates_end = True


def selected_pair(pc: RTCPeerConnection) -> tuple[Any, tuple[str, int]] | None:
    """The nominated pair's remote candidate and address, once connected."""
    for connection in ice_connections(pc):
        pair = connection._nominated.get(1)
        if pair is not None:
            return pair.remote_candidate, pair.remote_addr
    return None


def ice_states(pc: RTCPeerConnection) -> set[str]:
    """The states of the ICE transports ("checking", "completed", "failed"...)."""
    return {transport.state for transport in ice_transports(pc)}


def consent_expired(pc: RTCPeerConnection) -> bool:
    """Whether a connection that was up ended because its peer stopped answering ICE consent
    checks (RFC 7675: its network went). aiortc reports that end as "closed", as any other
    (the DTLS read fails first, so the peer connection closes before its ICE transport turns
    "failed"). aioice's consent loop clears its task before it closes the connection; a close
    of anyone else's cancels that task instead, which then stays."""
    return any(c._query_consent_task is None for c in ice_connections(pc))


def ice_transport(pc: RTCPeerConnection) -> RTCIceTransport:
    """The one ICE transport of a bundled peer connection (the bridge asks for max-bundle)."""
    return next(iter(ice_transports(pc)))


def ice_connection(pc: RTCPeerConnection) -> Connection:
    """The aioice connection of that one transport."""
    return ice_transport(pc)._connection


async def add_remote_candidate(
    transport: RTCIceTransport, candidate: RTCIceCandidate | None
) -> None:
    """A trickled candidate (None: end of candidates) for the transport, whatever the mid:
    aiortc's addIceCandidate drops those of bundled sections. One after end-of-candidates is
    ignored, as RFC 8838 asks."""
    connection = transport._connection
    if connection._remote_candidates_end:
        return
    if candidate is None:
        await connection.add_remote_candidate(None)
    elif not signal_peer_reflexive(connection, candidate):
        await connection.add_remote_candidate(candidate_to_aioice(candidate))


def signal_peer_reflexive(connection: Connection, candidate: RTCIceCandidate) -> bool:
    """A trickled candidate whose address aioice learned already, as peer-reflexive, from the
    checks that outran it (a hall's relay checks arrive before its PATCH): the signalled one
    takes its place (RFC 8445 section 7.3.1.3), in place, so that the pairs formed with it say
    what it is. aioice would ignore it as a duplicate. True if one was replaced."""
    replaced = False
    for known in connection._remote_candidates:
        if (
            known.type == "prflx"
            and known.host == candidate.ip
            and known.port == candidate.port
            and known.transport.lower() == candidate.protocol.lower()
        ):
            known.type = candidate.type
            known.foundation = candidate.foundation
            known.priority = candidate.priority
            known.related_address = candidate.relatedAddress
            known.related_port = candidate.relatedPort
            replaced = True
    return replaced


def trickle_pending(pc: RTCPeerConnection) -> bool:
    """Whether the peer may still trickle candidates (no end-of-candidates yet)."""
    return any(not c._remote_candidates_end for c in ice_connections(pc))


def restart_ice(connection: Connection, ufrag: str, pwd: str) -> str:
    """Take new local credentials and the peer's new ones, and forget the old checks, keeping
    the nominated pair until the peer nominates another (RFC 8445 section 9). aioice itself
    has no ICE restart. Returns the old local username fragment."""
    validate_username(ufrag)
    validate_password(pwd)
    old = connection._local_username
    connection._local_username = random_string(4)
    connection._local_password = random_string(22)
    connection.remote_username = ufrag
    connection.remote_password = pwd
    for pair in connection._check_list:
        if pair.task is not None:
            pair.task.cancel()
    connection._check_list = [p for p in connection._nominated.values()]
    connection._remote_candidates = [p.remote_candidate for p in connection._nominated.values()]
    connection._remote_candidates_end = False
    return old
