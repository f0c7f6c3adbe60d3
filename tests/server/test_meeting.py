"""The meeting service: every command in as a call, every effect out of the events.

The store is real (SQLite in tmp_path) and so is the bus (LocalBus); the bridge is not under test
here, so a fake one records what it is asked to do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from diemcau.server.meeting import (
    Meeting,
    MeetingEvent,
    PageOpened,
    SessionClosed,
    SessionEnded,
    SessionStarted,
    topic,
)
from diemcau.server.pageopen import BURST, PER_MINUTE
from diemcau.server.store import Site, Store
from diemcau.server.writer import Writer
from diemcau.signaling.bus import LocalBus, Subscription
from diemcau.signaling.room import HOST, FloorChanged, Headcount, RoomError
from diemcau.signaling.session import SessionState, SessionStateError
from tests.faults import HeldLock

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
SITES = [
    Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
    Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
]
A, B = "nga-thanh", "tan-loc"


class FakeBridge:
    """Records the calls the meeting makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def set_floor(self, session_id: str, holder: str | None) -> None:
        self.calls.append(("set_floor", holder))

    def set_muted(self, session_id: str, site: str, muted: bool) -> None:
        self.calls.append(("set_muted", site, muted))

    async def close_site(self, session_id: str, site_id: str, reason: str) -> None:
        self.calls.append(("close_site", site_id, reason))

    async def close_session(self, session_id: str, reason: str = "closed") -> None:
        self.calls.append(("close_session", reason))


@dataclass
class Parts:
    store: Store
    writer: Writer
    bus: LocalBus = field(default_factory=LocalBus)
    bridge: FakeBridge = field(default_factory=FakeBridge)


@dataclass
class World:
    parts: Parts
    meeting: Meeting
    session: str
    heard: Subscription
    # The record's events of the setup (its halls' page_open): record() starts after them.
    setup_events: int = 0

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        return self.parts.bridge.calls

    async def messages(self) -> list[dict[str, Any]]:
        """What the session's participants were told since the last call, in order."""
        await self.parts.bus.publish(topic(self.session), {"type": "mark"})
        told = []
        while (message := await self.heard.get())["type"] != "mark":
            told.append(message)
        return told

    def record(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        events = self.store.events(self.session)[self.setup_events :]
        return [(e.type, e.site_id, e.body) for e in events]

    async def forget(self) -> None:
        """Start the next step with nothing heard, called or recorded yet to compare."""
        await self.messages()
        self.calls.clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "diemcau.sqlite3")
    store.put_sites(SITES, T0)
    yield store
    store.close()


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[Writer]:
    writer = Writer(store)
    yield writer
    await writer.close()


@pytest.fixture
async def world(store: Store, writer: Writer) -> World:
    session = store.create_session(
        title="Họp giao ban",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=3),
        host_token_hash="host",
        invite_token_hashes={A: "a", B: "b"},
        now=T0,
    )
    parts = Parts(store, writer)
    meeting = Meeting(parts)
    heard = parts.bus.subscribe(topic(session.id))
    # The chair and both halls are connected.
    for participant in (HOST, A, B):
        await meeting.connect(session.id, participant, f"{participant}-1", T0)
    world = World(parts, meeting, session.id, heard, len(store.events(session.id)))
    await world.forget()
    return world


# -- the floor, mute and removal: command -> bridge calls and bus messages ----------------------

Step = Callable[[Meeting, str], Awaitable[None]]


def step(name: str, *args: Any) -> Step:
    async def run(meeting: Meeting, session: str) -> None:
        await getattr(meeting, name)(session, *args, now=T0)

    return run


