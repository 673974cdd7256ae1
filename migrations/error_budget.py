"""Judging failures against the run's error policy, in one place (pure)."""

from __future__ import annotations

from om_runbook.migrations.config import FailureMode


def refusal_before_writes(unreadable: int, failure_mode: FailureMode, max_errors: int | None) -> str | None:
    """Why the run must stop before its first write, given the values it cannot convert; None to go on."""
    if unreadable and failure_mode == "fail":
        return (
            f"{unreadable} value(s) cannot be converted (listed in the report) and --failure-mode is fail; "
            "nothing was written. Fix them, or use --failure-mode log_and_skip to leave them unchanged"
        )
    if max_errors is not None and unreadable > max_errors:
        return f"{unreadable} value(s) cannot be converted, more than --max-errors {max_errors}; nothing was written"
    return None


def remaining_budget(unreadable: int, max_errors: int | None) -> int | None:
    """Write errors the migrate phase may still meet before --max-errors stops it."""
    return None if max_errors is None else max(max_errors - unreadable, 0)
