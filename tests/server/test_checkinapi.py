"""Check-in at the hall over HTTP: the hall's code, the phone's page, the clerks' ticks and
corrections (server/checkinapi.py). The real app, its store and writer."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.server.checkinapi import checkin_key
from diemcau.server.checkinrules import CheckinOpening
from diemcau.server.meeting import topic
from diemcau.server.state import app_state
from diemcau.server.store import Store

from .conftest import BASE_URL, admin_headers, bearer, create_session, put_sites

ADMIN = admin_headers()
ROSTERS = (
    "site,name,code,position,unit\r\n"
    "nga-thanh,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy xã\r\n"
    "nga-thanh,Lê Thị Bình,,Phó Chủ tịch,UBND xã\r\n"
    # Trần Đức Cường is expected at both halls (the same member code).
    "nga-thanh,Trần Đức Cường,38.000103,Đảng viên,Chi bộ 2\r\n"
    "tan-loc,Trần Đức Cường,38.000103,Đảng viên,Chi bộ 2\r\n"
    "tan-loc,Phạm Thị Dung,,Đảng viên,\r\n"
)


@dataclass(frozen=True)
class Hall:
    session: str
    tokens: dict[str, str]  # site -> token
    host: str
    people: dict[tuple[str, str], str]  # (site, name) -> person id

    def who(self, site: str, name: str) -> str:
        return self.people[(site, name)]


async def make_hall(
    client: httpx.AsyncClient, start: bool = True, starts_in: timedelta | None = None
) -> Hall:
    """The halls' session, live with `start`; scheduled to start `starts_in` from now when
    given (else in the past, conftest's)."""
    await put_sites(client)
    response = await client.post(
        "/api/rosters/import",
        content=ROSTERS.encode(),
        headers={**ADMIN, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    if starts_in is None:
        created = await create_session(client, ["nga-thanh", "tan-loc", "ubnd"])
    else:
        begins = datetime.now(UTC) + starts_in
        response = await client.post(
            "/api/sessions",
            json={
                "title": "Hội nghị cán bộ chủ chốt",
                "scheduled_start": begins.isoformat(),
                "scheduled_end": (begins + timedelta(hours=3)).isoformat(),
                "sites": ["nga-thanh", "tan-loc", "ubnd"],
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        created = response.json()
    if start:
        response = await client.post(f"/api/sessions/{created['id']}/start", headers=ADMIN)
        assert response.status_code == 200, response.text
    people = {}
    for site in ("nga-thanh", "tan-loc"):
        roster = (await client.get(f"/api/sites/{site}/roster", headers=ADMIN)).json()["people"]
        people.update({(site, p["name"]): p["id"] for p in roster})
    tokens = {i["site"]: i["token"] for i in created["invites"]}
    return Hall(created["id"], tokens, created["host"]["token"], people)


@pytest.fixture
async def hall(client: httpx.AsyncClient) -> Hall:
    return await make_hall(client)


async def code_of(client: httpx.AsyncClient, hall: Hall, site: str = "nga-thanh") -> str:
    response = await client.get(
        f"/api/sessions/{hall.session}/sites/{site}/checkin", headers=bearer(hall.tokens[site])
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url.rsplit("/", 1)[1]


def people_events(store: Store, session: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [
        (e.type, e.site_id, dict(e.body))
        for e in store.events(session)
        if e.type in ("checkin", "checkin_revoked", "absence", "absence_revoked")
    ]


async def test_the_hall_gets_a_check_in_url_and_its_qr_code(
    client: httpx.AsyncClient, hall: Hall
) -> None:
    path = f"/api/sessions/{hall.session}/sites/nga-thanh/checkin"
    response = await client.get(path, headers=bearer(hall.tokens["nga-thanh"]))
    assert response.status_code == 200, response.text
    answer = response.json()
    code = answer["url"].rsplit("/", 1)[1]
    assert answer["url"] == f"{BASE_URL}/checkin/{code}" and len(code) == 30
    expires = datetime.fromisoformat(answer["expires_at"])
    refresh = datetime.fromisoformat(answer["refresh_at"])
    now = datetime.now(UTC)
    assert now < refresh <= now + timedelta(seconds=30) < expires <= now + timedelta(seconds=61)
    assert answer["qr"].startswith("data:image/svg+xml")
    # The admin may ask too; another hall, the host and nobody may not.
    assert (await client.get(path, headers=ADMIN)).status_code == 200
    for headers, status in (
        (bearer(hall.tokens["tan-loc"]), 403),
        (bearer(hall.host), 403),
        ({}, 401),
    ):
        assert (await client.get(path, headers=headers)).status_code == status


async def test_no_code_before_the_start_for_a_hall_without_roster_or_removed(
    client: httpx.AsyncClient, store: Store
) -> None:
    # Scheduled beyond the hour before its start that check-in opens in.
    hall = await make_hall(client, start=False, starts_in=timedelta(hours=2))
    path = f"/api/sessions/{hall.session}/sites/nga-thanh/checkin"
    response = await client.get(path, headers=bearer(hall.tokens["nga-thanh"]))
    assert (response.status_code, response.json()["error"]) == (409, "not_started")
    await client.post(f"/api/sessions/{hall.session}/start", headers=ADMIN)
    response = await client.get(
        f"/api/sessions/{hall.session}/sites/ubnd/checkin", headers=bearer(hall.tokens["ubnd"])
    )
    assert (response.status_code, response.json()["error"]) == (409, "no_roster")
    assert store.revoke_invite(hall.session, "tan-loc", datetime.now(UTC))
    response = await client.get(
        f"/api/sessions/{hall.session}/sites/tan-loc/checkin", headers=ADMIN
    )
    assert (response.status_code, response.json()["error"]) == (409, "removed")


async def test_a_phone_checks_its_person_in_once(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    code = await code_of(client, hall)
    response = await client.get(f"/api/checkin/{code}")
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["session"], page["site"]) == (hall.session, "nga-thanh")
    assert [p["name"] for p in page["people"]] == ["Nguyễn Văn An", "Lê Thị Bình", "Trần Đức Cường"]
    assert all(set(p) >= {"id", "name"} and not p["checked_in"] for p in page["people"])
    an = hall.who("nga-thanh", "Nguyễn Văn An")
    response = await client.post(f"/api/checkin/{code}", json={"person": an})
    assert response.status_code == 201, response.text
    assert response.json()["person"] == an and response.json()["method"] == "qr"
    assert people_events(store, hall.session) == [
        ("checkin", "nga-thanh", {"person": an, "method": "qr", "by": "site"})
    ]
    # Once: the second time says so, and writes nothing.
    response = await client.post(f"/api/checkin/{code}", json={"person": an})
    assert (response.status_code, response.json()["error"]) == (409, "already_checked_in")
    assert "this hall" in response.json()["message"]
    assert len(people_events(store, hall.session)) == 1
    listed = (await client.get(f"/api/checkin/{code}")).json()["people"]
    assert [p["checked_in"] for p in listed] == [True, False, False]


async def test_each_people_event_tells_the_pages_which_hall_to_read_again(
    app: Starlette, client: httpx.AsyncClient, hall: Hall
) -> None:
    subscription = app_state(app).bus.subscribe(topic(hall.session))
    try:
        code = await code_of(client, hall)
        an = hall.who("nga-thanh", "Nguyễn Văn An")
        assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 201
        # A refused one says nothing.
        assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 409
        dung = hall.who("tan-loc", "Phạm Thị Dung")
        response = await client.post(
            f"/api/sessions/{hall.session}/people/{dung}/absence",
            json={"reason": "ốm"},
            headers=ADMIN,
        )
        assert response.status_code == 201
        heard = [await asyncio.wait_for(anext(subscription), 5) for _ in range(2)]
        assert heard == [
            {"type": "people", "site": "nga-thanh"},
            {"type": "people", "site": "tan-loc"},
        ]
    finally:
        subscription.close()


async def test_a_second_hall_is_refused_saying_where(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    here = await code_of(client, hall, "tan-loc")
    there = await code_of(client, hall, "nga-thanh")
    response = await client.post(
        f"/api/checkin/{there}", json={"person": hall.who("nga-thanh", "Trần Đức Cường")}
    )
    assert response.status_code == 201
    response = await client.post(
        f"/api/checkin/{here}", json={"person": hall.who("tan-loc", "Trần Đức Cường")}
    )
    assert response.status_code == 409
    error = response.json()
    assert error["error"] == "already_checked_in" and "Xã Nga Thạnh" in error["message"]
    assert error["details"]["site"] == "nga-thanh" and error["details"]["method"] == "qr"
    assert len(people_events(store, hall.session)) == 1
    # Both halls' lists say where the person is.
    listed = (await client.get(f"/api/checkin/{here}")).json()["people"]
    assert [p["checked_in"] for p in listed] == [True, False]
    path = f"/api/sessions/{hall.session}/sites/tan-loc/people"
    entry = (await client.get(path, headers=ADMIN)).json()["people"][0]
    assert (entry["checked_in_site"], entry["checked_in_site_name"]) == (
        "nga-thanh",
        "Xã Nga Thạnh",
    )


async def test_an_old_code_is_gone_a_garbled_one_unknown(
    app: Starlette, client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    key = checkin_key(app_state(app))
    an = {"person": hall.who("nga-thanh", "Nguyễn Văn An")}
    # A photo of the QR code sent to a chat group two minutes ago.
    old = key.draw(hall.session, "nga-thanh", datetime.now(UTC) - timedelta(minutes=2)).text
    for response in (
        await client.get(f"/api/checkin/{old}"),
        await client.post(f"/api/checkin/{old}", json=an),
    ):
        assert (response.status_code, response.json()["error"]) == (410, "code_expired")
    good = await code_of(client, hall)
    forged = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")
    for code in (forged, "nothing", "x" * 30, good[:10] + good[10:].upper(), old[:29]):
        for response in (
            await client.get(f"/api/checkin/{code}"),
            await client.post(f"/api/checkin/{code}", json=an),
        ):
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), code
    assert people_events(store, hall.session) == []


async def test_a_phone_may_only_pick_a_person_of_its_hall(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    code = await code_of(client, hall)
    for person in (hall.who("tan-loc", "Phạm Thị Dung"), "p-nosuchperson"):
        response = await client.post(f"/api/checkin/{code}", json={"person": person})
        assert (response.status_code, response.json()["error"]) == (404, "unknown_person")
    for body in ({}, {"person": 7}, {"person": ""}, {"person": "x", "extra": 1}, []):
        response = await client.post(f"/api/checkin/{code}", json=body)
        assert response.status_code in (400, 422), body
    assert people_events(store, hall.session) == []


async def test_two_phones_picking_one_name_at_once_make_one_check_in(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    code = await code_of(client, hall)
    body = {"person": hall.who("nga-thanh", "Lê Thị Bình")}
    answers = await asyncio.gather(
        *(client.post(f"/api/checkin/{code}", json=body) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
    assert len(people_events(store, hall.session)) == 1


async def test_the_clerk_ticks_names_and_corrects_a_mistake(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    site = bearer(hall.tokens["nga-thanh"])
    an, binh = hall.who("nga-thanh", "Nguyễn Văn An"), hall.who("nga-thanh", "Lê Thị Bình")
    ticks = f"/api/sessions/{hall.session}/sites/nga-thanh/checkins"
    assert (await client.post(ticks, json={"person": an}, headers=site)).status_code == 201
    assert (await client.post(ticks, json={"person": binh}, headers=ADMIN)).status_code == 201
    response = await client.post(ticks, json={"person": an}, headers=ADMIN)
    assert response.status_code == 409
    # Another hall's clerk, the host: not theirs to tick.
    other = bearer(hall.tokens["tan-loc"])
    assert (await client.post(ticks, json={"person": an}, headers=other)).status_code == 403
    assert (
        await client.post(ticks, json={"person": an}, headers=bearer(hall.host))
    ).status_code == 403
    revoke = f"/api/sessions/{hall.session}/people/{binh}/checkin/revoke"
    response = await client.post(revoke, json={}, headers=site)
    assert response.status_code == 422 and "reason" in response.json()["details"]["fields"]
    response = await client.post(revoke, json={"reason": "Ghi nhầm người"}, headers=site)
    assert response.status_code == 201, response.text
    response = await client.post(revoke, json={"reason": "again"}, headers=site)
    assert (response.status_code, response.json()["error"]) == (409, "not_checked_in")
    assert people_events(store, hall.session) == [
        ("checkin", "nga-thanh", {"person": an, "method": "clerk", "by": "site"}),
        ("checkin", "nga-thanh", {"person": binh, "method": "clerk", "by": "admin"}),
        (
            "checkin_revoked",
            "nga-thanh",
            {"person": binh, "by": "site", "reason": "Ghi nhầm người"},
        ),
    ]
    listed = await client.get(f"/api/sessions/{hall.session}/sites/nga-thanh/people", headers=site)
    assert listed.status_code == 200
    by_id = {p["id"]: p for p in listed.json()["people"]}
    assert by_id[an]["checked_in"] and by_id[an]["method"] == "clerk"
    assert not by_id[binh]["checked_in"] and by_id[binh]["checked_in_at"] is None
    # Every hall's at once, for the district (the attendance page); not for a hall's token.
    everyone = await client.get(f"/api/sessions/{hall.session}/people", headers=bearer(hall.host))
    assert everyone.status_code == 200
    assert [p["site"] for p in everyone.json()["people"]] == ["nga-thanh"] * 3 + ["tan-loc"] * 2
    assert {p["id"]: p for p in everyone.json()["people"]}[an] == by_id[an]
    assert (
        await client.get(f"/api/sessions/{hall.session}/people", headers=site)
    ).status_code == 403


async def test_an_absence_with_its_reason_and_its_undo(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    dung = hall.who("tan-loc", "Phạm Thị Dung")
    path = f"/api/sessions/{hall.session}/people/{dung}/absence"
    reason = {"reason": "Ốm, có giấy của trạm y tế"}
    for headers, status in (
        (bearer(hall.tokens["nga-thanh"]), 403),  # not that hall's person
        (bearer(hall.host), 403),
        ({}, 401),
    ):
        assert (await client.post(path, json=reason, headers=headers)).status_code == status
    response = await client.post(path, json=reason, headers=bearer(hall.tokens["tan-loc"]))
    assert response.status_code == 201, response.text
    assert response.json()["reason"] == reason["reason"] and response.json()["by"] == "site"
    listed = await client.get(f"/api/sessions/{hall.session}/sites/tan-loc/people", headers=ADMIN)
    entry = next(p for p in listed.json()["people"] if p["id"] == dung)
    assert entry["excused"] and entry["reason"] == reason["reason"]
    undo = f"{path}/revoke"
    response = await client.post(undo, json={"reason": "Đã đến muộn"}, headers=ADMIN)
    assert response.status_code == 201 and response.json()["by"] == "admin"
    response = await client.post(undo, json={"reason": "again"}, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (409, "not_excused")
    unknown = f"/api/sessions/{hall.session}/people/p-nosuchperson/absence"
    assert (await client.post(unknown, json=reason, headers=ADMIN)).status_code == 404
    for body in ({"reason": ""}, {"reason": "x" * 501}, {"reason": "ốm", "by": "admin"}):
        assert (await client.post(path, json=body, headers=ADMIN)).status_code == 422
    assert [t for t, _, _ in people_events(store, hall.session)] == [
        "absence",
        "absence_revoked",
    ]


async def test_a_checked_in_person_is_not_marked_absent(
    client: httpx.AsyncClient, hall: Hall
) -> None:
    an = hall.who("nga-thanh", "Nguyễn Văn An")
    code = await code_of(client, hall)
    assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 201
    response = await client.post(
        f"/api/sessions/{hall.session}/people/{an}/absence", json={"reason": "ốm"}, headers=ADMIN
    )
    assert (response.status_code, response.json()["error"]) == (409, "checked_in")


async def test_after_the_end_no_check_in_but_corrections(
    client: httpx.AsyncClient, hall: Hall, store: Store
) -> None:
    an, binh = hall.who("nga-thanh", "Nguyễn Văn An"), hall.who("nga-thanh", "Lê Thị Bình")
    code = await code_of(client, hall)
    assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 201
    assert (
        await client.post(f"/api/sessions/{hall.session}/end", headers=ADMIN)
    ).status_code == 200
    response = await client.post(f"/api/checkin/{code}", json={"person": binh})
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")
    ticks = f"/api/sessions/{hall.session}/sites/nga-thanh/checkins"
    response = await client.post(ticks, json={"person": binh}, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (409, "session_ended")
    path = f"/api/sessions/{hall.session}/people"
    site = bearer(hall.tokens["nga-thanh"])
    response = await client.post(
        f"{path}/{binh}/absence", json={"reason": "Đi công tác"}, headers=site
    )
    assert response.status_code == 201
    response = await client.post(
        f"{path}/{an}/checkin/revoke", json={"reason": "nhầm"}, headers=ADMIN
    )
    assert response.status_code == 201
    assert [t for t, _, _ in people_events(store, hall.session)] == [
        "checkin",
        "absence",
        "checkin_revoked",
    ]


async def test_the_public_check_in_is_rate_limited_per_address(
    app: Starlette, client: httpx.AsyncClient, hall: Hall
) -> None:
    code = await code_of(client, hall)
    # The writes' own limit as served (the server tests lift it), for buckets made from now on.
    limits = app_state(app).write_limits
    limits.rate, limits.burst = 0.001, 40
    answers = [
        (await client.post(f"/api/checkin/{code}", json={"person": "p-guess"})).status_code
        for _ in range(45)
    ]
    assert answers[:40] == [404] * 40 and answers[40:] == [429] * 5
    # A hall's clerk has a bucket of its own token.
    response = await client.post(
        f"/api/sessions/{hall.session}/sites/nga-thanh/checkins",
        json={"person": hall.who("nga-thanh", "Nguyễn Văn An")},
        headers=bearer(hall.tokens["nga-thanh"]),
    )
    assert response.status_code == 201


async def opens_at(client: httpx.AsyncClient, store: Store, hall: Hall) -> timedelta:
    """The hall's code refused, not started yet: how long before the scheduled start it opens."""
    response = await client.get(
        f"/api/sessions/{hall.session}/sites/nga-thanh/checkin", headers=ADMIN
    )
    assert (response.status_code, response.json()["error"]) == (409, "not_started")
    session = store.get_session(hall.session)
    assert session is not None
    return session.scheduled_start - datetime.fromisoformat(response.json()["details"]["opens_at"])


async def test_check_in_opens_an_hour_before_the_scheduled_start(
    client: httpx.AsyncClient, store: Store
) -> None:
    """People come before the operator goes live: from an hour before the scheduled start
    (--checkin-opens-before) the hall's code, the phone's page and the clerk's tick work, and
    a check-in before the start is on time in the report."""
    early = await make_hall(client, start=False, starts_in=timedelta(hours=2))
    assert await opens_at(client, store, early) == timedelta(hours=1)
    ticks = f"/api/sessions/{early.session}/sites/nga-thanh/checkins"
    an = early.who("nga-thanh", "Nguyễn Văn An")
    response = await client.post(ticks, json={"person": an}, headers=ADMIN)
    assert (response.status_code, response.json()["error"]) == (409, "not_started")
    assert people_events(store, early.session) == []

    hall = await make_hall(client, start=False, starts_in=timedelta(minutes=50))
    code = await code_of(client, hall)
    page = await client.get(f"/api/checkin/{code}")
    assert page.status_code == 200, page.text
    an, binh = hall.who("nga-thanh", "Nguyễn Văn An"), hall.who("nga-thanh", "Lê Thị Bình")
    assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 201
    ticks = f"/api/sessions/{hall.session}/sites/nga-thanh/checkins"
    response = await client.post(
        ticks, json={"person": binh}, headers=bearer(hall.tokens["nga-thanh"])
    )
    assert response.status_code == 201, response.text
    response = await client.post(f"/api/checkin/{code}", json={"person": an})
    assert (response.status_code, response.json()["error"]) == (409, "already_checked_in")
    assert (
        await client.post(f"/api/sessions/{hall.session}/start", headers=ADMIN)
    ).status_code == 200
    report = await client.get(f"/api/sessions/{hall.session}/attendance", headers=ADMIN)
    assert report.status_code == 200, report.text
    nga_thanh = next(s for s in report.json()["sites"] if s["site"] == "nga-thanh")
    assert [(p["id"], p["status"], p["method"]) for p in nga_thanh["people"][:2]] == [
        (an, "present", "qr"),
        (binh, "present", "clerk"),
    ]
    assert [t for t, _, _ in people_events(store, hall.session)] == ["checkin", "checkin"]


async def test_check_in_opens_as_the_server_is_set(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    """With --checkin-opens-before 0 a scheduled session takes check-ins from its scheduled
    start on, not before; an absence is taken before it, as ever."""
    state = app_state(app)
    state.config = dataclasses.replace(state.config, checkin_opening=CheckinOpening(0))
    soon = await make_hall(client, start=False, starts_in=timedelta(minutes=10))
    assert await opens_at(client, store, soon) == timedelta(0)
    binh = soon.who("nga-thanh", "Lê Thị Bình")
    response = await client.post(
        f"/api/sessions/{soon.session}/people/{binh}/absence", json={"reason": "ốm"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    # Its scheduled start passed and the operator is late: open.
    late = await make_hall(client, start=False, starts_in=timedelta(minutes=-1))
    code = await code_of(client, late)
    an = late.who("nga-thanh", "Nguyễn Văn An")
    assert (await client.post(f"/api/checkin/{code}", json={"person": an})).status_code == 201
