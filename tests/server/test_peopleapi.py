"""The rosters through the admin API: POST /api/rosters/import, GET and DELETE
/api/sites/{id}/roster, and what a session snapshots of them (server/peopleapi.py,
server/peoplestore.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from diemcau.server.people import person_id
from diemcau.server.store import Store

from .conftest import SITES, admin_headers, bearer, create_session, put_sites

ADMIN = admin_headers()
CSV_HEADERS = {**ADMIN, "Content-Type": "text/csv; charset=utf-8"}
HEADER = "site,name,code,position,unit\r\n"

ROSTERS = (
    "\ufeff" + HEADER + "nga-thanh,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy xã\r\n"
    'nga-thanh,"Lê Thị Bình",,"Phó Chủ tịch, UBND",UBND xã\r\n'
    "nga-thanh,Trần Đức Cường,38.000103,Đảng viên,Chi bộ 2\r\n"
    "tan-loc,Phạm Thị Dung,,Đảng viên,\r\n"
)


def snapshot(store: Store) -> dict[str, Any]:
    """What the store holds of sites, rosters and sessions' snapshots."""
    sessions = store.list_sessions()
    return {
        "sites": store.list_sites(),
        "rosters": {site.id: store.site_people(site.id) for site in store.list_sites()},
        "session_people": [store.session_people(s.id) for s in sessions],
        "invites": [store.invites(s.id) for s in sessions],
    }


