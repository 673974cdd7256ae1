"""Progress figures, the status verdict and the gate notice: pure, every branch."""

from __future__ import annotations

import pytest

from om_runbook.migrations.gate_notice import approve_command, gate_notice, summary_paragraph
from om_runbook.migrations.progress_figures import PhaseFigures, clock, human_duration
from om_runbook.migrations.run_status import (
    ChunkProgressState,
    GateWait,
    LeaseState,
    PhaseProgress,
    RunStatus,
    ThrottleState,
    default_resume_command,
    judge_status,
    status_lines,
    timeline_lines,
)

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "unknown"),
        (-1, "unknown"),
        (0, "under a second"),
        (0.4, "under a second"),
        (1, "about 1 s"),
        (40.2, "about 40 s"),
        (59.4, "about 59 s"),
        (60, "about 1 min"),
        (185, "about 3 min"),
        (3599, "about 60 min"),
        (3600, "about 1 h"),
        (7500, "about 2 h 5 min"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds, words):
    assert human_duration(seconds) == words


def test_clock_counts_hours_minutes_seconds():
    assert [clock(0), clock(61.4), clock(3725), clock(-3)] == ["0:00:00", "0:01:01", "1:02:05", "0:00:00"]


def test_no_rate_and_no_eta_in_the_first_half_second_or_before_any_key():
    assert PhaseFigures(100, 1000, 0.4).rate is None
    assert PhaseFigures(0, 1000, 5).eta_seconds is None
    assert PhaseFigures(0, 1000, 5).text() == "0 of 1,000 keys (0.0%), measuring rate, ETA measuring"


def test_rate_eta_and_share_once_measured():
    figures = PhaseFigures(120_000, 400_000, 4.0)
    assert figures.rate == 30_000
    assert figures.eta_seconds == pytest.approx(280_000 / 30_000)
    assert figures.text() == "120,000 of 400,000 keys (30.0%), 30,000 keys/s, ETA 0:00:09"
    assert figures.done_text() == "120,000 keys in 4.0 s (30,000 keys/s)"


def test_a_resumed_phase_rates_only_what_this_process_did():
    figures = PhaseFigures(15_000, 15_000, 0.25, start=10_000)  # 10,000 done before the kill, 5,000 after it
    assert figures.rate is None  # a quarter of a second: no running rate yet
    assert figures.phase_rate() == 20_000
    assert figures.done_text() == "15,000 keys (5,000 in this process) in 0.2 s (20,000 keys/s)"
    assert PhaseFigures(15_000, 20_000, 1.0, start=10_000).rate == 5_000
    assert PhaseFigures(10_000, 20_000, 1.0, start=10_000).rate is None  # nothing done in this process yet
    assert (
        PhaseFigures(10, 10, 0.0).phase_rate() is None and PhaseFigures(10, 10, 0.0).done_text() == "10 keys in 0.0 s"
    )


def test_share_is_capped_and_an_overrun_total_has_no_negative_eta():
    figures = PhaseFigures(1500, 1000, 2.0)
    assert figures.share == 1.0 and figures.eta_seconds == 0
    assert PhaseFigures(5, 0, 1.0).share == 0.0


def test_bytes_show_as_megabytes():
    figures = PhaseFigures(26_800_000, 67_200_000, 1.0, unit="bytes")
    assert figures.text().startswith("26.8 of 67.2 MB (39.9%), 26.8 MB/s, ETA 0:00:02")


def _status(**changes) -> RunStatus:
    values = {
        "kind": "migration",
        "redis": "redis://u:***@db:6379/0",
        "backup_dir": "/b",
        "host": "here",
        "pid": 42,
        "started_at": NOW - 600,
        "updated_at": NOW - 1,
        "resume_command": "om-runbook run --backup-dir /b --models app.models",
    }
    return RunStatus(**(values | changes))


def test_a_running_migration_is_healthy_and_shows_chunks_throttle_and_lease():
    status = _status(
        phase="migrate: chunks",
        progress=PhaseProgress(name="migrate: chunks", done=50_000, total=200_000, seconds=2.0),
        chunks=[
            ChunkProgressState(index=0, done=100, total=100, finished=True),
            ChunkProgressState(index=1, done=40, total=100),
            ChunkProgressState(index=2, done=0, total=100),
        ],
        throttle=ThrottleState(p99_ms=3.5, limit_ms=10, delay_seconds=0.02, throttled_seconds=4.2),
        lease=LeaseState(holder="here:42 migration", since=NOW - 300),
    )
    verdict = judge_status(status, NOW, "here", process_alive=True)
    assert (verdict.state, verdict.exit_code) == ("running", 0)
    text = "\n".join(status_lines(status, verdict, NOW))
    assert "50,000 of 200,000 keys (25.0%), 25,000 keys/s, ETA 0:00:06" in text
    assert "chunks: 1 of 3 done, 1 running; 0001 at 40/100" in text
    assert "throttle: p99 3.50 ms against limit 10 ms, delay per batch 0.02 s, throttled 4.2 s so far" in text
    assert "lease held by here:42 migration for about 5 min" in text
    assert "resume with" not in text


