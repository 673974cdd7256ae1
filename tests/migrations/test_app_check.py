"""The application check's verdict, evidence and what the acceptance form shows of it (pure)."""

from __future__ import annotations

from om_runbook.migrations.app_check import (
    AppCheckResult,
    app_check_evidence,
    app_check_markdown,
    app_check_rollback_reason,
    outcome_line,
    output_tail,
)


def _result(exit_code: int | None, tail: list[str] | None = None, error: str = "") -> AppCheckResult:
    tail = tail or []
    return AppCheckResult(command="pytest smoke", exit_code=exit_code, seconds=2.25, output_tail=tail, error=error)


def test_a_passing_check_is_evidence_and_no_rollback_criterion():
    passed = _result(0)
    assert passed.passed
    assert outcome_line(passed) == "`pytest smoke` passed (exit 0) in 2.2 s"
    assert app_check_evidence(passed) == "--app-check `pytest smoke` passed (exit 0) in 2.2 s against the migrated data"
    assert app_check_rollback_reason(passed) is None


def test_a_failing_stopped_or_unstartable_check_is_the_rollback_criterion_and_no_evidence():
    for result, words in [
        (_result(3), "FAILED (exit 3)"),
        (_result(None, error="did not end within 5 s (stopped)"), "did not end within 5 s (stopped)"),
        (_result(-9), "FAILED (exit -9)"),
    ]:
        assert not result.passed
        assert app_check_evidence(result) is None
        reason = app_check_rollback_reason(result)
        assert reason is not None and reason.startswith("application functionality severely impacted: ")
        assert words in reason


def test_the_output_tail_keeps_the_last_lines_and_masks_the_redis_password():
    output = "".join(f"line {n}\r\n" for n in range(30)).encode() + b"url redis://:s3cret@db:6379/0 \xff\n"
    tail = output_tail(output, ("s3cret",))
    assert len(tail) == 20
    assert tail[0] == "line 11"
    assert tail[-1] == "url redis://:***@db:6379/0 \ufffd"
    assert not any("s3cret" in line for line in tail)
    assert output_tail(b"", ()) == []
    assert output_tail(b"one\ntwo\n", (), lines=1) == ["two"]


def test_the_acceptance_form_shows_the_outcome_and_the_tail_in_a_fence_the_output_cannot_close():
    lines = app_check_markdown(_result(1, ["```", "AssertionError: order total"]))
    assert lines[0] == "- application check: `pytest smoke` FAILED (exit 1) in 2.2 s"
    assert lines[-4:] == ["~~~~", "```", "AssertionError: order total", "~~~~"]
    assert app_check_markdown(_result(0)) == ["- application check: `pytest smoke` passed (exit 0) in 2.2 s"]
