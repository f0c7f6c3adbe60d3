"""The attendance record over HTTP: headcounts, the join log as JSON Lines, the report of a
session (JSON, CSV, XLSX), a period's figures, and the leaves a crash leaves unwritten."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from pypdf import PdfReader
from starlette.applications import Starlette

from diemcau.server import records
from diemcau.server.app import create_app
from diemcau.server.attendance import RosterSite, Rules, attendance, report_json
from diemcau.server.auth import ADMIN_ONLY, ADMIN_OR_HOST, ANY_ROLE
from diemcau.server.cli import main
from diemcau.server.config import Config
from diemcau.server.joinlog import read_jsonl
from diemcau.server.reports import COLUMNS, HEADERS_VI
from diemcau.server.store import Site, Store

from ..camera_fields import CAMERA_SITE_FIELDS, NO_CAMERA_SITE
from ..people_fields import NO_PEOPLE_SITE, NO_PEOPLE_TOTALS, PEOPLE_SITE_FIELDS
from .auth_cases import check_auth
from .conftest import (
    ADMIN_TOKEN,
    BASE_URL,
    MAX_BODY_BYTES,
    SITES,
    World,
    admin_headers,
    bearer,
    create_session,
    put_sites,
    shut_down,
)

ADMIN = admin_headers()
T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội
WINDOW = timedelta(minutes=100)
TITLE = "Hội nghị sơ kết quý I"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
# The JSON site fields, in order: what the CSV header must repeat.
SITE_FIELDS = [
    "site",
    "name",
    "kind",
    "expected",
    "status",
    "late",
    "left_early",
    "first_join",
    "last_leave",
    "connected_seconds",
    "coverage",
    "interruptions",
    "longest_outage_seconds",
    "headcount",
    "headcount_rate",
    "cause",
    "cause_reason",
]
# A site entry of the JSON: the CSV's columns, the camera's count and the people (issue 15).
ENTRY_FIELDS = [*SITE_FIELDS, *CAMERA_SITE_FIELDS, *PEOPLE_SITE_FIELDS]
# The default CSV keeps the columns it had before issue 15: the causes are in the official files.
CSV_FIELDS = [f for f in SITE_FIELDS if f not in ("cause", "cause_reason")]


def at(minutes: float, start: datetime = T0) -> datetime:
    return start + timedelta(minutes=minutes)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def near_now(text: str, slack: float = 10.0) -> bool:
    return abs((datetime.now(UTC) - parse(text)).total_seconds()) < slack


def play_session(store: Store, session_id: str) -> None:
    """A 100-minute session (T0 to T0+100):

    - nga-thanh joins 30 s in, drops at 40:00 for a minute (within the grace), leaves at 81:00:
      80.5 min bridged, 0.805, present; 79.5 min without the grace, 0.795. Left early.
    - tan-loc joins at 20:00 and leaves at 70:00: 0.5, partial, late and left early.
    - ubnd never joins: absent, and its headcount is not counted.
    - xa-la, not invited, joins anyway: an unknown site.
    """
    store.start_session(session_id, T0)
    store.append_event(session_id, "join", at(0.5), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "headcount", at(5), site_id="nga-thanh", present=38)
    store.append_event(session_id, "join", at(20), site_id="tan-loc", conn="c2")
    store.append_event(session_id, "headcount", at(21), site_id="tan-loc", present=20)
    store.append_event(session_id, "headcount", at(22), site_id="ubnd", present=5)
    store.append_event(session_id, "join", at(30), site_id="xa-la", conn="c9")
    store.append_event(
        session_id, "leave", at(40), site_id="nga-thanh", conn="c1", reason="ice_failed"
    )
    store.append_event(session_id, "join", at(41), site_id="nga-thanh", conn="c3")
    # A correction overwrites.
    store.append_event(session_id, "headcount", at(45), site_id="nga-thanh", present=35)
    store.append_event(session_id, "leave", at(70), site_id="tan-loc", conn="c2", reason="closed")
    store.append_event(session_id, "leave", at(81), site_id="nga-thanh", conn="c3", reason="closed")
    store.end_session(session_id, at(100))


@pytest.fixture
async def played(client: httpx.AsyncClient, store: Store) -> dict[str, Any]:
    """An ended session inviting the three sites, with the history above; its create answer."""
    await put_sites(client)
    created = await create_session(client, ["nga-thanh", "tan-loc", "ubnd"], title=TITLE)
    play_session(store, created["id"])
    return created


async def get_attendance(
    client: httpx.AsyncClient, session: dict[str, Any], query: str = ""
) -> httpx.Response:
    return await client.get(
        f"/api/sessions/{session['id']}/attendance{query}",
        headers=bearer(session["host"]["token"]),
    )


# POST /api/sessions/{id}/sites/{site}/headcount


def headcount_url(session_id: str, site_id: str) -> str:
    return f"/api/sessions/{session_id}/sites/{site_id}/headcount"


@pytest.mark.parametrize("who", ["site", "host", "admin"])
async def test_headcount_is_logged(
    client: httpx.AsyncClient, world: World, store: Store, who: str
) -> None:
    token = {"site": world.site(world.a, "nga-thanh"), "host": world.host_a, "admin": ADMIN_TOKEN}
    response = await client.post(
        headcount_url(world.a, "nga-thanh"), json={"present": 37}, headers=bearer(token[who])
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"site", "present", "ts"}
    assert (body["site"], body["present"]) == ("nga-thanh", 37)
    assert RFC3339_UTC.fullmatch(body["ts"]) and near_now(body["ts"])
    [event] = store.events(world.a)
    assert (event.type, event.site_id, event.conn, event.body) == (
        "headcount",
        "nga-thanh",
        None,
        {"present": 37},
    )
    # The moment answered is the moment kept (to the millisecond), so /me and /sites agree.
    assert event.ts == parse(body["ts"])


async def test_the_answered_time_is_the_one_shown_later(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Less than a millisecond past the second: the store keeps 01:05:12.000, which /me shows
    # as 01:05:12Z; the answer must say the same, not 01:05:12.000Z.
    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return cls(2025, 3, 1, 1, 5, 12, 500, tzinfo=UTC)

    monkeypatch.setattr(records, "datetime", Clock)
    site_token = bearer(world.site(world.a, "nga-thanh"))
    answer = await client.post(
        headcount_url(world.a, "nga-thanh"), json={"present": 30}, headers=site_token
    )
    me = await client.get(f"/api/sessions/{world.a}/me", headers=site_token)
    assert answer.json()["ts"] == me.json()["headcount"]["ts"] == "2025-03-01T01:05:12Z"


async def test_headcount_authorization(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    let_through = await check_auth(
        client,
        world,
        "POST",
        headcount_url,
        allow=ANY_ROLE,
        site_scoped=True,
        json={"present": 3},
    )
    assert let_through == ["admin", "lowercase scheme", "host", "site"]
    # Each let-through case logged one headcount; no refused one logged anything.
    assert len(store.events(world.a)) == len(let_through)


async def test_a_site_token_cannot_count_for_another_site(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    response = await client.post(
        headcount_url(world.a, "tan-loc"),
        json={"present": 3},
        headers=bearer(world.site(world.a, "nga-thanh")),
    )
    assert (response.status_code, response.json()["error"]) == (403, "wrong_site")
    assert store.events(world.a) == []


BAD_BODIES = [
    ("missing", {"json": {}}, 422, "invalid_body", "present"),
    ("null", {"json": {"present": None}}, 422, "invalid_body", "present"),
    ("negative", {"json": {"present": -1}}, 422, "invalid_body", "present"),
    ("too many", {"json": {"present": 1_000_001}}, 422, "invalid_body", "present"),
    ("bool", {"json": {"present": True}}, 422, "invalid_body", "present"),
    ("string", {"json": {"present": "12"}}, 422, "invalid_body", "present"),
    ("float", {"content": b'{"present": 12.0}'}, 422, "invalid_body", "present"),
    ("fraction", {"json": {"present": 12.5}}, 422, "invalid_body", "present"),
    ("extra field", {"json": {"present": 12, "note": "x"}}, 422, "invalid_body", "note"),
    ("NaN", {"content": b'{"present": NaN}'}, 400, "invalid_body", None),
    ("not JSON", {"content": b"present=12"}, 400, "invalid_body", None),
    ("empty", {"content": b""}, 400, "invalid_body", None),
    ("array", {"json": [12]}, 400, "invalid_body", None),
    ("not UTF-8", {"content": b'{"present": 1, "n": "X\xe3"}'}, 400, "invalid_body", None),
    (
        "too large",
        {"json": {"present": 1, "pad": "x" * MAX_BODY_BYTES}},
        413,
        "body_too_large",
        None,
    ),
]


@pytest.mark.parametrize(
    ("request_args", "status", "error", "field"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_headcount_bodies_log_nothing(
    client: httpx.AsyncClient,
    world: World,
    store: Store,
    request_args: dict[str, Any],
    status: int,
    error: str,
    field: str | None,
) -> None:
    response = await client.post(
        headcount_url(world.a, "nga-thanh"),
        headers=bearer(world.site(world.a, "nga-thanh")),
        **request_args,
    )
    assert (response.status_code, response.json()["error"]) == (status, error)
    if field is not None:
        assert field in response.json()["details"]["fields"]
    assert store.events(world.a) == []


async def test_no_headcount_after_the_end(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    store.start_session(world.a, T0)
    store.end_session(world.a, at(60))
    response = await client.post(
        headcount_url(world.a, "nga-thanh"),
        json={"present": 12},
        headers=bearer(world.site(world.a, "nga-thanh")),
    )
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")
    assert [e.type for e in store.events(world.a)] == ["session_start", "session_end"]


@pytest.mark.parametrize("who", ["admin", "host"])
async def test_no_headcount_for_a_site_the_chair_removed(
    client: httpx.AsyncClient, world: World, store: Store, who: str
) -> None:
    # ubnd's invite of session a is revoked, as the chair's remove does: the room refuses its
    # count over HTTP as over the control channel, and nothing is written.
    token = {"admin": ADMIN_TOKEN, "host": world.host_a}[who]
    response = await client.post(
        headcount_url(world.a, "ubnd"), json={"present": 3}, headers=bearer(token)
    )
    assert (response.status_code, response.json()["error"]) == (409, "removed")
    assert store.events(world.a) == []


@pytest.mark.parametrize(
    ("who", "site"),
    [("admin", "no-such-site"), ("host", "no-such-site"), ("host_b", "tan-loc")],
    ids=["admin", "host", "site of the other session"],
)
async def test_headcount_for_a_site_not_invited(
    client: httpx.AsyncClient, world: World, store: Store, who: str, site: str
) -> None:
    # Session b invites only nga-thanh; tan-loc exists but is not part of it.
    session = world.b if who == "host_b" else world.a
    token = {"admin": ADMIN_TOKEN, "host": world.host_a, "host_b": world.host_b}[who]
    response = await client.post(
        headcount_url(session, site), json={"present": 3}, headers=bearer(token)
    )
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert store.events(session) == []


async def test_a_correction_overwrites(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    site_token = bearer(world.site(world.a, "nga-thanh"))
    first = await client.post(
        headcount_url(world.a, "nga-thanh"), json={"present": 30}, headers=site_token
    )
    second = await client.post(
        headcount_url(world.a, "nga-thanh"), json={"present": 28}, headers=bearer(world.host_a)
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert parse(second.json()["ts"]) >= parse(first.json()["ts"])

    sites = await client.get(f"/api/sessions/{world.a}/sites", headers=bearer(world.host_a))
    by_id = {s["site"]: s for s in sites.json()["sites"]}
    assert (by_id["nga-thanh"]["headcount"], by_id["nga-thanh"]["headcount_at"]) == (
        28,
        second.json()["ts"],
    )
    assert by_id["tan-loc"]["headcount"] is None
    # Nobody is connected, so nobody is counted in the live totals.
    assert sites.json()["totals"]["headcount"] == 0

    me = await client.get(f"/api/sessions/{world.a}/me", headers=site_token)
    assert me.json()["headcount"] == {"present": 28, "ts": second.json()["ts"]}
    other = await client.get(
        f"/api/sessions/{world.a}/me", headers=bearer(world.site(world.a, "tan-loc"))
    )
    assert other.json()["headcount"] is None
    assert [e.body["present"] for e in store.events(world.a)] == [30, 28]


# GET /api/sessions/{id}/events


async def test_events_are_json_lines_in_log_order(
    client: httpx.AsyncClient, played: dict[str, Any], store: Store
) -> None:
    session_id = played["id"]
    response = await client.get(f"/api/sessions/{session_id}/events", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert f"joinlog-{session_id}.jsonl" in response.headers["content-disposition"]
    assert response.text.endswith("\n")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert all(RFC3339_UTC.fullmatch(line["ts"]) for line in lines)
    assert all(line["session"] == session_id for line in lines)
    # Without the timestamps, which are checked against the store below, and the chain.
    assert [
        {k: v for k, v in line.items() if k not in ("ts", "session", "chain")} for line in lines
    ] == [
        {"type": "session_start"},
        {"type": "join", "site": "nga-thanh", "conn": "c1"},
        {"type": "headcount", "site": "nga-thanh", "present": 38},
        {"type": "join", "site": "tan-loc", "conn": "c2"},
        {"type": "headcount", "site": "tan-loc", "present": 20},
        {"type": "headcount", "site": "ubnd", "present": 5},
        {"type": "join", "site": "xa-la", "conn": "c9"},
        {"type": "leave", "site": "nga-thanh", "conn": "c1", "reason": "ice_failed"},
        {"type": "join", "site": "nga-thanh", "conn": "c3"},
        {"type": "headcount", "site": "nga-thanh", "present": 35},
        {"type": "leave", "site": "tan-loc", "conn": "c2", "reason": "closed"},
        {"type": "leave", "site": "nga-thanh", "conn": "c3", "reason": "closed"},
        {"type": "session_end"},
    ]
    stored = store.events(session_id)
    assert [parse(line["ts"]) for line in lines] == [e.ts for e in stored]
    assert lines[0]["ts"] == "2025-03-01T01:00:00.000Z"


async def test_the_exported_log_gives_the_served_report(
    client: httpx.AsyncClient, played: dict[str, Any]
) -> None:
    session_id = played["id"]
    exported = await client.get(f"/api/sessions/{session_id}/events", headers=ADMIN)
    events, skipped = read_jsonl(exported.text.splitlines())
    assert skipped == []
    roster = [RosterSite(i["site"], i["name"], i["kind"], i["expected"]) for i in played["invites"]]
    offline = report_json(attendance(events, roster, Rules()))

    served = (await get_attendance(client, played)).json()
    assert {k: served.pop(k) for k in ("title", "live", "timezone")} == {
        "title": TITLE,
        "live": False,
        "timezone": "Asia/Ho_Chi_Minh",
    }
    assert served == offline


async def test_the_report_carries_the_sealed_chain(
    client: httpx.AsyncClient, played: dict[str, Any], store: Store
) -> None:
    seal = store.seal(played["id"])
    assert seal is not None
    served = (await get_attendance(client, played)).json()
    assert served["chain"] == {"head": seal.head, "length": 13, "signature": seal.signature}
    exported = await client.get(f"/api/sessions/{played['id']}/events", headers=ADMIN)
    last = json.loads(exported.text.splitlines()[-1])["chain"]
    assert (last["hash"], last["seal"]) == (seal.head, served["chain"])
    # The report of the export carries the seal the export carries.
    events, _ = read_jsonl(exported.text.splitlines())
    roster = [RosterSite(i["site"], i["name"], i["kind"], i["expected"]) for i in played["invites"]]
    assert report_json(attendance(events, roster))["chain"] == served["chain"]
    # Left out of the export, it is in no report made of it.
    plain = await client.get(f"/api/sessions/{played['id']}/events?chain=0", headers=ADMIN)
    assert '"chain"' not in plain.text
    events, _ = read_jsonl(plain.text.splitlines())
    assert report_json(attendance(events, roster))["chain"] is None


async def test_a_live_session_s_report_has_no_chain_yet(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    created = await create_session(client, ["nga-thanh"], title=TITLE)
    store.start_session(created["id"], T0)
    store.append_event(created["id"], "join", at(1), site_id="nga-thanh", conn="c1")
    served = (await get_attendance(client, created)).json()
    assert (served["live"], served["chain"]) == (True, None)
    # Each line chained all the same; only the seal waits for the end.
    exported = await client.get(f"/api/sessions/{created['id']}/events", headers=ADMIN)
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [sorted(line["chain"]) for line in lines] == [["hash", "prev"]] * 2


async def test_diemcau_verify_checks_the_plain_export(
    client: httpx.AsyncClient,
    played: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exported = await client.get(f"/api/sessions/{played['id']}/events", headers=ADMIN)
    (tmp_path / "log.jsonl").write_text(exported.text, encoding="utf-8")
    [key] = (await client.get("/api/keys")).json()["keys"]
    (tmp_path / "pub").write_text(key["pem"], encoding="utf-8")
    argv = ["verify", "--events", str(tmp_path / "log.jsonl"), "--key", str(tmp_path / "pub")]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert capsys.readouterr().out == (
        f"session {played['id']}: intact: 13 events chained, sealed and signed\n"
    )
    # One headcount changed in the file: found, and named.
    changed = exported.text.replace('"present":35', '"present":40')
    (tmp_path / "log.jsonl").write_text(changed, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 1
    assert "line 10 (headcount at 2025-03-01T01:45:00.000Z) was changed" in capsys.readouterr().out


async def test_events_authorization(client: httpx.AsyncClient, world: World, store: Store) -> None:
    let_through = await check_auth(
        client, world, "GET", lambda s, site: f"/api/sessions/{s}/events", allow=ADMIN_OR_HOST
    )
    assert {"admin", "host"} <= set(let_through)
    assert "site" not in let_through


async def test_events_of_a_session_not_started_are_empty(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(f"/api/sessions/{world.b}/events", headers=bearer(world.host_b))
    assert (response.status_code, response.text) == (200, "")


# GET /api/sessions/{id}/attendance


NGA_THANH = {
    "site": "nga-thanh",
    "name": "Xã Nga Thạnh",
    "kind": "commune",
    "expected": 40,
    "status": "present",
    "late": False,
    "left_early": True,
    "first_join": "2025-03-01T01:00:30.000Z",
    "last_leave": "2025-03-01T02:21:00.000Z",
    "connected_seconds": 4830.0,
    "coverage": 0.805,
    "interruptions": 1,
    "longest_outage_seconds": 60.0,
    "headcount": 35,
    "headcount_rate": 0.875,
    "cause": None,
    "cause_reason": None,
}


async def test_attendance_of_an_ended_session(
    client: httpx.AsyncClient, played: dict[str, Any]
) -> None:
    response = await get_attendance(client, played)
    assert response.status_code == 200
    body = response.json()
    assert (body["session"], body["title"], body["live"]) == (played["id"], TITLE, False)
    assert body["timezone"] == "Asia/Ho_Chi_Minh"
    assert body["window"] == {
        "start": "2025-03-01T01:00:00.000Z",
        "end": "2025-03-01T02:40:00.000Z",
        "seconds": 6000.0,
    }
    assert body["rules"] == Rules().as_dict()
    assert body["skipped_lines"] == 0
    assert [s["site"] for s in body["sites"]] == ["nga-thanh", "tan-loc", "ubnd"]
    assert [list(s) for s in body["sites"]] == [ENTRY_FIELDS] * 3
    assert body["sites"][0] == {**NGA_THANH, **NO_CAMERA_SITE, **NO_PEOPLE_SITE}
    tan_loc, ubnd = body["sites"][1:]
    assert (tan_loc["status"], tan_loc["late"], tan_loc["left_early"]) == ("partial", True, True)
    assert (tan_loc["coverage"], tan_loc["headcount"]) == (0.5, 20)
    assert (ubnd["status"], ubnd["first_join"], ubnd["connected_seconds"]) == ("absent", None, 0)
    assert (ubnd["late"], ubnd["left_early"], ubnd["headcount"]) == (False, False, 5)
    assert body["unknown_sites"] == ["xa-la"]
    # ubnd's 5 people are not counted: the hall never connected.
    assert body["totals"] == {
        "invited": 3,
        "present": 1,
        "partial": 1,
        "absent": 1,
        "expected": 77,
        "headcount": 55,
        "participation_rate": round(55 / 77, 6),
        "connected_rate": round(2 / 3, 6),
        **NO_PEOPLE_TOTALS,
    }
    assert "intervals" not in body["sites"][0]


@pytest.mark.parametrize("flag", ["1", "true"])
async def test_attendance_with_intervals(
    client: httpx.AsyncClient, played: dict[str, Any], flag: str
) -> None:
    body = (await get_attendance(client, played, f"?intervals={flag}")).json()
    # Not bridged by the grace: the chart shows the minute nga-thanh was away.
    assert [s["intervals"] for s in body["sites"]] == [
        [
            ["2025-03-01T01:00:30.000Z", "2025-03-01T01:40:00.000Z"],
            ["2025-03-01T01:41:00.000Z", "2025-03-01T02:21:00.000Z"],
        ],
        [["2025-03-01T01:20:00.000Z", "2025-03-01T02:10:00.000Z"]],
        [],
    ]


# How halls came in: routes on joins, failed attempts, and what the exports show of them

# The halls' public addresses in the store, and what the exports may show of them.
ADDRESSES = {
    "198.51.100.20": "198.51.100.x",
    "203.0.113.7": "203.0.113.x",
    "2001:db8:1:2::9": "2001:db8:1::x",
}


def play_routed_session(store: Store, session_id: str) -> None:
    """nga-thanh comes in through a TURN relay over TCP; tan-loc fails once, then comes in
    behind NAT; ubnd tries twice and never gets through; xa-la (not invited) comes over IPv6."""
    relay = {"candidate": "relay", "protocol": "tcp", "address": "198.51.100.20"}
    store.start_session(session_id, T0)
    store.append_event(session_id, "join", at(0.5), site_id="nga-thanh", conn="c1", **relay)
    store.append_event(
        session_id,
        "attempt_failed",
        at(1),
        site_id="tan-loc",
        conn="a1",
        reason="ice_timeout",
        offered=["host"],
    )
    store.append_event(
        session_id,
        "join",
        at(5),
        site_id="tan-loc",
        conn="c2",
        candidate="srflx",
        protocol="udp",
        address="203.0.113.7",
    )
    for minute, conn, reason, offered in (
        (10, "a2", "ice_timeout", []),
        (12, "a3", "ice_failed", ["host", "srflx"]),
    ):
        store.append_event(
            session_id,
            "attempt_failed",
            at(minute),
            site_id="ubnd",
            conn=conn,
            reason=reason,
            offered=offered,
        )
    store.append_event(
        session_id,
        "join",
        at(20),
        site_id="xa-la",
        conn="c9",
        candidate="prflx",
        protocol="udp",
        address="2001:db8:1:2::9",
    )
    store.append_event(session_id, "leave", at(60), site_id="tan-loc", conn="c2", reason="closed")
    store.append_event(
        session_id, "leave", at(100), site_id="nga-thanh", conn="c1", reason="closed"
    )
    store.end_session(session_id, at(100))


@pytest.fixture
async def routed(client: httpx.AsyncClient, store: Store) -> dict[str, Any]:
    await put_sites(client)
    created = await create_session(client, ["nga-thanh", "tan-loc", "ubnd"], title=TITLE)
    play_routed_session(store, created["id"])
    return created


async def test_the_exported_log_masks_addresses(
    client: httpx.AsyncClient, routed: dict[str, Any]
) -> None:
    response = await client.get(f"/api/sessions/{routed['id']}/events", headers=ADMIN)
    assert response.status_code == 200
    for whole in ADDRESSES:
        assert whole not in response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [
        {k: v for k, v in line.items() if k not in ("ts", "session", "chain")} for line in lines
    ] == [
        {"type": "session_start"},
        {
            "type": "join",
            "site": "nga-thanh",
            "conn": "c1",
            "candidate": "relay",
            "protocol": "tcp",
            "address": "198.51.100.x",
        },
        {
            "type": "attempt_failed",
            "site": "tan-loc",
            "conn": "a1",
            "reason": "ice_timeout",
            "offered": ["host"],
        },
        {
            "type": "join",
            "site": "tan-loc",
            "conn": "c2",
            "candidate": "srflx",
            "protocol": "udp",
            "address": "203.0.113.x",
        },
        {
            "type": "attempt_failed",
            "site": "ubnd",
            "conn": "a2",
            "reason": "ice_timeout",
            "offered": [],
        },
        {
            "type": "attempt_failed",
            "site": "ubnd",
            "conn": "a3",
            "reason": "ice_failed",
            "offered": ["host", "srflx"],
        },
        {
            "type": "join",
            "site": "xa-la",
            "conn": "c9",
            "candidate": "prflx",
            "protocol": "udp",
            "address": "2001:db8:1::x",
        },
        {"type": "leave", "site": "tan-loc", "conn": "c2", "reason": "closed"},
        {"type": "leave", "site": "nga-thanh", "conn": "c1", "reason": "closed"},
        {"type": "session_end"},
    ]


async def test_the_server_keeps_the_whole_address(routed: dict[str, Any], store: Store) -> None:
    stored = [e.body.get("address") for e in store.events(routed["id"]) if e.type == "join"]
    assert stored == list(ADDRESSES)


@pytest.mark.parametrize("flag", ["1", "true"])
async def test_attendance_with_failed_attempts(
    client: httpx.AsyncClient, routed: dict[str, Any], flag: str
) -> None:
    plain = (await get_attendance(client, routed)).json()
    assert [list(s) for s in plain["sites"]] == [ENTRY_FIELDS] * 3
    asked = (await get_attendance(client, routed, f"?attempts={flag}&intervals=1")).json()
    # ubnd never got through but tried twice: not "never opened the link".
    assert [(s["site"], s["status"], s["failed_attempts"]) for s in asked["sites"]] == [
        ("nga-thanh", "present", 0),
        ("tan-loc", "partial", 1),
        ("ubnd", "absent", 2),
    ]
    assert [list(s) for s in asked["sites"]] == [
        [*ENTRY_FIELDS, "failed_attempts", "intervals"]
    ] * 3
    for site in asked["sites"]:
        del site["failed_attempts"], site["intervals"]
    assert asked == plain


async def test_a_log_with_routes_and_attempts_gives_the_served_report(
    client: httpx.AsyncClient, routed: dict[str, Any]
) -> None:
    exported = await client.get(f"/api/sessions/{routed['id']}/events", headers=ADMIN)
    events, skipped = read_jsonl(exported.text.splitlines())
    assert skipped == []
    roster = [RosterSite(i["site"], i["name"], i["kind"], i["expected"]) for i in routed["invites"]]
    offline = report_json(attendance(events, roster, Rules()), attempts=True)
    served = (await get_attendance(client, routed, "?attempts=1")).json()
    for key in ("title", "live", "timezone"):
        served.pop(key)
    assert served == offline
    assert offline["unknown_sites"] == ["xa-la"]


async def test_the_report_files_show_no_address(
    client: httpx.AsyncClient, routed: dict[str, Any]
) -> None:
    csv_text = (await get_attendance(client, routed, "?format=csv")).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert rows[0] == CSV_FIELDS
    book = openpyxl.load_workbook(
        io.BytesIO((await get_attendance(client, routed, "?format=xlsx")).content)
    )
    sheet = book.active
    assert sheet is not None
    cells = [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    assert [HEADERS_VI[c] for c in COLUMNS] == [
        cell for cell in cells if cell in HEADERS_VI.values()
    ]
    for text in (csv_text, "\n".join(cells)):
        for whole, shown in ADDRESSES.items():
            assert whole not in text
            assert shown not in text


def statuses(body: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    return [(s["status"], s["late"], s["left_early"]) for s in body["sites"]]


RULE_OVERRIDES = [
    ("", [("present", False, True), ("partial", True, True)]),
    ("?present_coverage=0.5", [("present", False, True), ("present", True, True)]),
    ("?present_coverage=0.9", [("partial", False, True), ("partial", True, True)]),
    ("?gap_grace=0", [("partial", False, True), ("partial", True, True)]),
    ("?late_after=10", [("present", True, True), ("partial", True, True)]),
    ("?late_after=1200", [("present", False, True), ("partial", False, True)]),
    ("?early_before=1200", [("present", False, False), ("partial", True, True)]),
    (
        "?present_coverage=0.5&late_after=10&early_before=10&gap_grace=0",
        [("present", True, True), ("present", True, True)],
    ),
]


@pytest.mark.parametrize(("query", "expected"), RULE_OVERRIDES, ids=[q for q, _ in RULE_OVERRIDES])
async def test_rule_overrides(
    client: httpx.AsyncClient,
    played: dict[str, Any],
    query: str,
    expected: list[tuple[str, bool, bool]],
) -> None:
    body = (await get_attendance(client, played, query)).json()
    assert statuses(body) == [*expected, ("absent", False, False)]


async def test_rule_overrides_are_echoed_and_change_coverage(
    client: httpx.AsyncClient, played: dict[str, Any]
) -> None:
    body = (await get_attendance(client, played, "?gap_grace=0&late_after=10")).json()
    assert body["rules"] == {
        "present_coverage": 0.8,
        "late_after_seconds": 10.0,
        "early_before_seconds": 300.0,
        "gap_grace_seconds": 0.0,
    }
    assert (body["sites"][0]["connected_seconds"], body["sites"][0]["coverage"]) == (4770.0, 0.795)


BAD_QUERIES = [
    f"{param}={value}"
    for param in ("present_coverage", "late_after", "early_before", "gap_grace")
    for value in ("-1", "abc", "inf", "-inf", "nan", "1e999", "")
] + ["present_coverage=2", "present_coverage=1.0001"]


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_rule_values(
    client: httpx.AsyncClient, played: dict[str, Any], query: str
) -> None:
    response = await get_attendance(client, played, f"?{query}")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_query")
    assert list(response.json()["details"]["fields"]) == [query.split("=")[0]]


# pdf was one, until the official report (issue 15 §7, its brief): docx still is.
@pytest.mark.parametrize("fmt", ["docx", "JSON", ""])
async def test_unknown_format(client: httpx.AsyncClient, played: dict[str, Any], fmt: str) -> None:
    response = await get_attendance(client, played, f"?format={fmt}")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_query")


async def test_not_started(client: httpx.AsyncClient, world: World, store: Store) -> None:
    response = await client.get(f"/api/sessions/{world.a}/attendance", headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (409, "not_started")
    # Cancelled (ended without a start): still no window.
    store.end_session(world.b, T0)
    for fmt in ("json", "csv", "xlsx"):
        response = await client.get(
            f"/api/sessions/{world.b}/attendance?format={fmt}", headers=bearer(world.host_b)
        )
        assert (response.status_code, response.json()["error"]) == (409, "not_started")


async def test_live_then_ended(client: httpx.AsyncClient, world: World, store: Store) -> None:
    started = datetime.now(UTC) - timedelta(minutes=10)
    store.start_session(world.a, started)
    store.append_event(world.a, "join", started + timedelta(minutes=1), "nga-thanh", "c1")
    live = (await client.get(f"/api/sessions/{world.a}/attendance", headers=ADMIN)).json()
    assert live["live"] is True
    assert near_now(live["window"]["end"], slack=5)
    nga_thanh = live["sites"][0]
    # Still connected: no last leave, and connected up to now.
    assert (nga_thanh["status"], nga_thanh["last_leave"]) == ("present", None)
    assert 0.85 < nga_thanh["coverage"] < 0.95

    ended = started + timedelta(minutes=20)
    store.append_event(world.a, "leave", ended, "nga-thanh", "c1", reason="closed")
    store.end_session(world.a, ended)
    over = (await client.get(f"/api/sessions/{world.a}/attendance", headers=ADMIN)).json()
    assert over["live"] is False
    assert over["window"]["seconds"] == 1200.0
    assert over["sites"][0]["coverage"] == 0.95


async def test_attendance_authorization(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    store.start_session(world.a, T0)
    let_through = await check_auth(
        client, world, "GET", lambda s, site: f"/api/sessions/{s}/attendance", allow=ADMIN_OR_HOST
    )
    assert {"admin", "host"} <= set(let_through)
    assert "site" not in let_through


async def test_attendance_as_csv(client: httpx.AsyncClient, played: dict[str, Any]) -> None:
    response = await get_attendance(client, played, "?format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="diemdanh-{played["id"]}.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == CSV_FIELDS
    assert [row[:2] for row in rows[1:-1]] == [
        ["nga-thanh", "Xã Nga Thạnh"],
        ["tan-loc", "Thị trấn Tân Lộc"],
        ["ubnd", "Văn phòng UBND huyện"],
    ]
    assert dict(zip(CSV_FIELDS, rows[1], strict=True)) == {
        **{k: str(v) for k, v in NGA_THANH.items() if k in CSV_FIELDS},
        "late": "no",
        "left_early": "yes",
    }
    ubnd = dict(zip(CSV_FIELDS, rows[3], strict=True))
    assert (ubnd["first_join"], ubnd["last_leave"], ubnd["headcount_rate"]) == ("", "", "0.416667")
    total = dict(zip(CSV_FIELDS, rows[-1], strict=True))
    assert (total["site"], total["name"], total["expected"]) == ("TOTAL", "3 invited", "77")
    assert total["status"] == "present 1, partial 1, absent 1"
    assert (total["late"], total["left_early"], total["interruptions"]) == ("1", "2", "1")
    assert (total["headcount"], total["headcount_rate"]) == ("55", str(round(55 / 77, 6)))
    assert total["coverage"] == str(round(2 / 3, 6))


async def test_attendance_as_the_official_csv(
    client: httpx.AsyncClient, played: dict[str, Any]
) -> None:
    plain = await get_attendance(client, played, "?format=csv")
    assert (await get_attendance(client, played, "?format=csv&lang=en")).content == plain.content
    response = await get_attendance(client, played, "?format=csv&lang=vi")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == [HEADERS_VI[c] for c in COLUMNS]
    nga_thanh = dict(zip(COLUMNS, rows[1], strict=True))
    assert (nga_thanh["status"], nga_thanh["late"], nga_thanh["left_early"]) == (
        "có mặt",
        "không",
        "có",
    )
    assert nga_thanh["first_join"] == "01/03/2025 08:00:30"  # the server's zone, Hà Nội
    # The totals end the table; the seal, after an empty line, ends the file.
    assert rows[4][:2] == ["Tổng cộng", "3 điểm cầu được mời"]
    chain = (await get_attendance(client, played)).json()["chain"]
    # Base64 may begin with "+", which a spreadsheet would run: written as text, like any.
    signature = ("'" if chain["signature"].startswith("+") else "") + chain["signature"]
    assert rows[5:] == [
        [],
        ["Niêm phong nhật ký", "Mã cuối chuỗi (SHA-256)", "Số sự kiện", "Chữ ký Ed25519"],
        [f"Phiên {played['id']}", chain["head"], "13", signature],
    ]
    for wrong in ("fr", "VI", ""):
        refused = await get_attendance(client, played, f"?format=csv&lang={wrong}")
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_query")
        assert refused.json()["details"] == {"fields": {"lang": "must be en or vi"}}


async def test_attendance_as_the_official_pdf(
    client: httpx.AsyncClient, played: dict[str, Any]
) -> None:
    body = (await get_attendance(client, played)).json()
    query = "?format=pdf&number=12-BC/HU&date=2025-03-02&place=Nga%20S%C6%A1n"
    response = await get_attendance(client, played, query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="diemdanh-{played["id"]}.pdf"' in response.headers["content-disposition"]
    pages = PdfReader(io.BytesIO(response.content)).pages
    text = " ".join(" ".join(page.extract_text().split()) for page in pages)
    for part in ["ĐẢNG CỘNG SẢN VIỆT NAM", "Số 12-BC/HU", "Nga Sơn, ngày 02 tháng 3 năm 2025"]:
        assert part in text, part
    assert TITLE in text and "Hội nghị cấp cơ sở" in text
    for site in ("Xã Nga Thạnh", "Thị trấn Tân Lộc", "Văn phòng UBND huyện"):
        assert site in text
    assert "Điểm cầu được mời 3" in text and "Số người dự kiến 77" in text
    assert body["chain"] is not None and body["chain"]["head"] in text.replace(" ", "")
    for wrong, field in [("date=2025-3-2", "date"), ("number=%00", "number")]:
        refused = await get_attendance(client, played, f"?format=pdf&{wrong}")
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_query")
        assert list(refused.json()["details"]["fields"]) == [field]


async def test_attendance_as_xlsx(client: httpx.AsyncClient, played: dict[str, Any]) -> None:
    response = await get_attendance(client, played, "?format=xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f'filename="diemdanh-{played["id"]}.xlsx"' in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == TITLE
    # The window in local time: 08:00 to 09:40 in Hà Nội.
    assert rows[1][:4] == [
        f"Phiên {played['id']}",
        "Bắt đầu 01/03/2025 08:00:00",
        "Kết thúc 01/03/2025 09:40:00",
        "Giờ Asia/Ho_Chi_Minh",
    ]
    header = rows.index([HEADERS_VI[c] for c in COLUMNS])
    assert rows[header][:2] == ["Mã điểm cầu", "Tên điểm cầu"]
    sites = rows[header + 1 : header + 4]
    assert [row[:2] for row in sites] == [
        ["nga-thanh", "Xã Nga Thạnh"],
        ["tan-loc", "Thị trấn Tân Lộc"],
        ["ubnd", "Văn phòng UBND huyện"],
    ]
    nga_thanh = dict(zip(COLUMNS, sites[0], strict=True))
    # Times as spreadsheet dates in local time, rates as numbers.
    assert nga_thanh["first_join"] == datetime(2025, 3, 1, 8, 0, 30)
    # Values in Vietnamese (issue 15 §7).
    assert (nga_thanh["status"], nga_thanh["coverage"], nga_thanh["headcount"]) == (
        "có mặt",
        0.805,
        35,
    )
    totals = dict(zip(COLUMNS, rows[header + 4], strict=True))
    assert (totals["site"], totals["expected"], totals["headcount"]) == ("Tổng cộng", 77, 55)
    assert len(rows) == header + 5
    # The seal: its head on every printed page, the whole of it on a sheet of its own.
    chain = (await get_attendance(client, played)).json()["chain"]
    assert sheet.oddFooter.center.text == f"Niêm phong nhật ký: {chain['head']} (13 sự kiện)"
    sealed = [list(row) for row in book["Niêm phong"].iter_rows(values_only=True)]
    assert sealed[2:6] == [
        ["Niêm phong nhật ký", f"Phiên {played['id']}"],
        ["Mã cuối chuỗi (SHA-256)", chain["head"]],
        ["Số sự kiện", 13],
        ["Chữ ký Ed25519", chain["signature"]],
    ]


# GET /api/attendance


def start_and_end(store: Store, session_id: str, start: datetime, minutes: float = 60) -> None:
    store.start_session(session_id, start)
    store.end_session(session_id, start + timedelta(minutes=minutes))


def full_stay(store: Store, session_id: str, site: str, start: datetime, present: int) -> None:
    store.append_event(session_id, "join", start, site_id=site, conn=f"{site}-1")
    store.append_event(session_id, "headcount", at(1, start), site_id=site, present=present)
    store.append_event(session_id, "leave", at(60, start), site_id=site, conn=f"{site}-1")


@pytest.fixture
async def year(client: httpx.AsyncClient, store: Store) -> dict[str, str]:
    """Sessions around New Year 2026, in Hà Nội (UTC+7):

    - eve: 2025-12-31 23:59 local (16:59Z); nga-thanh present.
    - first: 2026-01-01 01:00 local (2025-12-31T18:00Z); nga-thanh present (30 people),
      tan-loc partial (20 of 60 minutes, 10 people).
    - mid: 2026-01-15; nga-thanh present (35), tan-loc and ubnd absent (ubnd reported 9).
    - planned: never started; cancelled: ended without a start.
    """
    await put_sites(client)
    ids = {}
    for name, sites in [
        ("eve", ["nga-thanh"]),
        ("first", ["nga-thanh", "tan-loc"]),
        ("mid", ["nga-thanh", "tan-loc", "ubnd"]),
        ("planned", ["nga-thanh", "tan-loc"]),
        ("cancelled", ["tan-loc"]),
    ]:
        ids[name] = (await create_session(client, sites, title=f"Phiên {name}"))["id"]

    eve = datetime(2025, 12, 31, 16, 59, tzinfo=UTC)
    store.start_session(ids["eve"], eve)
    full_stay(store, ids["eve"], "nga-thanh", eve, 40)
    store.end_session(ids["eve"], at(60, eve))

    first = datetime(2025, 12, 31, 18, 0, tzinfo=UTC)
    store.start_session(ids["first"], first)
    full_stay(store, ids["first"], "nga-thanh", first, 30)
    store.append_event(ids["first"], "join", first, site_id="tan-loc", conn="t")
    store.append_event(ids["first"], "headcount", at(1, first), site_id="tan-loc", present=10)
    store.append_event(ids["first"], "leave", at(20, first), site_id="tan-loc", conn="t")
    store.end_session(ids["first"], at(60, first))

    mid = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
    store.start_session(ids["mid"], mid)
    full_stay(store, ids["mid"], "nga-thanh", mid, 35)
    store.append_event(ids["mid"], "headcount", at(5, mid), site_id="ubnd", present=9)
    store.end_session(ids["mid"], at(60, mid))

    store.end_session(ids["cancelled"], datetime(2026, 1, 10, tzinfo=UTC))
    return ids


async def test_period_figures(client: httpx.AsyncClient, year: dict[str, str]) -> None:
    response = await client.get("/api/attendance?from=2026-01-01&to=2026-01-31", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"], body["timezone"]) == (
        "2026-01-01",
        "2026-01-31",
        "Asia/Ho_Chi_Minh",
    )
    assert body["rules"] == Rules().as_dict()
    # Coverage of every invited site of every session: 1, 1/3 (first); 1, 0, 0 (mid).
    assert body["totals"] == {
        "sessions_held": 2,
        "average_coverage": pytest.approx((1 + 1 / 3 + 1) / 5),
        "participation_rate": pytest.approx((30 + 10 + 35) / (65 + 77)),
        "connected_rate": pytest.approx(3 / 5),
        "invited": 5,
        "expected": 142,
        "headcount": 75,
        **NO_PEOPLE_TOTALS,
    }
    assert [s["id"] for s in body["sessions"]] == [year["first"], year["mid"]]
    first = body["sessions"][0]
    assert first == {
        "id": year["first"],
        "title": "Phiên first",
        "window": {
            "start": "2025-12-31T18:00:00.000Z",
            "end": "2025-12-31T19:00:00.000Z",
            "seconds": 3600.0,
        },
        "live": False,
        "invited": 2,
        "present": 1,
        "partial": 1,
        "absent": 0,
        "expected": 65,
        "headcount": 40,
        "average_coverage": pytest.approx(2 / 3),
        "participation_rate": round(40 / 65, 6),
        "connected_rate": 1.0,
        **NO_PEOPLE_TOTALS,
    }
    # The sites most often missing first; twice or more is a pattern.
    assert body["sites"] == [
        {
            "site": "tan-loc",
            "name": "Thị trấn Tân Lộc",
            "kind": "town",
            "sessions": 2,
            "present": 0,
            "partial": 1,
            "absent": 1,
            "average_coverage": pytest.approx(1 / 6),
            "repeatedly_absent_or_partial": True,
        },
        {
            "site": "ubnd",
            "name": "Văn phòng UBND huyện",
            "kind": "agency",
            "sessions": 1,
            "present": 0,
            "partial": 0,
            "absent": 1,
            "average_coverage": 0.0,
            "repeatedly_absent_or_partial": False,
        },
        {
            "site": "nga-thanh",
            "name": "Xã Nga Thạnh",
            "kind": "commune",
            "sessions": 2,
            "present": 2,
            "partial": 0,
            "absent": 0,
            "average_coverage": 1.0,
            "repeatedly_absent_or_partial": False,
        },
    ]


@pytest.mark.parametrize(
    ("query", "sessions"),
    [
        ("from=2025-12-31&to=2025-12-31", ["eve"]),
        ("from=2026-01-01&to=2026-01-01", ["first"]),
        ("from=2025-12-01&to=2026-12-31", ["eve", "first", "mid"]),
        ("from=2026-01-02&to=2026-01-14", []),
        ("from=2026-01-15&to=2026-01-15", ["mid"]),
    ],
)
async def test_period_days_are_local_days(
    client: httpx.AsyncClient, year: dict[str, str], query: str, sessions: list[str]
) -> None:
    body = (await client.get(f"/api/attendance?{query}", headers=ADMIN)).json()
    assert [s["id"] for s in body["sessions"]] == [year[name] for name in sessions]
    assert body["totals"]["sessions_held"] == len(sessions)


async def test_an_empty_period(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/attendance?from=2020-01-01&to=2020-12-31", headers=ADMIN)).json()
    assert body["totals"] == {
        "sessions_held": 0,
        "average_coverage": None,
        "participation_rate": None,
        "connected_rate": None,
        "invited": 0,
        "expected": 0,
        "headcount": 0,
        **NO_PEOPLE_TOTALS,
    }
    assert (body["sessions"], body["sites"]) == ([], [])


async def test_period_defaults_to_this_year(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/attendance", headers=ADMIN)).json()
    this_year = datetime.now(UTC).year
    assert body["from"][:4] == body["to"][:4]
    assert int(body["from"][:4]) in (this_year, this_year + 1)  # Hà Nội may be a day ahead
    assert (body["from"][4:], body["to"][4:]) == ("-01-01", "-12-31")


async def test_period_applies_rule_overrides(
    client: httpx.AsyncClient, year: dict[str, str]
) -> None:
    body = (
        await client.get(
            "/api/attendance?from=2026-01-01&to=2026-01-31&present_coverage=0.3", headers=ADMIN
        )
    ).json()
    assert body["rules"]["present_coverage"] == 0.3
    tan_loc = body["sites"][0]
    assert (tan_loc["site"], tan_loc["present"], tan_loc["partial"]) == ("tan-loc", 1, 0)
    assert tan_loc["repeatedly_absent_or_partial"] is False


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=2026-13-01", ["from"]),
        ("from=abc&to=2026-02-30", ["from", "to"]),
        ("to=01/02/2026", ["to"]),
        ("from=", ["from"]),
        ("from=2026-02-01&to=2026-01-31", ["to"]),
        ("from=2026-01-01&to=2026-01-31&gap_grace=-5", ["gap_grace"]),
        # Dates Python reads but the contract does not promise.
        ("from=20260101", ["from"]),
        ("from=2026-W01-1", ["from"]),
        ("from=2026-1-5", ["from"]),
        # Past the ends of the calendar once the zone and the day after `to` are added.
        ("to=9999-12-31", ["to"]),
        ("from=0001-01-01", ["from"]),
        # Stored times sort as text only with four-digit years.
        ("from=0300-01-01", ["from"]),
        ("from=1000-01-01", ["from"]),
    ],
)
async def test_period_bad_queries(client: httpx.AsyncClient, query: str, fields: list[str]) -> None:
    response = await client.get(f"/api/attendance?{query}", headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (422, "invalid_query")
    assert sorted(response.json()["details"]["fields"]) == fields


async def test_period_per_kind_of_conference_as_json_and_xlsx(
    client: httpx.AsyncClient, year: dict[str, str], store: Store
) -> None:
    with store._conn:  # mid as a key cadres' conference (the fixture made grassroots ones)
        store._conn.execute("UPDATE sessions SET kind = 'key' WHERE id = ?", (year["mid"],))
    query = "/api/attendance?from=2026-01-01&to=2026-01-31"
    body = (await client.get(query, headers=ADMIN)).json()
    key, grassroots = body["kinds"]["key"], body["kinds"]["grassroots"]
    assert (key["sessions"], key["invited"], key["attended"], key["headcount"]) == (1, 3, 1, 35)
    assert key["participation_rate"] == round(35 / 77, 6)
    assert (key["session_ids"], grassroots["session_ids"]) == ([year["mid"]], [year["first"]])
    assert (grassroots["sessions"], grassroots["headcount"], grassroots["expected"]) == (1, 40, 65)

    response = await client.get(f"{query}&format=xlsx", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert (
        'filename="diemdanh-2026-01-01-2026-01-31.xlsx"' in response.headers["content-disposition"]
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Tổng hợp", "Hội nghị", "Điểm cầu"]
    rows = [list(r) for r in book["Tổng hợp"].iter_rows(values_only=True)]
    assert rows[0][0] == "Báo cáo tham dự hội nghị từ ngày 01/01/2026 đến ngày 31/01/2026"
    by_kind = {row[0]: row for row in rows[4:]}
    assert list(by_kind) == ["Hội nghị cán bộ chủ chốt", "Hội nghị cấp cơ sở", "Tổng cộng"]
    # sessions, invited, attended, connected rate, expected, headcount, participation
    assert by_kind["Hội nghị cán bộ chủ chốt"][1:8] == [
        1,
        3,
        1,
        round(1 / 3, 6),
        77,
        35,
        round(35 / 77, 6),
    ]
    assert by_kind["Tổng cộng"][1:8] == [2, 5, 3, 0.6, 142, 75, round(75 / 142, 6)]
    sessions = [list(r) for r in book["Hội nghị"].iter_rows(values_only=True)]
    assert [row[2] for row in sessions[1:]] == ["Hội nghị cấp cơ sở", "Hội nghị cán bộ chủ chốt"]
    assert sessions[1][3] == datetime(2026, 1, 1, 1, 0)  # its start on Hà Nội's clock
    sites = [list(r) for r in book["Điểm cầu"].iter_rows(values_only=True)]
    assert sites[1][:3] == ["tan-loc", "Thị trấn Tân Lộc", "Thị trấn"]
    refused = await client.get(f"{query}&format=csv", headers=ADMIN)
    assert (refused.status_code, refused.json()["error"]) == (422, "invalid_query")

    response = await client.get(f"{query}&format=pdf&number=3-BC/HU", headers=ADMIN)
    assert response.headers["content-type"] == "application/pdf"
    assert (
        'filename="diemdanh-2026-01-01-2026-01-31.pdf"' in response.headers["content-disposition"]
    )
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in text and "Số 3-BC/HU" in text
    assert "từ ngày 01/01/2026 đến ngày 31/01/2026" in text
    assert "1 hội nghị cán bộ chủ chốt, tỷ lệ tham dự 45,5%" in text  # 35 of 77
    assert "Phiên mid" in text and "Phiên first" in text


async def test_period_at_the_ends_of_the_calendar(
    client: httpx.AsyncClient, year: dict[str, str]
) -> None:
    response = await client.get("/api/attendance?from=1900-01-01&to=9999-12-30", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["totals"]["sessions_held"] == 3


async def test_period_is_admin_only(client: httpx.AsyncClient, world: World) -> None:
    let_through = await check_auth(
        client,
        world,
        "GET",
        lambda s, site: "/api/attendance",
        allow=ADMIN_ONLY,
        session_scoped=False,
    )
    assert let_through == ["admin", "lowercase scheme"]
    host = await client.get("/api/attendance", headers=bearer(world.host_a))
    assert (host.status_code, host.json()["error"]) == (403, "forbidden_role")


# Crash recovery: the leaves a dead server did not write


@pytest.fixture
def crashed(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A store with one live session, as a server would leave it; closed after the test."""
    store = Store.open(tmp_path / "crashed" / "diemcau.sqlite3")
    store.put_sites([Site(site_id, **site) for site_id, site in SITES.items()], T0)
    session = store.create_session(
        title="Họp giao ban",
        scheduled_start=T0,
        scheduled_end=at(180),
        host_token_hash="host-hash",
        invite_token_hashes={site_id: f"{site_id}-hash" for site_id in SITES},
        now=T0,
    )
    store.start_session(session.id, T0)
    yield store, session.id
    store.close()


