"""What an SDP offer asks for, judged before the bridge builds anything for it.

Sans-I/O: `parse` reads the offer's media sections (kind, direction, mid, codecs, simulcast),
and `check_publish` / `check_subscribe` refuse, with an `OfferError` naming what the bridge
cannot serve, an offer it would only half serve: a publisher that sends nothing, more tracks
than the endpoint carries, simulcast, a player that sends. Refused here, such an offer changes
nothing; accepted, aiortc parses it again for real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MEDIA_KINDS = ("audio", "video")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# What the bridge forwards, as people name it (media/codecs.py has the MIME types).
ACCEPTED = {"video": "VP8 or H.264", "audio": "Opus"}
# Not codecs a stream is sent in: repair and redundancy ride along with one.
_COMPANIONS = frozenset({"rtx", "red", "ulpfec", "flexfec-03", "telephone-event", "cn"})


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


@dataclass(frozen=True)
class Offer:
    sections: tuple[Section, ...]

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
    rtpmap: dict[str, str] = field(default_factory=dict)
    fmtp: dict[str, str] = field(default_factory=dict)
    simulcast: bool = False

    def section(self, session_direction: str) -> Section:
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
        return Section(self.kind, self.mid, direction, tuple(names), self.simulcast)


def parse(sdp: str) -> Offer:
    """The media sections of an SDP body; lenient (aiortc parses it strictly afterwards)."""
    session_direction = "sendrecv"
    drafts: list[_Draft] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            drafts.append(_Draft(parts[0].lower() if parts else "", parts[3:]))
            continue
        if not line.startswith("a="):
            continue
        name, _, value = line[2:].partition(":")
        if not drafts:
            if name in DIRECTIONS:
                session_direction = name
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
    return Offer(tuple(d.section(session_direction) for d in drafts))


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
    _check_direction(media, "recvonly", "not_sending", "WHIP", "send", "a player offers to WHEP")
    _check_counts(media, 1, "a WHIP publisher sends at most one audio and one video track")
    _check_simulcast(media)


def check_subscribe(offer: Offer, pairs: int) -> None:
    """A WHEP offer: it must receive, `pairs` audio and video tracks at most (a hall's player:
    the program and the floor; the district hall's views: one), without simulcast."""
    media = _require_media(offer)
    _check_direction(
        media, "sendonly", "not_receiving", "WHEP", "receive", "a publisher offers to WHIP"
    )
    carries = "the program and the floor" if pairs == 2 else "one audio and one video track at most"
    _check_counts(media, pairs, f"this WHEP address carries {carries}")
    _check_simulcast(media)


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
