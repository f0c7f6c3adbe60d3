"""Faults the record must survive, made for real: a database's write lock held by another process
(a real sqlite3 connection in a child, as an operator's `sqlite3` shell or a backup tool holds
it) and a full disk (a small tmpfs, mounted in the test run's own mount namespace, which
tests/netns-run makes, and unmounted after)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import Server, start_server, stop_server

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


@contextlib.contextmanager
def small_disk(where: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `where` (made if missing) for the block: root, and a mount
    namespace of the run's own (tests/netns-run; mark the test netns)."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def fill(path: Path) -> None:
    """Write to `path` until the file system has no page left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        chunk = b"\0" * 4096
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return
    finally:
        os.close(fd)


def record_after_restart(killed: Server, session_id: str) -> tuple[Any, list[Any]]:
    """Start `serve` again on the data of a server that was killed, and read a session's report
    and join log as its API serves them, once the restart closed what the kill left open."""
    again = start_server(killed.data_dir, token=killed.admin_token)
    try:
        with again.admin() as client:
            report = client.get(f"/api/sessions/{session_id}/attendance").json()
            log = client.get(f"/api/sessions/{session_id}/events").text
    finally:
        stop_server(again)
    return report, [json.loads(line) for line in log.splitlines()]