FLOOR_CASES: list[tuple[str, list[Step], Step, list[tuple[Any, ...]], list[dict[str, Any]]]] = [
    (
        "a hall asks",
        [],
        step("request_floor", A),
        [],
        [{"type": "requests", "requests": [A]}],
    ),
    (
        "it takes its request back",
        [step("request_floor", A)],
        step("cancel_request", A),
        [],
        [{"type": "requests", "requests": []}],
    ),
    (
        "the chair grants the one who asked",
        [step("request_floor", A)],
        step("grant", A),
        [("set_floor", A)],
        [
            {"type": "requests", "requests": []},
            {
                "type": "floor",
                "holder": A,
                "previous": None,
                "holder_name": "Xã Nga Thạnh",
                "previous_name": None,
            },
        ],
    ),
    (
        "a grant to a muted hall lifts its mute",
        [step("mute", A, True)],
        step("grant", A),
        [("set_floor", A), ("set_muted", A, False)],
        [
            {
                "type": "floor",
                "holder": A,
                "previous": None,
                "holder_name": "Xã Nga Thạnh",
                "previous_name": None,
            },
            {"type": "mute", "site": A, "muted": False},
        ],
    ),
    (
        "the floor passes from one hall to another",
        [step("grant", A)],
        step("grant", B),
        [("set_floor", B)],
        [
            {
                "type": "floor",
                "holder": B,
                "previous": A,
                "holder_name": "Thị trấn Tân Lộc",
                "previous_name": "Xã Nga Thạnh",
            }
        ],
    ),
    (
        "the chair takes it back",
        [step("grant", A)],
        step("take_back"),
        [("set_floor", None)],
        [
            {
                "type": "floor",
                "holder": None,
                "previous": A,
                "holder_name": None,
                "previous_name": "Xã Nga Thạnh",
            }
        ],
    ),
    (
        "mute",
        [],
        step("mute", B, True),
        [("set_muted", B, True)],
        [{"type": "mute", "site": B, "muted": True}],
    ),
    (
        "muting a muted hall changes nothing",
        [step("mute", B, True)],
        step("mute", B, True),
        [],
        [],
    ),
    (
        "the speaking hall's last connection closes",
        [step("request_floor", B), step("grant", A)],
        step("disconnect", A, f"{A}-1"),
        [("set_floor", None)],
        [
            {"type": "presence", "participant": A, "present": False},
            {
                "type": "floor",
                "holder": None,
                "previous": A,
                "holder_name": None,
                "previous_name": "Xã Nga Thạnh",
            },
        ],
    ),
    (
        "removing a hall that asked: its request goes",
        [step("request_floor", B), step("request_floor", A)],
        step("remove", A),
        [("close_site", A, "kicked")],
        [
            {"type": "removed", "site": A},
            {"type": "requests", "requests": [B]},
            {"type": "presence", "participant": A, "present": False},
        ],
    ),
    (
        "removing the speaking hall: cut off, the floor back, gone",
        [step("request_floor", B), step("grant", A)],
        step("remove", A),
        [("close_site", A, "kicked"), ("set_floor", None)],
        [
            {"type": "removed", "site": A},
            {
                "type": "floor",
                "holder": None,
                "previous": A,
                "holder_name": None,
                "previous_name": "Xã Nga Thạnh",
            },
            {"type": "presence", "participant": A, "present": False},
        ],
    ),
]


@pytest.mark.parametrize(
    ("before", "command", "calls", "told"),
    [case[1:] for case in FLOOR_CASES],
    ids=[case[0] for case in FLOOR_CASES],
)
async def test_each_command_has_its_effects_from_its_events(
    world: World,
    before: list[Step],
    command: Step,
    calls: list[tuple[Any, ...]],
    told: list[dict[str, Any]],
) -> None:
    for earlier in before:
        await earlier(world.meeting, world.session)
    await world.forget()
    await command(world.meeting, world.session)
    assert world.calls == calls
    assert await world.messages() == told


async def test_a_removed_hall_loses_its_token_and_stays_out(world: World) -> None:
    await world.meeting.remove(world.session, A, T0)
    [invite] = [i for i in world.store.invites(world.session) if i.site_id == A]
    assert invite.revoked_at == T0
    with pytest.raises(RoomError) as refused:
        await world.meeting.connect(world.session, A, f"{A}-2", T0)
    assert refused.value.code == "removed"
    # A room built again from the record (another start of this node) keeps it out too.
    await world.meeting.end(world.session, T0)
    assert A in world.meeting.room(world.session).removed