def test_a_waiting_gate_needs_a_person_and_shows_who_and_how():
    gate = GateWait(gate="go-no-go", waiting_for=["Database Administrator"], since=NOW - 7200, approve_command="x")
    status = _status(phase="sign-off go-no-go", gate=gate)
    verdict = judge_status(status, NOW, "here", process_alive=True)
    assert (verdict.state, verdict.exit_code) == ("waiting_for_signoff", 3)
    text = "\n".join(status_lines(status, verdict, NOW))
    assert "gate go-no-go: waiting about 2 h for Database Administrator" in text
    assert "answer: x" in text


def test_a_dead_process_on_this_host_is_a_crash_with_the_resume_command():
    status = _status(phase="migrate: chunks")
    verdict = judge_status(status, NOW, "here", process_alive=False)
    assert (verdict.state, verdict.exit_code) == ("crashed", 1)
    assert "CRASHED in phase migrate: chunks: process here:42 gone" in verdict.headline
    assert "  resume with: om-runbook run --backup-dir /b --models app.models" in status_lines(status, verdict, NOW)


def test_a_silent_run_on_another_host_is_a_crash_after_the_heartbeat_goes_stale():
    fresh = judge_status(_status(host="worker-1", updated_at=NOW - 10), NOW, "here", process_alive=False)
    stale = judge_status(_status(host="worker-1", updated_at=NOW - 31), NOW, "here", process_alive=True)
    assert fresh.state == "running" and stale.state == "crashed"


@pytest.mark.parametrize(
    ("kind", "outcome", "state", "code"),
    [
        ("migration", "succeeded", "finished", 0),
        ("rollback", "rolled_back", "finished", 0),
        ("rehearsal", "passed", "finished", 0),
        ("migration", "not_approved", "needs_attention", 3),
        ("migration", "rollback_needed", "needs_attention", 3),
        ("migration", "failed", "failed", 1),
        ("migration", "rolled_back", "failed", 1),
        ("rollback", "rollback_incomplete", "failed", 1),
        ("rehearsal", "failed", "failed", 1),
    ],
)
def test_an_ended_run_is_judged_by_its_outcome_even_with_its_process_gone(kind, outcome, state, code):
    verdict = judge_status(_status(kind=kind, outcome=outcome), NOW, "here", process_alive=False)
    assert (verdict.state, verdict.exit_code) == (state, code)


def test_the_last_error_is_shown():
    status = _status(outcome="failed", last_error="redis went away")
    assert "  last error: redis went away" in status_lines(status, judge_status(status, NOW, "here", True), NOW)


def test_default_resume_commands_name_the_backup_dir():
    assert "rollback --backup-dir /b" in default_resume_command("rollback", "/b")
    assert "--backup-dir /b" in default_resume_command("migration", "/b")


def test_approve_command_quotes_the_role():
    assert approve_command("abc", "Technical Lead") == "om-runbook approve abc --role 'Technical Lead' --name NAME"


def test_summary_paragraph_joins_bullets_and_drops_markup():
    text = "## Sign-off\n\nApprove to start **writing**.\n\n- keys: 10\n- `sha256` abc\n"
    assert summary_paragraph(text) == "Approve to start writing.; keys: 10; sha256 abc"


def test_the_gate_notice_carries_gate_roles_link_and_command_and_never_a_secret():
    summary = "- Redis: redis://app:hunter2@db:6379/0\n- token s3cret in a comment"
    text = gate_notice(
        "acceptance",
        ["Technical Lead", "Database Administrator"],
        summary,
        "http://prefect:4200/runs/flow-run/abc",
        "abc",
        secrets=("s3cret",),
    )
    assert text.startswith("om-runbook: sign-off acceptance is waiting for Technical Lead, Database Administrator.")
    assert "http://prefect:4200/runs/flow-run/abc" in text
    assert "om-runbook approve abc --role 'Technical Lead' --name NAME" in text
    assert "hunter2" not in text and "s3cret" not in text
    assert "redis://app:***@db:6379/0" in text


def test_the_gate_notice_without_a_ui_link_says_where_to_answer():
    text = gate_notice("final", ["Operations Manager"], "", None, "abc")
    assert "Answer in the Prefect UI (Flow Runs, Paused, Resume)." in text


def test_status_shows_sparklines_of_each_phase_rate_and_of_p99_over_the_last_minutes():
    from om_runbook.migrations.timeline import Timeline, TimelinePoint

    timeline = Timeline(
        points=[
            TimelinePoint(at=float(t), phase="assess + backup: scan", done=t, per_second=9e9) for t in range(0, 40, 2)
        ]
        + [
            TimelinePoint(at=40.0 + t, phase="migrate", done=t * 1000, per_second=rate, p99_ms=p99)
            for t, rate, p99 in [(2, None, 0.2), (4, 1000.0, 0.3), (6, 3000.0, 1.5), (8, 2000.0, None)]
        ]
        + [TimelinePoint(at=-1000.0, phase="migrate", per_second=1e12)]  # older than the last minutes: not drawn
    )
    timeline.points.sort(key=lambda point: point.at)
    lines = timeline_lines(timeline, "keys")
    assert lines == [
        "  assess + backup: scan, keys/s: " + "▁" * 20 + "  last 9,000,000,000/s",
        "  migrate, keys/s:  ▁█▅  last 2,000/s",  # on its own scale: the scan's rate is another phase's
        "  PING p99: ▁▂█   last 1.50 ms, worst 1.50 ms",
    ]
    assert timeline_lines(Timeline(), "keys") == []
    assert timeline_lines(Timeline(points=[TimelinePoint(at=1.0, phase="starting")]), "keys") == []