def leaves(store: Store, session_id: str) -> list[tuple[str | None, str | None, datetime, Any]]:
    return [
        (e.site_id, e.conn, e.ts, e.body.get("reason"))
        for e in store.events(session_id)
        if e.type == "leave"
    ]


def test_open_joins_are_closed_at_the_last_sign_of_life(crashed: tuple[Store, str]) -> None:
    store, session_id = crashed
    store.append_event(session_id, "join", at(1), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "join", at(2), site_id="tan-loc", conn="c2")
    store.append_event(session_id, "join", at(3), site_id="ubnd", conn="c3")
    store.append_event(session_id, "leave", at(4), site_id="ubnd", conn="c3", reason="closed")
    store.mark_alive(at(10))
    # Joined after the last mark (the beat was late): closed at its join, never before it.
    store.append_event(session_id, "join", at(12), site_id="ubnd", conn="c4")

    written = store.close_orphaned_connections(at(60), "server_shutdown")
    assert sorted((e.site_id, e.conn, e.ts) for e in written) == [
        ("nga-thanh", "c1", at(10)),
        ("tan-loc", "c2", at(10)),
        ("ubnd", "c4", at(12)),
    ]
    assert sorted(leaves(store, session_id)) == [
        ("nga-thanh", "c1", at(10), "server_shutdown"),
        ("tan-loc", "c2", at(10), "server_shutdown"),
        ("ubnd", "c3", at(4), "closed"),
        ("ubnd", "c4", at(12), "server_shutdown"),
    ]
    # Done once: a second recovery finds nothing open.
    assert store.close_orphaned_connections(at(90), "server_shutdown") == []