ILLEGAL = [
    ("a site not invited asks", step("request_floor", "ubnd"), "not_invited"),
    ("nobody has the floor to take back", step("take_back"), "no_floor"),
    ("a request never made is cancelled", step("cancel_request", A), "no_request"),
    ("the host is muted", step("mute", HOST, True), "not_invited"),
    ("a negative headcount", step("report_headcount", A, -1), "invalid_headcount"),
]


@pytest.mark.parametrize(
    ("command", "code"), [case[1:] for case in ILLEGAL], ids=[case[0] for case in ILLEGAL]
)
async def test_a_move_the_rules_forbid_has_no_effect(
    world: World, command: Step, code: str
) -> None:
    with pytest.raises(RoomError) as refused:
        await command(world.meeting, world.session)
    assert refused.value.code == code
    assert world.calls == []
    assert await world.messages() == []
    assert world.record() == []


# -- headcounts: one call, whichever door ---------------------------------------------------------


async def test_a_headcount_reaches_the_room_the_record_and_everyone(world: World) -> None:
    at = T0 + timedelta(minutes=5)
    await world.meeting.report_headcount(world.session, A, 37, at)
    assert world.meeting.snapshot(world.session)["headcounts"] == {A: 37}
    assert world.record() == [("headcount", A, {"present": 37})]
    assert world.store.headcounts(world.session)[A] == (37, at)
    assert await world.messages() == [{"type": "headcount", "site": A, "present": 37}]
    assert world.calls == []


async def test_a_headcount_the_record_refuses_is_not_shown_either(
    world: World, tmp_path: Path
) -> None:
    await world.meeting.report_headcount(world.session, A, 30, T0)
    await world.forget()
    # Another process holds the database's write lock past the writer's wait for it.
    async with HeldLock(tmp_path / "diemcau.sqlite3") as lock:
        with pytest.raises(sqlite3.OperationalError):
            await world.meeting.report_headcount(world.session, A, 12, T0)
        with pytest.raises(sqlite3.OperationalError):
            await world.meeting.report_headcount(world.session, B, 9, T0)
        await lock.release()
    assert world.meeting.snapshot(world.session)["headcounts"] == {A: 30}
    assert world.record() == [("headcount", A, {"present": 30})]
    assert await world.messages() == []


async def test_a_room_is_built_from_the_record(world: World) -> None:
    """A command for a session this node holds no room of yet (an HTTP headcount before anyone
    connected, a restart) finds the record's removals and headcounts."""
    await world.meeting.report_headcount(world.session, B, 20, T0)
    world.store.revoke_invite(world.session, A, T0)
    fresh = Meeting(world.parts)
    assert fresh.snapshot(world.session) == {
        "present": [],
        "requests": [],
        "floor": None,
        "muted": [],
        "removed": [A],
        "headcounts": {B: 20},
        "floor_name": None,
    }
    with pytest.raises(RoomError) as refused:
        await fresh.report_headcount(world.session, A, 3, T0)
    assert refused.value.code == "removed"


# -- the lifecycle: the admin API and WHIP going live ---------------------------------------------


async def test_start_goes_live_once_and_tells_everyone(world: World) -> None:
    first = await world.meeting.start(world.session, T0)
    again = await world.meeting.start(world.session, T0 + timedelta(seconds=1))
    assert (first.changed, again.changed) == (True, False)
    assert again.session.state == SessionState.LIVE and again.session.started_at == T0
    assert await world.messages() == [{"type": "session", "state": "live"}]
    assert [t for t, _, _ in world.record()] == ["session_start"]
    assert world.calls == []


async def test_end_tells_everyone_closes_the_media_and_drops_the_room(world: World) -> None:
    await world.meeting.start(world.session, T0)
    await world.meeting.grant(world.session, A, T0)
    await world.forget()
    ended = await world.meeting.end(world.session, T0 + timedelta(hours=1))
    assert ended.changed and ended.session.state == SessionState.ENDED
    assert await world.messages() == [{"type": "session", "state": "ended"}]
    assert world.calls == [("close_session", "closed")]
    # A connection closing after the end changes nothing: its room is gone.
    await world.meeting.disconnect(world.session, A, f"{A}-1", T0 + timedelta(hours=1))
    assert world.calls == [("close_session", "closed")]
    assert await world.messages() == []


