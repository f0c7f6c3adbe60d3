"""The pages and their files as the server sends them, and the words they use.

The app is driven in-process through httpx's ASGI transport, the same as Starlette's
TestClient, whose use with httpx now warns (and warnings are errors here).
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from diemcau.server import pages

WEB = Path(__file__).resolve().parents[2] / "web"
PYPROJECT = WEB.parent / "pyproject.toml"

# The pages, each with the module that drives it.
PAGES = {
    "console.html": "console.js",
    "join.html": "join.js",
    "attendance.html": "attendance.js",
    "office.html": "officesites.js",
    "officesessions.html": "officesessions.js",
    "officelinks.html": "officelinks.js",
    "checkin.html": "checkin.js",
}

# Modules that speak a protocol and touch no DOM, so that they can be read (and reused) alone.
PROTOCOL_MODULES = [
    "api.js",
    "adminapi.js",
    "whip.js",
    "control.js",
    "reconnecting.js",
    "backoff.js",
    "httperror.js",
    "picture.js",
    "checkinapi.js",
    # The camera count's worker and its tiles: a worker has no DOM.
    "headcamworker.js",
    "headcamtiles.js",
]

# Served files that are not the pages, with the type each must carry.
STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".txt": "text/plain",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=pages.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://diemcau.test") as client:
        yield client


def web_files() -> list[str]:
    """Every file under web/ but the Python package marker, relative and with slashes."""
    return sorted(
        path.relative_to(WEB).as_posix()
        for path in WEB.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    )


def catalog(language: str) -> dict[str, str]:
    data = json.loads((WEB / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_pages_come_from_the_installed_package() -> None:
    # Not the repository by path: a plain `pip install .` must serve the same files.
    assert pages.web_directory().resolve() == WEB.resolve()


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/console/s-123", "console.html"),
        ("/join/s-123/nga-an", "join.html"),
        ("/attendance", "attendance.html"),
        ("/attendance/s-123", "attendance.html"),
        ("/office", "office.html"),
        ("/office/sessions", "officesessions.html"),
        ("/office/sessions/s-123/links", "officelinks.html"),
        ("/checkin/abcdefgh23aaaaaaaaaaaaaaaaaaaa", "checkin.html"),
    ],
)
async def test_pages_are_served_with_their_headers(
    client: httpx.AsyncClient, path: str, page: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (WEB / page).read_text(encoding="utf-8")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


@pytest.mark.parametrize(
    ("path", "devices"),
    [
        ("/console/s-123", "(self)"),
        # A hall sends its own camera and microphone (its return feed) to the meeting.
        ("/join/s-1/a", "(self)"),
        ("/attendance", "()"),
        ("/office", "()"),
        # A phone checking in needs none of them.
        ("/checkin/abcdefgh23aaaaaaaaaaaaaaaaaaaa", "()"),
    ],
)
async def test_only_the_halls_pages_may_use_the_camera_and_microphone(
    client: httpx.AsyncClient, path: str, devices: str
) -> None:
    response = await client.get(path)
    permissions = [p.strip() for p in response.headers["permissions-policy"].split(",")]
    assert f"camera={devices}" in permissions
    assert f"microphone={devices}" in permissions
    assert "geolocation=()" in permissions


async def test_the_attendance_page_takes_no_more_path_than_a_session(
    client: httpx.AsyncClient,
) -> None:
    # Whatever follows the session id is not a page; the fragment (#token=…) never arrives.
    assert (await client.get("/attendance/s-123/extra")).status_code == 404
    assert (await client.post("/attendance")).status_code == 405


def test_pages_need_no_inline_script_or_style_and_nothing_from_elsewhere() -> None:
    for page in PAGES:
        html = (WEB / page).read_text(encoding="utf-8")
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, page
        assert "<style" not in html and " style=" not in html, page
        assert re.search(r"<[^>]+\son[a-z]+=", html) is None, page  # no onclick= and the like
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/static/"), (page, url)


async def test_every_file_the_pages_load_is_served(client: httpx.AsyncClient) -> None:
    referenced: set[str] = set()
    for page in PAGES:
        html = (WEB / page).read_text(encoding="utf-8")
        referenced.update(re.findall(r'(?:src|href)="/static/([^"]+)"', html))
    for script in (WEB / "js").glob("*.js"):
        for target in re.findall(r"""from\s+'\./([\w.-]+\.js)'""", script.read_text("utf-8")):
            referenced.add(f"js/{target}")
    referenced.update(f"i18n/{language}.json" for language in ("vi", "en"))
    missing = sorted(name for name in referenced if not (WEB / name).is_file())
    assert not missing
    for name in sorted(referenced | set(web_files()) - set(PAGES)):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
        expected = STATIC_TYPES[Path(name).suffix]
        assert response.headers["content-type"].split(";")[0] == expected, name
        assert response.headers["cache-control"] == "no-cache", name
        assert response.headers["x-content-type-options"] == "nosniff", name


async def test_only_web_assets_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/__init__.py")).status_code == 404
    assert (await client.get("/static/console.html")).status_code == 404
    assert (await client.get("/static/attendance.html")).status_code == 404
    assert (await client.get("/static/js/nothing.js")).status_code == 404
    assert (await client.get("/static/../pages.py")).status_code == 404


def test_every_web_file_is_in_the_package_data() -> None:
    patterns = tomllib.loads(PYPROJECT.read_text("utf-8"))["tool"]["setuptools"]["package-data"][
        "diemcau.web"
    ]

    # fnmatch's * crosses slashes; setuptools' does not: compare directory by directory.
    def shipped(name: str) -> bool:
        return any(
            name.count("/") == pattern.count("/") and fnmatch.fnmatch(name, pattern)
            for pattern in patterns
        )

    assert [name for name in web_files() if not shipped(name)] == []


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert sorted(vi) == sorted(en)
    for key in vi:
        assert vi[key].strip() and en[key].strip(), key
        assert set(re.findall(r"\{(\w+)\}", vi[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


def test_vietnamese_is_written_with_its_diacritics() -> None:
    vi, en = catalog("vi"), catalog("en")
    translated = [key for key in vi if vi[key] != en[key]]
    assert len(translated) > len(vi) * 0.8
    assert all(not re.search(r"\b(?:Hoi nghi|Dang|Ket thuc|Diem cau)\b", vi[key]) for key in vi)
    assert vi["join.unmute"] == "Bật âm thanh"
    assert vi["console.go_live"] == "Phát trực tiếp"


def keys_used() -> dict[str, set[str]]:
    """Every key the pages name: data-i18n* attributes in HTML, t('…') calls in the modules."""
    used: dict[str, set[str]] = {}
    for page in PAGES:
        html = (WEB / page).read_text(encoding="utf-8")
        for key in re.findall(r'data-i18n(?:-[a-z]+)?="([^"]+)"', html):
            used.setdefault(key, set()).add(page)
    for script in sorted((WEB / "js").glob("*.js")):
        source = script.read_text(encoding="utf-8")
        # A whole literal only: t('kind.' + kind) is a prefix, looked up with hasText().
        for key in re.findall(r"""\bt\(\s*(['"])([\w.-]+)\1\s*[,)]""", source):
            used.setdefault(key[1], set()).add(script.name)
        # Keys chosen before the call: t(live ? 'a.b' : 'a.c'), {key: 'a.b'}. Any literal
        # shaped like a key of one of the catalog's namespaces counts.
        for key in re.findall(rf"""['"]((?:{"|".join(namespaces())})\.[a-z0-9_]+)['"]""", source):
            used.setdefault(key, set()).add(script.name)
    return used


def namespaces() -> set[str]:
    """The first parts of the catalog's keys: 'join' of 'join.unmute'."""
    return {key.split(".", 1)[0] for key in catalog("vi")}


def test_every_key_used_is_in_both_catalogs() -> None:
    used = keys_used()
    assert len(used) > 50  # the patterns still find the keys
    for language in ("vi", "en"):
        known = catalog(language)
        missing = {key: sorted(where) for key, where in used.items() if key not in known}
        assert not missing, (language, missing)


def test_every_module_is_type_checked() -> None:
    for script in (WEB / "js").glob("*.js"):
        assert script.read_text(encoding="utf-8").startswith("// @ts-check\n"), script.name


def imported(module: str) -> list[str]:
    """The module and every module it imports, directly or not."""
    found = [module]
    for name in found:
        source = (WEB / "js" / name).read_text(encoding="utf-8")
        for target in re.findall(r"""from\s+'\./([\w.-]+\.js)'""", source):
            if target not in found:
                found.append(target)
    return found


def test_the_modules_reach_only_elements_their_page_has() -> None:
    # $('id') and getElementById('id'): a misspelt id would be null at run time.
    for page, module in PAGES.items():
        ids = set(re.findall(r'\bid="([^"]+)"', (WEB / page).read_text(encoding="utf-8")))
        for name in imported(module):
            source = (WEB / "js" / name).read_text(encoding="utf-8")
            wanted = set(re.findall(r"""(?:\$|getElementById)\(\s*'([\w-]+)'\s*\)""", source))
            assert wanted or name != module, module
            assert sorted(wanted - ids) == [], (page, name)


def test_the_pages_of_the_meeting_use_the_control_channel_module() -> None:
    assert "control.js" in imported("console.js")
    assert "control.js" in imported("join.js")
    assert "mosaic.js" in imported("console.js")
    assert "mosaic.js" not in imported("join.js")


@pytest.mark.parametrize("module", PROTOCOL_MODULES)
def test_protocol_modules_touch_no_dom(module: str) -> None:
    source = (WEB / "js" / module).read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)  # comments may speak of it
    for name in ("document", "window", "HTMLElement", "querySelector", "innerHTML"):
        assert re.search(rf"\b{name}\b", code) is None, (module, name)
    # Only what the protocol needs from the page is imported.
    assert set(imported(module)) <= set(PROTOCOL_MODULES), module


def test_the_control_channel_never_puts_the_token_in_the_address() -> None:
    source = (WEB / "js" / "control.js").read_text(encoding="utf-8")
    assert "type: 'hello', token" in source
    url_builder = source[source.index("export function controlUrl") :]
    url_builder = url_builder[: url_builder.index("\n}\n")]
    assert "token" not in url_builder


def test_the_new_words_of_attendance_are_translated() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert vi["headcount.submit"] == "Cập nhật"
    assert vi["status.present"] == "Có mặt" and en["status.present"] == "Present"
    assert vi["status.absent"] == "Vắng"
    assert vi["sites.count"] == "{connected} / {total} điểm cầu đã kết nối"
    # Multi-line tips break at the same places in both languages.
    for key in (k for k in vi if k.startswith("timeline.tip_")):
        assert vi[key].count("\n") == en[key].count("\n") == 1, key


def test_the_words_of_the_meeting_are_translated() -> None:
    vi, en = catalog("vi"), catalog("en")
    # The hall's one button, and what its page says while it has the floor.
    assert vi["floor.request"] == "Xin phát biểu" and en["floor.request"] == "Ask to speak"
    assert vi["floor.on_air"] == "ĐANG PHÁT BIỂU" and en["floor.on_air"] == "ON AIR"
    assert vi["floor.cancel"] == "Hủy xin phát biểu"
    # The chair's buttons.
    assert vi["chair.grant"] == "Cho phát biểu"
    assert vi["floor.take_back"] == "Lấy lại quyền phát biểu"
    assert vi["chair.mute"] == "Tắt micrô" and vi["chair.unmute"] == "Bật micrô"
    assert vi["chair.remove"] == "Mời rời hội nghị"
    # A tile's states, in words as well as colours.
    assert [vi[f"tile.{state}"] for state in ("connected", "reconnecting", "absent")] == [
        "Đã kết nối",
        "Đang kết nối lại",
        "Chưa tham gia",
    ]
    assert [en[f"tile.{state}"] for state in ("connected", "reconnecting", "absent")] == [
        "Connected",
        "Reconnecting",
        "Not joined",
    ]
    # A removed hall is told so, not that its link is wrong.
    assert vi["join.removed"] != vi["join.invalid"]
    assert "mời rời" in vi["join.removed"]
    namespaces_used = {key.split(".", 1)[0] for key in keys_used()}
    assert {"floor", "chair", "tile", "uplink", "channel", "remove"} <= namespaces_used
