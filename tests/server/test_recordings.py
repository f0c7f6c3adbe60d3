"""GET /api/sessions/{id}/recordings and its downloads, the retention, and the settings.

The files here are stand-ins laid out as media/recorder.py writes them; tests/media/
test_recorder.py records real ones from an aiortc publisher and checks them with FFmpeg.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from diemcau.server import recordings
from diemcau.server.cli import _config, parse_args
from diemcau.server.config import Config
from tests.server.conftest import BASE_URL, World, admin_headers, bearer


def lay_out(data_dir: Path, session: str, rid: str, body: bytes, ended: bool = True) -> Path:
    folder = recordings.directory(data_dir, session)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rid}.webm"
    path.write_bytes(body)
    side = {"id": rid, "started_at": "2026-12-01T08:00:00.000Z"}
    if ended:
        side["ended_at"] = "2026-12-01T09:00:00.000Z"
    path.with_suffix(".json").write_text(json.dumps(side))
    return path


async def test_the_host_and_the_admin_list_and_download_a_sessions_recordings(
    client: httpx.AsyncClient, world: World, config: Config
) -> None:
    lay_out(config.data_dir, world.a, "20261201T080000-1", b"first" * 100)
    lay_out(config.data_dir, world.a, "20261201T080000-2", b"cut short", ended=False)
    lay_out(config.data_dir, world.b, "20261201T080000-1", b"other session")
    url = f"/api/sessions/{world.a}/recordings"
    for headers in (admin_headers(), bearer(world.host_a)):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200
        assert response.json() == [
            {
                "id": "20261201T080000-1",
                "started_at": "2026-12-01T08:00:00.000Z",
                "ended_at": "2026-12-01T09:00:00.000Z",
                "bytes": 500,
                "url": f"{BASE_URL}{url}/20261201T080000-1",
            },
            {
                "id": "20261201T080000-2",
                "started_at": "2026-12-01T08:00:00.000Z",
                "ended_at": None,
                "bytes": 9,
                "url": f"{BASE_URL}{url}/20261201T080000-2",
            },
        ]
    first = (await client.get(url, headers=admin_headers())).json()[0]["url"]
    download = await client.get(first, headers=bearer(world.host_a))
    assert download.status_code == 200 and download.content == b"first" * 100
    assert download.headers["content-type"] == "video/webm"
    ranged = await client.get(first, headers={**bearer(world.host_a), "Range": "bytes=5-9"})
    assert ranged.status_code == 206 and ranged.content == b"first"


async def test_other_tokens_and_unknown_ids_are_refused(
    client: httpx.AsyncClient, world: World, config: Config
) -> None:
    lay_out(config.data_dir, world.a, "20261201T080000-1", b"x")
    url = f"/api/sessions/{world.a}/recordings"
    assert (await client.get(url)).status_code == 401
    site = bearer(world.site(world.a, "nga-thanh"))
    assert (await client.get(url, headers=site)).json()["error"] == "forbidden_role"
    assert (await client.get(f"{url}/20261201T080000-1", headers=site)).status_code == 403
    wrong = await client.get(f"{url}/20261201T080000-1", headers=bearer(world.host_b))
    assert wrong.json()["error"] == "wrong_session"
    for rid in ("20261201T080000-9", "..%2F..%2Fdiemcau.sqlite3", "x"):
        missing = await client.get(f"{url}/{rid}", headers=admin_headers())
        assert missing.status_code == 404, rid
    unknown = await client.get("/api/sessions/nosuch/recordings", headers=admin_headers())
    assert unknown.status_code == 404
    empty = await client.get(f"/api/sessions/{world.b}/recordings", headers=admin_headers())
    assert empty.json() == []


def test_retention_deletes_files_older_than_the_setting(tmp_path: Path) -> None:
    old = lay_out(tmp_path, "s1", "20261001T080000-1", b"old")
    new = lay_out(tmp_path, "s1", "20261201T080000-1", b"new")
    now = time.time()
    os.utime(old, (now - 10 * 86400, now - 10 * 86400))
    assert recordings.prune(tmp_path, 0, now) == []  # 0 keeps everything
    assert recordings.prune(tmp_path, 30, now) == []
    assert recordings.prune(tmp_path, 7, now) == [old]
    assert not old.exists() and not old.with_suffix(".json").exists()
    assert new.exists() and new.with_suffix(".json").exists()


def test_recording_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["serve", "--data", str(tmp_path)]
    config = _config(parse_args(base))
    assert config.record is True and config.recordings_keep_days == 90
    config = _config(parse_args([*base, "--no-record", "--recordings-keep-days", "7"]))
    assert config.record is False and config.recordings_keep_days == 7
    monkeypatch.setenv("DIEMCAU_NO_RECORD", "true")
    monkeypatch.setenv("DIEMCAU_RECORDINGS_KEEP_DAYS", "3")
    config = _config(parse_args(base))
    assert config.record is False and config.recordings_keep_days == 3
    with pytest.raises(SystemExit, match="--recordings-keep-days"):
        _config(parse_args([*base, "--recordings-keep-days", "-1"]))
