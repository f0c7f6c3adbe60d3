"""How long the event loop pauses while the join log's writes meet a write lock held by another
process (an operator's `sqlite3` shell, a backup tool).

    .venv/bin/python benchmarks/write_stall.py [--hold 3] [--joins 10]

In process, with the app's lifespan running: a child process holds BEGIN IMMEDIATE for --hold
seconds while --joins halls join (the bridge's handlers); a ticker sleeping 5 ms measures the
loop's pauses. Figures, not a test: docs/attendance.md ("Faults") quotes a run. Before the
writer (server/writer.py) each join waited up to 200 ms on the loop, again and again.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from diemcau.server.app import create_app
from diemcau.server.config import Config
from diemcau.server.state import app_state
from diemcau.server.store import Site

_HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


async def measure(hold: float, joins: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="diemcau-stall-")) / "data"
    app = create_app(Config(data_dir=data, udp_port=0), "benchmark-admin-token-0123456789")
    async with app.router.lifespan_context(app):
        state = app_state(app)
        now = datetime.now(UTC)
        state.store.put_site(Site("nga-thanh", "Xã Nga Thạnh", "commune", 40), now)
        session_id = state.store.create_session(
            title="Đo",
            scheduled_start=now,
            scheduled_end=now + timedelta(hours=1),
            host_token_hash="host",
            invite_token_hashes={"nga-thanh": "site"},
            now=now,
        ).id
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOLD, str(state.store.path), str(hold), stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        await child.stdout.readline()
        pauses: list[float] = []
        ticking = True

        async def tick() -> None:
            last = time.perf_counter()
            while ticking:
                await asyncio.sleep(0.005)
                moment = time.perf_counter()
                pauses.append(moment - last)
                last = moment

        ticker = asyncio.create_task(tick())
        began = time.perf_counter()
        joining = [
            asyncio.create_task(state.bridge.on_join(session_id, "nga-thanh", f"c{n}", None))
            for n in range(joins)
        ]
        await child.wait()
        await asyncio.gather(*joining)
        ticking = False
        await ticker
        written = sum(1 for e in state.store.events(session_id) if e.type == "join")
        pauses.sort()
        print(
            f"lock held {hold:g} s, {joins} joins: {written} written after"
            f" {time.perf_counter() - began:.1f} s; the loop's longest pause"
            f" {pauses[-1] * 1000:.0f} ms, p99 {pauses[int(len(pauses) * 0.99)] * 1000:.0f} ms,"
            f" {len(pauses)} ticks of 5 ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=3.0)
    parser.add_argument("--joins", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(measure(args.hold, args.joins))


if __name__ == "__main__":
    main()
