"""A database's write lock held by another process: a real sqlite3 connection in a child, as an
operator's `sqlite3` shell or a backup tool would hold it, until the test lets it go."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

_CHILD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
if sys.stdin.readline().strip() == "commit":
    # A write of its own, committed before anything the server waited to write.
    db.execute("INSERT INTO liveness (id, ts) VALUES (1, '1999-01-01T00:00:00.000Z')"
               " ON CONFLICT (id) DO UPDATE SET ts = excluded.ts")
    db.execute("COMMIT")
else:
    db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""


class HeldLock:
    """`BEGIN IMMEDIATE` in a child process until `release()`."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._child: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> HeldLock:
        self._child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            str(self.database),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._child.stdout is not None
        assert await self._child.stdout.readline() == b"locked\n"
        return self

    async def release(self, commit: bool = False) -> None:
        """Let the lock go, having written the liveness row itself if `commit`."""
        child = self._child
        if child is None:
            return
        self._child = None
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"commit\n" if commit else b"rollback\n")
        await child.stdin.drain()
        assert await child.stdout.readline() == b"released\n"
        assert await child.wait() == 0

    async def __aexit__(self, *exc: object) -> None:
        if self._child is not None:  # not released: its death frees the lock
            self._child.kill()
            await self._child.wait()
            self._child = None
