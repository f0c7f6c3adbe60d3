"""Every private aiortc name the bridge relies on (media/seams.py), checked against the real thing.

aiortc is pinned to one version. When an upgrade renames, moves or changes one of these, a test
here fails with the name in its message, instead of the bridge silently decoding, hanging on
stop, or answering with codecs it cannot forward. Nothing here touches the network: the peer
connections only create offers and answers, and packets are handed to the DTLS transport's router
directly. Real ICE between peers is covered by the netns tests.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import aioice.ice
import aiortc
import pylibsrtp
import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import CODECS
from aiortc.rtcdtlstransport import RTCCertificate, State
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
)
from pylibsrtp import Policy, Session

from diemcau.media import seams
from diemcau.media.codecs import forwardable, is_rtx
from diemcau.media.rtp import build_packet
from tests.peers import wait_for


def private(obj: object, name: str) -> Any:
    """getattr that names the seam when it is gone."""
    assert hasattr(obj, name), f"aiortc {aiortc.__version__}: {type(obj).__name__}.{name} is gone"
    return getattr(obj, name)


def source_of(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


@pytest.fixture
async def pc() -> AsyncIterator[RTCPeerConnection]:
    connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    yield connection
    await connection.close()


@pytest.fixture
def video(pc: RTCPeerConnection) -> RTCRtpTransceiver:
    return pc.addTransceiver("video")


VP8 = next(c for c in CODECS["video"] if c.mimeType == "video/VP8")


# -- the pin -----------------------------------------------------------------------------------


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == seams.AIORTC_VERSION
    assert importlib.metadata.version("aiortc") == seams.AIORTC_VERSION


def test_pyproject_pins_the_same_version() -> None:
    requirements = importlib.metadata.requires("diemcau") or []
    pins = [r.replace(" ", "") for r in requirements if r.startswith("aiortc")]
    assert pins == [f"aiortc=={seams.AIORTC_VERSION}"]
    pins = [r.replace(" ", "") for r in requirements if r.startswith("pylibsrtp")]
    assert pins == [f"pylibsrtp=={seams.PYLIBSRTP_VERSION}"]
    assert importlib.metadata.version("pylibsrtp") == seams.PYLIBSRTP_VERSION


# -- attributes on real objects ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_transceiver_codecs(pc: RTCPeerConnection, kind: str) -> None:
    transceiver = pc.addTransceiver(kind)
    assert isinstance(private(transceiver, "_codecs"), list)
    await pc.createOffer()  # fills the codecs of an offering transceiver
    codecs = seams.negotiated_codecs(transceiver)
    assert codecs and all(isinstance(c, RTCRtpCodecParameters) for c in codecs)
    assert codecs is not transceiver._codecs  # a copy: the bridge's filtering stays local
    seams.restrict_codecs(transceiver, codecs[:1])
    assert transceiver._codecs == codecs[:1]


async def test_receiver_attributes(video: RTCRtpTransceiver) -> None:
    receiver = video.receiver
    assert callable(private(receiver, "_RTCRtpReceiver__stop_decoder"))
    assert private(receiver, "_RTCRtpReceiver__remote_streams") == {}
    assert seams.receiver_stream_statistics(receiver) is receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    for name, parameters in [
        ("_handle_rtp_packet", ["packet", "arrival_time_ms"]),
        ("_send_rtcp_pli", ["media_ssrc"]),
        ("_send_rtcp_nack", ["media_ssrc", "lost"]),
    ]:
        method = private(receiver, name)
        assert inspect.iscoroutinefunction(method), name
        assert list(inspect.signature(method).parameters) == parameters, name


async def test_sender_attributes(video: RTCRtpTransceiver) -> None:
    sender = video.sender
    for name in ("__rtp_started", "__rtp_exited", "__rtcp_started", "__rtcp_exited"):
        event = private(sender, f"_RTCRtpSender{name}")
        assert isinstance(event, asyncio.Event), name
        assert not event.is_set(), name
    for name in ("_run_rtp", "_run_rtcp", "_handle_rtcp_packet"):
        assert inspect.iscoroutinefunction(private(sender, name)), name
    assert list(inspect.signature(sender._run_rtp).parameters) == ["codec"]
    assert list(inspect.signature(sender._run_rtcp).parameters) == []
    assert list(inspect.signature(sender._handle_rtcp_packet).parameters) == ["packet"]
    for name in ("_ssrc", "_rtx_ssrc"):
        ssrc = private(sender, name)
        assert isinstance(ssrc, int) and 0 <= ssrc < 1 << 32, name
    assert seams.rtx_ssrc(sender) == sender._rtx_ssrc != sender._ssrc
    assert seams.sender_ssrc(sender) == sender._ssrc


async def test_dtls_transport_attributes(video: RTCRtpTransceiver) -> None:
    dtls = video.sender.transport
    assert isinstance(dtls, RTCDtlsTransport)
    assert dtls is video.receiver.transport
    assert private(dtls, "_tx_srtp") is None  # set once the handshake is done
    connection = private(dtls.transport, "_connection")
    assert isinstance(connection, aioice.ice.Connection)
    assert private(connection, "_nominated") == {}
    assert inspect.iscoroutinefunction(private(dtls, "_send_rtp"))
    assert dtls.state == "new"


# -- the receiver taken over --------------------------------------------------------------------


def decoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("-decoder")]


async def test_take_over_receiver_replaces_receive_and_rtp_handler(
    video: RTCRtpTransceiver,
) -> None:
    receiver = video.receiver
    original_receive = receiver.receive

    async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        pass

    seams.take_over_receiver(receiver, lambda parameters: None, on_rtp)
    assert receiver._handle_rtp_packet is on_rtp
    assert vars(receiver)["_handle_rtp_packet"] is on_rtp  # on the instance, not the class
    assert "receive" in vars(receiver) and receiver.receive != original_receive
    assert RTCRtpReceiver._handle_rtp_packet is not on_rtp  # other receivers untouched


async def answer_side(pc: RTCPeerConnection) -> None:
    """Apply a real sendonly offer to pc, as the bridge does with a publisher's WHIP offer."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver("video", direction="sendonly")
        offerer.addTransceiver("audio", direction="sendonly")
        await pc.setRemoteDescription(await offerer.createOffer())
    finally:
        await offerer.close()


