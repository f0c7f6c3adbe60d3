"""Every place where the bridge reaches inside aiortc, in one module.

aiortc is an endpoint library: its receiver decodes and its sender encodes. The bridge keeps its
ICE, DTLS, SRTP and SDP machinery and replaces the media ends with forwarding. The names used here
are private to aiortc; pyproject pins aiortc to one exact version, and tests/media/test_seams.py
checks each of them so that an upgrade that moves one fails loudly instead of silently decoding.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aioice import Connection
from aioice.ice import validate_password, validate_username
from aioice.utils import random_string
from aiortc import (
    RTCDtlsTransport,
    RTCIceCandidate,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc import sdp as aiortc_sdp
from aiortc.clock import current_ms
from aiortc.rtcdtlstransport import RTCCertificate
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcicetransport import candidate_to_aioice
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, RtpPacket, is_rtcp
from OpenSSL import SSL
from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

AIORTC_VERSION = "1.16.0"
# The media port (media/port.py) gathers candidates in aioice's stead: pinned as well.
AIOICE_VERSION = "0.13.0"
# RtpSink calls libsrtp through pylibsrtp's compiled binding and a Session's context: pinned too.
PYLIBSRTP_VERSION = "1.0.0"
_DTLS_CONNECTED = DtlsState.CONNECTED

RtpHandler = Callable[[RtpPacket, int], Coroutine[Any, Any, None]]
SyncRtpHandler = Callable[[RtpPacket, int], None]
RtcpHandler = Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]]


# -- codecs negotiated on a transceiver -------------------------------------------------------


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    return list(transceiver._codecs)


def restrict_codecs(transceiver: RTCRtpTransceiver, codecs: list[RTCRtpCodecParameters]) -> None:
    """Narrow what the answer will list, after setRemoteDescription and before createAnswer."""
    transceiver._codecs = list(codecs)


# -- the publisher's receivers: no jitter buffer, no decoder -----------------------------------


def take_over_receiver(
    receiver: RTCRtpReceiver,
    on_receive: Callable[[RTCRtpReceiveParameters], None],
    on_rtp: RtpHandler,
) -> None:
    """Route the receiver's RTP to on_rtp instead of its jitter buffer and decoder thread.

    aiortc starts a decoder thread in receive(); it is stopped right away, so nothing decodes.
    The receiver's own RTCP loop (receiver reports, SR bookkeeping) stays in place.
    """
    original_receive = receiver.receive

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        await original_receive(parameters)
        receiver._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]
        on_receive(parameters)

    receiver.receive = receive  # type: ignore[method-assign]
    receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign,assignment]


def receiver_stream_statistics(receiver: RTCRtpReceiver) -> dict[int, StreamStatistics]:
    """The per-SSRC statistics aiortc's RTCP loop turns into receiver reports."""
    streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return streams


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    await receiver._send_rtcp_pli(media_ssrc)


# -- the subscribers' senders: no track, no encoder --------------------------------------------


def take_over_sender(
    sender: RTCRtpSender,
    on_send: Callable[[RTCRtpSendParameters], None],
    on_rtcp: RtcpHandler,
    run_rtcp: Callable[[], Awaitable[None]],
) -> None:
    """Make the sender a shell: aiortc negotiates and routes RTCP to it, the bridge sends RTP.

    send() still registers the sender's SSRC with the DTLS transport so that RTCP addressed to it
    (NACK, PLI, FIR, receiver reports) reaches on_rtcp; the encoder loop is replaced by an idle
    task and the SR loop by run_rtcp, which reports the bridge's rewritten timestamps.
    """
    rtp_started: asyncio.Event = sender._RTCRtpSender__rtp_started  # type: ignore[attr-defined]
    rtp_exited: asyncio.Event = sender._RTCRtpSender__rtp_exited  # type: ignore[attr-defined]
    rtcp_started: asyncio.Event = sender._RTCRtpSender__rtcp_started  # type: ignore[attr-defined]
    rtcp_exited: asyncio.Event = sender._RTCRtpSender__rtcp_exited  # type: ignore[attr-defined]
    original_send = sender.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        on_send(parameters)
        await original_send(parameters)

    async def idle_rtp(codec: Any) -> None:
        rtp_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            rtp_exited.set()

    async def rtcp_loop() -> None:
        rtcp_started.set()
        try:
            await run_rtcp()
        except asyncio.CancelledError:
            pass
        finally:
            rtcp_exited.set()

    sender.send = send  # type: ignore[method-assign]
    sender._run_rtp = idle_rtp  # type: ignore[method-assign]
    sender._run_rtcp = rtcp_loop  # type: ignore[method-assign]
    sender._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign,assignment]


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC the answer announced for the sender's media."""
    return sender._ssrc


