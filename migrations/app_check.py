"""The application's own smoke test (`--app-check CMD`), judged: its exit code, duration and the last lines of its
output are the evidence for "Application started and tested with migrated data"; a failure is the checklist's
rollback criterion "Application functionality severely impacted" (pure)."""

from __future__ import annotations

from pydantic import BaseModel

from om_runbook.migrations.redaction import redact_text

TAIL_LINES = 20


class AppCheckResult(BaseModel):
    command: str
    exit_code: int | None  # None: it did not end within its time limit, or could not be started
    seconds: float
    output_tail: list[str]
    error: str = ""  # why it did not run or did not end

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def output_tail(output: bytes, secrets: tuple[str, ...], lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of what the check printed (stdout and stderr together), as text with the Redis URL's
    secrets and every Redis URL's password masked: the check may print its own settings."""
    text = output.decode("utf-8", errors="replace").replace("\r\n", "\n").rstrip("\n")
    kept = text.split("\n")[-lines:] if text else []
    return [redact_text(line, secrets) for line in kept]


def outcome_line(result: AppCheckResult) -> str:
    """One line: what ran, how it ended, how long it took."""
    if result.exit_code is None:
        ended = result.error or "did not end"
    else:
        ended = "passed (exit 0)" if result.passed else f"FAILED (exit {result.exit_code})"
    return f"`{result.command}` {ended} in {result.seconds:.1f} s"


def app_check_evidence(result: AppCheckResult) -> str | None:
    """The checklist's evidence for "Application started and tested with migrated data" (None: the check failed)."""
    if not result.passed:
        return None
    return f"--app-check {outcome_line(result)} against the migrated data"


def app_check_rollback_reason(result: AppCheckResult) -> str | None:
    """The rollback criterion the check meets (None: it passed)."""
    if result.passed:
        return None
    return f"application functionality severely impacted: the application's check {outcome_line(result)}"


def app_check_markdown(result: AppCheckResult) -> list[str]:
    """Lines for the acceptance form's description: the outcome, then the output's tail as a code block."""
    lines = [f"- application check: {outcome_line(result)}"]
    if result.output_tail:
        fence = "~~~~" if any(line.startswith("```") for line in result.output_tail) else "```"
        lines += ["", f"  last {len(result.output_tail)} lines of its output:", "", fence, *result.output_tail, fence]
    return lines
