"""media/offer.py: what an offer asks for, and the offers the bridge would only half serve.

The offers are shaped as Chromium writes them (its m-line order, codecs, rtcp-fb, extmap,
msid and ssrc lines; simulcast as `rid`/`simulcast` lines), and as aiortc writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from diemcau.media.bridge import Bridge
from diemcau.media.bridge import OfferError as BridgeOfferError
from diemcau.media.offer import (
    Offer,
    OfferError,
    Section,
    check_publish,
    check_subscribe,
    codec_error,
    first_codec_error,
    parse,
    with_directions,
)

FINGERPRINT = ":".join(["3F"] * 32)

CHROMIUM_VIDEO = {
    "96": ("VP8/90000", None),
    "97": ("rtx/90000", "apt=96"),
    "102": (
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    ),
    "103": ("rtx/90000", "apt=102"),
    "108": (
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    ),
    "109": ("rtx/90000", "apt=108"),
    "112": (
        "H264/90000",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
    ),
    "98": ("VP9/90000", "profile-id=0"),
    "35": ("AV1/90000", "level-idx=5;profile=0;tier=0"),
    "114": ("red/90000", None),
    "116": ("ulpfec/90000", None),
}
CHROMIUM_AUDIO = {
    "111": ("opus/48000/2", "minptime=10;useinbandfec=1"),
    "63": ("red/48000/2", "111/111"),
    "9": ("G722/8000", None),
    "0": ("PCMU/8000", None),
    "8": ("PCMA/8000", None),
    "13": ("CN/8000", None),
    "110": ("telephone-event/48000", None),
}


def chromium_section(
    kind: str,
    mid: int,
    direction: str,
    codecs: dict[str, tuple[str, str | None]] | None = None,
    rids: tuple[str, ...] = (),
) -> list[str]:
    """One m-line as Chromium (M120-ish) writes it in an offer."""
    codecs = (
        codecs if codecs is not None else (CHROMIUM_VIDEO if kind == "video" else CHROMIUM_AUDIO)
    )
    lines = [
        f"m={kind} 9 UDP/TLS/RTP/SAVPF {' '.join(codecs)}",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:Xq3c",
        "a=ice-pwd:Tx7BkqVwH3b8zj1y0fJm2n5Q",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "a=setup:actpass",
        f"a=mid:{mid}",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        f"a={direction}",
        "a=msid:- 5d3c9a52-2f4e-4c1b-9a33-0e8f1b2c4d6e",
        "a=rtcp-mux",
    ]
    if kind == "video":
        lines.append("a=rtcp-rsize")
    for pt, (encoding, fmtp) in codecs.items():
        lines.append(f"a=rtpmap:{pt} {encoding}")
        if kind == "video" and not encoding.startswith(("rtx", "red", "ulpfec")):
            lines += [
                f"a=rtcp-fb:{pt} goog-remb",
                f"a=rtcp-fb:{pt} nack",
                f"a=rtcp-fb:{pt} nack pli",
            ]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
    for rid in rids:
        lines.append(f"a=rid:{rid} send")
    if rids:
        lines.append("a=simulcast:send " + ";".join(rids))
    elif direction in ("sendonly", "sendrecv"):
        lines += [
            f"a=ssrc-group:FID {1000 + mid} {2000 + mid}" if kind == "video" else "",
            f"a=ssrc:{1000 + mid} cname:q9NmXy2v",
            f"a=ssrc:{1000 + mid} msid:- 5d3c9a52-2f4e-4c1b-9a33-0e8f1b2c4d6e",
        ]
    return [line for line in lines if line]


def chromium_offer(*sections: list[str]) -> str:
    mids = " ".join(str(i) for i in range(len(sections)))
    head = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {mids}",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS",
    ]
    return "\r\n".join([*head, *(line for s in sections for line in s)]) + "\r\n"


def publisher(*extra: list[str]) -> str:
    """The console page's offer: audio then video, sendonly."""
    return chromium_offer(
        chromium_section("audio", 0, "sendonly"), chromium_section("video", 1, "sendonly"), *extra
    )


def player(pairs: int = 1, direction: str = "recvonly") -> str:
    sections = []
    for pair in range(pairs):
        sections.append(chromium_section("video", 2 * pair, direction))
        sections.append(chromium_section("audio", 2 * pair + 1, direction))
    return chromium_offer(*sections)


