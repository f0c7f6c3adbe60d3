"""What a hall and an unfinished offer cost a real `diemcau serve`: memory and file descriptors.

    sudo .venv/bin/python benchmarks/resources.py [--halls 20] [--unfinished 200]

Needs root: it re-executes itself inside tests/netns-run (every packet stays in that namespace).
Figures, not a test: docs/performance.md ("Resources") quotes a run. It measures:

- idle: the server with one session, a publisher on air and a warm-up of a few connections
  (first-use allocations: imports, caches) gone again;
- halls connected: that many real aiortc WHEP players, each with the program and the floor
  slot as a hall's page has them, receiving the publisher's video;
- unfinished offers: real offers without candidates (tests/media/test_bridge.dead_offer), on
  the district hall's floor view (its cap is the largest), each held until --connect-timeout;
- after the deadline: what is left once they are all closed.

RSS is VmRSS of /proc/PID/status, descriptors the entries of /proc/PID/fd.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diemcau.server import whip  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.media.test_bridge import dead_offer  # noqa: E402
from tests.peers import EncodedVideoTrack, Viewer, encode_vp8, play, publish, wait_for  # noqa: E402
from tests.procstat import descriptor_kinds, descriptors, rss_kib  # noqa: E402

NETNS_RUN = ROOT / "tests" / "netns-run"
UNIT = ROOT / "deploy" / "diemcau.service"


async def _settle(pid: int, seconds: float) -> tuple[int, int]:
    await asyncio.sleep(seconds)
    return rss_kib(pid), descriptors(pid)


async def measure(halls: int, unfinished: int, connect_timeout: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="diemcau-resources-")) / "data"
    server = start_server(
        data, options=("--connect-timeout", f"{connect_timeout:g}", "--log-level", "warning")
    )
    pid = server.process.pid
    sites = [{"id": f"xa-{i}", "name": f"Xã {i}"} for i in range(halls)]
    session = server.create_session(sites, title="Đo tài nguyên")
    invites = session["invites"]
    host = session["host"]
    floor_url = f"{server.base_url}/whep/{session['id']}/host/floor"
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {host['token']}"}
    offers = [await dead_offer() for _ in range(16)]
    publisher = await publish(
        host["whip_url"], host["token"], video=EncodedVideoTrack(encode_vp8(60, 320, 240))
    )
    try:
        # Warm-up: a few halls join and leave, a few offers never come up.
        for invite in invites[:4]:
            viewer = await play(invite["whep_url"], invite["token"], slots=2)
            await wait_for(lambda v=viewer: v.decoded["video"] > 5, 15)
            await viewer.close()
        async with httpx.AsyncClient(timeout=20) as client:
            for offer in offers[:8]:
                await client.post(floor_url, content=offer, headers=headers)
        idle_rss, idle_fds = await _settle(pid, connect_timeout + 12)  # and the heap trim
        kinds = dict(descriptor_kinds(pid))

        viewers: list[Viewer] = []
        for invite in invites:
            viewer = await play(invite["whep_url"], invite["token"], slots=2)
            viewers.append(viewer)
        for viewer in viewers:
            await wait_for(lambda v=viewer: v.decoded["video"] > 5, 30)
        playing = sum(1 for v in viewers if v.decoded["video"] > 5)
        halls_rss, halls_fds = await _settle(pid, 2)
        for viewer in viewers:
            await viewer.close()
        await _settle(pid, 12)  # the heap trimmed after they left

        mib = 1024
        print(f"idle: RSS {idle_rss / mib:.1f} MiB, {idle_fds} descriptors {kinds}")
        print(
            f"{playing} of {halls} halls playing: RSS {halls_rss / mib:.1f} MiB,"
            f" {halls_fds} descriptors; per hall {(halls_rss - idle_rss) / halls:.0f} KiB,"
            f" {(halls_fds - idle_fds) / halls:.2f} descriptors"
        )
        # Twice: what the first burst leaves is the allocator's high-water mark if the second
        # one leaves no more.
        for burst in (1, 2):
            started = time.monotonic()
            base_rss, base_fds = rss_kib(pid), descriptors(pid)
            async with httpx.AsyncClient(timeout=20) as client:
                statuses = [
                    (await client.post(floor_url, content=offers[i % len(offers)], headers=headers))
                    for i in range(unfinished)
                ]
            answered = sum(1 for s in statuses if s.status_code == 201)
            pending_rss, pending_fds = rss_kib(pid), descriptors(pid)
            held = time.monotonic() - started
            after_rss, after_fds = await _settle(pid, connect_timeout + 12)
            print(
                f"burst {burst}: {answered} unfinished offers pending ({held:.1f} s to send):"
                f" RSS {pending_rss / mib:.1f} MiB, {pending_fds} descriptors;"
                f" per offer {(pending_rss - base_rss) / max(answered, 1):.0f} KiB,"
                f" {(pending_fds - base_fds) / max(answered, 1):.2f} descriptors"
            )
            print(
                f"burst {burst}, after the deadline ({connect_timeout:g} s): RSS"
                f" {after_rss / mib:.1f} MiB ({(after_rss - idle_rss) / idle_rss:+.1%} of idle),"
                f" {after_fds} descriptors"
            )
        limit = re.search(r"^LimitNOFILE=(\d+)", UNIT.read_text(), re.MULTILINE)
        print(
            f"limits: --connect-timeout {connect_timeout:g} s here (20 s by default);"
            f" pending per site {whip.MAX_PENDING_PER_SITE}, per district hall"
            f" {whip.MAX_PENDING_PER_HOST}, per session {whip.MAX_PENDING_PER_SESSION}"
            f" (then 429 / 503, Retry-After {whip.RETRY_AFTER} s);"
            f" LimitNOFILE {limit.group(1) if limit else 'unset'} in {UNIT.name}"
        )
    finally:
        await publisher.pc.close()
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halls", type=int, default=20)
    parser.add_argument("--unfinished", type=int, default=200)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    args = parser.parse_args()
    if not os.environ.get("DIEMCAU_NETNS"):
        if os.geteuid() != 0:
            sys.exit("resources.py needs root: it runs inside tests/netns-run")
        script = str(Path(__file__).resolve())
        os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, script, *sys.argv[1:]])
    asyncio.run(measure(args.halls, args.unfinished, args.connect_timeout))


if __name__ == "__main__":
    main()
