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

from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.clock import current_ms
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, RtpPacket, is_rtcp
from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

AIORTC_VERSION = "1.16.0"
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


def rtx_ssrc(sender: RTCRtpSender) -> int:
    return sender._rtx_ssrc


# -- sending without a coroutine per packet ----------------------------------------------------

MAX_RTP_SIZE = 1500
# Packets staged per publisher track before they are fanned out, and read per wake-up at most
# (BurstReader), so that one publisher cannot hold the loop for long.
MAX_BURST = 64
# One slot a packet: the RTP packet, then the room libsrtp needs for its tag (and an MKI).
_SLOT = MAX_RTP_SIZE + SRTP_MAX_TRAILER_LEN
# One scratch buffer for every sink: the bridge runs on one thread and the kernel copies the
# datagrams during the send, so the buffer is free again as soon as a send returns. A burst for
# one subscriber lies in it packet after packet, each protected in place.
_SCRATCH = _srtp_ffi.new("char[]", MAX_BURST * _SLOT)
_SCRATCH_VIEW = memoryview(_srtp_ffi.buffer(_SCRATCH))
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


def scratch() -> memoryview:
    """The buffer the sinks protect and send from: write whole RTP packets into it."""
    return _SCRATCH_VIEW


class RtpSink:
    """Protects and sends RTP for one DTLS transport synchronously.

    aiortc's path awaits three coroutines per packet and allocates at every step. The bridge
    protects with the transport's own libsrtp context in one preallocated buffer and writes to the
    nominated ICE pair's socket directly: no await, no copy but the kernel's. What the kernel will
    not take at once (EAGAIN) is dropped, never queued: the socket buffer is the bounded queue.

    A burst goes out in runs: push() protects each packet where it lies in the scratch buffer and
    adds it to the run of same-size packets, sent with one segmented sendmsg when the next packet
    does not fit the run, or by finish().
    """

    __slots__ = (
        "_ctx",
        "_dtls",
        "_gso",
        "_run_count",
        "_run_end",
        "_run_size",
        "_run_start",
        "_send",
        "_sendmsg",
        "_session",
        "backed_up",
        "dropped",
        "sends",
    )

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._session: Any = None  # held so that its libsrtp context outlives our pointer to it
        self._ctx: Any = None  # that context (srtp_t)
        self._send: Callable[[Any], int] | None = None
        self._sendmsg: Callable[..., int] | None = None
        self._gso = True  # until the kernel or the device refuses segmentation
        # The run waiting to be sent: where it starts in the scratch buffer, how many packets,
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
        """Take over the nominated pair's socket, once: aiortc does no ICE restart, and the
        controlling browser cannot nominate another pair without renomination, which aioice
        does not offer."""
        pair = self._dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        sock = pair.protocol.transport._sock  # type: ignore[attr-defined]
        try:
            # A connected UDP socket skips the route lookup and address parsing of every
            # sendto: about 1.3 µs a packet here (benchmarks/forwarding.py). The socket serves
            # this one peer, and only the nominated pair's address carries its traffic now.
            sock.connect(pair.remote_addr)
        except OSError:
            return False
        self._session = self._dtls._tx_srtp
        self._ctx = self._session._srtp[0]
        self._send = sock.send
        self._sendmsg = sock.sendmsg
        return True

    def ready(self) -> bool:
        """Connected, with a socket to write to: push() and send() may be called."""
        # The enum, not dtls.state, which formats a string on every call.
        return self._dtls._state is _DTLS_CONNECTED and (self._send is not None or self._connect())

    def send_rtcp(self, packets: bytes) -> bool:
        """Send a compound RTCP packet (reports, NACK, REMB) the same way, without awaiting."""
        if not self.ready():
            return False
        try:
            self._send(self._session.protect_rtcp(packets))  # type: ignore[misc]
        except OSError:
            return False  # backed up or closed: a report is sent again within a second
        return True

    def send(self, packet: bytes) -> bool:
        """Send one RTP packet now (a retransmission). False when it was not sent (not
        connected, or backed up)."""
        length = len(packet)
        if length > MAX_RTP_SIZE or not self.ready():
            return False
        _SCRATCH_VIEW[:length] = packet
        if self.push(0, length) <= 0:
            return False  # backed up (-1), or not protected (its room, 0, given back)
        return self.finish()

    def push(self, offset: int, length: int) -> int:
        """Protect the RTP packet at scratch()[offset:offset + length] and queue it in the run.

        Returns where the next packet goes, or -1 when the link is backed up: then the run
        before this packet and this packet are dropped. Only once ready() said yes: the fan-out
        asks once a burst, not once a packet.
        """
        _LENGTH[0] = length
        if _srtp_protect(self._ctx, _SCRATCH + offset, _LENGTH):
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
        run = _SCRATCH_VIEW[self._run_start : self._run_end]
        try:
            if count == 1:
                self._send(run)  # type: ignore[misc]
            else:
                self._sendmsg(  # type: ignore[misc]
                    [run], [(socket.SOL_UDP, UDP_SEGMENT, _GSO_SIZES[self._run_size])]
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
                self._send(run[start : start + size])  # type: ignore[misc]
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

# WebRTC peers keep datagrams under the path MTU (1,200-1,500 bytes; DTLS fragments its flights
# to it): room to spare, without allocating asyncio's 256 KiB a read.
_RECV_SIZE = 4096


class BurstReader:
    """Reads a publisher's nominated socket itself, every datagram waiting there at once.

    asyncio's datagram transport reads one datagram per turn of the event loop, and aiortc hands
    each through aioice's queue to its DTLS task: two turns of the loop and a few coroutines per
    packet. Here the SRTP packets of a burst (a video frame arrives as several back to back) are
    unprotected with the transport's own session and handed to their receiver's handler at once;
    STUN, DTLS and SRTCP go to aioice as before. Then on_burst_end fans the burst out, so each
    subscriber gets its packets back to back: its SRTP context and socket warm in the cache for
    the whole burst rather than for one packet. The busier the bridge, the more datagrams wait
    and the larger the bursts; on an idle bridge a burst is one packet and adds no delay.
    """

    def __init__(self, on_burst_end: Callable[[], None]) -> None:
        self.handlers: dict[object, SyncRtpHandler] = {}  # by RTCRtpReceiver, as routed
        self._on_burst_end = on_burst_end
        self._dtls: RTCDtlsTransport | None = None
        self._sock: Any = None
        self._protocol: Any = None
        self.bursts = 0
        self.packets = 0

    @property
    def installed(self) -> bool:
        return self._dtls is not None

    def install(self, dtls: RTCDtlsTransport) -> bool:
        """Take over reading the nominated pair's socket, once the media connection is up."""
        if self._dtls is not None:
            return True
        if dtls._state is not _DTLS_CONNECTED or dtls._rx_srtp is None:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        transport = pair.protocol.transport
        self._sock = transport._sock  # type: ignore[attr-defined]
        self._protocol = pair.protocol
        self._dtls = dtls
        # In place of the transport's own _read_ready. The public add_reader refuses a socket that
        # a transport owns; closing the transport removes this reader as it would its own.
        loop = asyncio.get_running_loop()
        loop._add_reader(self._sock.fileno(), self._read_ready)  # type: ignore[attr-defined]
        return True

    def _read_ready(self) -> None:
        dtls = self._dtls
        assert dtls is not None
        recvfrom, datagram_received = self._sock.recvfrom, self._protocol.datagram_received
        router, extensions = dtls._rtp_router, dtls._rtp_header_extensions_map
        handlers = self.handlers
        packets = 0
        arrival_ms = 0  # read together, arrived together: one clock reading a burst
        try:
            for _ in range(MAX_BURST):
                try:
                    data, addr = recvfrom(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    self._protocol.error_received(exc)
                    break
                srtp = dtls._rx_srtp
                if not data or not 127 < data[0] < 192 or is_rtcp(data) or srtp is None:
                    datagram_received(data, addr)  # STUN, DTLS, SRTCP: aioice and aiortc
                    continue
                try:
                    packet = RtpPacket.parse(srtp.unprotect(data), extensions)
                except (SrtpError, ValueError):
                    continue  # forged, replayed or malformed: dropped as aiortc would
                handler = handlers.get(router.route_rtp(packet))
                if handler is not None:
                    if not packets:
                        arrival_ms = current_ms()
                    packets += 1
                    handler(packet, arrival_ms)
        finally:
            if packets:
                self.bursts += 1
                self.packets += packets
                self._on_burst_end()
