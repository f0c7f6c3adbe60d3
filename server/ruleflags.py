"""The attendance rules as command-line flags, the same for `serve` and `report`."""

from __future__ import annotations

import argparse

from .attendance import Rules, RulesError


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    rules = parser.add_argument_group("attendance rules (docs/attendance.md)")
    rules.add_argument("--present-coverage", type=float, default=0.8)
    rules.add_argument("--late-after", type=float, default=300.0, help="seconds")
    rules.add_argument("--early-before", type=float, default=300.0, help="seconds")
    rules.add_argument("--gap-grace", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--timezone", default="Asia/Ho_Chi_Minh", help="zone of the times pages and files show"
    )


def rules_from_args(args: argparse.Namespace) -> Rules:
    """The rules the flags give; ValueError says which flag is wrong."""
    rules = Rules(
        present_coverage=args.present_coverage,
        late_after_seconds=args.late_after,
        early_before_seconds=args.early_before,
        gap_grace_seconds=args.gap_grace,
    )
    try:
        return rules.validate()
    except RulesError as exc:
        if "present_coverage" in exc.fields:
            raise ValueError("--present-coverage must be between 0 and 1") from None
        raise ValueError(
            "--late-after, --early-before and --gap-grace must be finite and >= 0"
        ) from None
