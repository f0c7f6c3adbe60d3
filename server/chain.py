"""The join log's hash chain: each event of a session carries the hash of the one before.

Sans-I/O: hashing an event, sealing a chain's head, and verifying a log. The store writes the
chain (server/store.py), `diemcau verify` reads it (server/verifycli.py); docs/attendance.md
describes the encoding, which stays as it is across versions (a new one gets a new `VERSION`).

An event is hashed as it is exported (server/joinlog.py `to_json`, the `chain` key left out):

    hash = SHA-256( prev + "\\n" + canonical(event) )   as lowercase hex
    canonical(event) = JSON, UTF-8, keys sorted, no spaces, non-ASCII kept as is

with `prev` the hash of the session's event before it, and `GENESIS` for its first. A hall's
address is hashed as the export shows it (its last part masked): the export alone can then be
verified, and the part it hides is the one part of an event the chain does not cover.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VERSION = 1
GENESIS = "0" * 64
# The key of an exported line that holds the chain itself; never part of what is hashed.
CHAIN_KEY = "chain"


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes an event is hashed as: its exported fields but the chain's."""
    fields = {key: value for key, value in event.items() if key != CHAIN_KEY}
    return json.dumps(
        fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def event_hash(prev: str, event: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev.encode("ascii") + b"\n" + canonical(event)).hexdigest()


def seal_message(session_id: str, head: str, length: int) -> bytes:
    """What the server's key signs when it seals a session's chain: its head after `length`
    events."""
    return canonical(
        {"chain": None, "v": VERSION, "session": session_id, "head": head, "length": length}
    )


@dataclass(frozen=True)
class Seal:
    head: str
    length: int
    signature: str  # base64 of the Ed25519 signature of seal_message


def carried_seal(line: Mapping[str, Any]) -> Seal | None:
    """The seal an export carries on its last line (server/joinlog.py), as it says it: `verify`
    is what checks it. None when that line carries none, or one not whole."""
    link = line.get(CHAIN_KEY)
    sealed = link.get("seal") if isinstance(link, Mapping) else None
    if not isinstance(sealed, Mapping):
        return None
    head, length, signature = (sealed.get(k) for k in ("head", "length", "signature"))
    if isinstance(head, str) and type(length) is int and isinstance(signature, str):
        return Seal(head, length, signature)
    return None


@dataclass(frozen=True)
class Link:
    """One event of a log as read back: its exported fields, and the chain it says it has."""

    label: str  # how a person finds it: "event 12 (seq 345, join at ...)"
    fields: Mapping[str, Any]
    prev: str | None
    hash: str | None


@dataclass(frozen=True)
class Finding:
    intact: bool
    message: str
    index: int | None = None  # the first event at fault, 0-based, or None


def verify(
    session_id: str,
    links: Sequence[Link],
    seal: Seal | None,
    check_signature: Any = None,
) -> Finding:
    """Whether a session's log is whole: each event's hash is its own, each follows the one
    before, and the sealed head (if sealed) is the last event's, signed by the key
    (`check_signature(message, signature) -> bool`). The first fault found is named."""
    known = {link.hash: index for index, link in enumerate(links) if link.hash}
    expected_prev = GENESIS
    for index, link in enumerate(links):
        if link.prev is None or link.hash is None:
            return Finding(False, f"{link.label} carries no chain: inserted", index)
        if link.hash != event_hash(link.prev, link.fields):
            return Finding(False, f"{link.label} was changed (its hash is not its own)", index)
        if link.prev != expected_prev:
            return _broken_link(links, index, known, expected_prev)
        expected_prev = link.hash
    if seal is None and any(link.fields.get("type") == "session_end" for link in links):
        return Finding(False, "the session ended but no seal came with it: cut or stripped")
    if seal is None:
        return Finding(True, f"intact: {len(links)} events chained, not sealed (session not ended)")
    if check_signature is not None and not check_signature(
        seal_message(session_id, seal.head, seal.length), seal.signature
    ):
        return Finding(False, "the seal's signature is not the server key's: resealed or forged")
    if len(links) < seal.length:
        after = links[-1].label if links else "the start"
        return Finding(
            False,
            f"{seal.length - len(links)} event(s) removed after {after}: the seal covers "
            f"{seal.length} events",
            len(links),
        )
    if _hash_before(links, seal.length) != seal.head:
        return Finding(False, "the chain does not end at the sealed head: rewritten", None)
    if len(links) > seal.length:
        extra = len(links) - seal.length
        return Finding(
            False,
            f"{links[seal.length].label} and {extra - 1} after it were added after the seal",
            seal.length,
        )
    return Finding(True, f"intact: {len(links)} events chained, sealed and signed")


def _hash_before(links: Sequence[Link], index: int) -> str | None:
    """The hash the event at `index` should follow."""
    return GENESIS if index <= 0 else links[index - 1].hash


def _broken_link(
    links: Sequence[Link], index: int, known: Mapping[str, int], expected_prev: str
) -> Finding:
    link = links[index]
    # It follows the event two before it: the one between was put in.
    if index >= 1 and link.prev == _hash_before(links, index - 1):
        return Finding(False, f"{links[index - 1].label} was inserted", index - 1)
    # Its predecessor is elsewhere in the log: moved.
    if link.prev in known or link.prev == GENESIS:
        return Finding(False, f"{link.label} is out of its place (reordered)", index)
    # The next event follows the one before this: this one was put in between.
    following = links[index + 1] if index + 1 < len(links) else None
    if following is not None and following.prev == expected_prev:
        return Finding(False, f"{link.label} was inserted", index)
    return Finding(False, f"an event was removed just before {link.label}", index)
