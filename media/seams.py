"""Every place where the bridge reaches inside aiortc, in one module.

aiortc is an endpoint library: its receiver decodes and its sender encodes. The bridge keeps its
ICE, DTLS, SRTP and SDP machinery and replaces the media ends with forwarding. The names used here
are private to aiortc; pyproject pins aiortc to one exact version, and tests/media/test_seams.py
checks each of them so that an upgrade that moves one fails loudly instead of silently decoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, RtpPacket

AIORTC_VERSION = "1.16.0"
_DTLS_CONNECTED = DtlsState.CONNECTED

RtpHandler = Callable[[RtpPacket, int], Coroutine[Any, Any, None]]
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


async def send_nack(receiver: RTCRtpReceiver, media_ssrc: int, lost: list[int]) -> None:
    await receiver._send_rtcp_nack(media_ssrc, lost)


async def send_rtcp(transport: RTCDtlsTransport, packets: bytes) -> None:
    try:
        await transport._send_rtp(packets)
    except ConnectionError:
        pass


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


class RtpSink:
    """Protects and sends RTP for one DTLS transport synchronously.

    aiortc's path awaits three coroutines per packet; the bridge protects with the transport's
    SRTP session and writes to the nominated ICE pair's datagram transport directly.
    """

    __slots__ = ("_addr", "_dtls", "_pair", "_protect", "backed_up", "dropped", "max_buffered")

    def __init__(self, dtls: RTCDtlsTransport, max_buffered: int = 256 * 1024) -> None:
        self._dtls = dtls
        self._pair: Any = None
        self._addr: tuple[str, int] | None = None
        self._protect: Callable[[bytes], bytes] | None = None
        # Beyond this many bytes waiting in the socket's user-space buffer, drop rather than grow.
        self.max_buffered = max_buffered
        self.backed_up = False  # the last packet was dropped because the link is backed up
        self.dropped = 0

    def send(self, packet: bytes) -> bool:
        """False when the packet was not sent (not connected yet, or the link is backed up)."""
        dtls = self._dtls
        # The enum, not dtls.state, which formats a string on every call.
        if dtls._state is not _DTLS_CONNECTED:
            return False
        pair = self._pair
        if pair is None:
            # Nominated once per connection: aiortc does no ICE restart.
            pair = dtls.transport._connection._nominated.get(1)
            if pair is None:
                return False
            self._pair, self._addr, self._protect = pair, pair.remote_addr, dtls._tx_srtp.protect
        transport = pair.protocol.transport
        if transport is None or transport.get_write_buffer_size() > self.max_buffered:
            self.backed_up = True
            self.dropped += 1
            return False
        self.backed_up = False
        assert self._protect is not None
        transport.sendto(self._protect(packet), self._addr)
        return True