def rtx_ssrc(sender: RTCRtpSender) -> int:
    return sender._rtx_ssrc


# -- sending without a coroutine per packet ----------------------------------------------------

MAX_RTP_SIZE = 1500
# Packets staged per publisher track before they are fanned out, and read per wake-up at most
# (BurstReader), so that one publisher cannot hold the loop for long.
MAX_BURST = 64
# One slot a packet: the RTP packet, then the room libsrtp needs for its tag (and an MKI).
_SLOT = MAX_RTP_SIZE + SRTP_MAX_TRAILER_LEN
_LENGTH = _srtp_ffi.new("int *")
_srtp_protect = _srtp_lib.srtp_protect

# UDP generic segmentation offload (Linux 4.18, linux/udp.h): one sendmsg carries several
# datagrams of one size (the last may be shorter), and the kernel walks its send path once for
# all of them. A video frame's packets are mostly of one size, so a frame to one hall is one or
# two system calls instead of one a packet.
UDP_SEGMENT = 103
_GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 60_000  # under the 64 KiB of one IP datagram, headers included
_GSO_SIZES = [struct.pack("=H", size) for size in range(_SLOT + 1)]
# What a kernel or device without UDP segmentation answers; anything else is about the datagram.
_NO_SEGMENTATION = frozenset({errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP})
_NO_PAIR = object()  # what RtpSink sends on before it has a nominated pair


class Scratch:
    """Memory a burst for one subscriber lies in, packet after packet, each protected in place
    by libsrtp: `view` for Python to write into, `pointer` for libsrtp."""

    __slots__ = ("pointer", "view")

    def __init__(self, packets: int = MAX_BURST) -> None:
        self.pointer: Any = _srtp_ffi.new("char[]", packets * _SLOT)
        self.view = memoryview(_srtp_ffi.buffer(self.pointer))


# One scratch buffer for every sink unless told otherwise: the bridge runs on one thread and the
# kernel copies the datagrams during the send, so the buffer is free again as soon as a send
# returns, and one buffer stays warm in the cache for every hall in turn.
SHARED_SCRATCH = Scratch()


def scratch() -> memoryview:
    """The buffer the sinks share by default (RtpSink.buffer)."""
    return SHARED_SCRATCH.view


