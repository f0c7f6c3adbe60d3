"""`diemcau report`: the attendance report offline, from a log file and a roster, or from a
server's data directory. Run in-process through `main()`, and once as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader

from diemcau.server.attendance import Rules, attendance, report_json, session_report
from diemcau.server.cli import main
from diemcau.server.joinlog import read_jsonl, to_json
from diemcau.server.people import Person
from diemcau.server.peoplecsv import parse_rosters_csv
from diemcau.server.roster import read_roster
from diemcau.server.store import Site, Store

from ..camera_fields import CAMERA_SITE_FIELDS
from ..people_fields import PEOPLE_SITE_FIELDS

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
DEFAULT_RULES = Rules()
ROSTER = (
    "id,name,kind,expected\n"
    'nga-thanh,"Xã Nga Thạnh, huyện Nga Sơn",commune,40\n'
    "tan-loc,Thị trấn Tân Lộc,town,25\n"
)


def stamp(minutes: float, start: datetime = T0) -> str:
    moment = start + timedelta(minutes=minutes)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(minutes: float, type: str, session: str | None = "s1", **fields: Any) -> str:
    body: dict[str, Any] = {"ts": stamp(minutes), "type": type, **fields}
    if session is not None:
        body["session"] = session
    return json.dumps(body, ensure_ascii=False)


# One hour: nga-thanh from 0:30 to the end with 35 people; tan-loc from 20:00 to 50:00 (0.5).
LOG = [
    line(0, "session_start"),
    line(0.5, "join", site="nga-thanh", conn="c1"),
    line(2, "headcount", site="nga-thanh", present=35),
    line(20, "join", site="tan-loc", conn="c2"),
    line(50, "leave", site="tan-loc", conn="c2", reason="closed"),
    line(60, "session_end"),
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events = tmp_path / "log.jsonl"
    sites = tmp_path / "sites.csv"
    events.write_text("\n".join(LOG) + "\n", encoding="utf-8")
    sites.write_text(ROSTER, encoding="utf-8")
    return events, sites


def run(args: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[int, bytes, str]:
    """`diemcau report ARGS`: exit status, standard output, standard error."""
    with pytest.raises(SystemExit) as exited:
        main(["report", *args])
    out, err = capsysbinary.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err.decode("utf-8")


def expected_json(log: list[str], rules: Rules = DEFAULT_RULES, session: str | None = None) -> dict:
    events, skipped = read_jsonl(log)
    roster, _ = read_roster(ROSTER.encode())
    report = attendance(events, roster, rules, session=session, skipped_lines=len(skipped))
    return report_json(report)


def file_args(files: tuple[Path, Path]) -> list[str]:
    return ["--events", str(files[0]), "--sites", str(files[1])]


def test_json_to_stdout_by_default(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, out, err = run(file_args(files), capsysbinary)
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body == expected_json(LOG)
    # The same numbers as the rules give, and Vietnamese as written (not \\u escapes).
    assert [(s["site"], s["status"]) for s in body["sites"]] == [
        ("nga-thanh", "present"),
        ("tan-loc", "partial"),
    ]
    assert body["sites"][0]["headcount"] == 35
    assert "Xã Nga Thạnh, huyện Nga Sơn".encode() in out


def test_out_writes_a_file(
    files: tuple[Path, Path], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run([*file_args(files), "--out", str(target)], capsysbinary)
    assert (code, out) == (0, b"")
    assert json.loads(target.read_bytes()) == expected_json(LOG)


def test_the_official_csv(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, plain, _ = run([*file_args(files), "--format", "csv"], capsysbinary)
    code, out, _ = run([*file_args(files), "--format", "csv", "--lang", "vi"], capsysbinary)
    assert code == 0 and out != plain
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert rows[0][:5] == ["Mã điểm cầu", "Tên điểm cầu", "Loại", "Số người dự kiến", "Tình trạng"]
    assert [row[0] for row in rows[1:]] == ["nga-thanh", "tan-loc", "Tổng cộng"]
    assert rows[1][7] == "01/03/2025 08:00:30"  # first_join in Asia/Ho_Chi_Minh, the default
    code, out, _ = run(
        [*file_args(files), "--format", "csv", "--lang", "vi", "--timezone", "UTC"], capsysbinary
    )
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert rows[1][7] == "01/03/2025 01:00:30"
    code, out, err = run([*file_args(files), "--format", "csv", "--lang", "fr"], capsysbinary)
    assert (code, out) == (2, b"") and "invalid choice: 'fr'" in err


def test_out_to_a_missing_directory(
    files: tuple[Path, Path], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    target = tmp_path / "no" / "such" / "report.json"
    code, _, err = run([*file_args(files), "--out", str(target)], capsysbinary)
    assert code == 2
    assert f"cannot write {target}" in err


def test_csv(files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, out, _ = run([*file_args(files), "--format", "csv"], capsysbinary)
    assert code == 0
    assert out.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    json_fields = list(expected_json(LOG)["sites"][0])
    # The causes are in the official files only: the default CSV keeps its columns.
    not_columns = {*CAMERA_SITE_FIELDS, *PEOPLE_SITE_FIELDS, "cause", "cause_reason"}
    assert rows[0] == [field for field in json_fields if field not in not_columns]
    assert [row[:2] for row in rows[1:]] == [
        ["nga-thanh", "Xã Nga Thạnh, huyện Nga Sơn"],
        ["tan-loc", "Thị trấn Tân Lộc"],
        ["TOTAL", "2 invited"],
    ]


def test_xlsx(
    files: tuple[Path, Path], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    target = tmp_path / "report.xlsx"
    args = [*file_args(files), "--format", "xlsx", "--out", str(target), "--title", "Sơ kết"]
    assert run(args, capsysbinary)[0] == 0
    sheet = openpyxl.load_workbook(target).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "Sơ kết"
    assert rows[1][1] == "Bắt đầu 01/03/2025 08:00:00"  # Asia/Ho_Chi_Minh by default
    assert [row[0] for row in rows[-3:]] == ["nga-thanh", "tan-loc", "Tổng cộng"]


def test_xlsx_default_title_and_zone(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, out, _ = run([*file_args(files), "--format", "xlsx", "--timezone", "UTC"], capsysbinary)
    assert code == 0
    sheet = openpyxl.load_workbook(io.BytesIO(out)).active
    assert sheet is not None
    assert sheet["A1"].value == "Điểm danh phiên s1"
    assert sheet["B2"].value == "Bắt đầu 01/03/2025 01:00:00"


def test_unknown_time_zone(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, out, err = run([*file_args(files), "--timezone", "Mars/Olympus"], capsysbinary)
    assert (code, out) == (2, b"")
    assert "unknown time zone 'Mars/Olympus'" in err


def test_skipped_lines_are_named(
    tmp_path: Path, files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    log = [
        LOG[0],
        "this is not JSON",  # line 2
        "",  # blank lines are neither events nor skipped
        '["ts", "type"]',  # line 4
        json.dumps({"type": "join", "site": "tan-loc", "conn": "x"}),  # line 5: no ts
        json.dumps({"ts": "2025-03-01T01:05:00", "type": "join", "site": "tan-loc"}),  # naive
        json.dumps({"ts": stamp(5), "site": "tan-loc"}),  # line 7: no type
        *LOG[1:],
    ]
    files[0].write_text("\n".join(log) + "\n", encoding="utf-8")
    code, out, err = run(file_args(files), capsysbinary)
    assert code == 0
    path = str(files[0])
    assert err.splitlines() == [
        f"{path}: line 2 skipped: not JSON",
        f"{path}: line 4 skipped: not a JSON object",
        f"{path}: line 5 skipped: no valid RFC 3339 'ts' with a time zone",
        f"{path}: line 6 skipped: no valid RFC 3339 'ts' with a time zone",
        f"{path}: line 7 skipped: no 'type'",
    ]
    body = json.loads(out)
    assert body["skipped_lines"] == 5
    assert body == expected_json(log)
    assert body["sites"] == expected_json(LOG)["sites"]


# The same hour as a server that logs routes and failed attempts writes it (addresses masked,
# as exported), and as one of each: a log from before the route and with it mixed.
ROUTED_LOG = [
    LOG[0],
    line(0.2, "attempt_failed", site="nga-thanh", conn="a1", reason="ice_timeout", offered=[]),
    line(
        0.5,
        "join",
        site="nga-thanh",
        conn="c1",
        candidate="relay",
        protocol="tcp",
        address="198.51.100.x",
    ),
    LOG[2],
    line(
        20,
        "join",
        site="tan-loc",
        conn="c2",
        candidate="srflx",
        protocol="udp",
        address="203.0.113.x",
    ),
    *LOG[4:],
]
MIXED_LOG = [*LOG[:3], ROUTED_LOG[4], *LOG[4:], ROUTED_LOG[1]]


@pytest.mark.parametrize("log", [ROUTED_LOG, MIXED_LOG], ids=["routed", "mixed"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_log_with_routes_and_failed_attempts_gives_the_same_report(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], log: list[str], fmt: str
) -> None:
    code, without, err = run([*file_args(files), "--format", fmt], capsysbinary)
    assert (code, err) == (0, "")
    files[0].write_text("\n".join(log) + "\n", encoding="utf-8")
    code, routed, err = run([*file_args(files), "--format", fmt], capsysbinary)
    assert (code, err) == (0, "")
    assert routed == without


@pytest.mark.parametrize(
    "torn",
    [
        b'{"ts":"2025-03-01T02:00:00.000Z","session":"s1","ty',
        # Cut inside "Xã": the file ends half-way through a UTF-8 sequence.
        b'{"ts":"2025-03-01T02:00:00.000Z","session":"s1","type":"note","text":"X\xc3',
    ],
    ids=["ascii", "inside a UTF-8 character"],
)
def test_a_torn_last_line_is_skipped(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], torn: bytes
) -> None:
    files[0].write_bytes(("\n".join(LOG) + "\n").encode() + torn)
    code, out, err = run(file_args(files), capsysbinary)
    assert code == 0
    assert err == f"{files[0]}: line {len(LOG) + 1} skipped: not JSON\n"
    assert json.loads(out) == {**expected_json(LOG), "skipped_lines": 1}


def test_crlf_bom_and_unicode_line_separators(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # JSON strings may hold U+2028 and U+0085 unescaped (json.dumps(ensure_ascii=False) does
    # so); they do not end a JSON Lines line. Windows line ends and a BOM are fine too.
    log = [*LOG]
    log[4] = line(50, "leave", site="tan-loc", conn="c2", reason="mất điện\u2028cúp\x85")
    files[0].write_bytes(("\ufeff" + "\r\n".join(log) + "\r\n").encode())
    code, out, err = run(file_args(files), capsysbinary)
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body["skipped_lines"] == 0
    assert body["sites"] == expected_json(LOG)["sites"]


def test_events_from_standard_input(
    files: tuple[Path, Path],
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(files[0].read_bytes()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(["--events", "-", "--sites", str(files[1])], capsysbinary)
    assert code == 0
    assert json.loads(out) == expected_json(LOG)


def two_sessions() -> list[str]:
    other = [
        line(0, "session_start", session="s2"),
        line(1, "join", session="s2", site="tan-loc", conn="d1"),
        line(30, "session_end", session="s2"),
    ]
    return [*LOG, *other]


def test_several_sessions_need_a_choice(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    files[0].write_text("\n".join(two_sessions()) + "\n", encoding="utf-8")
    code, out, err = run(file_args(files), capsysbinary)
    assert (code, out) == (2, b"")
    assert err.startswith("diemcau report: ")
    assert "2 sessions (s1, s2)" in err
    assert "--session" in err


@pytest.mark.parametrize("session", ["s1", "s2"])
def test_session_picks_one(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], session: str
) -> None:
    log = two_sessions()
    files[0].write_text("\n".join(log) + "\n", encoding="utf-8")
    code, out, _ = run([*file_args(files), "--session", session], capsysbinary)
    assert code == 0
    body = json.loads(out)
    assert body == expected_json(log, session=session)
    assert body["session"] == session
    assert body["window"]["seconds"] == (3600.0 if session == "s1" else 1800.0)


def test_events_without_a_session_belong_to_the_one_chosen(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    log = [line(0, "session_start"), line(0, "join", session=None, site="tan-loc", conn="c")]
    log.append(line(60, "session_end"))
    files[0].write_text("\n".join(log) + "\n", encoding="utf-8")
    code, out, _ = run(file_args(files), capsysbinary)
    assert code == 0
    assert json.loads(out)["sites"][1]["status"] == "present"


@pytest.mark.parametrize(
    "log",
    [
        [line(1, "join", site="nga-thanh", conn="c1"), line(60, "session_end")],
        [],
        ["not JSON at all"],
    ],
    ids=["no start", "empty", "nothing readable"],
)
def test_no_session_start(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], log: list[str]
) -> None:
    files[0].write_text("\n".join(log), encoding="utf-8")
    code, out, err = run(file_args(files), capsysbinary)
    assert (code, out) == (2, b"")
    assert "no session_start" in err
    assert "Traceback" not in err


def test_a_session_not_in_the_log(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, _, err = run([*file_args(files), "--session", "s9"], capsysbinary)
    assert code == 2
    assert "no session_start" in err


@pytest.mark.parametrize("which", ["events", "sites"])
def test_missing_file(
    files: tuple[Path, Path],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    which: str,
) -> None:
    missing = tmp_path / "missing.txt"
    events, sites = (missing, files[1]) if which == "events" else (files[0], missing)
    code, out, err = run(["--events", str(events), "--sites", str(sites)], capsysbinary)
    assert (code, out) == (2, b"")
    assert err == f"diemcau report: cannot read {missing}: No such file or directory\n"


@pytest.mark.parametrize("dropped", ["--events", "--sites"])
def test_both_files_are_needed(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], dropped: str
) -> None:
    args = file_args(files)
    at = args.index(dropped)
    code, _, err = run(args[:at] + args[at + 2 :], capsysbinary)
    assert code == 2
    assert "give --events FILE and --sites FILE.csv" in err


def test_a_bad_roster(files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    files[1].write_text("site;name\nnga-thanh;Xã Nga Thạnh\n", encoding="utf-8")
    code, _, err = run(file_args(files), capsysbinary)
    assert code == 2
    assert f"{files[1]}: the sites file must begin with the header" in err


def test_roster_problems_are_reported(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    files[1].write_text(ROSTER + "nga-thanh,Trùng,commune,1\nubnd,UBND,agency,nhiều\n")
    code, out, err = run(file_args(files), capsysbinary)
    assert code == 0
    assert err.splitlines() == [
        f"{files[1]}: line 4: nga-thanh is listed twice; the first is kept",
        f"{files[1]}: line 5: expected 'nhiều' is not a count",
    ]
    assert [s["site"] for s in json.loads(out)["sites"]] == ["nga-thanh", "tan-loc", "ubnd"]


RULE_FLAGS = [
    ([], [("present", False, False), ("partial", True, True)]),
    (["--present-coverage", "0.5"], [("present", False, False), ("present", True, True)]),
    (["--late-after", "10"], [("present", True, False), ("partial", True, True)]),
    (["--late-after", "1200"], [("present", False, False), ("partial", False, True)]),
    (["--early-before", "600"], [("present", False, False), ("partial", True, False)]),
]


@pytest.mark.parametrize(
    ("flags", "expected"), RULE_FLAGS, ids=[" ".join(f) for f, _ in RULE_FLAGS]
)
def test_rule_flags(
    files: tuple[Path, Path],
    capsysbinary: pytest.CaptureFixture[bytes],
    flags: list[str],
    expected: list[tuple[str, bool, bool]],
) -> None:
    code, out, _ = run([*file_args(files), *flags], capsysbinary)
    assert code == 0
    body = json.loads(out)
    assert [(s["status"], s["late"], s["left_early"]) for s in body["sites"]] == expected


def test_gap_grace_flag(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # nga-thanh drops for 50 s: bridged by the default grace of 60, not by 30.
    log = [*LOG]
    log[2:2] = [
        line(10, "leave", site="nga-thanh", conn="c1"),
        line(10 + 50 / 60, "join", site="nga-thanh", conn="c1"),
    ]
    files[0].write_text("\n".join(log) + "\n", encoding="utf-8")
    rules = Rules(gap_grace_seconds=30)
    for flags, connected in [([], 3570.0), (["--gap-grace", "30"], 3520.0)]:
        code, out, _ = run([*file_args(files), *flags], capsysbinary)
        body = json.loads(out)
        assert (code, body["sites"][0]["connected_seconds"]) == (0, connected)
    assert body == expected_json(log, rules)
    assert body["rules"] == rules.as_dict()


@pytest.mark.parametrize(
    "flags",
    [
        ["--present-coverage", "1.5"],
        ["--present-coverage", "-0.1"],
        ["--present-coverage", "nan"],
        ["--late-after", "-1"],
        ["--early-before", "-300"],
        ["--gap-grace", "-1"],
        # Not numbers a report can state: the JSON would hold NaN or Infinity.
        ["--late-after", "nan"],
        ["--gap-grace", "nan"],
        ["--early-before", "inf"],
    ],
)
def test_bad_rule_flags(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes], flags: list[str]
) -> None:
    code, out, err = run([*file_args(files), *flags], capsysbinary)
    assert (code, out) == (2, b"")
    assert err.startswith("diemcau report: --")


def test_a_flag_that_is_not_a_number(
    files: tuple[Path, Path], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, _, err = run([*file_args(files), "--late-after", "năm phút"], capsysbinary)
    assert code == 2  # argparse's own usage error
    assert "--late-after" in err


# From a server's data directory


# The sites of a data directory's sessions.
DATA_SITES = [
    Site("nga-thanh", "Xã Nga Thạnh", "commune", 40),
    Site("tan-loc", "Thị trấn Tân Lộc", "town", 25),
]


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, str]:
    """A data directory as `diemcau serve` leaves it: one ended session of two sites."""
    data = tmp_path / "data"
    store = Store.open(data / "diemcau.sqlite3")
    store.put_sites(DATA_SITES, T0)
    session = store.create_session(
        title="Hội nghị sơ kết",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=1),
        host_token_hash="host",
        invite_token_hashes={"tan-loc": "t1", "nga-thanh": "t2"},
        now=T0,
    )
    store.start_session(session.id, T0)
    store.append_event(session.id, "join", T0 + timedelta(minutes=20), "tan-loc", "c1")
    store.append_event(session.id, "headcount", T0 + timedelta(minutes=21), "tan-loc", present=20)
    store.append_event(
        session.id, "leave", T0 + timedelta(minutes=50), "tan-loc", "c1", reason="closed"
    )
    store.end_session(session.id, T0 + timedelta(hours=1))
    store.close()
    return data, session.id


def test_a_period_from_data(
    data_dir: tuple[Path, str], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data, session_id = data_dir
    day = ["--from", "2025-03-01", "--to", "2025-03-31"]
    code, out, err = run(["--period", "--data", str(data), *day], capsysbinary)
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert (body["from"], body["to"], body["totals"]["sessions_held"]) == (
        "2025-03-01",
        "2025-03-31",
        1,
    )
    assert body["kinds"]["grassroots"]["session_ids"] == [session_id]
    assert (body["kinds"]["grassroots"]["headcount"], body["kinds"]["key"]["sessions"]) == (20, 0)
    target = tmp_path / "period.xlsx"
    args = ["--period", "--data", str(data), *day, "--format", "xlsx", "--out", str(target)]
    assert run(args, capsysbinary)[0] == 0
    assert openpyxl.load_workbook(target).sheetnames == ["Tổng hợp", "Hội nghị", "Điểm cầu"]
    code, out, _ = run(["--period", "--data", str(data), "--from", "2025-04-01"], capsysbinary)
    assert code == 0 and json.loads(out)["totals"]["sessions_held"] == 0
    for wrong, said in [
        (["--period", "--data", str(data), "--from", "1.3.2025"], "--from must be a date"),
        (["--period", "--data", str(data), *day[:2], "--to", "2025-02-01"], "--to must not be"),
        (["--period", "--data", str(data), "--format", "csv"], "json, xlsx or pdf"),
        (["--period", session_id, "--data", str(data)], "no SESSION_ID"),
        ([session_id, "--data", str(data), *day], "--from and --to go with --period"),
    ]:
        code, out, err = run(wrong, capsysbinary)
        assert (code, out) == (2, b"") and said in err, err


def test_the_official_pdf_from_data_and_from_files(
    data_dir: tuple[Path, str],
    files: tuple[Path, Path],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    data, session_id = data_dir
    target = tmp_path / "report.pdf"
    head = ["--committee-name", "Huyện ủy Nga Sơn", "--report-place", "Nga Sơn"]
    document = ["--number", "7-BC/HU", "--date", "2025-03-02", "--out", str(target)]
    args = [session_id, "--data", str(data), "--format", "pdf", *head, *document]
    assert run(args, capsysbinary) == (0, b"", "")
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(target).pages)
    for part in [
        "ĐẢNG CỘNG SẢN VIỆT NAM",
        "HUYỆN ỦY NGA SƠN",
        "Số 7-BC/HU",
        "Nga Sơn, ngày 02 tháng 3 năm 2025",
        "Hội nghị sơ kết",
        "Xã Nga Thạnh",
        "Thị trấn Tân Lộc",
        "Sổ điểm danh chưa được niêm phong",  # the fixture's store has no seal key
    ]:
        assert part in text, part
    code, out, _ = run([*file_args(files), "--format", "pdf", "--kind", "key"], capsysbinary)
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(out)).pages)
    assert code == 0 and "Hội nghị cán bộ chủ chốt" in text and "Xã Nga Thạnh" in text
    code, out, _ = run(["--period", "--data", str(data), "--format", "pdf"], capsysbinary)
    assert code == 0 and out.startswith(b"%PDF")
    for wrong, said in [
        (["--date", "2.3.2025"], "--date must be a date"),
        (["--committee-name", "a\x00b"], "--committee-name must not contain control"),
    ]:
        code, out, err = run([*file_args(files), "--format", "pdf", *wrong], capsysbinary)
        assert (code, out) == (2, b"") and said in err, err


def test_report_from_data(
    data_dir: tuple[Path, str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data, session_id = data_dir
    code, out, err = run([session_id, "--data", str(data)], capsysbinary)
    assert (code, err) == (0, "")
    body = json.loads(out)
    # The invite order, not the id order.
    assert [(s["site"], s["status"]) for s in body["sites"]] == [
        ("tan-loc", "partial"),
        ("nga-thanh", "absent"),
    ]
    assert body["totals"]["headcount"] == 20
    store = Store.open(data / "diemcau.sqlite3")
    try:
        session = store.get_session(session_id)
        assert session is not None
        served = session_report(store, session, Rules(), datetime.now(UTC))
    finally:
        store.close()
    assert body == report_json(served)


def test_report_from_data_as_xlsx_has_the_session_title(
    data_dir: tuple[Path, str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data, session_id = data_dir
    code, out, _ = run([session_id, "--data", str(data), "--format", "xlsx"], capsysbinary)
    assert code == 0
    sheet = openpyxl.load_workbook(io.BytesIO(out)).active
    assert sheet is not None
    assert sheet["A1"].value == "Hội nghị sơ kết"


def test_report_from_data_with_rule_flags(
    data_dir: tuple[Path, str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data, session_id = data_dir
    code, out, _ = run([session_id, "--data", str(data), "--present-coverage", "0.5"], capsysbinary)
    assert code == 0
    assert json.loads(out)["sites"][0]["status"] == "present"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown session", "there is no session nope in"),
        ("no database", "holds no diemcau database"),
        ("no --data", "a SESSION_ID needs --data DIR"),
        ("not started", "has not started"),
    ],
)
def test_report_from_data_failures(
    data_dir: tuple[Path, str],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    case: str,
    message: str,
) -> None:
    data, session_id = data_dir
    if case == "unknown session":
        args = ["nope", "--data", str(data)]
    elif case == "no database":
        args = [session_id, "--data", str(tmp_path / "empty")]
    elif case == "no --data":
        args = [session_id]
    else:
        store = Store.open(data / "diemcau.sqlite3")
        planned = store.create_session(
            title="Chưa họp",
            scheduled_start=T0,
            scheduled_end=T0 + timedelta(hours=1),
            host_token_hash="host-2",
            invite_token_hashes={"tan-loc": "t3"},
            now=T0,
        )
        store.close()
        args = [planned.id, "--data", str(data)]
    code, out, err = run(args, capsysbinary)
    assert (code, out) == (2, b"")
    assert message in err
    assert not (tmp_path / "empty").exists()  # a report creates no database


def test_as_a_subprocess(files: tuple[Path, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "diemcau.server.cli", "report", *file_args(files)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert json.loads(result.stdout) == expected_json(LOG)

    failed = subprocess.run(
        [sys.executable, "-m", "diemcau.server.cli", "report", "--events", "nowhere.jsonl"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stderr.decode().startswith("diemcau report: ")


ROSTERS = (
    "site,name,code,position,unit\n"
    "tan-loc,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy\n"
    "tan-loc,Lê Thị Bình,,Đảng viên,Chi bộ 1\n"
    "tan-loc,Trần Đức Cường,,Đảng viên,Chi bộ 2\n"
    "nga-thanh,Phạm Thị Dung,,Đảng viên,\n"
    "xa-la,Hoàng Văn Hải,,Đảng viên,\n"
)


def test_the_people_offline_are_the_people_the_server_reports(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = tmp_path / "data"
    store = Store.open(data / "diemcau.sqlite3")
    store.put_sites(DATA_SITES, T0)
    rows = parse_rosters_csv(ROSTERS.encode(), {"nga-thanh", "tan-loc"})
    rosters: dict[str, list[Person]] = {}
    for row in rows:
        if row.person is not None:
            rosters.setdefault(row.site, []).append(row.person)
    store.put_rosters(rosters, T0)
    session = store.create_session(
        title="Hội nghị",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=1),
        host_token_hash="host",
        invite_token_hashes={"tan-loc": "t1", "nga-thanh": "t2"},
        now=T0,
    )
    an, binh, cuong, _dung = store.session_people(session.id)
    store.start_session(session.id, T0)
    for minutes, kind, person, fields in (
        (2, "checkin", an, {"method": "qr", "by": "site"}),
        (15, "checkin", binh, {"method": "clerk", "by": "site"}),
        (20, "absence", cuong, {"reason": "ốm", "by": "admin"}),
    ):
        at = T0 + timedelta(minutes=minutes)
        store.append_event(session.id, kind, at, person.site_id, person=person.id, **fields)
    store.end_session(session.id, T0 + timedelta(hours=1))
    log = [json.dumps(to_json(e), ensure_ascii=False) for e in store.events(session.id)]
    store.close()
    (tmp_path / "log.jsonl").write_text("\n".join(log) + "\n", encoding="utf-8")
    (tmp_path / "sites.csv").write_text(
        "id,name,kind,expected\ntan-loc,Thị trấn Tân Lộc,town,25\n"
        "nga-thanh,Xã Nga Thạnh,commune,40\n",
        encoding="utf-8",
    )
    (tmp_path / "rosters.csv").write_text(ROSTERS, encoding="utf-8")

    code, out, err = run([session.id, "--data", str(data)], capsysbinary)
    assert (code, err) == (0, "")
    served = json.loads(out)
    files = ["--events", str(tmp_path / "log.jsonl"), "--sites", str(tmp_path / "sites.csv")]
    code, out, err = run([*files, "--rosters", str(tmp_path / "rosters.csv")], capsysbinary)
    assert code == 0
    assert err == f"{tmp_path / 'rosters.csv'}: line 6: unknown site xa-la\n"
    offline = json.loads(out)
    assert [(p["name"], p["status"]) for p in offline["sites"][0]["people"]] == [
        ("Nguyễn Văn An", "present"),
        ("Lê Thị Bình", "late"),
        ("Trần Đức Cường", "excused"),
    ]
    people = [
        [{k: s[k] for k in ("site", "expected", "people")} for s in r["sites"]]
        for r in (served, offline)
    ]
    assert people[0] == people[1]
    totals = [
        {k: v for k, v in r["totals"].items() if k.startswith("people_")} for r in (served, offline)
    ]
    assert totals[0] == totals[1] and totals[0]["people_expected"] == 4
    # Without --rosters, the offline report has no people, as before.
    code, out, _ = run(files, capsysbinary)
    assert json.loads(out)["sites"][0]["people"] == []
    code, _, err = run([*files, "--rosters", str(tmp_path / "sites.csv")], capsysbinary)
    assert code == 2 and "site,name,code,position,unit" in err
