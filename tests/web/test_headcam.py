"""The camera count in Chromium on a real server (tests/netns-run): a hall's join page whose
camera is a fake device fed from a Y4M file of a picture with a known number of people
(tests/web/pictures/README.md says how they were counted) counts them within one, sends only
the number, and the report shows it; nothing is fetched from anywhere but the server; the hall
opts out and the page remembers it.

Measured and printed (not asserted: the machine is shared): the CPU seconds Chromium spent per
count, the worker's time per count, and what the browser downloaded for the count."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, async_playwright, expect

from tests.conftest import Server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, eventually

PICTURES = Path(__file__).resolve().parent / "pictures"
WEB = Path(__file__).resolve().parents[2] / "web"
EVERY = 5  # seconds between counts (count_every): 30 in a hall
HALL = {"id": "nga-thanh", "name": "Xã Nga Thạnh", "expected": 25}


def y4m_of(picture: Path, out: Path) -> Path:
    """The picture as the few frames of a Y4M file, which Chromium's fake camera loops."""
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-loop", "1", "-i",
         str(picture), "-frames:v", "3", "-r", "10", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest_asyncio.fixture(params=[("group22.jpg", 22), ("group5.jpg", 5)], ids=["22", "5"])
async def hall_browser(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Browser, int]]:
    """Chromium whose camera shows one of the pictures, and how many people it shows."""
    name, people = request.param
    video = y4m_of(PICTURES / name, tmp_path / "camera.y4m")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
        )
        yield browser, people
        await browser.close()


def live_session(server: Server) -> dict[str, Any]:
    session = server.create_session([HALL], title="Hội nghị đếm người")
    with server.admin() as client:
        client.post(f"/api/sessions/{session['id']}/start").raise_for_status()
    return dict(session)


def camera_counts(server: Server, session_id: str) -> list[int]:
    with server.admin() as client:
        log = client.get(f"/api/sessions/{session_id}/events").text
    events = [json.loads(line) for line in log.splitlines()]
    return [e["count"] for e in events if e["type"] == "people_count"]


def report_site(server: Server, session_id: str) -> dict[str, Any]:
    with server.admin() as client:
        report = client.get(f"/api/sessions/{session_id}/attendance").json()
    return dict(report["sites"][0])


def chromium_cpu_seconds() -> float:
    """User and system CPU of every Chromium process below this one (the browser, its
    renderers, GPU and utility processes), from /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
        names[int(entry)] = name
    total, below = 0.0, list(children.get(os.getpid(), []))
    while below:
        pid = below.pop()
        below.extend(children.get(pid, []))
        if "chrom" not in names.get(pid, ""):
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def open_hall(browser: Browser, join_url: str) -> tuple[Page, list[str], list[str]]:
    """The join page, counting every EVERY seconds: its page errors and every URL it asked for
    (its worker's too)."""
    base, fragment = join_url.split("#", 1)
    context = await browser.new_context(locale="vi-VN")
    page = await context.new_page()
    problems: list[str] = []
    asked: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def seen(request: Request) -> None:
        asked.append(request.url)

    context.on("request", seen)
    await page.goto(f"{base}?count_every={EVERY}#{fragment}")
    return page, problems, asked


@pytest.mark.netns
@pytest.mark.browser
@pytest.mark.slow
async def test_the_hall_camera_counts_the_people_it_sees(
    server: Server, hall_browser: tuple[Browser, int]
) -> None:
    browser, people = hall_browser
    session = live_session(server)
    page, problems, asked = await open_hall(browser, session["invites"][0]["join_url"])

    # The page says it counts, as an estimate, before any count is in.
    badge = page.locator("#headcam")
    await expect(badge).to_be_visible(timeout=30_000)
    await expect(page.locator("#headcam-text")).to_contain_text("ước tính")
    await expect(page.locator("#headcam-toggle")).to_have_text("Tắt đếm")
    await expect(badge).to_have_attribute(
        "title", "Chỉ con số được gửi đi; hình ảnh không rời khỏi điểm cầu."
    )

    # Three counts: the first loads the detector, the next two are what a hall pays each time.
    clock = asyncio.get_running_loop().time
    assert await eventually(lambda: _at_least(server, session["id"], 1), within=180)
    cpu_first, first = chromium_cpu_seconds(), clock()
    assert await eventually(lambda: _at_least(server, session["id"], 3), within=180)
    cpu_counting, counting = chromium_cpu_seconds() - cpu_first, clock() - first
    counts = camera_counts(server, session["id"])
    assert all(abs(count - people) <= 1 for count in counts), counts

    # What the badge says is the last count sent.
    await expect(badge).to_have_attribute("data-count", str(counts[-1]), timeout=10_000)
    await expect(page.locator("#headcam-text")).to_contain_text(f"{counts[-1]} người")

    # The report: the stable count, within one of the truth (no headcount, no roster: nothing
    # to disagree with).
    site = report_site(server, session["id"])
    assert site["people_count"] is not None and abs(site["people_count"] - people) <= 1
    assert site["people_count_disagrees"] is None
    # A headcount typed 10 too high: the report flags it.
    with server.admin() as client:
        client.post(
            f"/api/sessions/{session['id']}/sites/{HALL['id']}/headcount",
            json={"present": people + 10},
        ).raise_for_status()
    assert report_site(server, session["id"])["people_count_disagrees"] is True

    # Nothing from anywhere but the server, and the detector's files from its own package.
    assert all(url.startswith(server.base_url) for url in asked), asked
    vendored = sorted({u.split("/static/", 1)[1] for u in asked if "/static/vendor/" in u})
    assert "vendor/human/human.esm.js" in vendored
    assert "vendor/human/models/blazeface.bin" in vendored
    assert any(name.endswith(".wasm") for name in vendored)
    downloaded = sum((WEB / name).stat().st_size for name in vendored)
    downloaded += sum(
        (WEB / "js" / name).stat().st_size
        for name in ("headcam.js", "headcamworker.js", "headcamtiles.js")
    )
    worker_ms = await badge.get_attribute("data-ms")

    # The hall opts out: the page says so, stops sending, and remembers it after a reload.
    await page.locator("#headcam-toggle").click()
    await expect(badge).to_have_attribute("data-state", "off")
    await expect(page.locator("#headcam-text")).to_have_text("Không đếm số người qua camera.")
    await asyncio.sleep(1)  # a count under way when the button was pressed is not sent
    sent = len(camera_counts(server, session["id"]))
    await page.reload()
    await expect(badge).to_have_attribute("data-state", "off", timeout=30_000)
    await expect(page.locator("#headcam-toggle")).to_have_text("Bật đếm")
    cpu_before, before = chromium_cpu_seconds(), clock()
    await asyncio.sleep(3 * EVERY)
    assert len(camera_counts(server, session["id"])) == sent
    assert problems == []

    # The same page without counting, for as long, is what the counts cost beside it.
    idle_rate = (chromium_cpu_seconds() - cpu_before) / (clock() - before)
    made = len(counts) - 1
    print(
        f"\ncamera count of {people}: counts {counts}, report {site['people_count']}; Chromium "
        f"CPU {cpu_counting / made:.2f} s a count with the page's other work, "
        f"{(cpu_counting - idle_rate * counting) / made:.2f} s above the page not counting; "
        f"the worker's last count {worker_ms} ms; downloaded for the count "
        f"{downloaded / 1e6:.2f} MB ({', '.join(vendored)})"
    )


async def _at_least(server: Server, session_id: str, n: int) -> bool:
    return len(await asyncio.to_thread(camera_counts, server, session_id)) >= n
