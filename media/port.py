"""One UDP port for every media connection: the ICE, DTLS and SRTP of all halls.

aioice binds a fresh socket for each connection on each address, which no firewall rule can
follow. Here one socket per address the server listens on, all on one port (8189 unless told
otherwise), carries everything, as in LiveKit, MediaMTX and Galène. Each datagram is handed to its
connection:

- a STUN request by its USERNAME, whose first part is our ICE username fragment: once its
  MESSAGE-INTEGRITY checks with that connection's password, its source address is learned;
- anything else (STUN responses, DTLS, SRTP, SRTCP) by its source address: an address learned
  from an authenticated check, or one the connection sent a check to;
- what matches no connection is dropped and counted, never raised.

The publisher's SRTP takes a shortcut: once its media connection is up, a BurstReader is attached
to its connection here and gets the SRTP datagrams of a read burst directly, with one call at the
end of the burst to fan it out (see media/seams.py).

Remote mDNS (.local) candidates are never resolved (no socket on 5353): the bridge drops them from
offers, and the hall's checks reach this port anyway and become peer-reflexive candidates.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aioice import Candidate, Connection, stun
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, get_host_addresses

from . import seams

log = logging.getLogger("diemcau.media")

# Read at most this many datagrams a wake-up, so that one busy port cannot hold the event loop.
MAX_READ = seams.MAX_BURST
# The socket buffers are shared by every hall: large, so that a burst to a hundred halls or from
# a hundred return feeds is not cut short by the kernel.
BUFFER_BYTES = 8 * 1024 * 1024
# WebRTC peers keep datagrams under the path MTU (1,200-1,500 bytes; DTLS fragments its
# flights to it): room to spare, without allocating asyncio's 256 KiB a read.
_RECV_SIZE = 4096
_STUN_COOKIE = b"\x21\x12\xa4\x42"
_BINDING_REQUEST = b"\x00\x01"


class FastReader(Protocol):
    """What the port hands a publisher's SRTP to (seams.BurstReader)."""

    def receive(self, data: bytes) -> bool:
        """Take one datagram; False when it is not SRTP for it (the port passes it on)."""

    def end_burst(self) -> None:
        """The read burst is over: fan it out."""


@dataclass
class PortStats:
    """Datagrams this port took in, and those that matched no connection."""

    received: int = 0
    unknown_ufrag: int = 0  # a STUN request for a username fragment no connection has
    unknown_address: int = 0  # anything else from an address no connection knows
    unauthenticated: int = 0  # a STUN request whose integrity did not check
    malformed: int = 0  # looked like STUN and did not parse

    @property
    def dropped(self) -> int:
        return self.unknown_ufrag + self.unknown_address + self.unauthenticated + self.malformed


