"""Fuzzing against the real app: hypothesis drives, in a worker thread, requests that the test's
own event loop serves, so that the app's async code runs exactly as it does under a server.

CI runs every fuzz test with DIEMCAU_FUZZ_EXAMPLES examples (a few seconds each); the tests
marked slow run a seeded longer search when DIEMCAU_FUZZ_LONG_EXAMPLES is set, e.g.
`DIEMCAU_FUZZ_LONG_EXAMPLES=5000 tests/netns-run .venv/bin/python -m pytest tests -m slow -k fuzz`.
The assertion is always the same: no answer 5xx, and no traceback or error in the logs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

T = TypeVar("T")

EXAMPLES = int(os.environ.get("DIEMCAU_FUZZ_EXAMPLES", "120"))
LONG_EXAMPLES = int(os.environ.get("DIEMCAU_FUZZ_LONG_EXAMPLES", "0"))
# The longer run is reproducible: the same seed finds the same examples.
LONG_SEED = 20261201


def fuzz_settings(examples: int = EXAMPLES) -> settings:
    # No example database: a CI run is not shaped by what an earlier run on this machine found.
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def long_examples() -> int:
    """The longer run's example count; skips the test when none was asked for."""
    if LONG_EXAMPLES <= 0:
        pytest.skip("set DIEMCAU_FUZZ_LONG_EXAMPLES to run the seeded longer search")
    return LONG_EXAMPLES


class LoopCaller:
    """Runs coroutines on the test's loop from hypothesis's thread, one at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)


async def in_thread(search: Callable[[LoopCaller], None]) -> None:
    """Run a @given `search` off the loop; it calls back into the loop for each request."""
    caller = LoopCaller(asyncio.get_running_loop())
    await asyncio.to_thread(search, caller)


def failures(records: list[logging.LogRecord]) -> list[str]:
    """Log records that betray a bug: a traceback, or anything at ERROR or above."""
    return [
        f"{r.name} {r.levelname}: {r.getMessage()[:300]}"
        for r in records
        if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
    ]