class RtpSink:
    """Protects and sends RTP for one DTLS transport synchronously.

    aiortc's path awaits three coroutines per packet and allocates at every step. The bridge
    protects with the transport's own libsrtp context in one preallocated buffer and writes to the
    nominated ICE pair's address on the media port's socket directly: no await, no copy but the
    kernel's. What the kernel will
    not take at once (EAGAIN) is dropped, never queued: the socket buffer is the bounded queue.

    A burst goes out in runs: push() protects each packet where it lies in the sink's buffer
    (`buffer`, its Scratch: the fan-out writes the packets there) and adds it to the run of
    same-size packets, sent with one segmented sendmsg when the next packet does not fit the
    run, or by finish().
    """

    __slots__ = (
        "_addr",
        "_ctx",
        "_dtls",
        "_gso",
        "_nominated",
        "_pair",
        "_run_count",
        "_run_end",
        "_run_size",
        "_run_start",
        "_scratch",
        "_sendmsg",
        "_sendto",
        "_session",
        "backed_up",
        "buffer",
        "dropped",
        "sends",
    )

    def __init__(self, dtls: RTCDtlsTransport, scratch: Scratch = SHARED_SCRATCH) -> None:
        self._dtls = dtls
        # Where push() finds the packets to protect and send: `buffer` for whoever writes them,
        # the same memory as libsrtp's pointer.
        self.buffer = scratch.view
        self._scratch = scratch.pointer
        self._session: Any = None  # held so that its libsrtp context outlives our pointer to it
        self._ctx: Any = None  # that context (srtp_t)
        # The ICE connection's nominated pairs, and the pair this sink sends on: an ICE restart
        # nominates another, and ready() notices by identity, one dictionary look-up a burst.
        self._nominated: dict[int, Any] = {}
        self._pair: object = _NO_PAIR
        self._addr: tuple[str, int] = ("", 0)
        self._sendto: Callable[..., int] | None = None
        self._sendmsg: Callable[..., int] | None = None
        self._gso = True  # until the kernel or the device refuses segmentation
        # The run waiting to be sent: where it starts in the buffer, how many packets,
        # and their size (all but the last are exactly that size).
        self._run_start = 0
        self._run_end = 0
        self._run_count = 0
        self._run_size = 0
        self.backed_up = False  # the last packet was dropped because the link is backed up
        self.dropped = 0
        self.sends = 0  # system calls that carried RTP

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._dtls

    def _connect(self) -> bool:
        """Send on the nominated pair: the media port's shared socket (media/port.py), to the
        pair's remote address. Again after an ICE restart nominates another pair."""
        connection = self._dtls.transport._connection
        self._nominated = connection._nominated
        pair = self._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        sock = pair.protocol.transport._sock  # type: ignore[attr-defined]
        self._pair = pair
        self._addr = pair.remote_addr
        self._session = self._dtls._tx_srtp
        self._ctx = self._session._srtp[0]
        self._sendto = sock.sendto
        self._sendmsg = sock.sendmsg
        return True

    def ready(self) -> bool:
        """Connected, with a socket to write to: push() and send() may be called."""
        # The enum, not dtls.state, which formats a string on every call.
        return self._dtls._state is _DTLS_CONNECTED and (
            self._nominated.get(1) is self._pair or self._connect()
        )

    def send_rtcp(self, packets: bytes) -> bool:
        """Send a compound RTCP packet (reports, NACK, REMB) the same way, without awaiting."""
        if not self.ready():
            return False
        try:
            self._sendto(self._session.protect_rtcp(packets), self._addr)  # type: ignore[misc]
        except OSError:
            return False  # backed up or closed: a report is sent again within a second
        return True

    def send(self, packet: bytes) -> bool:
        """Send one RTP packet now (a retransmission). False when it was not sent (not
        connected, or backed up)."""
        length = len(packet)
        if length > MAX_RTP_SIZE or not self.ready():
            return False
        self.buffer[:length] = packet
        if self.push(0, length) <= 0:
            return False  # backed up (-1), or not protected (its room, 0, given back)
        return self.finish()

    def push(self, offset: int, length: int) -> int:
        """Protect the RTP packet at buffer[offset:offset + length] and queue it in the run.

        Returns where the next packet goes, or -1 when the link is backed up: then the run
        before this packet and this packet are dropped. Only once ready() said yes: the fan-out
        asks once a burst, not once a packet.
        """
        _LENGTH[0] = length
        if _srtp_protect(self._ctx, self._scratch + offset, _LENGTH):
            self.dropped += 1
            return offset  # not protected, not sent: its room is free again
        size = _LENGTH[0]
        end = offset + size
        count = self._run_count
        if count:
            run_size = self._run_size
            start = self._run_start
            if (
                self._gso
                and size <= run_size
                and offset == start + run_size * count  # right behind a run of equal ones
                and count < _GSO_MAX_SEGMENTS
                and end - start <= _GSO_MAX_BYTES
            ):
                self._run_count = count + 1
                self._run_end = end
                if size < run_size and not self.finish() and self.backed_up:
                    return -1  # a shorter one ends its run
                return end
            if not self.finish() and self.backed_up:
                self.dropped += 1
                return -1
        self._run_start = offset
        self._run_end = end
        self._run_count = 1
        self._run_size = size
        return end

    def finish(self) -> bool:
        """Send the run queued by push(). False when it was not sent: dropped because the link
        is backed up (then backed_up is set), filtered, or the socket is closing."""
        count = self._run_count
        if not count:
            return True
        self._run_count = 0
        run = self.buffer[self._run_start : self._run_end]
        try:
            if count == 1:
                self._sendto(run, self._addr)  # type: ignore[misc]
            else:
                self._sendmsg(  # type: ignore[misc]
                    [run],
                    [(socket.SOL_UDP, UDP_SEGMENT, _GSO_SIZES[self._run_size])],
                    0,
                    self._addr,
                )
        except BlockingIOError:
            # One slow hall must not slow the others: drop, and let the caller restart it.
            self.backed_up = True
            self.dropped += count
            return False
        except OSError as exc:
            if count > 1 and self._gso and exc.errno in _NO_SEGMENTATION:
                # No segmentation here (an old kernel, or a device without checksum offload):
                # this run packet by packet, and every later one too.
                self._gso = False
                return self._send_one_by_one(run, self._run_size)
            # Filtered (EPERM), an ICMP error reported late (ECONNREFUSED), or the socket is
            # closing: lost like any datagram, and NACKs repair what matters.
            self.backed_up = False
            self.dropped += count
            return False
        self.sends += 1
        self.backed_up = False
        return True

    def _send_one_by_one(self, run: memoryview, size: int) -> bool:
        sent = True
        for start in range(0, len(run), size):
            try:
                self._sendto(run[start : start + size], self._addr)  # type: ignore[misc]
            except BlockingIOError:
                self.backed_up = True
                self.dropped += (len(run) - start + size - 1) // size
                return False
            except OSError:
                self.dropped += 1
                sent = False
                continue
            self.sends += 1
        self.backed_up = False
        return sent


