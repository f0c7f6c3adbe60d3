"""`diemcau demo`: the service with sample sites, a live session and a test-pattern broadcast.

Everything goes through the public HTTP API, as an operator's script would, so the demo shows
the real contract; the only shortcut is the publisher, a local source instead of a WHIP peer.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from ..media.testpattern import TestPattern
from .app import create_app
from .auth import load_admin_token
from .config import Config
from .listener import uvicorn_config
from .state import app_state
from .times import api_time

SAMPLE_SITES = [
    ("thi-tran", "Thị trấn Nga Sơn", "town", 45),
    ("nga-thanh", "Xã Nga Thạnh", "commune", 38),
    ("nga-hai", "Xã Nga Hải", "commune", 35),
    ("nga-dien", "Xã Nga Điền", "commune", 40),
    ("nga-phuong", "Xã Nga Phượng", "commune", 32),
    ("nga-thai", "Xã Nga Thái", "commune", 36),
    ("nga-an", "Xã Nga An", "commune", 30),
    ("dang-uy-khoi", "Đảng ủy Khối cơ quan", "agency", 25),
]


# The sample rosters' people, made up from common Vietnamese names (no real person).
_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng", "Ngô"]
_MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu"]
_GIVEN = ["An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hùng", "Lan", "Long", "Mai", "Nam"]
_POSITIONS = ["Bí thư", "Phó Bí thư", "Chủ tịch UBND", "Đảng viên", "Đảng viên", "Đảng viên"]


def sample_rosters(people_per_site: int = 12) -> str:
    """A rosters CSV (POST /api/rosters/import) for the sample sites: so that the demo's join
    pages show their check-in QR code and clerk's list."""
    lines = ["site,name,code,position,unit"]
    for index, (site_id, _, _, _) in enumerate(SAMPLE_SITES):
        for n in range(people_per_site):
            k = index * people_per_site + n
            name = f"{_FAMILY[k % 10]} {_MIDDLE[k // 10 % 5]} {_GIVEN[k * 7 % 11]}"
            code = f"38.{k + 1:06d}"
            lines.append(f"{site_id},{name},{code},{_POSITIONS[n % 6]},Chi bộ {n // 4 + 1}")
    return "\r\n".join(lines) + "\r\n"


def _call(
    base: str, token: str, method: str, path: str, body: Any = None, csv: str | None = None
) -> Any:
    data = csv.encode() if csv is not None else json.dumps(body).encode() if body else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/csv" if csv is not None else "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


async def run_demo(config: Config, admin_token_setting: str | None = None) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    admin_token, generated = load_admin_token(config.data_dir, admin_token_setting)
    app = create_app(config, admin_token)
    server = uvicorn.Server(uvicorn_config(app, config, "warning", access_log=True))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            return 1  # uvicorn has said why (port taken, for instance)
        await asyncio.sleep(0.05)

    local = f"http://127.0.0.1:{config.port}" if config.host in ("0.0.0.0", "::") else None
    base = local or f"http://{config.host}:{config.port}"

    def call(method: str, path: str, body: Any = None, csv: str | None = None) -> Any:
        return _call(base, admin_token, method, path, body, csv)

    for site_id, name, kind, expected in SAMPLE_SITES:
        await asyncio.to_thread(
            call, "PUT", f"/api/sites/{site_id}", {"name": name, "kind": kind, "expected": expected}
        )
    await asyncio.to_thread(call, "POST", "/api/rosters/import", csv=sample_rosters())
    now = datetime.now(UTC).replace(microsecond=0)
    session = await asyncio.to_thread(
        call,
        "POST",
        "/api/sessions",
        {
            "title": "Hội nghị trực tuyến (trình diễn)",
            "scheduled_start": api_time(now),
            "scheduled_end": api_time(now + timedelta(hours=2)),
        },
    )
    pattern = await asyncio.to_thread(TestPattern)
    pattern.attach(app_state(app).bridge, session["id"])
    await asyncio.to_thread(call, "POST", f"/api/sessions/{session['id']}/start")

    lines = [
        "",
        "diemcau demo: a live session with a test-pattern broadcast",
        f"  admin token : {admin_token if generated else '(in ' + str(config.data_dir) + ')'}",
        f"  session     : {session['id']} — {session['title']}",
        f"  console     : {session['host']['console_url']}",
        f"  WHIP (OBS)  : {session['host']['whip_url']}  bearer {session['host']['token']}",
        "  commune halls (open a link in a browser):",
    ]
    for invite in session["invites"]:
        lines.append(f"    {invite['name']:<28} {invite['join_url']}")
    lines.append(
        "  each join page shows its check-in QR code: open its link in another tab to check in"
    )
    lines.append("  Ctrl+C stops the demo.")
    print("\n".join(lines), flush=True)
    await serving
    return 0
