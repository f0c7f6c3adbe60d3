"""The fields issue 15 adds to the attendance report, as a report of sites without rosters has
them: the tests of the report's exact shape add these to what they expected before."""

from __future__ import annotations

from typing import Any

# Each site entry: its people (server/attendance/people.py) and their three rates.
NO_PEOPLE_SITE: dict[str, Any] = {
    "people": [],
    "people_present_rate": None,
    "people_excused_rate": None,
    "people_unexcused_rate": None,
}
PEOPLE_SITE_FIELDS = list(NO_PEOPLE_SITE)

# The totals, a session's or a period's.
NO_PEOPLE_TOTALS: dict[str, Any] = {
    "people_expected": 0,
    "people_present": 0,
    "people_excused": 0,
    "people_unexcused": 0,
    "people_present_rate": None,
    "people_excused_rate": None,
    "people_unexcused_rate": None,
}
PEOPLE_RATES = ("people_present_rate", "people_excused_rate", "people_unexcused_rate")