# -- receiving a publisher without a turn of the event loop per packet -------------------------


class BurstReader:
    """Takes a publisher's SRTP straight from the media port, a read burst at a time.

    asyncio's datagram transport would hand one datagram per turn of the event loop, and aiortc
    each through aioice's queue to its DTLS task: two turns of the loop and a few coroutines per
    packet. Here the port (media/port.py) reads its socket dry and hands every SRTP datagram of
    the publisher's connection to receive(), which unprotects it with the transport's own
    session and gives it to its receiver's handler at once; STUN, DTLS and SRTCP go to aioice as
    before. Then end_burst() fans the burst out, so each subscriber gets its packets back to
    back: its SRTP context and socket warm in the cache for the whole burst rather than for one
    packet. The busier the bridge, the more datagrams wait and the larger the bursts; on an idle
    bridge a burst is one packet and adds no delay.
    """

    def __init__(
        self,
        on_burst_end: Callable[[], None],
        attach: Callable[[Connection, BurstReader], bool],
    ) -> None:
        self.handlers: dict[object, SyncRtpHandler] = {}  # by RTCRtpReceiver, as routed
        self._on_burst_end = on_burst_end
        self._attach = attach  # UdpPort.attach_reader
        self._dtls: RTCDtlsTransport | None = None
        self._pending = 0  # packets handed on in the burst being read
        self._arrival_ms = 0
        self.bursts = 0
        self.packets = 0

    @property
    def installed(self) -> bool:
        return self._dtls is not None

    def install(self, dtls: RTCDtlsTransport) -> bool:
        """Take the publisher's SRTP from the port, once the media connection is up."""
        if self._dtls is not None:
            return True
        if dtls._state is not _DTLS_CONNECTED or dtls._rx_srtp is None:
            return False
        if not self._attach(dtls.transport._connection, self):
            return False
        self._dtls = dtls
        return True

    def receive(self, data: bytes) -> bool:
        """One datagram of the publisher's connection (RTP or RTCP by its first byte); False
        when it is not ours to take (SRTCP, or before the keys), and the port passes it on."""
        dtls = self._dtls
        if dtls is None or is_rtcp(data):
            return False
        srtp = dtls._rx_srtp
        if srtp is None:
            return False
        try:
            packet = RtpPacket.parse(srtp.unprotect(data), dtls._rtp_header_extensions_map)
        except (SrtpError, ValueError):
            return True  # forged, replayed or malformed: dropped as aiortc would
        handler = self.handlers.get(dtls._rtp_router.route_rtp(packet))
        if handler is not None:
            if not self._pending:
                self._arrival_ms = current_ms()  # read together, arrived together
            self._pending += 1
            handler(packet, self._arrival_ms)
        return True

    def end_burst(self) -> None:
        if self._pending:
            self.bursts += 1
            self.packets += self._pending
            self._pending = 0
            self._on_burst_end()


