"""Attendance: the rules over the join log (rules), why a hall missed time (outage), the report
of one session (session), the figures of a period (period). Everything outside imports from
here."""

from .outage import Cause, Outage, outage
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
from .session import chain_json, report_json, session_report, site_json, totals_json, window_json

__all__ = [
    "AttendanceError",
    "Cause",
    "HeldSession",
    "LogEvent",
    "Outage",
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
    "chain_json",
    "outage",
    "period_summary",
    "report_json",
    "session_report",
    "sessions_in",
    "site_json",
    "totals",
    "totals_json",
    "window_json",
]