@pytest.mark.parametrize(
    "command",
    [
        step("request_floor", A),
        step("grant", B),
        step("mute", B, True),
        step("remove", B),
        step("report_headcount", A, 12),
    ],
    ids=["request", "grant", "mute", "remove", "headcount"],
)
async def test_a_message_still_on_its_way_at_the_end_is_refused(
    world: World, command: Step
) -> None:
    await world.meeting.end(world.session, T0)
    await world.forget()
    with pytest.raises(RoomError) as refused:
        await command(world.meeting, world.session)
    assert refused.value.code == "session_ended"
    # No room built again for the ended session: nothing reaches the bridge, the record or the bus.
    assert world.calls == []
    assert await world.messages() == []
    assert [t for t, _, _ in world.record()] == ["session_end"]
    assert all(i.revoked_at is None for i in world.store.invites(world.session))


async def test_ending_an_ended_session_closes_its_media_and_tells_nobody(world: World) -> None:
    await world.meeting.end(world.session, T0)
    await world.forget()
    again = await world.meeting.end(world.session, T0 + timedelta(minutes=1))
    assert not again.changed
    assert world.calls == [("close_session", "closed")]
    assert await world.messages() == []
    assert [t for t, _, _ in world.record()] == ["session_end"]


ON_AIR = [
    # (publisher's site, the session ended first, record after, told, bridge calls)
    (None, False, ["session_start"], [{"type": "session", "state": "live"}], []),
    (A, False, [], [], []),
    (None, True, ["session_end"], [], [("close_session", "closed")]),
]


@pytest.mark.parametrize(
    ("site", "ended_first", "record", "told", "calls"),
    ON_AIR,
    ids=["the program goes live", "a hall's return feed starts nothing", "too late: closed"],
)
async def test_a_publisher_on_air(
    world: World,
    site: str | None,
    ended_first: bool,
    record: list[str],
    told: list[dict[str, Any]],
    calls: list[tuple[Any, ...]],
) -> None:
    if ended_first:
        await world.meeting.end(world.session, T0)
        await world.forget()
    await world.meeting.publisher_on_air(world.session, site, "r1", T0 + timedelta(seconds=1))
    assert [t for t, _, _ in world.record()] == record
    assert await world.messages() == told
    assert world.calls == calls


async def test_an_ended_session_cannot_be_started_and_nothing_happens(world: World) -> None:
    await world.meeting.end(world.session, T0)
    await world.forget()
    with pytest.raises(SessionStateError):
        await world.meeting.start(world.session, T0)
    assert world.calls == []
    assert await world.messages() == []


# -- a hall's new link ---------------------------------------------------------------------------