async def test_taken_over_receiver_stops_its_decoder_and_hands_rtp_to_the_bridge(
    pc: RTCPeerConnection,
) -> None:
    await answer_side(pc)
    video = pc.getTransceivers()[0]
    receiver = video.receiver
    dtls = receiver.transport
    received: list[RTCRtpReceiveParameters] = []
    packets: list[tuple[RtpPacket, int]] = []

    async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        packets.append((packet, arrival_time_ms))

    seams.take_over_receiver(receiver, received.append, on_rtp)
    before = decoder_threads()
    # The parameters the peer connection itself passes to receive() once connected.
    parameters = private(pc, "_RTCPeerConnection__remoteRtp")(video)
    ssrc = parameters.encodings[0].ssrc
    payload_type = parameters.codecs[0].payloadType
    await receiver.receive(parameters)
    assert received == [parameters]
    assert private(receiver, "_RTCRtpReceiver__decoder_thread") is None
    assert decoder_threads() == before, "aiortc's decoder thread is still running"

    # What the DTLS transport does with a decrypted RTP packet: route it to the receiver.
    rtp = build_packet(payload_type, True, 77, 9000, ssrc, b"\x10\x10vp8")
    await dtls._handle_rtp_data(rtp, arrival_time_ms=1234)
    assert len(packets) == 1
    packet, arrival = packets[0]
    header = (packet.payload_type, packet.ssrc, packet.sequence_number, packet.timestamp)
    assert header == (payload_type, ssrc, 77, 9000)
    assert (packet.marker, packet.payload, arrival) == (1, b"\x10\x10vp8", 1234)
    await asyncio.wait_for(receiver.stop(), 5)


async def test_aiortc_receive_starts_a_decoder_thread_named_after_the_kind() -> None:
    source = source_of(RTCRtpReceiver.receive)
    assert "threading.Thread(" in source
    assert 'name=self.__kind + "-decoder"' in source
    assert "self.__decoder_thread.start()" in source
    assert "self.__transport._register_rtp_receiver(self, parameters)" in source
    stop = source_of(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)  # type: ignore[attr-defined]
    assert "self.__decoder_queue.put(None)" in stop and "self.__decoder_thread = None" in stop


async def test_aiortc_routes_rtp_to_the_instance_handler() -> None:
    # Replacing the bound method on the instance works because the transport looks it up there.
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in (
        source_of(RTCDtlsTransport._handle_rtp_data)
    )


