"""The session lifecycle as a table of moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from diemcau.signaling.session import Lifecycle, SessionState, SessionStateError

T0 = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)

SCHEDULED = Lifecycle(SessionState.SCHEDULED)
LIVE = Lifecycle(SessionState.LIVE, started_at=T0)
ENDED = Lifecycle(SessionState.ENDED, started_at=T0, ended_at=T0 + timedelta(hours=1))
CANCELLED = Lifecycle(SessionState.ENDED, ended_at=T0)


@pytest.mark.parametrize(
    ("before", "move", "after", "changed"),
    [
        (SCHEDULED, "start", Lifecycle(SessionState.LIVE, started_at=T1), True),
        (LIVE, "start", LIVE, False),
        (ENDED, "start", None, None),
        (CANCELLED, "start", None, None),
        (SCHEDULED, "end", Lifecycle(SessionState.ENDED, ended_at=T1), True),
        (LIVE, "end", Lifecycle(SessionState.ENDED, started_at=T0, ended_at=T1), True),
        (ENDED, "end", ENDED, False),
        (CANCELLED, "end", CANCELLED, False),
        (SCHEDULED, "cancel", Lifecycle(SessionState.ENDED, ended_at=T1), True),
        (CANCELLED, "cancel", CANCELLED, False),
        (LIVE, "cancel", None, None),
        (ENDED, "cancel", None, None),
    ],
)
def test_moves(before: Lifecycle, move: str, after: Lifecycle | None, changed: bool | None) -> None:
    """`after` None: the move is illegal."""
    step = getattr(before, move)
    if after is None:
        with pytest.raises(SessionStateError):
            step(T1)
    else:
        assert step(T1) == (after, changed)


def test_end_never_precedes_start() -> None:
    # The clock stepped back between start and end.
    ended, _ = LIVE.end(T0 - timedelta(seconds=3))
    assert ended.ended_at == T0


@pytest.mark.parametrize("move", ["start", "end", "cancel"])
def test_naive_now_is_refused(move: str) -> None:
    with pytest.raises(ValueError):
        getattr(SCHEDULED, move)(datetime(2025, 3, 1, 8, 0))


def test_states_are_their_stored_words() -> None:
    assert [s.value for s in SessionState] == ["scheduled", "live", "ended"]
    assert SessionState("live") is SessionState.LIVE
