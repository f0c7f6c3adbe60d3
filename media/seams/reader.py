"""Receiving a publisher without a turn of the event loop per packet: BurstReader."""

from __future__ import annotations

from collections.abc import Callable

from aioice import Connection
from aiortc import (
    RTCDtlsTransport,
)
from aiortc.clock import current_ms
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import RtpPacket, is_rtcp
from pylibsrtp import Error as SrtpError

_DTLS_CONNECTED = DtlsState.CONNECTED
SyncRtpHandler = Callable[[RtpPacket, int], None]


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