async def test_send_pli_goes_through_the_transport(
    pc: RTCPeerConnection, video: RTCRtpTransceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    dtls = video.receiver.transport
    sent: list[bytes] = []

    async def capture(data: bytes) -> None:
        sent.append(data)

    monkeypatch.setattr(dtls, "_send_rtp", capture)
    await seams.send_pli(video.receiver, 0xABCD)
    (pli,) = (RtcpPacket.parse(data)[0] for data in sent)
    assert isinstance(pli, RtcpPsfbPacket) and pli.fmt == RTCP_PSFB_PLI
    assert pli.media_ssrc == 0xABCD
    # The receiver reports as the sender of the same transceiver (set by the peer connection):
    # the bridge's own NACK and REMB toward the publisher use that SSRC too.
    assert pli.ssrc == video.sender._ssrc


async def test_rtcp_on_an_unconnected_transport_is_not_sent(video: RTCRtpTransceiver) -> None:
    with pytest.raises(ConnectionError):
        await video.sender.transport._send_rtp(b"\x81\xc9\x00\x01" + bytes(4))
    assert not seams.RtpSink(video.sender.transport).send_rtcp(b"\x81\xc9\x00\x01" + bytes(4))


# -- the sender taken over ----------------------------------------------------------------------


async def test_take_over_sender_replaces_what_it_claims(video: RTCRtpTransceiver) -> None:
    sender = video.sender
    original_send = sender.send

    async def on_rtcp(packet: AnyRtcpPacket) -> None:
        pass

    async def run_rtcp() -> None:
        pass

    seams.take_over_sender(sender, lambda parameters: None, on_rtcp, run_rtcp)
    assert vars(sender)["_handle_rtcp_packet"] is on_rtcp
    for name in ("send", "_run_rtp", "_run_rtcp"):
        assert name in vars(sender), name
    assert sender.send != original_send
    assert sender._run_rtp.__qualname__.endswith("idle_rtp")
    assert sender._run_rtcp.__qualname__.endswith("rtcp_loop")
    assert RTCRtpSender._handle_rtcp_packet is not on_rtcp


async def test_taken_over_sender_sends_nothing_routes_rtcp_and_stops(
    video: RTCRtpTransceiver,
) -> None:
    sender = video.sender
    dtls = sender.transport
    sent_parameters: list[RTCRtpSendParameters] = []
    rtcp: list[AnyRtcpPacket] = []
    rtcp_loop_running = asyncio.Event()

    async def on_rtcp(packet: AnyRtcpPacket) -> None:
        rtcp.append(packet)

    async def run_rtcp() -> None:
        rtcp_loop_running.set()
        await asyncio.Event().wait()

    seams.take_over_sender(sender, sent_parameters.append, on_rtcp, run_rtcp)
    parameters = RTCRtpSendParameters(codecs=[VP8], rtcp=RTCRtcpParameters(cname="hall"))
    await sender.send(parameters)
    assert sent_parameters == [parameters]
    await asyncio.wait_for(rtcp_loop_running.wait(), 5)
    assert sender._RTCRtpSender__rtp_started.is_set()  # type: ignore[attr-defined]
    assert sender._RTCRtpSender__rtcp_started.is_set()  # type: ignore[attr-defined]

    # send() registered our SSRC: a NACK and a PLI addressed to it reach the bridge.
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc)
    nack.lost = [100, 101]
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc)
    stranger = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc ^ 1)
    await dtls._handle_rtcp_data(bytes(nack) + bytes(pli) + bytes(stranger))
    assert [type(p) for p in rtcp] == [RtcpRtpfbPacket, RtcpPsfbPacket]
    assert rtcp[0].lost == [100, 101]  # type: ignore[union-attr]

    # stop() waits for both loops to report their exit: a hang here means the events moved.
    await asyncio.wait_for(sender.stop(), 5)
    assert sender._RTCRtpSender__rtp_exited.is_set()  # type: ignore[attr-defined]
    assert sender._RTCRtpSender__rtcp_exited.is_set()  # type: ignore[attr-defined]


async def test_aiortc_sender_send_starts_the_loops_through_the_instance() -> None:
    source = source_of(RTCRtpSender.send)
    assert "self.__transport._register_rtp_sender(self, parameters)" in source
    assert "self._run_rtp(parameters.codecs[0])" in source
    assert "self._run_rtcp()" in source
    stop = source_of(RTCRtpSender.stop)
    assert "self.__rtp_started.wait(), self.__rtcp_started.wait()" in stop
    assert "self.__rtp_exited.wait(), self.__rtcp_exited.wait()" in stop
    assert "await recipient._handle_rtcp_packet(packet)" in source_of(
        RTCDtlsTransport._handle_rtcp_data
    )


# -- codecs in the answer ----------------------------------------------------------------------


def test_aiortc_negotiation_reads_and_writes_transceiver_codecs() -> None:
    peer = RTCPeerConnection
    assert "transceiver._codecs = common" in source_of(peer.setRemoteDescription)
    assert "create_media_description_for_transceiver(" in source_of(peer.createAnswer)
    describe = aiortc.rtcpeerconnection.create_media_description_for_transceiver
    assert "transceiver._codecs" in source_of(describe)
    # What sender.send() and receiver.receive() are given comes from the same list.
    for name in ("_RTCPeerConnection__localRtp", "_RTCPeerConnection__remoteRtp"):
        assert "codecs=transceiver._codecs" in source_of(private(peer, name)), name


async def test_restrict_codecs_narrows_the_answer(pc: RTCPeerConnection) -> None:
    await answer_side(pc)
    video, audio = pc.getTransceivers()
    # As the bridge answers a publisher: the first forwardable codec and its RTX only.
    codecs = forwardable("video", seams.negotiated_codecs(video))
    media = next(c for c in codecs if not is_rtx(c))
    rtx = [c for c in codecs if is_rtx(c) and c.parameters.get("apt") == media.payloadType]
    seams.restrict_codecs(video, [media, *rtx])
    seams.restrict_codecs(audio, forwardable("audio", seams.negotiated_codecs(audio)))

    answer = await pc.createAnswer()
    m_lines = [line for line in answer.sdp.splitlines() if line.startswith("m=")]
    assert m_lines[0].split()[3:] == [str(media.payloadType), str(rtx[0].payloadType)]
    assert m_lines[1].split()[3:] == [
        str(c.payloadType) for c in CODECS["audio"] if c.mimeType == "audio/opus"
    ]
    assert "H264" not in answer.sdp and "PCMU" not in answer.sdp


