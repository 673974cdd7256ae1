from __future__ import annotations

from om_runbook.migrations.progress_figures import PhaseFigures
from om_runbook.migrations.timeline import (
    ProbeReading,
    Timeline,
    TimelinePoint,
    halve,
    next_point,
    phase_end_point,
    recent,
    sparkline,
)


def _point(at: float, rate: float | None = None, p99: float | None = None, phase: str = "migrate") -> TimelinePoint:
    return TimelinePoint(at=at, phase=phase, done=int(at), per_second=rate, p99_ms=p99)


def test_the_rate_is_measured_against_the_point_before_of_the_same_phase():
    first = next_point(None, 100.0, "migrate", 0, None)
    assert first.per_second is None
    second = next_point(first, 102.0, "migrate", 5000, 0.4)
    assert second.per_second == 2500.0 and second.p99_ms == 0.4
    assert next_point(second, 104.0, "verify", 6000, None).per_second is None  # another phase: no rate across
    assert next_point(second, 102.0, "migrate", 6000, None).per_second is None  # no time passed
    assert next_point(second, 102.3, "migrate", 6000, None).per_second is None  # too short a span to mean anything
    assert next_point(second, 103.0, "migrate", 10, None).per_second is None  # a counter that went back


def test_the_timeline_never_holds_more_than_its_bound_and_keeps_its_whole_span():
    timeline = Timeline()
    for second in range(5000):
        timeline.add(_point(float(second), rate=float(second)), max_points=100)
    assert 50 <= len(timeline.points) <= 100
    assert timeline.points[0].at <= 64 and timeline.points[-1].at == 4999.0  # the start is still covered
    ats = [point.at for point in timeline.points]
    assert ats == sorted(ats)


def test_halving_merges_neighbours_into_the_later_point_with_the_mean_rate_and_the_worse_p99():
    merged = halve([_point(1, 10, 0.2), _point(2, 30, 0.9), _point(3, None, None), _point(4, 50, None), _point(5, 7)])
    assert [(p.at, p.per_second, p.p99_ms) for p in merged] == [(2, 20, 0.9), (4, 50, None), (5, 7, None)]


def test_recent_keeps_the_last_seconds_only():
    points = [_point(float(at)) for at in range(0, 100, 10)]
    assert [p.at for p in recent(points, now=100.0, seconds=30)] == [70.0, 80.0, 90.0]


def test_sparkline_scales_from_minimum_to_maximum_leaves_gaps_and_shows_the_last_values():
    assert sparkline([0, 7, 14, None, 3.5]) == "▁▅█ ▃"
    assert sparkline([5, 5, 5]) == "▁▁▁"
    assert sparkline([None, None]) == ""
    assert sparkline(list(range(100)), width=10) == "▁▂▃▃▄▅▆▆▇█"


def test_a_phase_shorter_than_the_spacing_of_the_points_gets_its_whole_rate_at_its_end():
    point = phase_end_point(50.0, "migrate: chunks", PhaseFigures(15_000, 15_000, 0.3, start=9_000), 0.7)
    assert point.per_second == 20_000 and point.done == 15_000 and point.p99_ms == 0.7 and point.at == 50.0
    assert phase_end_point(50.0, "schema", PhaseFigures(0, 0, 0.0), None).per_second is None  # no time: no rate


def test_a_phase_end_point_carries_the_probes_last_memory_and_cpu_reading():
    reading = ProbeReading(p50_ms=0.2, p99_ms=0.9, samples=40, used_memory_bytes=5_000_000, cpu_share=0.4, at=49.8)
    point = phase_end_point(50.0, "migrate: chunks", PhaseFigures(300, 300, 0.2), 0.7, reading)
    assert point.used_memory_bytes == 5_000_000 and point.cpu_share == 0.4
    assert point.p99_ms == 0.7  # the throttle's, as before
    bare = phase_end_point(50.0, "verify", PhaseFigures(300, 300, 0.2), None)
    assert bare.used_memory_bytes is None and bare.cpu_share is None