def test_without_a_liveness_mark_the_fallback_is_used(crashed: tuple[Store, str]) -> None:
    store, session_id = crashed
    assert store.last_alive() is None
    store.append_event(session_id, "join", at(1), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "join", at(70), site_id="tan-loc", conn="c2")
    store.close_orphaned_connections(at(60), "server_shutdown")
    assert sorted(leaves(store, session_id)) == [
        ("nga-thanh", "c1", at(60), "server_shutdown"),
        ("tan-loc", "c2", at(70), "server_shutdown"),
    ]


def test_a_reused_connection_id_is_closed_once(crashed: tuple[Store, str]) -> None:
    store, session_id = crashed
    store.append_event(session_id, "join", at(1), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "leave", at(2), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "join", at(3), site_id="nga-thanh", conn="c1")
    store.mark_alive(at(5))
    store.close_orphaned_connections(at(60), "server_shutdown")
    assert leaves(store, session_id) == [
        ("nga-thanh", "c1", at(2), None),
        ("nga-thanh", "c1", at(5), "server_shutdown"),
    ]


async def test_a_restarted_server_closes_what_the_crash_left_open(
    crashed: tuple[Store, str],
) -> None:
    store, session_id = crashed
    store.append_event(session_id, "join", at(1), site_id="nga-thanh", conn="c1")
    store.append_event(session_id, "join", at(2), site_id="tan-loc", conn="c2")
    store.mark_alive(at(30))
    database = Path(store._conn.execute("PRAGMA database_list").fetchone()["file"])

    config = Config(data_dir=database.parent)
    app: Starlette = create_app(config, ADMIN_TOKEN)
    try:
        assert sorted(leaves(store, session_id)) == [
            ("nga-thanh", "c1", at(30), "server_shutdown"),
            ("tan-loc", "c2", at(30), "server_shutdown"),
        ]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            body = (
                await client.get(f"/api/sessions/{session_id}/attendance", headers=ADMIN)
            ).json()
        # Still live: the report runs to now, but the halls count only up to the crash.
        assert body["live"] is True
        by_site = {s["site"]: s for s in body["sites"]}
        assert by_site["nga-thanh"]["last_leave"] == "2025-03-01T01:30:00.000Z"
        assert by_site["nga-thanh"]["connected_seconds"] == 29 * 60
    finally:
        await shut_down(app)
    # A clean stop leaves nothing for the next start.
    assert store.close_orphaned_connections(at(90), "server_shutdown") == []