# -- RtpSink: protect and write without awaiting ---------------------------------------------------


def test_aiortc_sends_rtp_protected_through_the_ice_connection() -> None:
    send_rtp = source_of(RTCDtlsTransport._send_rtp)
    assert "self._tx_srtp.protect(data)" in send_rtp
    assert "await self.transport._send(data)" in send_rtp
    assert "self._send = self._connection.send" in source_of(RTCIceTransport.__init__)
    # RtpSink takes the path aioice takes, to its end: the nominated pair, its protocol's
    # datagram transport, the pair's remote address.
    assert "self._nominated.get(component)" in source_of(aioice.ice.Connection.sendto)
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in source_of(
        aioice.ice.Connection.sendto
    )
    assert "self.transport.sendto(data, addr)" in source_of(aioice.ice.StunProtocol.send_data)


def test_libsrtp_protect_through_the_binding() -> None:
    """RtpSink's three pylibsrtp internals: the binding's srtp_protect, in place, with the
    signature of libsrtp 2; a Session's context behind `_srtp`; room for the trailer."""
    from pylibsrtp._binding import ffi, lib

    assert ffi.typeof(lib.srtp_protect).cname == (
        "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
    )
    tx, rx = srtp_pair()
    assert ffi.typeof(private(tx, "_srtp")).cname == "struct srtp_ctx_t_ * *"
    assert "SRTP_MAX_TRAILER_LEN" in dir(pylibsrtp)
    packet = build_packet(96, False, 9, 9, 0xABC, b"x" * 1000)
    buf = ffi.new("char[]", 1500 + pylibsrtp.SRTP_MAX_TRAILER_LEN)
    buf[0 : len(packet)] = packet
    length = ffi.new("int *", len(packet))
    assert lib.srtp_protect(tx._srtp[0], buf, length) == 0
    assert rx.unprotect(ffi.buffer(buf, length[0])[:]) == packet


async def test_asyncio_datagram_transport_keeps_its_socket() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        sock = private(transport, "_sock")
        assert isinstance(sock, socket.socket) and sock.type == socket.SOCK_DGRAM
        assert sock.getsockname() == transport.get_extra_info("sockname")
    finally:
        transport.close()


class FakeSocket:
    """The media port's socket, as RtpSink uses it: sendto() and sendmsg() to one address."""

    def __init__(self) -> None:
        self.peer: tuple[str, int] | None = None  # where the last datagram went
        self.sent: list[bytes] = []
        self.full = False
        self.closed = False
        self.segments_refused = False  # no UDP segmentation on this kernel or device
        self.filtered = False  # a firewall drops what is sent (the kernel says EPERM)
        self.calls = 0

    def _refuse(self) -> None:
        """What the kernel answers instead of sending, in the state the test put it in."""
        if self.closed:
            raise OSError(9, "Bad file descriptor")
        if self.filtered:
            raise PermissionError(1, "Operation not permitted")
        if self.full:
            raise BlockingIOError

    def sendto(self, data: memoryview, addr: tuple[str, int]) -> int:
        self._refuse()
        self.peer = addr
        self.sent.append(bytes(data))
        self.calls += 1
        return len(data)

    def sendmsg(
        self,
        buffers: list[memoryview],
        ancdata: list[tuple[int, int, bytes]],
        flags: int,
        addr: tuple[str, int],
    ) -> int:
        """A segmented send: cut into datagrams of the given size, as the kernel does."""
        ((level, kind, size),) = ancdata
        assert (level, kind) == (socket.SOL_UDP, seams.UDP_SEGMENT)
        if self.segments_refused:
            raise OSError(5, "Input/output error")
        self._refuse()
        (data,) = buffers
        self.peer = addr
        step = int.from_bytes(size, sys.byteorder)
        self.sent.extend(bytes(data[i : i + step]) for i in range(0, len(data), step))
        self.calls += 1
        return len(data)


class FakeDatagramTransport:
    def __init__(self) -> None:
        self._sock = FakeSocket()


class FakeProtocol:
    def __init__(self, transport: FakeDatagramTransport | None) -> None:
        self.transport = transport


def srtp_pair() -> tuple[Session, Session]:
    key = os.urandom(30)
    profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    return tx, rx


def new_dtls() -> RTCDtlsTransport:
    return RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer(iceServers=[])), [RTCCertificate.generateCertificate()]
    )


def keyed_dtls() -> tuple[RTCDtlsTransport, Session]:
    """What the DTLS handshake leaves behind: connected, an outbound SRTP session; and the
    session that unprotects what it sends."""
    dtls = new_dtls()
    dtls._state = State.CONNECTED
    tx, rx = srtp_pair()
    dtls._tx_srtp = tx
    return dtls, rx


