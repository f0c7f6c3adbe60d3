"""Attendance: the rules over the join log (rules), the report of one session (session), the
figures of a period (period). Everything outside imports from here."""

from .period import HeldSession, period_summary
from .rules import (
    AttendanceError,
    LogEvent,
    Report,
    RosterSite,
    Rules,
    RulesError,
    SiteAttendance,
    SiteTally,
    Status,
    Tally,
    Totals,
    attendance,
    sessions_in,
    totals,
)
from .session import report_json, session_report, site_json, totals_json, window_json

__all__ = [
    "AttendanceError",
    "HeldSession",
    "LogEvent",
    "Report",
    "RosterSite",
    "Rules",
    "RulesError",
    "SiteAttendance",
    "SiteTally",
    "Status",
    "Tally",
    "Totals",
    "attendance",
    "period_summary",
    "report_json",
    "session_report",
    "sessions_in",
    "site_json",
    "totals",
    "totals_json",
    "window_json",
]
