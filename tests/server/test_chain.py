"""The join log's hash chain, sans I/O: hashing, sealing, and finding the first fault."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from diemcau.server import chain
from diemcau.server.chain import GENESIS, Link, Seal, canonical, event_hash, seal_message, verify
from diemcau.server.sealkey import SealKey

KEY = SealKey(Ed25519PrivateKey.generate())
SESSION = "abc234defg"


def chained(events: list[dict[str, Any]]) -> list[Link]:
    links, prev = [], GENESIS
    for number, fields in enumerate(events, start=1):
        hash = event_hash(prev, fields)
        links.append(Link(f"event {number}", fields, prev, hash))
        prev = hash
    return links


def sealed(links: list[Link], key: SealKey = KEY) -> Seal:
    head = links[-1].hash if links else GENESIS
    assert head is not None
    return Seal(head, len(links), key.sign(seal_message(SESSION, head, len(links))))


def rechained(fields: list[dict[str, Any]]) -> list[Link]:
    return chained([dict(f) for f in fields])


def event(number: int, kind: str = "join", **extra: Any) -> dict[str, Any]:
    return {
        "ts": f"2025-03-01T01:{number // 60:02}:{number % 60:02}.000Z",
        "session": SESSION,
        "type": kind,
        "site": "nga-thanh",
        **extra,
    }


LOG = [event(0, "session_start"), event(1), event(2, "headcount", present=38), event(3, "leave")]


def check(links: list[Link], seal: Seal | None) -> chain.Finding:
    return verify(SESSION, links, seal, KEY.public.check)


def test_the_encoding_is_fixed() -> None:
    # Pinned: a change here breaks every chain already written (a new encoding is a new VERSION).
    fields = {"type": "join", "ts": "2025-03-01T01:00:00.000Z", "site": "xã-nga-thạnh", "n": 1}
    assert canonical({**fields, "chain": {"prev": "x"}}) == (
        '{"n":1,"site":"xã-nga-thạnh","ts":"2025-03-01T01:00:00.000Z","type":"join"}'.encode()
    )
    assert event_hash(GENESIS, fields) == event_hash(GENESIS, dict(reversed(fields.items())))
    assert len(event_hash(GENESIS, fields)) == 64


def test_an_intact_log_sealed_and_unsealed() -> None:
    links = chained(LOG)
    assert check(links, sealed(links)) == chain.Finding(
        True, "intact: 4 events chained, sealed and signed"
    )
    assert check(links, None).intact
    assert "not sealed" in check(links, None).message
    assert check([], sealed([])).intact


def test_a_changed_event_is_named() -> None:
    links = chained(LOG)
    links[2] = Link("event 3", {**links[2].fields, "present": 40}, links[2].prev, links[2].hash)
    finding = check(links, sealed(chained(LOG)))
    assert not finding.intact
    assert finding.index == 2
    assert finding.message == "event 3 was changed (its hash is not its own)"


def test_a_changed_event_rehashed_breaks_the_next_link() -> None:
    links = chained(LOG)
    fields = {**LOG[1], "site": "tan-loc"}
    links[1] = Link("event 2", fields, links[1].prev, event_hash(links[1].prev or "", fields))
    finding = check(links, sealed(chained(LOG)))
    assert (finding.intact, finding.index) == (False, 2)
    assert finding.message == "an event was removed just before event 3"


def test_a_removed_event() -> None:
    links = chained(LOG)
    del links[1]
    finding = check(links, sealed(chained(LOG)))
    assert (finding.intact, finding.index) == (False, 1)
    assert "removed just before event 3" in finding.message


def test_the_last_events_cut_off_are_found_by_the_seal() -> None:
    links = chained(LOG)
    finding = check(links[:2], sealed(links))
    assert (finding.intact, finding.index) == (False, 2)
    assert finding.message == "2 event(s) removed after event 2: the seal covers 4 events"


@pytest.mark.parametrize("prev_of_inserted", ["follows", "garbage"])
def test_an_inserted_event(prev_of_inserted: str) -> None:
    links = chained(LOG)
    extra = event(2, "join", site="tan-loc")
    prev = links[1].hash if prev_of_inserted == "follows" else "f" * 64
    assert prev is not None
    links.insert(2, Link("event X", extra, prev, event_hash(prev, extra)))
    finding = check(links, sealed(chained(LOG)))
    assert (finding.intact, finding.index) == (False, 2)
    assert finding.message == "event X was inserted"


def test_an_event_without_a_chain_is_inserted() -> None:
    links = chained(LOG)
    links.insert(1, Link("line 2", event(1), None, None))
    assert check(links, None) == chain.Finding(False, "line 2 carries no chain: inserted", 1)


def test_reordered_events() -> None:
    links = chained(LOG)
    links[1], links[2] = links[2], links[1]
    finding = check(links, sealed(chained(LOG)))
    assert (finding.intact, finding.index) == (False, 1)
    assert "out of its place" in finding.message


def test_events_after_the_seal() -> None:
    links = chained([*LOG, event(9, "leave")])
    finding = check(links, sealed(links[:4]))
    assert (finding.intact, finding.index) == (False, 4)
    assert "added after the seal" in finding.message


def test_a_chain_rewritten_and_resealed_without_the_key() -> None:
    forged = rechained([{**LOG[0]}, {**LOG[1], "site": "tan-loc"}, *LOG[2:]])
    other = SealKey(Ed25519PrivateKey.generate())
    finding = check(forged, sealed(forged, other))
    assert not finding.intact
    assert "not the server key's" in finding.message
    # Kept the server's seal instead: its head is not the rewritten chain's.
    finding = check(forged, sealed(chained(LOG)))
    assert finding.message == "the chain does not end at the sealed head: rewritten"


def test_a_signature_that_is_not_base64_is_refused() -> None:
    links = chained(LOG)
    seal = sealed(links)
    assert not check(links, Seal(seal.head, seal.length, "not base64!")).intact
    bad = base64.b64encode(b"\0" * 64).decode()
    assert not check(links, Seal(seal.head, seal.length, bad)).intact


fields_strategy = st.fixed_dictionaries(
    {
        "ts": st.sampled_from(["2025-03-01T01:00:00.000Z", "2025-03-01T02:30:00.123Z"]),
        "session": st.just(SESSION),
        "type": st.sampled_from(["join", "leave", "headcount", "attempt_failed"]),
    },
    optional={
        "site": st.text(min_size=1, max_size=8),
        "present": st.integers(0, 500),
        "reason": st.text(max_size=10),
    },
)


@st.composite
def tampered(draw: st.DrawFn) -> tuple[list[Link], Seal]:
    log = draw(st.lists(fields_strategy, min_size=1, max_size=12))
    links = chained(log)
    seal = sealed(links)
    how = draw(st.sampled_from(["change", "delete", "insert", "swap", "cut"]))
    at = draw(st.integers(0, len(links) - 1))
    if how == "change":
        fields = copy.deepcopy(dict(links[at].fields))
        fields["type"] = draw(
            st.sampled_from(["join", "leave", "checkin"]).filter(
                lambda kind: kind != links[at].fields["type"]
            )
        )
        rehash = draw(st.booleans())
        prev = links[at].prev or GENESIS
        links[at] = Link("x", fields, prev, event_hash(prev, fields) if rehash else links[at].hash)
    elif how == "delete":
        del links[at]
    elif how == "insert":
        fields = draw(fields_strategy)
        prev = draw(st.sampled_from([links[at].prev or GENESIS, "e" * 64]))
        links.insert(at, Link("x", fields, prev, event_hash(prev, fields)))
    elif how == "swap":
        other = draw(st.integers(0, len(links) - 1).filter(lambda i: i != at))
        if links[other].fields == links[at].fields:
            links.insert(at, links[at])  # two equal events: a duplicate is an insertion
        else:
            links[at], links[other] = links[other], links[at]
    else:
        links = links[:at]
    return links, seal


@settings(max_examples=300, deadline=None)
@given(tampered())
def test_any_single_tampering_is_found(case: tuple[list[Link], Seal]) -> None:
    links, seal = case
    assert not check(links, seal).intact


@settings(max_examples=100, deadline=None)
@given(st.lists(fields_strategy, max_size=12))
def test_any_untouched_log_is_intact(log: list[dict[str, Any]]) -> None:
    links = chained(log)
    assert check(links, sealed(links)).intact
