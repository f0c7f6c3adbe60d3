"""`diemcau sites ...` and `diemcau session ...` on a data directory (in this process, through
`main()`) and on a running server's URL (a real `diemcau serve`)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from diemcau.server.cli import main
from diemcau.server.dirlock import DataDirLock
from diemcau.server.store import Store
from diemcau.signaling.session import SessionState
from tests.conftest import Server

SITES_CSV = (
    "id,name,kind,expected\n"
    "nga-thanh,Xã Nga Thạnh,commune,40\n"
    "tan-loc,=HYPERLINK(1),town,25\n"
    "bad id,Xã Lỗi,commune,10\n"
).encode()
WINDOW = ["--start", "2025-03-01T08:00:00+07:00", "--end", "2025-03-01T11:00:00+07:00"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def create(capsys: pytest.CaptureFixture[str], title: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "session", "create", "--title", title, *argv)


@pytest.fixture
def sites_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.csv"
    path.write_bytes(SITES_CSV)
    return path


def test_an_import_reports_its_bad_line_and_a_dry_run_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = str(tmp_path / "data")
    code, out, err = run(capsys, "sites", "import", str(sites_file), "--dry-run", "--data", data)
    assert code == 1 and "1 lines would be rejected" in err
    assert "line 4\tbad id\trejected: " in out
    assert "2 created, 0 updated, 0 unchanged, 1 rejected (a dry run" in out
    code, out, _ = run(capsys, "sites", "list", "--data", data)
    assert (code, out) == (0, "id\tname\tkind\texpected\n")
    code, out, _ = run(capsys, "sites", "import", str(sites_file), "--data", data)
    assert code == 1 and "line 2\tnga-thanh\tcreated" in out
    code, out, _ = run(capsys, "sites", "list", "--data", data)
    assert out.splitlines()[1:] == [
        "nga-thanh\tXã Nga Thạnh\tcommune\t40",
        "tan-loc\t=HYPERLINK(1)\ttown\t25",
    ]


def test_a_session_its_links_and_a_reissue_on_a_data_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = ["--data", str(tmp_path / "data"), "--public-url", "https://hop.example.vn"]
    run(capsys, "sites", "import", str(sites_file), *data)
    halls = ["--sites", "nga-thanh,tan-loc"]
    code, out, _ = create(capsys, "Giao ban", *WINDOW, *halls, *data)
    assert code == 0
    created = json.loads(out)
    assert created["title"] == "Giao ban" and [i["site"] for i in created["invites"]] == [
        "nga-thanh",
        "tan-loc",
    ]
    join = {i["site"]: i["join_url"] for i in created["invites"]}
    assert join["nga-thanh"].startswith("https://hop.example.vn/join/")

    code, out, _ = run(capsys, "session", "links", created["id"], "--format", "csv", *data)
    rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert [(r["site"], r["join_url"]) for r in rows] == list(join.items())
    assert rows[1]["name"] == "'=HYPERLINK(1)"  # a formula written as text
    assert rows[0]["start"] == "2025-03-01T01:00:00Z"

    sheet = tmp_path / "links.pdf"
    code, _, _ = run(
        capsys, "session", "links", created["id"], "--format", "pdf", "--out", str(sheet), *data
    )
    text = " ".join(page.extract_text() for page in PdfReader(sheet).pages)
    assert code == 0 and "Xã Nga Thạnh" in text and "Giao ban" in text

    code, out, _ = run(capsys, "session", "reissue", created["id"], "nga-thanh", *data)
    reissued = json.loads(out)
    assert code == 0 and reissued["join_url"] not in (None, join["nga-thanh"])
    code, out, _ = run(capsys, "session", "links", created["id"], "--format", "json", *data)
    shown = {s["site"]: s["join_url"] for s in json.loads(out)["sites"]}
    assert shown == {"nga-thanh": reissued["join_url"], "tan-loc": join["tan-loc"]}


def test_a_session_not_started_is_cancelled_and_a_live_one_is_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = ["--data", str(tmp_path / "data")]
    run(capsys, "sites", "import", str(sites_file), *data)
    dropped = json.loads(create(capsys, "Họp hủy", *WINDOW, *data)[1])
    held = json.loads(create(capsys, "Họp thật", *WINDOW, *data)[1])
    code, out, _ = run(capsys, "session", "cancel", dropped["id"], *data)
    cancelled = json.loads(out)
    assert code == 0 and cancelled["state"] == "ended" and cancelled["started_at"] is None
    store = Store.open(tmp_path / "data" / "diemcau.sqlite3")
    store.start_session(held["id"], datetime.now(UTC))
    store.close()
    code, _, err = run(capsys, "session", "cancel", held["id"], *data)
    assert code == 1 and "409 session_live" in err
    store = Store.open(tmp_path / "data" / "diemcau.sqlite3")
    assert store.get_session(held["id"]).state is SessionState.LIVE
    store.close()


def test_a_session_of_a_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = ["--data", str(tmp_path / "data")]
    run(capsys, "sites", "import", str(sites_file), *data)
    code, out, _ = create(capsys, "Hội nghị cán bộ chủ chốt", *WINDOW, "--kind", "key", *data)
    assert code == 0 and json.loads(out)["kind"] == "key"
    code, out, _ = create(capsys, "Giao ban", *WINDOW, *data)
    assert code == 0 and json.loads(out)["kind"] == "grassroots"
    with pytest.raises(SystemExit) as refused:  # argparse's choices: exit 2, nothing written
        main(["session", "create", "--title", "X", *WINDOW, "--kind", "chu-chot", *data])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
    store = Store.open(tmp_path / "data" / "diemcau.sqlite3")
    assert sorted(s.kind for s in store.list_sessions()) == ["grassroots", "key"]
    plain = store.list_sessions()[0]
    store.close()
    code, out, _ = run(capsys, "session", "kind", plain.id, "key", *data)
    assert code == 0 and json.loads(out)["kind"] == "key"
    code, _, err = run(capsys, "session", "kind", "nosuchone2", "key", *data)
    assert code == 1 and "404 not_found" in err


def test_bad_input_is_said_plainly_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = ["--data", str(tmp_path / "data")]
    run(capsys, "sites", "import", str(sites_file), *data)
    bad_start = ["--start", "tomorrow", "--end", "2025-03-01T11:00:00+07:00"]
    code, _, err = create(capsys, "X", *bad_start, *data)
    assert code == 1 and "scheduled_start" in err and "422 invalid_body" in err
    code, _, err = create(capsys, "X", *WINDOW, "--sites", "nowhere", *data)
    assert code == 1 and "unknown_sites" in err
    code, _, err = run(capsys, "session", "reissue", "nosuchsession", "nga-thanh", *data)
    assert code == 1 and "404 not_found" in err
    store = Store.open(tmp_path / "data" / "diemcau.sqlite3")
    assert store.list_sessions() == []
    store.close()


def test_a_data_directory_a_server_holds_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    lock = DataDirLock.acquire(data_dir)
    try:
        code, _, err = run(capsys, "sites", "import", str(sites_file), "--data", str(data_dir))
    finally:
        lock.release()
    assert code == 1 and "--url" in err and "DIEMCAU_ADMIN_TOKEN" in err
    assert sorted(p.name for p in data_dir.iterdir()) == ["diemcau.lock"]


def test_the_same_commands_on_a_running_servers_url(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: Server,
    sites_file: Path,
) -> None:
    url = ["--url", server.base_url]
    code, _, err = run(capsys, "sites", "list", *url)
    assert code == 1 and "DIEMCAU_ADMIN_TOKEN" in err
    monkeypatch.setenv("DIEMCAU_ADMIN_TOKEN", server.admin_token)
    code, out, _ = run(capsys, "sites", "import", str(sites_file), *url)
    assert code == 1 and "line 2\tnga-thanh\tcreated" in out
    code, out, _ = create(capsys, "Qua mạng", *WINDOW, "--sites", "nga-thanh", *url)
    created = json.loads(out)
    code, out, _ = run(capsys, "session", "links", created["id"], *url)
    rows = list(csv.DictReader(io.StringIO(out.lstrip("\ufeff"))))
    assert [r["join_url"] for r in rows] == [created["invites"][0]["join_url"]]
    code, out, _ = run(capsys, "session", "reissue", created["id"], "nga-thanh", *url)
    assert code == 0 and json.loads(out)["token"] != created["invites"][0]["token"]


ROSTERS_CSV = (
    "\ufeffsite,name,code,position,unit\n"
    "nga-thanh,Nguyễn Văn An,38.000101,Bí thư,Đảng ủy xã\n"
    "nga-thanh,=Lê Thị Bình,,Đảng viên,Chi bộ 1\n"
    "phu-an,Hoàng Văn Hải,,Đảng viên,\n"
).encode()


def test_rosters_imported_and_listed_on_a_data_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sites_file: Path
) -> None:
    data = str(tmp_path / "data")
    rosters = tmp_path / "rosters.csv"
    rosters.write_bytes(ROSTERS_CSV)
    run(capsys, "sites", "import", str(sites_file), "--data", data)
    code, out, err = run(capsys, "roster", "import", str(rosters), "--dry-run", "--data", data)
    assert code == 1 and "1 lines would be rejected" in err
    assert "line 4\tphu-an\t\tHoàng Văn Hải\trejected: unknown site phu-an" in out
    assert "2 created, 0 updated, 0 unchanged, 1 rejected; 0 people would be taken" in out
    code, out, _ = run(capsys, "roster", "list", "nga-thanh", "--data", data)
    assert (code, out) == (0, "id\tname\tcode\tposition\tunit\n")
    code, out, _ = run(capsys, "roster", "import", str(rosters), "--data", data)
    assert code == 1
    (an_line,) = [line for line in out.splitlines() if line.startswith("line 2\t")]
    an_id = an_line.split("\t")[2]
    assert an_line == f"line 2\tnga-thanh\t{an_id}\tNguyễn Văn An\tcreated"
    code, out, _ = run(capsys, "roster", "list", "nga-thanh", "--data", data)
    rows = list(csv.reader(io.StringIO(out), delimiter="\t"))
    assert code == 0 and rows[1] == [an_id, "Nguyễn Văn An", "38.000101", "Bí thư", "Đảng ủy xã"]
    # A name a spreadsheet would run is shown as text.
    assert rows[2][1:] == ["'=Lê Thị Bình", "", "Đảng viên", "Chi bộ 1"]
    # The roster is the site's expected now.
    code, out, _ = run(capsys, "sites", "list", "--data", data)
    assert "nga-thanh\tXã Nga Thạnh\tcommune\t2" in out.splitlines()
    code, _, err = run(capsys, "roster", "list", "phu-an", "--data", data)
    assert code == 1 and "no such site" in err
    code, _, err = run(capsys, "roster", "import", str(tmp_path / "none.csv"), "--data", data)
    assert code == 1 and "cannot read" in err


def test_rosters_on_a_running_servers_url(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: Server,
    sites_file: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DIEMCAU_ADMIN_TOKEN", server.admin_token)
    url = ["--url", server.base_url]
    run(capsys, "sites", "import", str(sites_file), *url)
    rosters = tmp_path / "rosters.csv"
    rosters.write_bytes(ROSTERS_CSV.replace(b"phu-an", b"tan-loc"))
    code, out, _ = run(capsys, "roster", "import", str(rosters), *url)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("3 created, 0 updated, 0 unchanged, 0 rejected")
    code, out, _ = run(capsys, "roster", "list", "tan-loc", *url)
    assert code == 0 and out.splitlines()[1].split("\t")[1] == "Hoàng Văn Hải"
