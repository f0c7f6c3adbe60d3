"""What an SDP offer asks for, judged before the bridge builds anything for it.

Sans-I/O: `parse` reads the offer's media sections (kind, direction, mid, codecs, simulcast,
transport), and `check_publish` / `check_subscribe` refuse, with an `OfferError` naming what the
bridge cannot serve, an offer it would only half serve: a publisher that sends nothing, more
tracks than the endpoint carries, simulcast, a player that sends; and an offer whose transport
aiortc would take and then fail on, later and out of sight (no usable DTLS fingerprint, mids
that clash, a BUNDLE group that does not match the sections, a kind it has no transceiver
for). Refused here, such an offer changes nothing; accepted, aiortc parses it again for real.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MEDIA_KINDS = ("audio", "video")
# The kinds aiortc makes something of: a transceiver, or (application) the data channel.
KNOWN_KINDS = (*MEDIA_KINDS, "application")
# The DTLS fingerprint hashes aiortc can check a certificate against, with their size in
# bytes; md5 and sha-1 (RFC 8122 allows them) would be taken and fail in the handshake.
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# What the bridge forwards, as people name it (media/codecs.py has the MIME types).
ACCEPTED = {"video": "VP8 or H.264", "audio": "Opus"}
# Not codecs a stream is sent in: repair and redundancy ride along with one.
_COMPANIONS = frozenset({"rtx", "red", "ulpfec", "flexfec-03", "telephone-event", "cn"})


# A well-formed fingerprint, for sections built by hand (tests) rather than parsed.
FINGERPRINT_PLACEHOLDER = "sha-256 " + ":".join(["00"] * 32)


class OfferError(Exception):
    """An offer the bridge cannot serve; the WHIP/WHEP layer answers with `status` (422 for
    what it understood and will not serve, 400 for what it could not read)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Section:
    """One m-line of the offer."""

    kind: str  # "audio", "video", "application", ...
    mid: str | None
    direction: str  # as the offerer sees it: "sendonly" means it sends
    codecs: tuple[str, ...]  # encoding names in offer order, H.264 with its profile
    simulcast: bool  # a=simulcast, a=rid or an SSRC group SIM
    protocol: str = "UDP/TLS/RTP/SAVPF"  # the m-line's third word
    # "algorithm value" of each a=fingerprint that applies (the session's, then its own).
    fingerprints: tuple[str, ...] = (FINGERPRINT_PLACEHOLDER,)


@dataclass(frozen=True)
class Offer:
    sections: tuple[Section, ...]
    bundles: tuple[tuple[str, ...], ...] = ()  # the mids of each a=group:BUNDLE
    # Lines aiortc takes and later fails to write back (it writes the offer out again when
    # asked for the remote description), with what is wrong with each.
    malformed: tuple[str, ...] = ()

    @property
    def media(self) -> tuple[Section, ...]:
        """The audio and video sections, in offer order."""
        return tuple(s for s in self.sections if s.kind in MEDIA_KINDS)

    def section(self, mid: str | None) -> Section | None:
        return next((s for s in self.sections if s.mid == mid), None)


# Static payload types an offer may use without an rtpmap line (RFC 3551).
_STATIC = {"0": "PCMU", "8": "PCMA", "9": "G722"}


@dataclass
class _Draft:
    """A media section while its lines are read."""

    kind: str
    formats: list[str]
    mid: str | None = None
    direction: str | None = None
    protocol: str = ""
    rtpmap: dict[str, str] = field(default_factory=dict)
    fmtp: dict[str, str] = field(default_factory=dict)
    simulcast: bool = False
    fingerprints: list[str] = field(default_factory=list)

    def section(self, session_direction: str, session_fingerprints: Sequence[str]) -> Section:
        names: list[str] = []
        for pt in self.formats:
            name = self.rtpmap.get(pt, _STATIC.get(pt))
            if name is None or name.lower() in _COMPANIONS:
                continue
            if name.lower() == "h264":
                name = _h264_label(self.fmtp.get(pt, ""))
            if name not in names:
                names.append(name)
        direction = self.direction or session_direction
        fingerprints = (*session_fingerprints, *self.fingerprints)
        return Section(
            self.kind,
            self.mid,
            direction,
            tuple(names),
            self.simulcast,
            self.protocol,
            fingerprints,
        )