async def test_a_reissued_halls_pages_are_told_before_its_media_close(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = world.parts.bus.publish

    async def told(to: str, message: dict[str, Any]) -> None:
        world.calls.append(("told", message["type"]))
        await publish(to, message)

    monkeypatch.setattr(world.parts.bus, "publish", told)
    assert await world.meeting.reissue_link(world.session, A, lambda g: f"a{g}", T0) == 1
    assert world.calls == [("told", "link_reissued"), ("close_site", A, "reissued")]
    monkeypatch.undo()
    assert await world.messages() == [{"type": "link_reissued", "site": A}]


# -- the hook point --------------------------------------------------------------------------------


async def test_listeners_hear_every_event_in_order_and_one_failing_stops_nothing(
    world: World,
) -> None:
    heard: list[tuple[str, MeetingEvent, datetime]] = []

    async def failing(session_id: str, event: MeetingEvent, at: datetime) -> None:
        raise RuntimeError("a webhook outbox that is down")

    async def listening(session_id: str, event: MeetingEvent, at: datetime) -> None:
        heard.append((session_id, event, at))

    world.meeting.listeners.extend([failing, listening])
    started, granted, ended = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    await world.meeting.start(world.session, started)
    await world.meeting.report_headcount(world.session, A, 12, granted)
    await world.meeting.grant(world.session, A, granted)
    await world.meeting.end(world.session, ended)
    assert heard == [
        (world.session, SessionStarted(started.timestamp()), started),
        (world.session, Headcount(A, 12, granted.timestamp()), granted),
        (world.session, FloorChanged(A, None, granted.timestamp()), granted),
        (world.session, SessionEnded(ended.timestamp()), ended),
        (world.session, SessionClosed(ended.timestamp()), ended),
    ]
    # The effects happened all the same.
    assert [t for t, _, _ in world.record()] == ["session_start", "headcount", "session_end"]
    assert world.calls == [("set_floor", A), ("close_session", "closed")]


async def test_presence_is_announced_once_per_participant(world: World) -> None:
    await world.meeting.connect(world.session, A, f"{A}-2", T0)
    assert await world.messages() == []
    await world.meeting.disconnect(world.session, A, f"{A}-1", T0)
    await world.meeting.disconnect(world.session, A, f"{A}-2", T0)
    assert await world.messages() == [{"type": "presence", "participant": A, "present": False}]


# -- a hall's page open: the record's page_open ---------------------------------------------------


async def test_each_control_connection_of_a_hall_is_its_page_open(world: World) -> None:
    # The setup's halls were recorded as they connected; the chair's console never is.
    setup = [(e.type, e.site_id, e.body, e.ts) for e in world.store.events(world.session)]
    assert setup == [("page_open", A, {}, T0), ("page_open", B, {}, T0)]
    later = T0 + timedelta(minutes=5)
    await world.meeting.connect(world.session, A, f"{A}-2", later)
    await world.meeting.connect(world.session, HOST, f"{HOST}-2", later)
    assert world.record() == [("page_open", A, {})]
    assert world.store.events(world.session)[-1].ts == later
    # A page the rules refuse opened nothing: a removed hall's is not recorded.
    await world.meeting.remove(world.session, B, later)
    with pytest.raises(RoomError):
        await world.meeting.connect(world.session, B, f"{B}-2", later)
    assert [t for t, site, _ in world.record() if site == B] == []


async def test_a_reconnect_storm_writes_a_few_lines_a_minute(world: World) -> None:
    heard: list[MeetingEvent] = []

    async def listening(session_id: str, event: MeetingEvent, at: datetime) -> None:
        heard.append(event)

    world.meeting.listeners.append(listening)
    minutes = 3
    for second in range(0, minutes * 60, 2):  # a page reconnecting every 2 s
        at = T0 + timedelta(seconds=second)
        await world.meeting.disconnect(world.session, A, f"{A}-{second}", at)
        await world.meeting.connect(world.session, A, f"{A}-{second + 2}", at)
    opened = [
        e.ts for e in world.store.events(world.session) if e.type == "page_open" and e.site_id == A
    ]
    # The setup's one, the rest of the burst, then PER_MINUTE a minute.
    assert len(opened) <= BURST + PER_MINUTE * minutes
    assert len(opened) >= BURST + PER_MINUTE * (minutes - 1)
    for first in opened:
        in_a_minute = [t for t in opened if first <= t < first + timedelta(minutes=1)]
        assert len(in_a_minute) <= BURST + PER_MINUTE
    # Every connection came in all the same, and the listeners heard what was written.
    assert [e for e in heard if isinstance(e, PageOpened)] == [
        PageOpened(A, t.timestamp()) for t in opened[1:]
    ]
    # The other hall's pages are counted apart.
    await world.meeting.connect(world.session, B, f"{B}-2", T0 + timedelta(seconds=10))
    assert world.record()[-1] == ("page_open", B, {})


async def test_a_page_open_the_record_refuses_costs_the_page_nothing(
    world: World, tmp_path: Path
) -> None:
    later = T0 + timedelta(minutes=5)
    async with HeldLock(tmp_path / "diemcau.sqlite3") as lock:
        await world.meeting.disconnect(world.session, A, f"{A}-1", later)
        await world.meeting.connect(world.session, A, f"{A}-2", later)
        await lock.release()
    assert world.record() == []
    # Its channel is open: it is present, and its commands are taken.
    assert await world.messages() == [
        {"type": "presence", "participant": A, "present": False},
        {"type": "presence", "participant": A, "present": True},
    ]
    await world.meeting.request_floor(world.session, A, later)
    assert await world.messages() == [{"type": "requests", "requests": [A]}]
