"""The hall's camera count in the report: from the `people_count` events (the join page's
estimate, every 30 s), the largest STABLE count, and whether it disagrees with the people who
checked in or the headcount the hall declared. Sans-I/O, like the rest of attendance.

Stable: the largest count the camera kept for `stable_samples` samples in a row. Over every run
of that many consecutive samples inside the session's window, take the run's smallest value;
the stable count is the largest of those. One frame that saw too many (a face on a poster, a
detector's mistake) or too few (heads bowed over papers) does not move it; a hall that filled
up and stayed full does. With fewer samples than that in the window, the smallest of them.
Samples outside the window (the page open before the start or after the end) are not counted.

Disagrees: the stable count is further from the other figure than the tolerance, the larger of
`tolerance_people` and `tolerance_fraction` of the other figure. The figures compared: the
people checked in (the roster's present and late), and the declared headcount, each when
there is one. None when there is no stable count or nothing to compare it with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rules.py imports this module
    from .rules import LogEvent


@dataclass(frozen=True)
class CameraRules:
    stable_samples: int = 3  # 90 s at the page's 30 s
    tolerance_people: int = 2
    tolerance_fraction: float = 0.1


def counts_in_window(events: Iterable[LogEvent], start: datetime, end: datetime) -> list[int]:
    """The camera's counts inside [start, end], in the order given (the log's time order);
    a body whose count is not a whole number >= 0 is not a count."""
    found = []
    for event in events:
        if event.type != "people_count" or not start <= event.ts <= end:
            continue
        count = event.fields.get("count")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            found.append(count)
    return found


def stable_count(counts: list[int], rules: CameraRules = CameraRules()) -> int | None:
    """The largest count held for `stable_samples` samples in a row (see the module's text)."""
    if not counts:
        return None
    run = max(rules.stable_samples, 1)
    if len(counts) <= run:
        return min(counts)
    return max(min(counts[i : i + run]) for i in range(len(counts) - run + 1))


def disagrees(
    camera: int | None,
    checked_in: int | None,
    headcount: int | None,
    rules: CameraRules = CameraRules(),
) -> bool | None:
    """Whether the camera's count is beyond the tolerance from either other figure."""
    others = [n for n in (checked_in, headcount) if n is not None]
    if camera is None or not others:
        return None
    return any(
        abs(camera - other) > max(rules.tolerance_people, rules.tolerance_fraction * other)
        for other in others
    )