def parse(sdp: str) -> Offer:
    """The media sections of an SDP body; lenient (aiortc parses it strictly afterwards)."""
    session_direction = "sendrecv"
    session_fingerprints: list[str] = []
    bundles: list[tuple[str, ...]] = []
    drafts: list[_Draft] = []
    malformed: list[str] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        problem = _address_problem(line)
        if problem is not None:
            malformed.append(f"{line[:60]!r} ({problem})")
        if line.startswith("m="):
            parts = line[2:].split()
            kind = parts[0].lower() if parts else ""
            drafts.append(_Draft(kind, parts[3:], protocol=" ".join(parts[2:3])))
            continue
        if not line.startswith("a="):
            continue
        name, _, value = line[2:].partition(":")
        if name == "fingerprint":
            (drafts[-1].fingerprints if drafts else session_fingerprints).append(value.strip())
            continue
        if not drafts:
            if name in DIRECTIONS:
                session_direction = name
            elif name == "group" and value.split()[:1] == ["BUNDLE"]:
                bundles.append(tuple(value.split()[1:]))
            continue
        current = drafts[-1]
        if name in DIRECTIONS:
            current.direction = name
        elif name == "mid":
            current.mid = value.strip()
        elif name == "rtpmap":
            pt, _, encoding = value.partition(" ")
            current.rtpmap[pt] = encoding.split("/")[0].strip()
        elif name == "fmtp":
            pt, _, parameters = value.partition(" ")
            current.fmtp[pt] = parameters
        elif name in ("simulcast", "rid") or (name == "ssrc-group" and value.startswith("SIM")):
            current.simulcast = True
    sections = tuple(d.section(session_direction, session_fingerprints) for d in drafts)
    return Offer(sections, tuple(bundles), tuple(malformed))


def _address_problem(line: str) -> str | None:
    """What is wrong with a c= or a=rtcp: line's address, as aiortc reads and writes it."""
    if line.startswith("c="):
        address = line[2:]
    elif line.startswith("a=rtcp:"):
        port, _, address = line[len("a=rtcp:") :].partition(" ")
        if not port.isdigit() or int(port) > 65535:
            return "the port must be a number up to 65535"
        if not address:
            return None
    else:
        return None
    words = address.split(" ")
    if len(words) != 3 or words[:2] not in (["IN", "IP4"], ["IN", "IP6"]):
        return "it must read IN IP4 or IN IP6 and an address"
    try:
        ipaddress.ip_address(words[2])
    except ValueError:
        return "not an IP address"
    return None


def with_directions(sdp: str) -> str:
    """The offer with a direction line in every media section: one without says sendrecv
    (RFC 4566), or what the session level says, as `parse` reads it; aiortc would answer
    such a section with a ValueError from deep inside createAnswer."""
    lines = sdp.splitlines()
    session_direction = next(
        (ln.strip()[2:] for ln in _session_lines(lines) if ln.strip()[2:] in DIRECTIONS),
        "sendrecv",
    )
    starts = [i for i, ln in enumerate(lines) if ln.strip().startswith("m=")]
    out = list(lines[: starts[0]] if starts else lines)
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        section = lines[start:end]
        out.append(section[0])
        if not any(ln.strip()[2:] in DIRECTIONS for ln in section if ln.strip().startswith("a=")):
            out.append(f"a={session_direction}")
        out.extend(section[1:])
    return "\r\n".join(out) + "\r\n"


def _session_lines(lines: Sequence[str]) -> list[str]:
    session = []
    for line in lines:
        if line.strip().startswith("m="):
            break
        session.append(line)
    return session


def _h264_label(parameters: str) -> str:
    values = dict(p.strip().partition("=")[::2] for p in parameters.split(";") if p.strip())
    return codec_label("H264", values)