# Exports neutralise formulas, through the API as through the command line.

FORMULA_SITES = {
    "nga-thanh": {"name": '=HYPERLINK("http://x")', "kind": "commune", "expected": 40},
    "tan-loc": {"name": "@SUM(A1)", "kind": "+1", "expected": 25},
    "ubnd": {"name": "-2", "kind": "agency", "expected": 12},
}


async def test_exports_write_formula_names_and_titles_as_text(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client, FORMULA_SITES)
    created = await create_session(client, list(FORMULA_SITES), title="=1+1")
    play_session(store, created["id"])
    response = await get_attendance(client, created, "?format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert [row[1:4] for row in rows[1:-1]] == [
        ['\'=HYPERLINK("http://x")', "commune", "40"],
        ["'@SUM(A1)", "'+1", "25"],
        ["'-2", "agency", "12"],
    ]
    response = await get_attendance(client, created, "?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert (sheet["A1"].value, sheet["A1"].data_type) == ("=1+1", "s")
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    names = [c for c in cells if c.value in [s["name"] for s in FORMULA_SITES.values()]]
    assert len(names) == 3 and all(c.data_type == "s" and c.quotePrefix for c in names)
    expected = [c for c in cells if c.column == 4 and c.value in (40, 25, 12)]
    assert len(expected) == 3 and all(c.data_type == "n" for c in expected)


async def test_a_headcount_that_cannot_be_written_is_a_503_and_changes_nothing(
    client: httpx.AsyncClient, world: World, store: Store
) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # held elsewhere past the event loop's short wait
    try:
        response = await client.post(
            headcount_url(world.a, "nga-thanh"), json={"present": 37}, headers=ADMIN
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"] == "record_unavailable"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["reason"] == "the database cannot be written: database is locked"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.events(world.a) == []
    response = await client.post(
        headcount_url(world.a, "nga-thanh"), json={"present": 37}, headers=ADMIN
    )
    assert response.status_code == 201
    assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_an_export_being_written_leaves_the_loop_free(
    client: httpx.AsyncClient,
    played: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    # A writer held until the test lets it go, as a large workbook would be: /healthz must be
    # answered meanwhile (a writer on the event loop would hold it, and healthz, until done).
    writer = getattr(records, f"to_{fmt}")
    entered, release = threading.Event(), threading.Event()

    def held_writer(*args: Any) -> bytes:
        entered.set()
        release.wait(10)
        return writer(*args)

    monkeypatch.setattr(records, f"to_{fmt}", held_writer)
    export = asyncio.ensure_future(get_attendance(client, played, f"?format={fmt}"))
    try:
        assert await asyncio.to_thread(entered.wait, 10)
        health = await client.get("/healthz")
        assert health.status_code == 200 and not export.done()
    finally:
        release.set()
    response = await export
    assert response.status_code == 200
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book.active is not None and book.active.max_row > 1
    else:
        assert len(list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))) > 1