async def import_rosters(
    client: httpx.AsyncClient, text: str, dry_run: bool = False
) -> dict[str, Any]:
    path = "/api/rosters/import" + ("?dry_run=1" if dry_run else "")
    response = await client.post(path, content=text.encode("utf-8"), headers=CSV_HEADERS)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def roster(client: httpx.AsyncClient, site: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/sites/{site}/roster", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["site"] == site
    people: list[dict[str, Any]] = response.json()["people"]
    return people


async def expected_of(client: httpx.AsyncClient) -> dict[str, int]:
    sites = (await client.get("/api/sites", headers=ADMIN)).json()["sites"]
    return {s["id"]: s["expected"] for s in sites}


async def test_an_import_gives_each_site_its_people_with_stable_ids(
    client: httpx.AsyncClient,
) -> None:
    await put_sites(client)
    answer = await import_rosters(client, ROSTERS)
    assert [(line["line"], line["site"], line["result"]) for line in answer["lines"]] == [
        (2, "nga-thanh", "created"),
        (3, "nga-thanh", "created"),
        (4, "nga-thanh", "created"),
        (5, "tan-loc", "created"),
    ]
    assert (answer["created"], answer["updated"], answer["unchanged"], answer["rejected"]) == (
        4,
        0,
        0,
        0,
    )
    assert answer["removed"] == 0 and answer["dry_run"] is False
    assert answer["sites"] == [
        {"site": "nga-thanh", "people": 3, "removed": 0},
        {"site": "tan-loc", "people": 1, "removed": 0},
    ]
    people = await roster(client, "nga-thanh")
    assert people == [
        {
            "id": person_id("nga-thanh", "Nguyễn Văn An", "38.000101"),
            "name": "Nguyễn Văn An",
            "code": "38.000101",
            "position": "Bí thư",
            "unit": "Đảng ủy xã",
        },
        {
            "id": person_id("nga-thanh", "Lê Thị Bình", None),
            "name": "Lê Thị Bình",
            "code": None,
            "position": "Phó Chủ tịch, UBND",
            "unit": "UBND xã",
        },
        {
            "id": person_id("nga-thanh", "Trần Đức Cường", "38.000103"),
            "name": "Trần Đức Cường",
            "code": "38.000103",
            "position": "Đảng viên",
            "unit": "Chi bộ 2",
        },
    ]
    assert [line["id"] for line in answer["lines"][:3]] == [p["id"] for p in people]
    assert await roster(client, "ubnd") == []
    # A roster's length is the site's expected; a site without one keeps its own.
    assert await expected_of(client) == {"nga-thanh": 3, "tan-loc": 1, "ubnd": 12}


async def test_a_re_import_replaces_the_roster_and_keeps_the_ids(
    client: httpx.AsyncClient,
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    before = {p["name"]: p["id"] for p in await roster(client, "nga-thanh")}
    again = (
        HEADER + "nga-thanh,Trần Đức Cường,38.000103,Phó Bí thư,Chi bộ 2\r\n"
        "nga-thanh,  nguyễn văn an ,38.000101,Bí thư,Đảng ủy xã\r\n"
        "nga-thanh,Lê Thị Bình,,Phó Chủ tịch UBND,UBND xã\r\n"
        "nga-thanh,Đỗ Văn Em,,Đảng viên,Chi bộ 3\r\n"
    )
    answer = await import_rosters(client, again)
    # The code keeps An's id though the name is typed otherwise; Bình, without a code, by name.
    assert [line["result"] for line in answer["lines"]] == [
        "updated",
        "updated",
        "updated",
        "created",
    ]
    assert answer["lines"][0]["id"] == before["Trần Đức Cường"]
    assert answer["lines"][1]["id"] == before["Nguyễn Văn An"]
    assert answer["lines"][2]["id"] == before["Lê Thị Bình"]
    people = await roster(client, "nga-thanh")
    assert [p["name"] for p in people] == [
        "Trần Đức Cường",
        "nguyễn văn an",
        "Lê Thị Bình",
        "Đỗ Văn Em",
    ]
    # A site the file does not name keeps its roster.
    assert [p["name"] for p in await roster(client, "tan-loc")] == ["Phạm Thị Dung"]
    unchanged = await import_rosters(client, again)
    assert {line["result"] for line in unchanged["lines"]} == {"unchanged"}
    fewer = await import_rosters(client, HEADER + "nga-thanh,Đỗ Văn Em,,Đảng viên,Chi bộ 3\r\n")
    assert (fewer["unchanged"], fewer["removed"]) == (1, 3)
    assert fewer["sites"] == [{"site": "nga-thanh", "people": 1, "removed": 3}]
    assert [p["name"] for p in await roster(client, "nga-thanh")] == ["Đỗ Văn Em"]
    assert (await expected_of(client))["nga-thanh"] == 1


async def test_bad_lines_are_rejected_and_their_site_keeps_its_roster(
    client: httpx.AsyncClient,
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    before = await roster(client, "nga-thanh")
    text = (
        HEADER + "tan-loc,Phạm Thị Dung,,Đảng viên,\r\n"
        "tan-loc,Vũ Văn Giang,38.000201,Đảng viên,Chi bộ 1\r\n"
        "nga-thanh,Nguyễn Văn Mới,,Đảng viên,\r\n"
        "nga-thanh,,,Đảng viên,\r\n"
        "phu-an,Hoàng Văn Hải,,Đảng viên,\r\n"
        "Bad Site,Hoàng Văn Hải,,Đảng viên,\r\n"
        "ubnd,Ngô Thị Lan,,Chuyên viên\r\n"
        "ubnd,Ngô Thị Lan,,Chuyên viên,Văn phòng\r\n"
        "tan-loc,vũ văn giang,38.000201,Đảng viên,Chi bộ 1\r\n"
        "tan-loc,phạm  thị dung,,Đảng viên,\r\n"
        '"ubnd","Ngô\nThị Lan",,Chuyên viên,Văn phòng\r\n'
    )
    answer = await import_rosters(client, text)
    results = [(line["line"], line["site"], line["result"]) for line in answer["lines"]]
    assert results == [
        (2, "tan-loc", "rejected"),
        (3, "tan-loc", "rejected"),
        (4, "nga-thanh", "rejected"),
        (5, "nga-thanh", "rejected"),
        (6, "phu-an", "rejected"),
        (7, "Bad Site", "rejected"),
        (8, "ubnd", "rejected"),
        (9, "ubnd", "rejected"),
        (10, "tan-loc", "rejected"),
        (11, "tan-loc", "rejected"),
        (12, "ubnd", "rejected"),
    ]
    errors = {line["line"]: line["error"] for line in answer["lines"]}
    assert errors[5].startswith("name ")
    assert errors[4].startswith("not applied: line 5 of site nga-thanh")
    assert errors[6] == "unknown site phu-an"
    assert errors[7].startswith("site must be")
    assert errors[8] == "expected 5 fields, found 4"
    assert errors[9].startswith("not applied: line 8")
    assert errors[10] == "same member code as line 3"
    assert errors[11].startswith("same name (give each a member code) as line 2")
    assert "control characters" in errors[12]
    assert answer["rejected"] == 11 and answer["created"] == 0
    assert answer["sites"] == [] and answer["removed"] == 0
    assert await roster(client, "nga-thanh") == before
    assert [p["name"] for p in await roster(client, "tan-loc")] == ["Phạm Thị Dung"]
    assert await roster(client, "ubnd") == []


async def test_a_dry_run_says_what_an_import_would_do_and_writes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    await import_rosters(client, HEADER + "nga-thanh,Lê Thị Bình,,Đảng viên,\r\n")
    text = ROSTERS + "phu-an,Hoàng Văn Hải,,Đảng viên,\r\n"
    before = snapshot(store)
    preview = await import_rosters(client, text, dry_run=True)
    assert snapshot(store) == before
    applied = await import_rosters(client, text)
    assert preview == {**applied, "dry_run": True}
    assert [line["result"] for line in preview["lines"]] == [
        "created",
        "updated",
        "created",
        "created",
        "rejected",
    ]
    assert snapshot(store) != before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"site,name,code,position\nnga-thanh,X,,Y\n", "text/csv", 400, "invalid_body"),
        (b"id,name,kind,expected\nnga-thanh,X,commune,1\n", "text/csv", 400, "invalid_body"),
        (b"", "text/csv", 400, "invalid_body"),
        (
            "site,name,code,position,unit\nnga-thanh,Lê Văn Sơn,,,\n".encode("cp1258"),
            "text/csv",
            400,
            "invalid_body",
        ),
        (b'site,name,code,position,unit\nnga-thanh,"X"y,,,\n', "text/csv", 400, "invalid_body"),
        (b"site,name,code,position,unit\nnga-thanh,X,,,\n", "application/json", 415, None),
    ],
)
async def test_an_unreadable_file_changes_nothing(
    client: httpx.AsyncClient,
    store: Store,
    content: bytes,
    content_type: str,
    status: int,
    error: str | None,
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    before = snapshot(store)
    headers = {**ADMIN, "Content-Type": content_type}
    response = await client.post("/api/rosters/import", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == (error or "unsupported_media_type")
    assert snapshot(store) == before


async def test_the_header_is_named_when_it_is_wrong(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/rosters/import", content=b"name,site\n", headers=CSV_HEADERS)
    assert response.status_code == 400
    assert "site,name,code,position,unit" in response.json()["message"]


async def test_rosters_are_the_admin_s_alone(client: httpx.AsyncClient, store: Store) -> None:
    await put_sites(client)
    session = await create_session(client, ["nga-thanh"])
    site_token = session["invites"][0]["token"]
    before = snapshot(store)
    for headers in ({}, bearer("wrong"), bearer(site_token), bearer(session["host"]["token"])):
        imported = await client.post(
            "/api/rosters/import",
            content=ROSTERS.encode(),
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert imported.status_code in (401, 403), imported.text
        listed = await client.get("/api/sites/nga-thanh/roster", headers=headers)
        assert listed.status_code in (401, 403)
        deleted = await client.delete("/api/sites/nga-thanh/roster", headers=headers)
        assert deleted.status_code in (401, 403)
    assert snapshot(store) == before


async def test_a_roster_of_no_such_site_is_not_found(client: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, "/api/sites/phu-an/roster", headers=ADMIN)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


async def test_a_removed_roster_gives_the_site_its_own_expected_back(
    client: httpx.AsyncClient,
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    response = await client.delete("/api/sites/nga-thanh/roster", headers=ADMIN)
    assert response.status_code == 204
    assert await roster(client, "nga-thanh") == []
    assert await expected_of(client) == {
        "nga-thanh": SITES["nga-thanh"]["expected"],
        "tan-loc": 1,
        "ubnd": 12,
    }


async def test_a_session_snapshots_its_sites_rosters_when_it_is_created(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    session = await create_session(client, ["tan-loc", "nga-thanh", "ubnd"])
    # The invites' expected is the roster's length when there is one.
    assert {i["site"]: i["expected"] for i in session["invites"]} == {
        "tan-loc": 1,
        "nga-thanh": 3,
        "ubnd": 12,
    }
    people = store.session_people(session["id"])
    assert [(p.site_id, p.name) for p in people] == [
        ("tan-loc", "Phạm Thị Dung"),
        ("nga-thanh", "Nguyễn Văn An"),
        ("nga-thanh", "Lê Thị Bình"),
        ("nga-thanh", "Trần Đức Cường"),
    ]
    assert store.session_people(session["id"], "nga-thanh") == people[1:]
    assert store.session_people(session["id"], "ubnd") == []
    assert store.session_person(session["id"], people[0].id) == people[0]
    assert store.session_person(session["id"], "p-nobody") is None
    # What happens to the rosters later does not change the session's record.
    await import_rosters(client, HEADER + "nga-thanh,Đỗ Văn Em,,Đảng viên,\r\n")
    await client.delete("/api/sites/tan-loc/roster", headers=ADMIN)
    assert store.session_people(session["id"]) == people
    later = await create_session(client, ["nga-thanh", "tan-loc"])
    assert [p.name for p in store.session_people(later["id"])] == ["Đỗ Văn Em"]
    assert {i["site"]: i["expected"] for i in later["invites"]} == {
        "nga-thanh": 1,
        "tan-loc": SITES["tan-loc"]["expected"],
    }


async def test_deleting_a_site_deletes_its_roster_not_the_sessions_copy(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    session = await create_session(client, ["tan-loc"])
    response = await client.post(f"/api/sessions/{session['id']}/end", headers=ADMIN)
    assert response.status_code == 200
    assert (await client.delete("/api/sites/tan-loc", headers=ADMIN)).status_code == 204
    await put_sites(client, {"tan-loc": SITES["tan-loc"]})
    assert await roster(client, "tan-loc") == []
    assert [p.name for p in store.session_people(session["id"])] == ["Phạm Thị Dung"]


async def test_the_attendance_report_lists_the_session_s_people(
    client: httpx.AsyncClient, store: Store
) -> None:
    await put_sites(client)
    await import_rosters(client, ROSTERS)
    session = await create_session(client, ["nga-thanh", "tan-loc"])
    sid = session["id"]
    an, binh, cuong, dung = store.session_people(sid)
    start = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    store.start_session(sid, start)
    for minutes, kind, person, fields in (
        (-5, "checkin", an, {"method": "qr", "by": "site"}),
        (20, "checkin", binh, {"method": "clerk", "by": "site"}),
        (30, "absence", cuong, {"reason": "ốm", "by": "admin"}),
    ):
        store.append_event(
            sid,
            kind,
            start + timedelta(minutes=minutes),
            person.site_id,
            person=person.id,
            **fields,
        )
    store.end_session(sid, start + timedelta(hours=2))
    # A check-in a re-import made after the session was created still counts: ids are stable.
    await import_rosters(client, HEADER + "nga-thanh,Nguyễn Văn An,38.000101,Bí thư,\r\n")
    response = await client.get(f"/api/sessions/{sid}/attendance", headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    nga_thanh, tan_loc = body["sites"]
    assert nga_thanh["expected"] == 3
    assert [(p["name"], p["status"], p["method"], p["reason"]) for p in nga_thanh["people"]] == [
        ("Nguyễn Văn An", "present", "qr", None),
        ("Lê Thị Bình", "late", "clerk", None),
        ("Trần Đức Cường", "excused", None, "ốm"),
    ]
    assert [(p["id"], p["status"]) for p in tan_loc["people"]] == [(dung.id, "absent")]
    assert {k: v for k, v in body["totals"].items() if k.startswith("people_")} == {
        "people_expected": 4,
        "people_present": 2,
        "people_excused": 1,
        "people_unexcused": 1,
        "people_present_rate": 0.5,
        "people_excused_rate": 0.25,
        "people_unexcused_rate": 0.25,
    }
    period = await client.get("/api/attendance?from=2025-03-01&to=2025-03-01", headers=ADMIN)
    assert period.status_code == 200, period.text
    (held,) = period.json()["sessions"]
    assert (held["people_expected"], held["people_present"]) == (4, 2)
    assert period.json()["totals"]["people_unexcused_rate"] == 0.25