# -- aioice: candidates gathered on the media port ----------------------------------------------


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


# -- DTLS: the server's role, and cipher suites for RSA peers -----------------------------------

# libwebrtc's DTLS 1.2 suites: ECDHE with an ECDSA or an RSA certificate, AEAD first. aiortc
# offers the ECDSA ones only, so as the DTLS client it shares no cipher with a peer that serves
# an RSA certificate (GStreamer, FFmpeg); as the server its ECDSA certificate picks an ECDSA one.
DTLS_CIPHERS = b":".join(
    (
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        b"ECDHE-RSA-AES128-GCM-SHA256",
        b"ECDHE-ECDSA-AES256-GCM-SHA384",
        b"ECDHE-RSA-AES256-GCM-SHA384",
        b"ECDHE-ECDSA-CHACHA20-POLY1305",
        b"ECDHE-RSA-CHACHA20-POLY1305",
        b"ECDHE-ECDSA-AES128-SHA",
        b"ECDHE-RSA-AES128-SHA",
        b"ECDHE-ECDSA-AES256-SHA",
        b"ECDHE-RSA-AES256-SHA",
    )
)

# Our DTLS role for the offer's a=setup, in aiortc's names (auto: actpass, client: active,
# server: passive). To actpass the server is the DTLS server (a=setup:passive), as libwebrtc
# answers; aiortc alone would answer active.
_ANSWER_DTLS_ROLE = {"auto": "server", "client": "server", "server": "client"}


def answer_dtls(pc: RTCPeerConnection) -> None:
    """After setRemoteDescription of an offer, before createAnswer (which writes the role as
    a=setup): take the DTLS role the offer leaves us, and offer RSA suites too."""
    offer = aiortc_sdp.SessionDescription.parse(pc.remoteDescription.sdp)
    by_mid = {t.mid: t.receiver.transport for t in pc.getTransceivers()}
    sctp = pc.sctp
    if sctp is not None:
        by_mid[sctp.mid] = sctp.transport
    for media in offer.media:
        transport = by_mid.get(media.rtp.muxId)
        if transport is None or media.dtls is None:
            continue
        set_dtls_role(transport, _ANSWER_DTLS_ROLE[media.dtls.role])
        offer_rsa_ciphers(transport)


def set_dtls_role(transport: RTCDtlsTransport, role: str) -> None:
    """Our DTLS role, "client" or "server": what createAnswer writes, and how start() shakes
    hands."""
    transport._set_role(role)


def offer_rsa_ciphers(transport: RTCDtlsTransport) -> None:
    """The transport's SSL context, made when DTLS starts, with DTLS_CIPHERS."""
    certificate: RTCCertificate = transport._RTCDtlsTransport__local_certificate  # type: ignore[attr-defined]

    def create_ssl_context(srtp_profiles: list[Any]) -> SSL.Context:
        context = RTCCertificate._create_ssl_context(certificate, srtp_profiles)
        context.set_cipher_list(DTLS_CIPHERS)
        return context

    certificate._create_ssl_context = create_ssl_context  # type: ignore[method-assign]
