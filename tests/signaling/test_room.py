"""The meeting room's rules, as tables of moves and what follows from them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from diemcau.signaling.room import (
    HOST,
    FloorChanged,
    MuteChanged,
    Presence,
    RequestsChanged,
    Room,
    RoomError,
)

SITES = {"nga-thanh", "nga-hai", "nga-dien"}
A, B, C = "nga-thanh", "nga-hai", "nga-dien"


def room_with(*present: str) -> Room:
    room = Room(SITES)
    room.connect(HOST, "h1", 0)
    for site in present:
        room.connect(site, f"{site}-1", 0)
    return room


Move = Callable[[Room], object]

ILLEGAL: list[tuple[str, tuple[str, ...], Move, str]] = [
    (
        "request twice",
        (A,),
        lambda r: (r.request_floor(A, 1), r.request_floor(A, 2)),
        "already_requested",
    ),
    ("request while holding", (A,), lambda r: (r.grant(A, 1), r.request_floor(A, 2)), "has_floor"),
    ("request while absent", (), lambda r: r.request_floor(A, 1), "not_present"),
    ("an uninvited site asks", (), lambda r: r.request_floor("xyz", 1), "not_invited"),
    ("the host asks", (), lambda r: r.request_floor(HOST, 1), "not_invited"),
    ("grant to an absent site", (A,), lambda r: r.grant(B, 1), "not_present"),
    ("grant to the holder again", (A,), lambda r: (r.grant(A, 1), r.grant(A, 2)), "has_floor"),
    ("take back an empty floor", (A,), lambda r: r.take_back(1), "no_floor"),
    ("cancel a request never made", (A,), lambda r: r.cancel_request(A, 1), "no_request"),
    (
        "a removed site reconnects",
        (A,),
        lambda r: (r.remove(A, 1), r.connect(A, "a-2", 2)),
        "removed",
    ),
    ("remove twice", (A,), lambda r: (r.remove(A, 1), r.remove(A, 2)), "removed"),
    ("a removed site asks", (A,), lambda r: (r.remove(A, 1), r.request_floor(A, 2)), "removed"),
    ("same connection twice", (A,), lambda r: r.connect(A, f"{A}-1", 1), "duplicate_connection"),
    ("negative headcount", (A,), lambda r: r.report_headcount(A, -1, 1), "invalid_headcount"),
    (
        "one connection over the cap",
        (A,),
        lambda r: [r.connect(A, f"{A}-extra-{n}", 1) for n in range(r.max_connections)],
        "too_many_connections",
    ),
]


@pytest.mark.parametrize(("case", "present", "move", "code"), ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_illegal_moves_raise(case: str, present: tuple[str, ...], move: Move, code: str) -> None:
    room = room_with(*present)
    with pytest.raises(RoomError) as error:
        move(room)
    assert error.value.code == code


def test_requests_queue_in_order_and_grant_takes_one_out() -> None:
    room = room_with(A, B, C)
    room.request_floor(B, 1)
    room.request_floor(A, 2)
    room.request_floor(C, 3)
    assert room.requests == [B, A, C]
    events = room.grant(A, 4)
    assert events == [RequestsChanged((B, C), 4), FloorChanged(A, None, 4)]
    assert room.floor == A


def test_grant_while_another_holds_moves_the_floor() -> None:
    room = room_with(A, B)
    room.grant(A, 1)
    assert room.grant(B, 2) == [FloorChanged(B, A, 2)]
    assert room.take_back(3) == [FloorChanged(None, B, 3)]
    assert room.floor is None


def test_a_requester_that_leaves_withdraws_its_request() -> None:
    room = room_with(A, B)
    room.request_floor(A, 1)
    room.request_floor(B, 2)
    events = room.disconnect(A, f"{A}-1", 3)
    assert events == [Presence(A, False, 3), RequestsChanged((B,), 3)]


def test_the_holder_that_leaves_gives_the_floor_back() -> None:
    room = room_with(A)
    room.grant(A, 1)
    assert room.disconnect(A, f"{A}-1", 2) == [Presence(A, False, 2), FloorChanged(None, A, 2)]


def test_a_site_with_two_connections_stays_until_the_last_closes() -> None:
    room = room_with(A)
    assert room.connect(A, "second", 1) == []  # a second browser in the hall: no change
    room.request_floor(A, 2)
    assert room.disconnect(A, f"{A}-1", 3) == []
    assert room.requests == [A] and room.present(A)
    assert room.disconnect(A, "second", 4)[0] == Presence(A, False, 4)
    assert room.disconnect(A, "second", 5) == []  # closing twice is harmless


def test_the_host_reconnects_and_the_floor_stays() -> None:
    room = room_with(A)
    room.grant(A, 1)
    assert room.disconnect(HOST, "h1", 2) == [Presence(HOST, False, 2)]
    assert room.connect(HOST, "h2", 3) == [Presence(HOST, True, 3)]
    assert room.floor == A


def test_removing_a_site_clears_its_request_floor_and_presence() -> None:
    room = room_with(A, B)
    room.grant(A, 1)
    room.request_floor(B, 2)
    events = room.remove(A, 3)
    assert FloorChanged(None, A, 3) in events and Presence(A, False, 3) in events
    assert room.floor is None and not room.present(A) and room.requests == [B]
    assert room.snapshot()["removed"] == [A]


def test_mute_is_idempotent_and_a_grant_lifts_it() -> None:
    room = room_with(A)
    assert room.mute(A, True, 1) == [MuteChanged(A, True, 1)]
    assert room.mute(A, True, 2) == []
    assert MuteChanged(A, False, 3) in room.grant(A, 3)


def test_snapshot_for_a_newcomer() -> None:
    room = room_with(A, B)
    room.request_floor(B, 1)
    room.grant(A, 2)
    room.report_headcount(A, 42, 3)
    assert room.snapshot() == {
        "present": sorted([HOST, A, B]),
        "requests": [B],
        "floor": A,
        "muted": [],
        "removed": [],
        "headcounts": {A: 42},
    }


def test_a_participant_over_its_connection_cap_gets_in_once_one_closes() -> None:
    room = Room(SITES, max_connections=2)
    room.connect(A, "a-1", 0)
    room.connect(A, "a-2", 0)
    with pytest.raises(RoomError) as error:
        room.connect(A, "a-3", 1)
    assert error.value.code == "too_many_connections"
    # A cap per participant: the others and the host are not counted with it.
    assert room.connect(B, "b-1", 1) == [Presence(B, True, 1)]
    room.connect(HOST, "h-1", 1)
    room.connect(HOST, "h-2", 1)
    assert room.disconnect(A, "a-1", 2) == []  # still present by a-2
    assert room.connect(A, "a-3", 3) == []
    assert room.present(A)