def nominate_pair(
    dtls: RTCDtlsTransport, protocol: object, remote: tuple[str, int] = ("192.0.2.7", 50_000)
) -> None:
    """What ICE nomination leaves behind: a pair from protocol's socket to remote."""
    candidate = aioice.Candidate(
        foundation="1",
        component=1,
        transport="udp",
        priority=1,
        host=remote[0],
        port=remote[1],
        type="host",
    )
    pair = aioice.ice.CandidatePair(protocol, candidate)  # type: ignore[arg-type]
    dtls.transport._connection._nominated[1] = pair


def nominate(dtls: RTCDtlsTransport) -> FakeDatagramTransport:
    """A nominated pair to 192.0.2.7:50000 whose socket is ours."""
    datagrams = FakeDatagramTransport()
    nominate_pair(dtls, FakeProtocol(datagrams))
    return datagrams


async def test_rtp_sink_protects_and_writes_to_the_nominated_pair() -> None:
    dtls = new_dtls()
    sink = seams.RtpSink(dtls)
    packet = build_packet(96, True, 1, 2, 0x5EED, b"payload")
    assert dtls.state == "new"
    assert not sink.send(packet)  # not connected yet

    # What the DTLS handshake and ICE nomination leave behind, on the real aiortc/aioice objects.
    dtls._state = State.CONNECTED
    assert dtls.state == "connected"
    tx, rx = srtp_pair()
    dtls._tx_srtp = tx
    assert not sink.send(packet)  # connected, but no nominated pair
    datagrams = nominate(dtls)

    assert sink.send(packet)
    sock = datagrams._sock
    assert sock.peer == ("192.0.2.7", 50_000)  # sent to the nominated pair's address
    (data,) = sock.sent
    assert data != packet and rx.unprotect(data) == packet
    sock.full = True  # the kernel takes no more: drop rather than queue
    assert not sink.send(build_packet(96, False, 2, 3, 0x5EED, b"dropped"))
    assert sink.backed_up and sink.dropped == 1 and len(sock.sent) == 1
    sock.full = False
    third = build_packet(96, False, 3, 3, 0x5EED, b"more")
    assert sink.send(third) and not sink.backed_up
    assert rx.unprotect(sock.sent[-1]) == third
    report = bytes(RtcpSrPacket(ssrc=0x5EED, sender_info=RtcpSenderInfo(1, 2, 3, 4)))
    assert sink.send_rtcp(report)
    assert rx.unprotect_rtcp(sock.sent[-1]) == report
    sock.closed = True  # the connection went away under us
    assert not sink.send(build_packet(96, False, 4, 3, 0x5EED, b"gone"))
    assert not sink.send_rtcp(report)
    assert not sink.backed_up and len(sock.sent) == 3


def test_rtp_sink_output_matches_pylibsrtp_protect() -> None:
    """The in-place path through libsrtp gives the very bytes Session.protect gives."""
    key = os.urandom(44)
    profile = Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    ours = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    theirs = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    dtls = new_dtls()
    dtls._state = State.CONNECTED
    dtls._tx_srtp = ours
    datagrams = nominate(dtls)
    sink = seams.RtpSink(dtls)
    for seq in range(5):
        packet = build_packet(96, seq == 4, seq, seq * 3000, 0xCAFE, os.urandom(1100))
        assert sink.send(packet)
        assert datagrams._sock.sent[-1] == theirs.protect(packet)


def test_rtp_sink_protects_in_the_buffer_it_owns() -> None:
    """The fan-out writes where the sink says (RtpSink.buffer): shared by default, or its own."""
    shared, _ = keyed_dtls()
    assert seams.RtpSink(shared).buffer is seams.scratch()
    dtls, rx = keyed_dtls()
    datagrams = nominate(dtls)
    own = seams.Scratch(packets=2)
    sink = seams.RtpSink(dtls, own)
    assert sink.buffer is own.view and len(own.view) < len(seams.scratch())
    before = bytes(seams.scratch()[:64])
    assert sink.ready()
    packets = [build_packet(96, False, seq, 0, 0x5EED, bytes([seq]) * 40) for seq in (7, 8)]
    assert burst(sink, packets)
    assert bytes(seams.scratch()[:64]) == before  # the shared buffer was not touched
    assert datagrams._sock.calls == 1  # one segmented send of both
    assert [rx.unprotect(data) for data in datagrams._sock.sent] == packets


def burst(sink: seams.RtpSink, packets: list[bytes]) -> bool:
    """What the fan-out does with one subscriber's burst: lay out, push, finish."""
    view = sink.buffer
    offset = 0
    for packet in packets:
        view[offset : offset + len(packet)] = packet
        offset = sink.push(offset, len(packet))
        if offset < 0:
            return False
    return sink.finish()


def connected_sink() -> tuple[seams.RtpSink, FakeSocket, Session]:
    dtls, rx = keyed_dtls()
    sock = nominate(dtls)._sock
    sink = seams.RtpSink(dtls)
    assert sink.ready()
    return sink, sock, rx


def frame(sizes: list[int], first_seq: int = 0) -> list[bytes]:
    return [
        build_packet(96, i == len(sizes) - 1, first_seq + i, 3000, 0x5EED, os.urandom(size))
        for i, size in enumerate(sizes)
    ]


