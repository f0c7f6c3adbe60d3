"""Protecting and sending RTP without a coroutine per packet: RtpSink, and the buffer it
protects in place."""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCDtlsTransport,
)
from aiortc.rtcdtlstransport import State as DtlsState
from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

_DTLS_CONNECTED = DtlsState.CONNECTED

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
        "backed_up_at",
        "buffer",
        "dropped",
        "dropped_backed_up",
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
        # Packets dropped (of which for a backed-up link), and when the link was last backed up
        # (monotonic): media/stats.py's slow halls.
        self.dropped = 0
        self.dropped_backed_up = 0
        self.backed_up_at = float("-inf")
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
                self.dropped += 1  # this packet too, behind the run
                self.dropped_backed_up += 1
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
            self._backed_up(count)
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

    def _backed_up(self, count: int) -> None:
        self.backed_up = True
        self.dropped += count
        self.dropped_backed_up += count
        self.backed_up_at = time.monotonic()

    def _send_one_by_one(self, run: memoryview, size: int) -> bool:
        sent = True
        for start in range(0, len(run), size):
            try:
                self._sendto(run[start : start + size], self._addr)  # type: ignore[misc]
            except BlockingIOError:
                self._backed_up((len(run) - start + size - 1) // size)
                return False
            except OSError:
                self.dropped += 1
                sent = False
                continue
            self.sends += 1
        self.backed_up = False
        return sent
