from __future__ import annotations

from om_runbook.migrations.report import KpiCheck, PhaseReport, RunReport
from om_runbook.migrations.report_charts import (
    chunk_bars,
    latency_series,
    pace_marks,
    phase_bars,
    rate_series,
    report_charts,
    reported_chunk_runs,
)
from om_runbook.migrations.report_markdown import migration_report_markdown
from om_runbook.migrations.throttle import PaceEvent
from om_runbook.migrations.timeline import ChunkSpan, TimelinePoint


def _point(at: float, phase: str, **figures) -> TimelinePoint:
    return TimelinePoint(at=at, phase=phase, **figures)


def test_phase_bars_run_to_the_next_phase_and_a_dead_process_ends_its_bar_at_its_last_point():
    points = [
        _point(0, "assess"),
        _point(2, "assess"),
        _point(3, "migrate"),
        _point(5, "migrate"),
        # killed at 5; the resumed process starts at 100 with the same phase
        _point(100, "migrate"),
        _point(102, "verify"),
        _point(104, "verify"),
    ]
    bars = [(bar.label, bar.start, bar.end) for bar in phase_bars(points)]
    assert bars == [("assess", 0, 3), ("migrate", 3, 5), ("migrate", 100, 102), ("verify", 102, 104)]


def test_a_phase_end_point_moves_its_bar_back_to_when_the_phase_began():
    points = [_point(0, "assess"), _point(2, "assess"), _point(3, "migrate"), _point(4, "migrate", started_at=2.5)]
    bars = [(bar.label, bar.start, bar.end) for bar in phase_bars(points)]
    assert bars == [("assess", 0, 2.5), ("migrate", 2.5, 4)]
    short = [_point(0, "assess"), _point(1, "schema", started_at=0.6), _point(3, "migrate")]
    assert [(b.label, b.start, b.end) for b in phase_bars(short)] == [("assess", 0, 0.6), ("schema", 0.6, 3)]


def test_a_single_point_draws_no_phase_bar():
    assert phase_bars([_point(1, "starting")]) == []


def test_one_bar_per_process_that_worked_on_a_chunk():
    runs = {
        1: [ChunkSpan(started_at=10, ended_at=12, ran_by="a:1"), ChunkSpan(started_at=50, ended_at=51, ran_by="a:2")],
        0: [ChunkSpan(started_at=10, ended_at=11, ran_by="a:1")],
    }
    bars = chunk_bars("migrate", runs)
    assert [(bar.row, bar.label, bar.start, bar.end) for bar in bars] == [
        ("migrate 0000", "a:1", 10, 11),
        ("migrate 0001", "a:1", 10, 12),
        ("migrate 0001", "a:2", 50, 51),
    ]


def test_chunk_runs_come_from_every_phase_s_chunk_results():
    report = RunReport(status="succeeded", redis="r")
    span = {"started_at": 1.0, "ended_at": 2.0, "ran_by": "h:1"}
    report.phases["migrate"] = PhaseReport(
        duration_seconds=1, details={"chunks": [{"index": 3, "direction": "migrate", "runs": [span, span]}]}
    )
    report.phases["rollback"] = PhaseReport(
        duration_seconds=1, details={"chunks": [{"index": 0, "direction": "rollback", "runs": []}], "check": {}}
    )
    found = reported_chunk_runs(report)
    assert list(found) == ["migrate"] and [len(runs) for runs in found["migrate"].values()] == [2]


def test_rates_are_one_series_per_phase_and_points_without_a_rate_are_left_out():
    points = [
        _point(0, "scan", per_second=None),
        _point(2, "scan", per_second=100.0),
        _point(4, "migrate", per_second=None),
        _point(6, "migrate", per_second=300.0),
        _point(8, "migrate", per_second=200.0),
    ]
    series = rate_series(points)
    assert [(line.name, line.at, line.values) for line in series] == [
        ("scan", [2], [100.0]),
        ("migrate", [6, 8], [300.0, 200.0]),
    ]


def test_latency_has_p50_p99_and_the_limit_only_where_a_throttle_was_set():
    points = [_point(0, "migrate", p50_ms=0.1, p99_ms=0.4), _point(2, "migrate", p50_ms=0.2, p99_ms=0.9, limit_ms=5)]
    names = [(line.name, line.values) for line in latency_series(points)]
    assert names == [("PING p50 (ms)", [0.1, 0.2]), ("PING p99 (ms)", [0.4, 0.9]), ("throttle limit, p99 (ms)", [5])]
    assert len(latency_series([_point(0, "migrate", p99_ms=0.4)])) == 2  # no limit: no limit line


def test_pace_marks_are_placed_at_the_controller_start_plus_their_offset():
    events = [PaceEvent(at_seconds=1.5, p99_ms=12.0, delay_seconds=0.05, reason="p99 above the limit")]
    assert [(mark.at, mark.label) for mark in pace_marks(events, 1000.0)] == [
        (1001.5, "throttle: pause 0.05 s (p99 above the limit)")
    ]
    assert pace_marks(events, None) == []  # no start recorded: no place to put them


def test_memory_and_cpu_are_scaled_for_people():
    points = [_point(0, "migrate", used_memory_bytes=2_500_000, cpu_share=0.25)]
    charts = report_charts(points, {}, [], None)
    assert charts.memory_mb.values == [2.5] and charts.cpu_percent.values == [25.0]
    assert charts.start() is None  # no bar: no start


def test_the_markdown_artifact_has_headline_sparklines_kpis_escaped_and_the_html_path(tmp_path):
    points = [_point(t, "migrate: chunks", per_second=float(t), p99_ms=0.1 * t) for t in range(1, 6)]
    charts = report_charts(points, {}, [], None)
    report = RunReport(status="succeeded", redis="redis://:***@db:6379/0")
    report.kpi_checks = [KpiCheck(name="success rate", value="100.00%", target="> 99%", met=True)]
    text = migration_report_markdown(report, charts, tmp_path / "archive" / "run-report.html")
    assert text.startswith("# Migration report: succeeded")
    assert "| migrate: chunks | `▁▃▅▆█` | 5.00 /s | 5.00 /s |" in text
    assert "| success rate | 100.00% | \\> 99% | met |" in text  # not a block quote in the UI
    assert f"`{tmp_path / 'archive' / 'run-report.html'}`" in text
    assert "| Redis used_memory (MB) | (no figures) | | |" in text
    assert "could not be written" in migration_report_markdown(report, charts, None)