def test_a_burst_of_equal_packets_is_one_segmented_send() -> None:
    sink, sock, rx = connected_sink()
    packets = frame([1100, 1100, 1100, 700])  # a frame: equal packets, a shorter last one
    assert burst(sink, packets)
    assert sock.calls == sink.sends == 1
    assert [rx.unprotect(data) for data in sock.sent] == packets

    # A larger packet after a shorter one, or a shorter one in the middle: new runs.
    more = frame([900, 1100, 1100, 500, 500, 1100], first_seq=4)
    assert burst(sink, more)
    assert sock.calls == 1 + 4  # [900] [1100 1100 500] [500] [1100]
    assert [rx.unprotect(data) for data in sock.sent[4:]] == more


def test_a_backed_up_run_is_dropped_whole_and_the_next_goes_out() -> None:
    sink, sock, rx = connected_sink()
    sock.full = True
    assert not burst(sink, frame([1000, 1000, 1000]))
    assert sink.backed_up and sink.dropped == 3 and sock.sent == []
    sock.full = False
    packets = frame([1000, 1000], first_seq=3)
    assert burst(sink, packets) and not sink.backed_up
    assert [rx.unprotect(data) for data in sock.sent] == packets


def test_a_filtered_run_is_lost_like_datagrams_not_taken_for_a_backed_up_link() -> None:
    sink, sock, rx = connected_sink()
    sock.filtered = True
    assert not burst(sink, frame([1000, 1000, 1000]))
    assert not sink.backed_up and sink.dropped == 3 and sock.sent == []
    # Whether the run ends on a shorter packet or on one that does not fit it.
    view = seams.scratch()
    offset = 0
    for packet in frame([1000, 1000, 600, 1000], first_seq=10):
        view[offset : offset + len(packet)] = packet
        offset = sink.push(offset, len(packet))
        assert offset > 0  # never taken for a backed-up link
    assert not sink.finish() and sink.dropped == 7
    sock.filtered = False
    packets = frame([1000, 1000], first_seq=3)
    assert burst(sink, packets) and sock.calls == 1  # still one segmented send
    assert [rx.unprotect(data) for data in sock.sent] == packets


def test_without_segmentation_the_sink_sends_packet_by_packet() -> None:
    sink, sock, rx = connected_sink()
    sock.segments_refused = True
    packets = frame([1000, 1000, 1000, 400])
    assert burst(sink, packets)
    assert [rx.unprotect(data) for data in sock.sent] == packets and sock.calls == 4
    sock.segments_refused = False  # it is not asked again
    assert burst(sink, frame([1000, 1000], first_seq=4)) and sock.calls == 6


