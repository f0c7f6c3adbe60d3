"""The routing table: who carries which publisher track, as tables of cases; no network."""

from __future__ import annotations

import pytest

from diemcau.media.routing import FLOOR, HOST, PROGRAM, UPLINK, Routing, Seat, Source, slots

A, B = "nga-thanh", "tan-loc"
AV = ("audio", "video")


def table(
    floor: str | None = None, muted: tuple[str, ...] = (), program: bool = True
) -> Routing[str]:
    """The program held by "prog"; halls A and B sending their return feeds ("up-A", "up-B")."""
    routing: Routing[str] = Routing()
    if program:
        routing.hold(None, "prog", AV)
    routing.hold(A, "up-A", AV)
    routing.hold(B, "up-B", AV)
    routing.set_floor(floor)
    for site in muted:
        routing.set_muted(site, True)
    return routing


@pytest.mark.parametrize(
    ("seat", "floor", "muted", "carries"),
    [
        # A hall's player: the program, whoever has the floor.
        (Seat(A, "video", PROGRAM), None, (), Source("prog", "video")),
        (Seat(A, "audio", PROGRAM), B, (B,), Source("prog", "audio")),
        # The floor slot: nobody speaks; another speaks; the speaker does not receive itself.
        (Seat(A, "video", FLOOR), None, (), None),
        (Seat(A, "video", FLOOR), B, (), Source("up-B", "video")),
        (Seat(A, "audio", FLOOR), B, (), Source("up-B", "audio")),
        (Seat(B, "video", FLOOR), B, (), None),
        (Seat(B, "audio", FLOOR), B, (), None),
        # A muted speaker is seen and not heard; a muted hall without the floor changes nothing.
        (Seat(A, "audio", FLOOR), B, (B,), None),
        (Seat(A, "video", FLOOR), B, (B,), Source("up-B", "video")),
        (Seat(A, "audio", FLOOR), B, (A,), Source("up-B", "audio")),
        # The district hall's floor view and mosaic tiles: pictures only for a tile.
        (Seat(HOST, "audio", FLOOR), A, (), Source("up-A", "audio")),
        (Seat(HOST, "video", UPLINK, watches=B), None, (), Source("up-B", "video")),
        (Seat(HOST, "audio", UPLINK, watches=B), A, (), None),
        (Seat(HOST, "video", UPLINK, watches="nobody"), None, (), None),
        # A floor given to a hall that sends nothing: nothing to carry.
        (Seat(A, "video", FLOOR), "hoa-binh", (), None),
    ],
)
def test_source_for(
    seat: Seat, floor: str | None, muted: tuple[str, ...], carries: Source | None
) -> None:
    assert table(floor, muted).source_for(seat) == carries


def test_nothing_before_a_publisher_holds_the_program_nor_of_a_kind_it_cannot_forward() -> None:
    routing = table(program=False)
    assert routing.source_for(Seat(A, "video", PROGRAM)) is None
    routing.hold(None, "prog", ["audio"])  # its video codec is not known yet
    assert routing.source_for(Seat(A, "video", PROGRAM)) is None
    assert routing.source_for(Seat(A, "audio", PROGRAM)) == Source("prog", "audio")


@pytest.mark.parametrize(
    ("site", "watches", "kinds", "expected"),
    [
        (A, None, ["audio", "video"], [PROGRAM, PROGRAM]),
        (A, None, ["video", "audio", "video", "audio"], [PROGRAM, PROGRAM, FLOOR, FLOOR]),
        (A, None, ["video", "video"], [PROGRAM, FLOOR]),
        (HOST, None, ["audio", "video"], [FLOOR, FLOOR]),
        (HOST, B, ["video"], [UPLINK]),
        (A, None, [], []),
    ],
)
def test_slots(site: str, watches: str | None, kinds: list[str], expected: list[str]) -> None:
    assert slots(site, watches, kinds) == expected


def test_changes_are_the_moves_since_the_last_call() -> None:
    routing = table()
    routing.attach("a-program", Seat(A, "video", PROGRAM))
    routing.attach("a-floor", Seat(A, "video", FLOOR))
    routing.attach("b-floor", Seat(B, "audio", FLOOR))
    assert routing.changes() == [("a-program", Source("prog", "video"))]
    assert routing.changes() == []  # nothing moved since

    routing.set_floor(B)
    assert routing.changes() == [("a-floor", Source("up-B", "video"))]
    routing.set_muted(B, True)
    assert routing.changes() == []  # B's floor view does not carry B anyway
    routing.set_floor(A)
    assert routing.changes() == [("a-floor", None), ("b-floor", Source("up-A", "audio"))]
    routing.set_muted(A, True)
    assert routing.changes() == [("b-floor", None)]
    assert routing.route("b-floor") is None
    routing.set_muted(A, False)
    assert routing.changes() == [("b-floor", Source("up-A", "audio"))]
    assert routing.route("b-floor") == Source("up-A", "audio")


def test_a_newcomer_that_takes_a_place_moves_every_track_to_it() -> None:
    routing = table(floor=A)
    routing.attach("b-program", Seat(B, "video", PROGRAM))
    routing.attach("b-floor", Seat(B, "video", FLOOR))
    routing.changes()
    routing.hold(None, "prog2", AV)  # a reconnecting publisher, on air
    routing.hold(A, "up-A2", AV)
    assert routing.changes() == [
        ("b-program", Source("prog2", "video")),
        ("b-floor", Source("up-A2", "video")),
    ]
    # The one it replaced leaves afterwards: it holds nothing, so nothing moves.
    routing.vacate(None, "prog")
    assert routing.changes() == [] and routing.holder(None) == "prog2"
    routing.vacate(None, "prog2")
    assert routing.changes() == [("b-program", None)] and routing.holder(None) is None


def test_a_detached_track_is_forgotten() -> None:
    routing = table()
    routing.attach("a", Seat(A, "video", PROGRAM))
    routing.changes()
    assert routing.detach("a") == Source("prog", "video")
    assert routing.detach("a") is None
    routing.vacate(None, "prog")
    assert routing.changes() == []
