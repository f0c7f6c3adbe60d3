"""Every place where the bridge reaches inside aiortc, aioice and pylibsrtp, in one package.

aiortc is an endpoint library: its receiver decodes and its sender encodes. The bridge keeps its
ICE, DTLS, SRTP and SDP machinery and replaces the media ends with forwarding. The names used here
are private to aiortc; pyproject pins aiortc to one exact version, and tests/media/test_seams.py
checks each of them so that an upgrade that moves one fails loudly instead of silently decoding.
No module outside this package touches a private aiortc or aioice name.

By concept: `media` (transceivers, receivers and senders made shells), `sink` (RtpSink: protect
and send in place), `reader` (BurstReader: the publisher's SRTP straight from the port), `ice`
(the media port's gathering, trickle, restarts) and `dtls` (the role and cipher suites). Callers
use them through this package: `seams.RtpSink`, `seams.ice_connection(pc)`.
"""

from __future__ import annotations

from .dtls import DTLS_CIPHERS, answer_dtls, offer_rsa_ciphers, set_dtls_role
from .ice import (
    add_remote_candidate,
    consent_expired,
    ice_connection,
    ice_connections,
    ice_states,
    ice_transport,
    ice_transports,
    new_local_username,
    replace_gathering,
    restart_ice,
    selected_pair,
    set_gathered,
    signal_peer_reflexive,
    trickle_pending,
)
from .media import (
    RtcpHandler,
    RtpHandler,
    negotiated_codecs,
    receiver_stream_statistics,
    restrict_codecs,
    rtx_ssrc,
    send_pli,
    sender_ssrc,
    take_over_receiver,
    take_over_sender,
)
from .reader import BurstReader, SyncRtpHandler
from .sink import (
    MAX_BURST,
    MAX_RTP_SIZE,
    SHARED_SCRATCH,
    UDP_SEGMENT,
    RtpSink,
    Scratch,
    scratch,
)

AIORTC_VERSION = "1.16.0"
# The media port (media/port.py) gathers candidates in aioice's stead: pinned as well.
AIOICE_VERSION = "0.13.0"
# RtpSink calls libsrtp through pylibsrtp's compiled binding and a Session's context: pinned too.
PYLIBSRTP_VERSION = "1.0.0"

__all__ = [
    "AIOICE_VERSION",
    "AIORTC_VERSION",
    "DTLS_CIPHERS",
    "MAX_BURST",
    "MAX_RTP_SIZE",
    "PYLIBSRTP_VERSION",
    "SHARED_SCRATCH",
    "UDP_SEGMENT",
    "BurstReader",
    "RtcpHandler",
    "RtpHandler",
    "RtpSink",
    "Scratch",
    "SyncRtpHandler",
    "add_remote_candidate",
    "answer_dtls",
    "consent_expired",
    "ice_connection",
    "ice_connections",
    "ice_states",
    "ice_transport",
    "ice_transports",
    "negotiated_codecs",
    "new_local_username",
    "offer_rsa_ciphers",
    "receiver_stream_statistics",
    "replace_gathering",
    "restart_ice",
    "restrict_codecs",
    "rtx_ssrc",
    "scratch",
    "selected_pair",
    "send_pli",
    "sender_ssrc",
    "set_dtls_role",
    "set_gathered",
    "signal_peer_reflexive",
    "take_over_receiver",
    "take_over_sender",
    "trickle_pending",
]