async def test_the_kernel_cuts_a_segmented_send_into_the_datagrams() -> None:
    """Real sockets on loopback: one sendmsg with UDP_SEGMENT, separate datagrams out."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sender.setblocking(False)
    dtls, rx = keyed_dtls()

    class Transport:
        _sock = sender

    nominate_pair(dtls, FakeProtocol(Transport()), receiver.getsockname())  # type: ignore[arg-type]
    sink = seams.RtpSink(dtls)
    try:
        assert sink.ready()
        packets = frame([1180, 1180, 1180, 1180, 1180, 333])
        assert burst(sink, packets)
        assert sink.sends == 1  # one system call (linux >= 4.18 segments UDP)
        got = [rx.unprotect(receiver.recv(2048)) for _ in packets]
        assert got == packets
    finally:
        sender.close()
        receiver.close()


# -- aioice: the media port's seams -------------------------------------------------------------


def test_aiortc_gathers_through_the_connection_it_holds() -> None:
    # The port replaces connection.gather_candidates on the instance; aiortc must call it so.
    gather = source_of(aiortc.rtcicetransport.RTCIceGatherer.gather)
    assert "await self._connection.gather_candidates()" in gather
    local = source_of(aiortc.rtcicetransport.RTCIceGatherer.getLocalCandidates)
    assert "self._connection.local_candidates" in local
    # Transports exist once the offer is applied; gathering waits for setLocalDescription, so
    # the bridge attaches them to the port in between.
    created = source_of(
        private(aiortc.RTCPeerConnection, "_RTCPeerConnection__createDtlsTransport")
    )
    assert "self.__iceTransports.add(iceTransport)" in created
    assert "await self.__gather()" in source_of(aiortc.RTCPeerConnection.setLocalDescription)
    assert "await self.__gather()" not in source_of(aiortc.RTCPeerConnection.setRemoteDescription)


async def test_one_ice_transport_and_its_connection_once_an_offer_is_applied() -> None:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )
    try:
        offerer.addTransceiver("audio")
        offerer.addTransceiver("video")
        offer = await offerer.createOffer()  # no gathering: nothing is bound or sent
        await answerer.setRemoteDescription(offer)
        (transport,) = seams.ice_transports(answerer)
        assert seams.ice_transport(answerer) is transport
        assert seams.ice_connection(answerer) is private(transport, "_connection")
        assert isinstance(seams.ice_connection(answerer), aioice.Connection)
        assert seams.ice_connections(answerer) == [seams.ice_connection(answerer)]
    finally:
        await offerer.close()
        await answerer.close()


async def test_aioice_connection_attributes_the_port_sets() -> None:
    connection = aioice.Connection(ice_controlling=False)
    for name in (
        "_protocols",
        "_local_candidates",
        "_local_candidates_start",
        "_local_candidates_end",
        "_local_username",
        "_local_password",
        "_check_list",
        "_remote_candidates",
        "_remote_candidates_end",
        "_nominated",
    ):
        private(connection, name)
    connection._local_username = "abcd"
    connection._local_password = "p" * 22
    assert (connection.local_username, connection.local_password) == ("abcd", "p" * 22)
    # connect() refuses to start without them: set_gathered leaves them as gathering would.
    assert "if not self._local_candidates_end" in source_of(aioice.ice.Connection.connect)
    # Pairs are formed from _protocols, and their local candidate is the protocol's.
    assert "for protocol in self._protocols" in source_of(
        aioice.ice.Connection._pair_remote_candidate
    )


def test_aioice_checks_after_connect_can_nominate_anew() -> None:
    # An ICE restart relies on incoming checks being handled after connect() returned, and on a
    # nominated pair replacing the one before, with the credentials read at each check.
    received = source_of(aioice.ice.Connection.request_received)
    assert "self.check_incoming(message, addr, protocol)" in received
    assert "check_message_integrity(self.local_password" in received
    assert "local_username == self.local_username" in source_of(
        aioice.ice.Connection._valid_username
    )
    assert "self._nominated[pair.component] = pair" in source_of(
        aioice.ice.Connection.check_complete
    )
    assert "self.remote_password.encode" in source_of(aioice.ice.Connection.check_start)


def test_aioice_trickle_is_add_remote_candidate() -> None:
    source = source_of(aioice.ice.Connection.add_remote_candidate)
    assert "self._remote_candidates_end = True" in source
    assert "mdns.is_mdns_hostname" in source  # why the bridge drops .local before it


# -- DTLS: the role the answer takes, and the cipher suites ---------------------------------------


def test_aiortc_answers_active_to_actpass_unless_told() -> None:
    """Why answer_dtls exists: aiortc takes the server role only for an offer that says active,
    and createAnswer writes the transport's _role ("auto" as active)."""
    applied = source_of(aiortc.RTCPeerConnection.setRemoteDescription)
    assert 'if description.type == "offer" and media.dtls.role == "client":' in applied
    answer = source_of(aiortc.RTCPeerConnection.createAnswer)
    assert 'if dtlsTransport._role == "auto":' in answer
    assert "media.dtls.role = dtlsTransport._role" in answer
    dtls = new_dtls()
    assert private(dtls, "_role") == "auto"
    seams.set_dtls_role(dtls, "server")
    assert dtls._role == "server"
    # start() shakes hands as _role says, with the context of the transport's certificate.
    start = source_of(RTCDtlsTransport.start)
    assert 'if self._role == "server":\n            self._ssl.set_accept_state()' in start
    assert "self.__local_certificate._create_ssl_context(" in start
    assert isinstance(private(dtls, "_RTCDtlsTransport__local_certificate"), RTCCertificate)
    assert "srtp_profiles" in inspect.signature(RTCCertificate._create_ssl_context).parameters


async def offered_with_setup(setup: str) -> tuple[RTCPeerConnection, str]:
    """A bundled audio and video offer whose a=setup says `setup`."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.addTransceiver("video", direction="sendonly")
    offerer.addTransceiver("audio", direction="sendonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    sdp = offerer.localDescription.sdp
    assert sdp.count("a=setup:actpass") == 2
    return offerer, sdp.replace("a=setup:actpass", f"a=setup:{setup}")


@pytest.mark.parametrize(
    ("setup", "answered", "role"),
    [
        ("actpass", "passive", "server"),
        ("active", "passive", "server"),
        ("passive", "active", "client"),
    ],
)
async def test_answer_dtls_takes_the_role_the_offer_leaves(
    pc: RTCPeerConnection, setup: str, answered: str, role: str
) -> None:
    offerer, sdp = await offered_with_setup(setup)
    try:
        await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=sdp, type="offer"))
        seams.answer_dtls(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        assert answer.count(f"a=setup:{answered}") == 2 and answer.count("a=setup:") == 2
        (transport,) = {t.receiver.transport for t in pc.getTransceivers()}  # bundled
        assert transport._role == role
    finally:
        await offerer.close()


def rsa_context() -> Any:
    """A DTLS end as GStreamer's is: an RSA certificate, OpenSSL's default suites, and the
    peer's certificate asked for."""
    from aiortc.rtcdtlstransport import generate_certificate
    from cryptography.hazmat.primitives.asymmetric import rsa
    from OpenSSL import SSL

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    context = SSL.Context(SSL.DTLS_METHOD)
    context.set_verify(SSL.VERIFY_PEER, lambda *args: True)
    context.use_certificate(generate_certificate(key))  # type: ignore[arg-type]
    context.use_privatekey(key)
    return context


