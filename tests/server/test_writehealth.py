"""The account of failed writes: a run of them logged once per interval with a count, its end
once, and a new run at once again."""

from __future__ import annotations

import pytest

from diemcau.server.writehealth import WriteHealth


def test_health_logs_a_run_of_failures_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = WriteHealth(report_every=60)
    for second in range(0, 150):  # a write every second for two and a half minutes
        health.failed("database or disk is full", now=1000.0 + second)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("cannot write the database (database or disk is full)")
    assert lines[1] == (
        "still cannot write the database (database or disk is full):"
        " 60 failed writes in the last 60 s"
    )
    assert lines[2].endswith("60 failed writes in the last 60 s")
    assert all(r.levelname == "ERROR" for r in caplog.records)
    assert health.problem == "database or disk is full"
    health.succeeded()
    health.succeeded()  # logged once
    assert health.problem is None
    assert [r.getMessage() for r in caplog.records][3:] == [
        "the database is written again, after 150 failed writes"
    ]
    # A new run is logged at once again.
    health.failed("database is locked", now=2000.0)
    assert caplog.records[-1].getMessage().startswith("cannot write the database (database is")
