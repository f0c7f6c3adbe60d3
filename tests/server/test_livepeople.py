"""The people on the console's live list, GET /api/sessions/{id}/sites (server/livepeople.py):
per hall who of its roster checked in or is excused so far, and the totals, as the report counts
them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from diemcau.server.livepeople import LivePeople
from diemcau.server.store import Session, Store

from .conftest import admin_headers, bearer, create_session, put_sites
from .test_peopleapi import ROSTERS, import_rosters

ADMIN = admin_headers()
PEOPLE_KEYS = ("people_expected", "people_present", "people_excused", "people_unexcused")
START = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


async def started(client: httpx.AsyncClient, store: Store, sites: list[str]) -> dict:
    """A session of these sites with the rosters of test_peopleapi, started at START."""
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    session = await create_session(client, sites)
    store.start_session(session["id"], START)
    return session


async def test_the_live_list_counts_the_people_checked_in_and_excused(
    client: httpx.AsyncClient, store: Store
) -> None:
    session = await started(client, store, ["nga-thanh", "tan-loc", "ubnd"])
    sid, host, start = session["id"], bearer(session["host"]["token"]), START
    an, binh, cuong, _dung = store.session_people(sid)
    for minutes, kind, person, fields in (
        (-5, "checkin", an, {"method": "qr", "by": "site"}),
        (20, "checkin", binh, {"method": "clerk", "by": "site"}),  # late: still checked in
        (21, "checkin_revoked", binh, {"by": "admin", "reason": "nhầm người"}),
        (30, "absence", cuong, {"reason": "ốm", "by": "admin"}),
    ):
        at = start + timedelta(minutes=minutes)
        store.append_event(sid, kind, at, person.site_id, person=person.id, **fields)

    response = await client.get(f"/api/sessions/{sid}/sites", headers=host)
    assert response.status_code == 200, response.text
    body = response.json()
    by_site = {s["site"]: tuple(s[k] for k in PEOPLE_KEYS) for s in body["sites"]}
    # ubnd has no roster: its people are not counted, null rather than 0 of 0.
    assert by_site == {"nga-thanh": (3, 1, 1, 1), "tan-loc": (1, 0, 0, 1), "ubnd": (None,) * 4}
    assert {k: v for k, v in body["totals"].items() if k.startswith("people_")} == {
        "people_expected": 4,
        "people_present": 1,
        "people_excused": 1,
        "people_unexcused": 2,
        "people_present_rate": 0.25,
    }

    # Binh checked in again, and the session ends: the live figures are the report's.
    store.append_event(
        sid, "checkin", start + timedelta(minutes=40), binh.site_id, person=binh.id, method="qr"
    )
    store.end_session(sid, start + timedelta(hours=2))
    live = (await client.get(f"/api/sessions/{sid}/sites", headers=host)).json()
    report = (await client.get(f"/api/sessions/{sid}/attendance", headers=ADMIN)).json()
    for key in PEOPLE_KEYS:
        assert live["totals"][key] == report["totals"][key]
    assert live["totals"]["people_present"] == 2
    for listed, reported in zip(live["sites"], report["sites"], strict=True):
        statuses = [p["status"] for p in reported["people"]]
        present = statuses.count("present") + statuses.count("late")
        if reported["people"]:
            assert (listed["people_present"], listed["people_excused"]) == (
                present,
                statuses.count("excused"),
            )


async def test_a_check_in_after_the_end_is_not_counted(
    client: httpx.AsyncClient, store: Store
) -> None:
    sid, start = (await started(client, store, ["tan-loc"]))["id"], START
    (dung,) = store.session_people(sid)
    store.end_session(sid, start + timedelta(hours=1))
    later = start + timedelta(hours=1, minutes=1)
    store.append_event(sid, "checkin", later, "tan-loc", person=dung.id, method="qr", by="site")
    body = (await client.get(f"/api/sessions/{sid}/sites", headers=ADMIN)).json()
    assert body["sites"][0]["people_present"] == 0
    assert body["totals"]["people_unexcused"] == 1


async def test_the_people_are_read_again_only_when_they_move(
    client: httpx.AsyncClient, store: Store
) -> None:
    sid = (await started(client, store, ["tan-loc"]))["id"]
    (dung,) = store.session_people(sid)
    kept, now = LivePeople(), START + timedelta(minutes=10)
    first = kept.of(store, store_session(store, sid), 300.0, now)
    assert kept.of(store, store_session(store, sid), 300.0, now) is first
    # The camera's count is no people event: nothing to read again.
    store.append_event(sid, "people_count", now, "tan-loc", count=1)
    assert kept.of(store, store_session(store, sid), 300.0, now) is first
    store.append_event(sid, "checkin", now, "tan-loc", person=dung.id, method="qr", by="site")
    second = kept.of(store, store_session(store, sid), 300.0, now)
    assert [p.status for p in first["tan-loc"]] == ["absent"]
    assert [p.status for p in second["tan-loc"]] == ["late"]
    assert kept.of(store, store_session(store, sid), 0.0, now) is not second  # other rules
    store.end_session(sid, START + timedelta(minutes=5))  # a window that ends before it
    ended = kept.of(store, store_session(store, sid), 300.0, now)
    assert [p.status for p in ended["tan-loc"]] == ["absent"]


def store_session(store: Store, session_id: str) -> Session:
    session = store.get_session(session_id)
    assert session is not None
    return session
