"""aiortc's media ends made shells: transceivers' codecs, receivers without a jitter buffer or
decoder, senders without a track or encoder. The bridge forwards in their stead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import (
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, RtpPacket

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