def codec_label(name: str, parameters: Mapping[str, object]) -> str:
    """A codec as the messages name it; H.264 with what decides whether it can be forwarded:
    its profile-level-id and packetization mode."""
    if name.lower() != "h264":
        return name
    profile = str(parameters.get("profile-level-id", "420010")).lower()
    return f"H264 {profile} mode {parameters.get('packetization-mode', 0)}"


def check_publish(offer: Offer) -> None:
    """A WHIP offer (the program, or a hall's return feed): it must send, one audio and one
    video track at most, without simulcast."""
    media = _require_media(offer)
    check_transport(offer)
    _check_direction(media, "recvonly", "not_sending", "WHIP", "send", "a player offers to WHEP")
    _check_counts(media, 1, "a WHIP publisher sends at most one audio and one video track")
    _check_simulcast(media)


def check_subscribe(offer: Offer, pairs: int) -> None:
    """A WHEP offer: it must receive, `pairs` audio and video tracks at most (a hall's player:
    the program and the floor; the district hall's views: one), without simulcast."""
    media = _require_media(offer)
    check_transport(offer)
    _check_direction(
        media, "sendonly", "not_receiving", "WHEP", "receive", "a publisher offers to WHIP"
    )
    carries = "the program and the floor" if pairs == 2 else "one audio and one video track at most"
    _check_counts(media, pairs, f"this WHEP address carries {carries}")
    _check_simulcast(media)


def check_transport(offer: Offer) -> None:
    """What aiortc takes and then fails on, or answers with a traceback: a connection address
    that is none (400), sections of a kind it has no transceiver for (422), mids that clash,
    a BUNDLE group that names mids the offer lacks or leaves a section out (the bridge bundles
    everything on one transport), and a section without a DTLS fingerprint it can check
    (400)."""
    if offer.malformed:
        raise OfferError(
            400,
            "invalid_offer",
            "the offer has unreadable lines: " + "; ".join(offer.malformed[:3]),
        )
    unknown = [s for s in offer.sections if not _known_kind(s)]
    if unknown:
        what = ", ".join(sorted({f"m={s.kind or '?'} {s.protocol}".strip() for s in unknown}))
        raise OfferError(
            422,
            "unsupported_media",
            f"the offer has a media section the bridge does not carry ({what}); it takes "
            "audio, video and a WebRTC data channel (m=application over UDP/DTLS/SCTP)",
        )
    mids = [s.mid for s in offer.sections]
    clashing = sorted(m for m, n in Counter(mids).items() if m is not None and n > 1)
    if clashing:
        raise OfferError(
            400, "invalid_offer", f"the offer's media sections share a mid: {', '.join(clashing)}"
        )
    for group in offer.bundles:
        absent = [m for m in group if m not in mids]
        if absent:
            raise OfferError(
                400,
                "invalid_offer",
                f"the offer's BUNDLE group names mids no section has: {', '.join(absent)}",
            )
    if offer.bundles:
        bundled = {m for group in offer.bundles for m in group}
        outside = [m for m in mids if m not in bundled]
        if outside or len(offer.bundles) > 1:
            raise OfferError(
                400,
                "invalid_offer",
                "the bridge bundles every media section on one transport (max-bundle): "
                "one a=group:BUNDLE must name them all"
                + (
                    f"; {', '.join(m or 'a section without a=mid' for m in outside)} is outside it"
                    if outside
                    else ""
                ),
            )
    for section in offer.sections:
        _check_fingerprints(section)


def _known_kind(section: Section) -> bool:
    if section.kind == "application":
        return "SCTP" in section.protocol.upper()
    return section.kind in MEDIA_KINDS