def test_a_chromium_publisher_offer_is_read_section_by_section() -> None:
    offer = parse(publisher())
    assert [(s.kind, s.mid, s.direction, s.simulcast) for s in offer.sections] == [
        ("audio", "0", "sendonly", False),
        ("video", "1", "sendonly", False),
    ]
    # Companions (rtx, red, ulpfec, CN, telephone-event) are no codec a stream is sent in;
    # H.264 is named with its profile and mode.
    assert offer.sections[0].codecs == ("opus", "G722", "PCMU", "PCMA")
    assert offer.sections[1].codecs == (
        "VP8",
        "H264 42001f mode 1",
        "H264 42e01f mode 1",
        "H264 4d001f mode 1",
        "VP9",
        "AV1",
    )
    assert offer.section("1") is offer.sections[1] and offer.section("7") is None


def test_the_session_level_direction_applies_to_sections_without_one() -> None:
    sdp = player().replace("a=recvonly\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
    assert {s.direction for s in parse(sdp).sections} == {"inactive"}
    assert {s.direction for s in parse(player().replace("a=recvonly\r\n", "")).media} == {
        "sendrecv"
    }


async def test_aiortc_offers_are_read_too() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    offer = parse(pc.localDescription.sdp)
    assert [(s.kind, s.direction) for s in offer.media] == [
        ("video", "sendonly"),
        ("audio", "sendonly"),
    ]
    assert "VP8" in offer.media[0].codecs and "opus" in offer.media[1].codecs
    check_publish(offer)


SIMULCAST = chromium_offer(
    chromium_section("audio", 0, "sendonly"),
    chromium_section("video", 1, "sendonly", rids=("q", "h", "f")),
)
LEGACY_SIMULCAST = publisher().replace(
    "a=ssrc-group:FID 1001 2001", "a=ssrc-group:SIM 1001 1003 1005\r\na=ssrc-group:FID 1001 2001"
)
DATA_ONLY = chromium_offer(
    [
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sctp-port:5000",
    ]
)


@pytest.mark.parametrize(
    ("sdp", "status", "code", "says"),
    [
        (publisher(), None, None, None),
        # Audio only, video only, and sendrecv (some WHIP clients offer it): served.
        (chromium_offer(chromium_section("audio", 0, "sendonly")), None, None, None),
        (chromium_offer(chromium_section("video", 0, "sendrecv")), None, None, None),
        # One section inactive among sending ones: the others are served.
        (
            chromium_offer(
                chromium_section("audio", 0, "inactive"), chromium_section("video", 1, "sendonly")
            ),
            None,
            None,
            None,
        ),
        (player(), 422, "not_sending", "recvonly"),
        (
            chromium_offer(
                chromium_section("audio", 0, "sendonly"), chromium_section("video", 1, "recvonly")
            ),
            422,
            "not_sending",
            "1 video section recvonly",
        ),
        (player(direction="inactive"), 422, "not_sending", "inactive"),
        (publisher(chromium_section("video", 2, "sendonly")), 422, "too_many_tracks", "2 video"),
        (publisher(chromium_section("audio", 2, "sendonly")), 422, "too_many_tracks", "2 audio"),
        (SIMULCAST, 422, "simulcast_unsupported", "simulcast is not supported yet"),
        (LEGACY_SIMULCAST, 422, "simulcast_unsupported", "simulcast is not supported yet"),
        (DATA_ONLY, 400, "invalid_offer", "no audio or video"),
        ("v=0\r\ns=-\r\n", 400, "invalid_offer", "no audio or video"),
    ],
)
def test_whip_offers(sdp: str, status: int | None, code: str | None, says: str | None) -> None:
    judged(lambda: check_publish(parse(sdp)), status, code, says)


def judged(
    check: Callable[[], None], status: int | None, code: str | None, says: str | None
) -> None:
    """`check` passes when `status` is None, else refuses with that status, code and words."""
    if status is None:
        check()
        return
    with pytest.raises(OfferError) as refused:
        check()
    assert (refused.value.status, refused.value.code) == (status, code)
    assert says is not None and says in refused.value.message


@pytest.mark.parametrize(
    ("sdp", "pairs", "status", "code", "says"),
    [
        (player(), 1, None, None, None),
        (player(), 2, None, None, None),
        # A hall's player: the program pair and the floor pair.
        (player(pairs=2), 2, None, None, None),
        (player(direction="sendrecv"), 2, None, None, None),
        (chromium_offer(chromium_section("video", 0, "recvonly")), 1, None, None, None),
        # The district hall's views carry one pair.
        (player(pairs=2), 1, 422, "too_many_tracks", "2 audio and 2 video sections"),
        (player(pairs=3), 2, 422, "too_many_tracks", "3 audio and 3 video sections"),
        (publisher(), 2, 422, "not_receiving", "sendonly"),
        (
            chromium_offer(
                chromium_section("video", 0, "recvonly"), chromium_section("audio", 1, "sendonly")
            ),
            2,
            422,
            "not_receiving",
            "1 audio section sendonly",
        ),
        (player(direction="inactive"), 2, 422, "not_receiving", "inactive"),
        (
            player().replace(
                "a=recvonly\r\na=msid", "a=recvonly\r\na=simulcast:recv q;h\r\na=msid", 1
            ),
            2,
            422,
            "simulcast_unsupported",
            "simulcast is not supported yet",
        ),
        (DATA_ONLY, 2, 400, "invalid_offer", "no audio or video"),
    ],
)
def test_whep_offers(
    sdp: str, pairs: int, status: int | None, code: str | None, says: str | None
) -> None:
    judged(lambda: check_subscribe(parse(sdp), pairs), status, code, says)


def test_codec_refusals_name_what_was_offered_and_what_is_taken() -> None:
    refused = codec_error("video", ("VP9", "AV1"))
    assert (refused.status, refused.code) == (422, "unsupported_codec")
    assert refused.message == "the offer's video codecs are VP9, AV1; the bridge takes VP8 or H.264"
    assert "codecs are none; the bridge takes Opus" in codec_error("audio", ()).message
    live = codec_error("video", ("VP8",), "H264 42e01f mode 1, the live codec")
    assert live.message.endswith("are VP8; the bridge takes H264 42e01f mode 1, the live codec")


def test_an_offer_aiortc_cannot_negotiate_is_named_by_its_first_unforwardable_track() -> None:
    vp9_only = {"98": ("VP9/90000", "profile-id=0")}
    offer = parse(
        chromium_offer(
            chromium_section("audio", 0, "sendonly"),
            chromium_section("video", 1, "sendonly", codecs=vp9_only),
        )
    )
    refused = first_codec_error(offer)
    assert (refused.status, refused.code) == (422, "unsupported_codec")
    assert refused.message == "the offer's video codecs are VP9; the bridge takes VP8 or H.264"
    # Every track has a forwardable name (aiortc refused for another reason): all are named.
    whole = first_codec_error(Offer((Section("video", "0", "sendonly", ("VP8",), False),)))
    assert "video: VP8" in whole.message and "VP8 or H.264 video and Opus audio" in whole.message


def test_the_bridge_raises_the_same_error() -> None:
    assert BridgeOfferError is OfferError


def test_static_payload_types_are_named_without_an_rtpmap() -> None:
    sdp = "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\na=mid:0\r\na=sendonly\r\n"
    (section,) = parse(sdp).sections
    assert section.codecs == ("PCMU", "PCMA")
    assert first_codec_error(parse(sdp)).message == (
        "the offer's audio codecs are PCMU, PCMA; the bridge takes Opus"
    )


# The transport checks, on offers captured from HeadlessChrome 156 and aiortc (tests/media/offers,
# candidates removed), and mutations of them: what aiortc took and then failed on in a background
# task (no fingerprint, md5 only), or answered with a traceback (a duplicate mid, m=text).

OFFERS = Path(__file__).parent / "offers"


def captured(name: str) -> str:
    # As bytes: read_text would turn the CRLF line ends into LF.
    return (OFFERS / f"{name}.sdp").read_bytes().decode("ascii")


def without_lines(sdp: str, pattern: str) -> str:
    return re.sub(rf"^{pattern}[^\r\n]*\r\n", "", sdp, flags=re.MULTILINE)


def only_fingerprint(sdp: str, algorithm: str, value: str) -> str:
    """Every a=fingerprint replaced by one line of `algorithm` per section."""
    sdp = without_lines(sdp, "a=fingerprint:")
    return sdp.replace("a=setup:", f"a=fingerprint:{algorithm} {value}\r\na=setup:")


SHA1 = ":".join(["AB"] * 20)
SHA256 = ":".join(["ab"] * 32)


@pytest.mark.parametrize("name", ["chromium_publisher", "aiortc_publisher"])
@pytest.mark.parametrize(
    ("mutate", "status", "code", "says"),
    [
        (lambda sdp: sdp, None, None, None),
        # Session level is as good as media level.
        (
            lambda sdp: without_lines(sdp, "a=fingerprint:").replace(
                "t=0 0\r\n", f"t=0 0\r\na=fingerprint:sha-256 {SHA256}\r\n"
            ),
            None,
            None,
            None,
        ),
        (lambda sdp: only_fingerprint(sdp, "sha-512", ":".join(["0F"] * 64)), None, None, None),
        (lambda sdp: only_fingerprint(sdp, "SHA-256", SHA256), None, None, None),
        # A missing direction line is sendrecv, which a WHIP publisher may offer.
        (lambda sdp: without_lines(sdp, "a=sendonly"), None, None, None),
        (lambda sdp: without_lines(sdp, "a=fingerprint:"), 400, "invalid_offer", "sha-256"),
        (
            lambda sdp: only_fingerprint(sdp, "md5", ":".join(["AB"] * 16)),
            400,
            "invalid_offer",
            "md5",
        ),
        (lambda sdp: only_fingerprint(sdp, "sha-1", SHA1), 400, "invalid_offer", "(sha-1)"),
        # The right name with a value no certificate can have (too short, not hex).
        (lambda sdp: only_fingerprint(sdp, "sha-256", SHA1), 400, "invalid_offer", "sha-256"),
        (
            lambda sdp: only_fingerprint(sdp, "sha-256", "zz"),
            400,
            "invalid_offer",
            "colon-separated",
        ),
        (lambda sdp: sdp.replace("a=mid:1", "a=mid:0"), 400, "invalid_offer", "share a mid: 0"),
        (
            lambda sdp: sdp.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 7"),
            400,
            "invalid_offer",
            "names mids no section has: 7",
        ),
        (
            lambda sdp: sdp.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0"),
            400,
            "invalid_offer",
            "1 is outside it",
        ),
        (
            lambda sdp: sdp.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0\r\na=group:BUNDLE 1"),
            400,
            "invalid_offer",
            "max-bundle",
        ),
        (lambda sdp: sdp.replace("m=video", "m=text"), 422, "unsupported_media", "m=text"),
        # Addresses aiortc keeps as text and fails on when it writes the offer out again.
        (
            lambda sdp: sdp.replace("c=IN IP4 0.0.0.0", "c=IN IP4 RTP/AVP", 1),
            400,
            "invalid_offer",
            "not an IP address",
        ),
        (
            lambda sdp: sdp.replace("c=IN IP4 0.0.0.0", "c=IN IP4", 1),
            400,
            "invalid_offer",
            "IN IP4 or IN IP6",
        ),
        (
            lambda sdp: sdp.replace("a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0", 1),
            400,
            "invalid_offer",
            "'a=rtcp:9 IN IP4 0' (not an IP address)",
        ),
        (
            lambda sdp: sdp.replace("a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp:x", 1),
            400,
            "invalid_offer",
            "the port must be a number",
        ),
        (lambda sdp: sdp.replace("c=IN IP4 0.0.0.0", "c=IN IP6 ::1", 1), None, None, None),
        (
            lambda sdp: sdp.replace("m=video 9 UDP/TLS/RTP/SAVPF", "m=application 9 RTP/AVP"),
            422,
            "unsupported_media",
            "m=application RTP/AVP",
        ),
    ],
)
def test_transport_checks_on_captured_offers(
    name: str,
    mutate: Callable[[str], str],
    status: int | None,
    code: str | None,
    says: str | None,
) -> None:
    sdp = mutate(captured(name))
    judged(lambda: check_publish(parse(sdp)), status, code, says)


@pytest.mark.parametrize("name", ["chromium_player", "aiortc_player"])
def test_players_are_checked_alike(name: str) -> None:
    sdp = captured(name)
    check_subscribe(parse(sdp), pairs=2)
    with pytest.raises(OfferError) as refused:
        check_subscribe(parse(without_lines(sdp, "a=fingerprint:")), pairs=2)
    assert (refused.value.status, refused.value.code) == (400, "invalid_offer")


def test_a_data_channel_beside_the_media_is_carried() -> None:
    data = [
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "a=mid:2",
        "a=sctp-port:5000",
    ]
    check_publish(parse(publisher(data)))


def test_a_section_without_a_direction_line_is_given_one() -> None:
    sdp = without_lines(captured("chromium_publisher"), "a=sendonly")
    filled = with_directions(sdp)
    assert [s.direction for s in parse(filled).sections] == ["sendrecv", "sendrecv"]
    assert filled.count("a=sendrecv\r\n") == 2
    # The session level's direction where there is one; sections that say theirs keep it.
    inactive = with_directions(
        player().replace("a=recvonly\r\n", "", 1).replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
    )
    assert [s.direction for s in parse(inactive).sections] == ["inactive", "recvonly"]
    assert with_directions(captured("aiortc_publisher")) == captured("aiortc_publisher")


async def test_the_bridge_answers_an_offer_without_direction_lines() -> None:
    bridge = Bridge()
    try:
        answer = await bridge.publish(
            "s", without_lines(captured("aiortc_publisher"), "a=sendonly")
        )
        assert "a=recvonly" in answer.sdp
    finally:
        await bridge.close()
