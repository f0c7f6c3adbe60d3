"""Commands between benchmarks/forwarding.py and its processes: one JSON object a line.

The orchestrator writes `{"cmd": name, ...arguments}` on a child's standard input and reads one
JSON line back from its standard output; children log to standard error only.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[..., Awaitable[dict[str, Any]]]


class Child:
    """A process of the benchmark, driven by commands."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, cmd: str, **args: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 120) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} did not answer (exit {self.process.poll()}):\n{tail}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply

    def call(self, cmd: str, timeout: float = 120, **args: Any) -> dict[str, Any]:
        self.send(cmd, **args)
        return self.receive(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("quit", timeout=20)
            except (RuntimeError, BrokenPipeError, OSError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def call_all(
    children: list[Child], cmd: str, timeout: float = 120, **args: Any
) -> list[dict[str, Any]]:
    """The same command to every child at once; their answers in order."""
    for child in children:
        child.send(cmd, **args)
    return [child.receive(timeout) for child in children]


async def serve(handlers: dict[str, Handler]) -> None:
    """Answer the orchestrator's commands until "quit" or the end of standard input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    while line := await reader.readline():
        message = json.loads(line)
        cmd = message.pop("cmd")
        try:
            reply = await handlers[cmd](**message) if cmd in handlers else {}
        except Exception as exc:  # the orchestrator prints it and stops
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        if cmd == "quit":
            break