def _check_fingerprints(section: Section) -> None:
    if any(_usable_fingerprint(f) for f in section.fingerprints):
        return
    where = f"media section {section.mid}"
    if not section.fingerprints:
        raise OfferError(
            400,
            "invalid_offer",
            f"the offer has no DTLS fingerprint for {where}: a=fingerprint:sha-256 (or sha-384, "
            "sha-512) is required, at the session or the media level",
        )
    named = ", ".join(dict.fromkeys(f.split(" ")[0] or "?" for f in section.fingerprints))
    raise OfferError(
        400,
        "invalid_offer",
        f"the offer's DTLS fingerprints for {where} ({named}) are none the bridge can check: "
        "it needs sha-256, sha-384 or sha-512 as colon-separated hex",
    )


def _usable_fingerprint(fingerprint: str) -> bool:
    parts = fingerprint.split()
    if len(parts) != 2:  # aiortc unpacks exactly two words, a ValueError otherwise
        return False
    size = FINGERPRINT_BYTES.get(parts[0].lower())
    octets = parts[1].split(":")
    return (
        size is not None
        and len(octets) == size
        and all(len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets)
    )


def _check_direction(
    media: Sequence[Section], wrong: str, code: str, protocol: str, verb: str, hint: str
) -> None:
    """No section may go the `wrong` way, and one at least must not be inactive."""
    backwards = [s for s in media if s.direction == wrong]
    if backwards:
        raise OfferError(
            422,
            code,
            f"a {protocol} offer must {verb} its media; this one has {_count(backwards)} "
            f"{wrong} ({hint})",
        )
    if all(s.direction == "inactive" for s in media):
        raise OfferError(
            422, code, f"every media section of the offer is inactive: nothing to {verb}"
        )


def codec_error(kind: str, offered: Sequence[str], accepted: str | None = None) -> OfferError:
    """The refusal of a track whose codecs are none the bridge can serve it: it names the
    codecs offered and those it would take (`accepted`: by default what it forwards)."""
    wanted = accepted or ACCEPTED.get(kind, "no codec")
    names = ", ".join(offered) if offered else "none"
    return OfferError(
        422,
        "unsupported_codec",
        f"the offer's {kind} codecs are {names}; the bridge takes {wanted}",
    )


def first_codec_error(offer: Offer) -> OfferError:
    """The refusal of an offer aiortc could not negotiate: its first track without a codec
    the bridge forwards, or else the whole of what it offered."""
    for section in offer.media:
        if not _forwards_any(section):
            return codec_error(section.kind, section.codecs)
    offered = "; ".join(f"{s.kind}: {', '.join(s.codecs) or 'none'}" for s in offer.media)
    return OfferError(
        422,
        "unsupported_codec",
        f"the offer's codecs ({offered}) cannot be negotiated: the bridge takes "
        f"{ACCEPTED['video']} video and {ACCEPTED['audio']} audio",
    )


def _forwards_any(section: Section) -> bool:
    if section.kind == "audio":
        return any(c.lower() == "opus" for c in section.codecs)
    return any(c.lower() == "vp8" or c.lower().startswith("h264") for c in section.codecs)


def _require_media(offer: Offer) -> tuple[Section, ...]:
    media = offer.media
    if not media:
        raise OfferError(400, "invalid_offer", "the offer has no audio or video")
    return media


def _check_counts(media: Sequence[Section], most: int, rule: str) -> None:
    kinds = [s.kind for s in media]
    over = [f"{kinds.count(k)} {k}" for k in MEDIA_KINDS if kinds.count(k) > most]
    if over:
        raise OfferError(
            422, "too_many_tracks", f"the offer has {' and '.join(over)} sections, and {rule}"
        )


def _check_simulcast(media: Sequence[Section]) -> None:
    layered = [s for s in media if s.simulcast]
    if layered:
        mids = ", ".join(s.mid or "?" for s in layered)
        raise OfferError(
            422,
            "simulcast_unsupported",
            f"simulcast is not supported yet (media section {mids}): send one encoding",
        )


def _count(sections: Sequence[Section]) -> str:
    kinds = [s.kind for s in sections]
    return " and ".join(
        f"{kinds.count(k)} {k} section{'s' if kinds.count(k) > 1 else ''}"
        for k in dict.fromkeys(kinds)
    )
