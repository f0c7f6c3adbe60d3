"""Which of a hall's control connections are recorded as page_open (server/pageopen.py)."""

from __future__ import annotations

from diemcau.server.pageopen import BURST, PER_MINUTE, PageOpens


def test_a_burst_then_a_few_a_minute_per_hall() -> None:
    opens = PageOpens()
    # A page reconnecting ten times a second for ten minutes.
    allowed = [t / 10 for t in range(6000) if opens.allow("s1", "nga-thanh", t / 10)]
    assert allowed[:BURST] == [0.0, 0.1, 0.2, 0.3]
    # Then one every 30 s from the burst on: at 30 s, 60 s, ... 570 s.
    assert allowed[BURST:] == [30.0 * n for n in range(1, PER_MINUTE * 10)]
    for first in allowed:
        assert len([t for t in allowed if first <= t < first + 60]) <= BURST + PER_MINUTE
    # Another hall, or the same hall in another session, has its own.
    assert opens.allow("s1", "tan-loc", 600.0)
    assert opens.allow("s2", "nga-thanh", 600.0)


def test_a_quiet_hall_has_its_burst_back() -> None:
    opens = PageOpens(burst=2, per_minute=2)
    assert [opens.allow("s1", "a", 0.0) for _ in range(3)] == [True, True, False]
    assert opens.allow("s1", "a", 30.0) and not opens.allow("s1", "a", 30.0)
    assert [opens.allow("s1", "a", 3600.0) for _ in range(3)] == [True, True, False]


def test_a_closed_session_is_forgotten() -> None:
    opens = PageOpens()
    for session, site in (("s1", "a"), ("s1", "b"), ("s2", "a")):
        opens.allow(session, site, 0.0)
    opens.forget("s1")
    assert len(opens) == 1
    opens.forget("s2")
    assert len(opens) == 0
