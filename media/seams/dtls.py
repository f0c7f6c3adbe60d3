"""DTLS: the server's role, and cipher suites for RSA peers."""

from __future__ import annotations

from typing import Any

from aiortc import (
    RTCDtlsTransport,
    RTCPeerConnection,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcdtlstransport import RTCCertificate
from OpenSSL import SSL

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