def dtls_handshake(client_context: Any, server_context: Any) -> str:
    """A DTLS handshake in memory: the suite agreed on, or the error as OpenSSL words it."""
    from OpenSSL import SSL

    client, server = SSL.Connection(client_context), SSL.Connection(server_context)
    client.set_connect_state()
    server.set_accept_state()
    done: set[object] = set()
    for _ in range(20):
        for this, other in ((client, server), (server, client)):
            try:
                this.do_handshake()
                done.add(this)
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                return str(exc)
            while True:
                try:
                    other.bio_write(this.bio_read(65536))
                except SSL.WantReadError:
                    break
        if len(done) == 2:
            return str(client.get_cipher_name())
    return "no end"


async def test_offer_rsa_ciphers_lets_the_dtls_client_reach_an_rsa_server(
    pc: RTCPeerConnection,
) -> None:
    from OpenSSL import SSL

    offerer, sdp = await offered_with_setup("passive")  # we are the DTLS client
    try:
        await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=sdp, type="offer"))
        (transport,) = {t.receiver.transport for t in pc.getTransceivers()}
        certificate = private(transport, "_RTCDtlsTransport__local_certificate")
        profiles = private(transport, "_srtp_profiles")
        # aiortc's own context offers ECDSA suites only: no shared cipher with an RSA server.
        assert "no shared cipher" in dtls_handshake(
            certificate._create_ssl_context(srtp_profiles=profiles), rsa_context()
        )
        seams.answer_dtls(pc)
        context = certificate._create_ssl_context(srtp_profiles=profiles)
        offered = SSL.Connection(context).get_cipher_list()
        # (TLS 1.3's suites are listed apart, set_ciphersuites's, and untouched.)
        dtls12 = [name for name in offered if not name.startswith("TLS_")]
        assert dtls12 == seams.DTLS_CIPHERS.decode().split(":")
        assert dtls_handshake(context, rsa_context()) == "ECDHE-RSA-AES128-GCM-SHA256"
        # As the DTLS server (an actpass offer), its ECDSA certificate picks an ECDSA suite.
        server = certificate._create_ssl_context(srtp_profiles=profiles)
        assert dtls_handshake(rsa_context(), server).startswith("ECDHE-ECDSA-AES")
    finally:
        await offerer.close()


def test_a_signalled_candidate_takes_the_place_of_the_peer_reflexive_one() -> None:
    connection = aioice.Connection(ice_controlling=False)
    learned = aioice.Candidate(
        foundation="p",
        component=1,
        transport="udp",
        priority=1,
        host="203.0.113.40",
        port=49152,
        type="prflx",
    )
    connection._remote_candidates.append(learned)
    pair = aioice.ice.CandidatePair(object(), learned)  # type: ignore[arg-type]
    relay = aiortc.RTCIceCandidate(
        component=1,
        foundation="r1",
        ip="203.0.113.40",
        port=49152,
        priority=16_777_215,
        protocol="udp",
        type="relay",
        relatedAddress="198.51.100.7",
        relatedPort=40_000,
    )
    assert seams.signal_peer_reflexive(connection, relay)
    assert pair.remote_candidate.type == "relay"
    assert (learned.priority, learned.related_address) == (16_777_215, "198.51.100.7")
    other = aiortc.RTCIceCandidate(
        component=1,
        foundation="h",
        ip="203.0.113.41",
        port=1,
        priority=1,
        protocol="udp",
        type="host",
    )
    assert not seams.signal_peer_reflexive(connection, other)


# -- a peer gone silent: consent lost, told from a close ----------------------------------------


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    ours = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    theirs = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    theirs.addTransceiver("audio")
    await theirs.setLocalDescription(await theirs.createOffer())
    await ours.setRemoteDescription(theirs.localDescription)
    await ours.setLocalDescription(await ours.createAnswer())
    await theirs.setRemoteDescription(ours.localDescription)
    assert await wait_for(
        lambda: {ours.connectionState, theirs.connectionState} == {"connected"}, 20
    )
    return ours, theirs


async def _ended(pc: RTCPeerConnection) -> None:
    assert await wait_for(lambda: pc.connectionState in ("closed", "failed"), 20)


async def test_consent_expired_tells_a_silent_peer_from_one_that_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert private(aioice.ice.Connection, "request_received")
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.05)
    ours, theirs = await _connected_pair()
    try:
        assert not seams.consent_expired(ours)
        # Their network goes: our consent checks are never answered (their media still is).
        for connection in seams.ice_connections(theirs):
            monkeypatch.setattr(connection, "request_received", lambda *args: None)
        await _ended(ours)
        assert seams.consent_expired(ours)
    finally:
        await ours.close()
        await theirs.close()
    ours, theirs = await _connected_pair()
    try:
        await theirs.close()  # its DTLS says goodbye
        await _ended(ours)
        assert ours.connectionState == "closed"
        assert not seams.consent_expired(ours)
        # Nor does our own close count as one.
        again, other = await _connected_pair()
        await again.close()
        assert not seams.consent_expired(again)
        await other.close()
    finally:
        await ours.close()
