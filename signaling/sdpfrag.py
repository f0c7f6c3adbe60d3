"""Trickle ICE SDP fragments (RFC 8840, `application/trickle-ice-sdpfrag`), as WHIP and WHEP
PATCH them (RFC 9725 section 4.3): parsed and checked, and the server's answer to an ICE restart.

Sans-I/O: text in, a `Fragment` or a ValueError with a message out. A fragment is a few lines
of SDP without the session header (no `v=`): ICE credentials and options at session level or in
a media section, and media sections (`m=` with `a=mid`) carrying `a=candidate` lines and
`a=end-of-candidates`:

    a=ice-ufrag:EsAw
    a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
    m=audio 9 UDP/TLS/RTP/SAVPF 0
    a=mid:0
    a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host
    a=end-of-candidates
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

MEDIA_TYPE = "application/trickle-ice-sdpfrag"

# RFC 8839 section 5.4: ice-char = ALPHA / DIGIT / "+" / "/"
_UFRAG = re.compile(r"[A-Za-z0-9+/]{4,256}")
_PWD = re.compile(r"[A-Za-z0-9+/]{22,256}")
# RFC 8839 section 5.1's candidate-attribute, the parts the bridge uses checked strictly.
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`{|}~A-Za-z0-9]+")
_ADDRESS = re.compile(r"[A-Za-z0-9.:\-]{1,255}")
# RFC 5888's identification-tag is an SDP token.
_MID = re.compile(r"[!#$%&'*+\-.^_`{|}~A-Za-z0-9]{1,64}")
_MEDIA = re.compile(r"[a-z]+ \d{1,5}(/\d+)? [A-Za-z0-9/_.\-]+( [A-Za-z0-9*]+)+")
# Attributes an offer or answer may repeat in a fragment, and that mean nothing more here.
_IGNORED = ("group:", "ice-lite", "fingerprint:", "setup:", "ice-pacing:")


@dataclass(frozen=True)
class Fragment:
    """What a PATCH says about the peer's ICE: its credentials (both or neither), its candidates
    as (mid, "candidate:...") pairs in order, whether its gathering is over, its ICE options."""

    ufrag: str | None
    pwd: str | None
    candidates: tuple[tuple[str, str], ...]
    end: bool
    ice_options: tuple[str, ...] = ()

    @property
    def has_credentials(self) -> bool:
        return self.ufrag is not None


def parse(body: str, mids: Collection[str] | None = None) -> Fragment:
    """The fragment in `body`; `mids`, when given, the media sections the resource's session has
    (a candidate for another is refused). Raises ValueError, and only ValueError, saying what is
    wrong."""
    if body.startswith("v="):
        raise ValueError("the body is a whole SDP description, not a trickle ICE fragment")
    ufrags: set[str] = set()
    pwds: set[str] = set()
    options: list[str] = []
    candidates: list[tuple[str, str]] = []
    end = False
    mid: str | None = None  # of the media section being read
    in_media = False
    seen_mids: set[str] = set()
    for number, line in enumerate(_lines(body), start=1):
        where = f"line {number}"
        if line.startswith("m="):
            if in_media and mid is None:
                raise ValueError(f"{where}: the media section before it has no a=mid")
            if not _MEDIA.fullmatch(line[2:]):
                raise ValueError(f"{where}: not an SDP media line: {_shown(line)}")
            in_media, mid = True, None
            continue
        if line.startswith("c=") and in_media:
            continue  # a connection line is valid in a media section, and says nothing here
        if not line.startswith("a="):
            raise ValueError(
                f"{where}: a trickle ICE fragment has only a= and m= lines, not {_shown(line)}"
            )
        name, _, value = line[2:].partition(":")
        if name == "mid":
            if not in_media or mid is not None:
                raise ValueError(f"{where}: a=mid belongs once in each media section")
            if not _MID.fullmatch(value):
                raise ValueError(f"{where}: not a media identification tag: {_shown(value)}")
            if value in seen_mids:
                raise ValueError(f"{where}: the fragment names mid {value!r} twice")
            if mids is not None and value not in mids:
                raise ValueError(f"{where}: the session has no media section with mid {value!r}")
            mid = value
            seen_mids.add(value)
        elif name == "ice-ufrag":
            if not _UFRAG.fullmatch(value):
                raise ValueError(f"{where}: an ICE ufrag is 4 to 256 of A-Z a-z 0-9 + /")
            ufrags.add(value)
        elif name == "ice-pwd":
            if not _PWD.fullmatch(value):
                raise ValueError(f"{where}: an ICE password is 22 to 256 of A-Z a-z 0-9 + /")
            pwds.add(value)
        elif name == "ice-options":
            tokens = value.split(" ")
            if not all(_TOKEN.fullmatch(token) for token in tokens):
                raise ValueError(f"{where}: not a list of ICE options: {_shown(value)}")
            options += [token for token in tokens if token not in options]
        elif name == "candidate":
            if not in_media or mid is None:
                raise ValueError(f"{where}: a candidate belongs in a media section, after a=mid")
            candidates.append((mid, check_candidate(line[2:], where)))
        elif name == "end-of-candidates":
            if value or ":" in line:
                raise ValueError(f"{where}: a=end-of-candidates takes no value")
            end = True
        elif not line[2:].startswith(_IGNORED):
            raise ValueError(f"{where}: not an attribute of a trickle ICE fragment: {_shown(line)}")
    if in_media and mid is None:
        raise ValueError("the last media section has no a=mid")
    if len(ufrags) > 1 or len(pwds) > 1:
        raise ValueError("the fragment gives more than one set of ICE credentials")
    if len(ufrags) != len(pwds):
        raise ValueError("the fragment gives an ICE ufrag without a password, or the reverse")
    ufrag = next(iter(ufrags), None)
    if not (ufrag or candidates or end):
        raise ValueError("the fragment has no ICE credentials, candidates or end-of-candidates")
    return Fragment(
        ufrag=ufrag,
        pwd=next(iter(pwds), None),
        candidates=tuple(candidates),
        end=end,
        ice_options=tuple(options),
    )


def check_candidate(value: str, where: str = "the candidate") -> str:
    """`value`, a "candidate:..." attribute value (RFC 8839 section 5.1), if it is one; else a
    ValueError."""
    fields = value.removeprefix("candidate:").split(" ")
    if not value.startswith("candidate:") or len(fields) < 8 or fields[6] != "typ":
        raise ValueError(f"{where}: not an ICE candidate: {_shown(value)}")
    foundation, component, transport, priority, address, port, _, kind, *rest = fields
    problems = [
        ("foundation", _FOUNDATION.fullmatch(foundation)),
        ("component", component.isascii() and component.isdigit() and len(component) <= 5),
        ("transport", _TOKEN.fullmatch(transport)),
        ("priority", priority.isascii() and priority.isdigit() and len(priority) <= 10),
        ("address", _ADDRESS.fullmatch(address)),
        ("port", _port(port)),
        ("type", _TOKEN.fullmatch(kind)),
        ("extensions", len(rest) % 2 == 0 and all(rest)),
    ]
    for name, ok in problems:
        if not ok:
            raise ValueError(f"{where}: the candidate's {name} is wrong: {_shown(value)}")
    for key, item in zip(rest[::2], rest[1::2], strict=True):
        wrong = (key == "raddr" and not _ADDRESS.fullmatch(item)) or (
            key == "rport" and not _port(item)
        )
        if wrong:
            raise ValueError(f"{where}: the candidate's {key} is wrong: {_shown(value)}")
    return value


def answer(ufrag: str, pwd: str, mid: str, candidates: Iterable[str]) -> str:
    """The server's fragment after an ICE restart (RFC 9725 section 4.3.2): its new credentials
    and all of its candidates ("candidate:..." values), in the bundle's first media section."""
    lines = [
        f"a=group:BUNDLE {mid}",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        f"a=mid:{mid}",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        *(f"a={candidate}" for candidate in candidates),
        "a=end-of-candidates",
    ]
    return "\r\n".join(lines) + "\r\n"


def _lines(body: str) -> list[str]:
    lines = body.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError("the trickle ICE fragment is empty")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise ValueError(f"line {number} is empty")
        if not line.isprintable() or not line.isascii():
            raise ValueError(f"line {number} has characters that are not printable ASCII")
    return lines


def _port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
