"""A repeated error is one log line per interval with a count, however often it happens."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from diemcau.server.repeated import RepeatedError, quiet_accept_errors

log = logging.getLogger("diemcau.test.repeated")


def test_the_first_occurrence_is_logged_then_one_line_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeated = RepeatedError(log, "no descriptor left", every=60.0)
    with caplog.at_level(logging.ERROR, logger=log.name):
        logged = [repeated.occurred("EMFILE", now=100.0 + i) for i in range(120)]
    # At 100 s, then at 160 s (60 occurrences since 100 s): 2 lines for 120 occurrences.
    assert [i for i, was in enumerate(logged) if was] == [0, 60]
    assert [r.getMessage() for r in caplog.records] == [
        "no descriptor left (EMFILE)",
        "no descriptor left (EMFILE): 60 times in the last 60 s",
    ]
    assert repeated.count == 120


async def test_accept_out_of_descriptors_goes_through_it_other_errors_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    seen: list[str] = []
    loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
    repeated = RepeatedError(log, "cannot accept", every=60.0)
    try:
        quiet_accept_errors(loop, repeated)
        with caplog.at_level(logging.ERROR, logger=log.name):
            for _ in range(50):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else", "exception": ValueError()})
    finally:
        loop.set_exception_handler(before)
    assert repeated.count == 50
    assert len(caplog.records) == 1
    assert seen == ["something else"]  # to the handler that was there before


def test_a_run_that_ended_says_how_long_it_was_and_the_next_is_logged_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeated = RepeatedError(log, "no descriptor left", every=60.0)
    with caplog.at_level(logging.ERROR, logger=log.name):
        for i in range(5):
            repeated.occurred("EMFILE", now=100.0 + i)
        assert repeated.ended() == 5
        assert repeated.ended() == 0  # no run going on
        assert repeated.occurred("ENFILE", now=110.0)  # within the interval, yet a new run
    assert [r.getMessage() for r in caplog.records] == [
        "no descriptor left (EMFILE)",
        "no descriptor left (ENFILE)",
    ]
    assert repeated.count == 6