class _Socket:
    """One bound socket of the port: an address the server listens on."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.address: str = sock.getsockname()[0]
        self.links: dict[tuple[str, int], _Link] = {}  # by remote address


class _Link:
    """One ICE connection on the port: its protocols (one a socket) and the addresses learned."""

    def __init__(self, port: UdpPort, connection: Connection, ufrag: str) -> None:
        self.port = port
        self.connection = connection
        self.ufrag = ufrag
        self.protocols: dict[_Socket, PortProtocol] = {}
        self.addresses: set[tuple[_Socket, tuple[str, int]]] = set()
        self.reader: FastReader | None = None
        self.closed = False

    def learn(self, where: _Socket, addr: tuple[str, int], authenticated: bool) -> None:
        """Route addr's datagrams here: taken over from another connection only by a check
        this connection authenticated (a NAT reuses a port of a hall that left)."""
        owner = where.links.get(addr)
        if owner is self or (owner is not None and not authenticated):
            return
        if owner is not None:
            owner.addresses.discard((where, addr))
        where.links[addr] = self
        self.addresses.add((where, addr))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for where, addr in self.addresses:
            if where.links.get(addr) is self:
                del where.links[addr]
        self.addresses.clear()
        if self.port._links.get(self.ufrag) is self:
            del self.port._links[self.ufrag]
        self.reader = None


class PortTransport(asyncio.DatagramTransport):
    """What aioice's protocol writes to: the port's socket, for one connection."""

    def __init__(self, link: _Link, where: _Socket, protocol: PortProtocol) -> None:
        super().__init__()
        self._link = link
        self._where = where
        self._protocol = protocol
        # The shared socket, under the name RtpSink and BurstReader find asyncio's socket by.
        self._sock = where.sock
        self._closing = False

    @property
    def link(self) -> _Link:
        return self._link

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing or addr is None:
            return
        addr = (addr[0], addr[1])
        if data[:2] == _BINDING_REQUEST:
            # A check of ours: its answer comes from there. (Not our answers: an answer to an
            # unauthenticated request must teach nothing.)
            self._link.learn(self._where, addr, authenticated=False)
        try:
            self._sock.sendto(data, addr)
        except OSError:
            pass  # backed up, filtered or unreachable: lost like any datagram, STUN retries

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._sock.getsockname()
        if name == "socket":
            return self._sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        link = self._link
        link.protocols.pop(self._where, None)
        if not link.protocols:
            link.close()
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class PortProtocol(StunProtocol):
    """aioice's protocol for one connection on one socket of the port; its transport is a
    PortTransport instead of a socket of its own."""

    transport: PortTransport


class UdpPort:
    """The port: one socket per address, every connection demultiplexed onto them."""

    def __init__(
        self,
        port: int = 0,
        addresses: Iterable[str] | None = None,
        public_ips: Iterable[str] = (),
    ) -> None:
        self._wanted_port = port
        self._wanted_addresses = list(addresses) if addresses is not None else None
        self.public_ips = tuple(public_ips)
        self._sockets: list[_Socket] = []
        self._links: dict[str, _Link] = {}  # by our ICE username fragment
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.stats = PortStats()

    # -- opening and closing

    @property
    def is_open(self) -> bool:
        return self._loop is not None

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self._sockets]

    def open(self) -> None:
        """Bind the port on each address; OSError (the port is taken) if it cannot."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        addresses = self._wanted_addresses
        if addresses is None:
            addresses = get_host_addresses(use_ipv4=True, use_ipv6=True)
        if not addresses:
            raise OSError(errno.EADDRNOTAVAIL, "no network address to bind the media port on")
        sockets = _bind(addresses, self._wanted_port)
        self._sockets = [_Socket(sock) for sock in sockets]
        self.port = sockets[0].getsockname()[1]
        self._loop = loop
        for where in self._sockets:
            loop.add_reader(where.sock.fileno(), self._read_ready, where)
        log.info("media: UDP port %d on %s", self.port, ", ".join(self.addresses))

    def close(self) -> None:
        if self._loop is None:
            return
        for where in self._sockets:
            self._loop.remove_reader(where.sock.fileno())
            where.sock.close()
        self._sockets.clear()
        self._loop = None

    # -- connections

    def candidates(self) -> list[Candidate]:
        """The host candidates every answer carries: the public addresses first (the 1:1 NAT
        in front of the server), then the addresses the port is bound on."""
        candidates = []
        preference = 65535
        for address in [*self.public_ips, *(a for a in self.addresses if a not in self.public_ips)]:
            candidates.append(
                Candidate(
                    foundation=candidate_foundation("host", "udp", address),
                    component=1,
                    transport="udp",
                    priority=candidate_priority(1, "host", preference),
                    host=address,
                    port=self.port,
                    type="host",
                )
            )
            preference -= 1
        return candidates

    def attach(self, connection: Connection) -> None:
        """Make the connection gather its candidates on this port instead of sockets of its
        own: one protocol per address, the port's candidates in its answer. Before the answer
        is made: the connection's username fragment is reserved here, taken anew if another
        connection has it (aioice's are 24 random bits, and a port carries thousands)."""
        self.open()
        while connection.local_username in self._links:
            seams.new_local_username(connection)
        ufrag = connection.local_username
        link = self._links[ufrag] = _Link(self, connection, ufrag)

        async def gather_candidates() -> None:
            if link.protocols or link.closed:
                return  # gathered already, or closed before
            protocols = []
            for where in self._sockets:
                protocol = PortProtocol(connection)
                protocol.connection_made(PortTransport(link, where, protocol))
                protocol.local_candidate = Candidate(
                    foundation=candidate_foundation("host", "udp", where.address),
                    component=1,
                    transport="udp",
                    priority=candidate_priority(1, "host"),
                    host=where.address,
                    port=self.port,
                    type="host",
                )
                link.protocols[where] = protocol
                protocols.append(protocol)
            seams.set_gathered(connection, protocols, self.candidates())

        seams.replace_gathering(connection, gather_candidates)

    def detach(self, connection: Connection) -> None:
        """Forget a connection that never gathered (an offer refused after it was applied)."""
        link = self._links.get(connection.local_username)
        if link is not None and link.connection is connection:
            link.close()

    def rename(self, connection: Connection, old_ufrag: str) -> None:
        """The connection took a new username fragment (an ICE restart)."""
        link = self._links.pop(old_ufrag, None)
        if link is None or link.connection is not connection:
            return
        link.ufrag = connection.local_username
        self._links[link.ufrag] = link

    def attach_reader(self, connection: Connection, reader: FastReader) -> bool:
        """Hand the connection's SRTP to reader from now on; False if it is not on this port."""
        link = self._links.get(connection.local_username)
        if link is None or link.connection is not connection:
            return False
        link.reader = reader
        return True

    @property
    def connections(self) -> int:
        return len(self._links)

    # -- receiving

    def _read_ready(self, where: _Socket) -> None:
        recvfrom = where.sock.recvfrom
        links = where.links
        stats = self.stats
        bursts: list[FastReader] = []
        received = 0  # counted here, added to the stats once a read
        try:
            for _ in range(MAX_READ):
                try:
                    data, addr = recvfrom(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # an ICMP error reported on the shared socket: no one to tell
                received += 1
                if not data:
                    continue
                if len(addr) != 2:
                    addr = (addr[0], addr[1])  # IPv6's four-tuple, keyed as aioice keys it
                first = data[0]
                link = links.get(addr)
                if first < 4 and data[4:8] == _STUN_COOKIE:
                    self._stun_received(where, data, addr, link)
                    continue
                if link is None:
                    stats.unknown_address += 1
                    continue
                reader = link.reader
                if reader is not None and 127 < first < 192 and reader.receive(data):
                    if reader not in bursts:
                        bursts.append(reader)
                    continue
                protocol = link.protocols.get(where)
                if protocol is not None:
                    link.connection.data_received(data, protocol.local_candidate.component)
        finally:
            stats.received += received
            for reader in bursts:
                reader.end_burst()

    def _stun_received(
        self, where: _Socket, data: bytes, addr: tuple[str, int], link: _Link | None
    ) -> None:
        try:
            message = stun.parse_message(data)
        except Exception:  # a forged attribute can fail in more ways than ValueError
            self.stats.malformed += 1
            return
        if message.message_class == stun.Class.REQUEST and "USERNAME" in message.attributes:
            ufrag = str(message.attributes["USERNAME"]).partition(":")[0]
            target = self._links.get(ufrag)
            if target is None:
                self.stats.unknown_ufrag += 1
                return
            password = target.connection.local_password.encode("utf8")
            try:
                authenticated = message.check_message_integrity(password)
            except Exception:
                authenticated = False
            if authenticated:
                target.learn(where, addr, authenticated=True)
            else:
                self.stats.unauthenticated += 1  # aioice still answers it: 401
            link = target
        if link is None:
            self.stats.unknown_address += 1
            return
        protocol = link.protocols.get(where)
        if protocol is not None:
            protocol.datagram_received(data, addr)


def _bind(addresses: list[str], port: int, attempts: int = 5) -> list[socket.socket]:
    """One non-blocking socket per address, all on one port: `port`, or with 0 the one the
    kernel gives the first socket (tried again if another address has it taken). An address
    that cannot be bound at all (an IPv6 address still tentative) is left out, as aioice
    would; a port that is taken is an error."""
    for _ in range(attempts):
        sockets: list[socket.socket] = []
        chosen = port
        try:
            for address in addresses:
                sock = _bound(address, chosen)
                if sock is not None:
                    sockets.append(sock)
                    chosen = sock.getsockname()[1]
        except OSError as exc:
            for sock in sockets:
                sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
            continue
        if not sockets:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot bind UDP port {port} on any address")
        return sockets
    raise OSError(errno.EADDRINUSE, "no UDP port free on every address")


def _bound(address: str, port: int) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        _grow_buffers(sock)
        sock.setblocking(False)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            log.warning("media: cannot bind %s: %s", address, exc.strerror)
            return None
        raise OSError(
            exc.errno, f"cannot bind UDP port {port} on {address}: {exc.strerror}"
        ) from None
    return sock


def _grow_buffers(sock: socket.socket) -> None:
    for force, plain in (
        (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
        (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF),
    ):
        try:
            # Past net.core.[rw]mem_max only with CAP_NET_ADMIN; else up to that limit.
            if force is None:
                raise PermissionError
            sock.setsockopt(socket.SOL_SOCKET, force, BUFFER_BYTES)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, BUFFER_BYTES)
