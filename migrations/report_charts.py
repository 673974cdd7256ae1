"""What the run report draws, as data (pure): the phases and every chunk as bars in time, each phase's keys/s,
PING p50/p99 against the throttle's limit with its steps marked, Redis memory and CPU. From the timeline kept in
the backup directory and the chunks' checkpoints, so a resumed run's report covers the processes before it."""

from __future__ import annotations

from pydantic import BaseModel

from om_runbook.migrations.report import RunReport
from om_runbook.migrations.throttle import PaceEvent
from om_runbook.migrations.timeline import ChunkSpan, TimelinePoint

GAP_SECONDS = 30.0  # longer than this without a point: the process was gone (killed), the bar ends at its last point


class Bar(BaseModel):
    label: str
    start: float  # epoch seconds
    end: float
    row: str  # the bars of one row share a line: a phase, or a chunk


class Series(BaseModel):
    name: str
    at: list[float]
    values: list[float]


class Mark(BaseModel):
    at: float
    label: str


class ReportCharts(BaseModel):
    phases: list[Bar]
    chunks: list[Bar]
    rates: list[Series]  # one per phase that measured a rate
    latency: list[Series]  # p50, p99 and the limit (where set)
    pace_marks: list[Mark]
    memory_mb: Series
    cpu_percent: Series

    def start(self) -> float | None:
        starts = [bar.start for bar in self.phases + self.chunks]
        return min(starts) if starts else None


def phase_bars(points: list[TimelinePoint], gap_seconds: float = GAP_SECONDS) -> list[Bar]:
    """Consecutive points of one phase as one bar, to the next phase's first point; a gap (a dead process) ends it
    at its own last point."""
    bars: list[Bar] = []
    for point in points:
        current = bars[-1] if bars else None
        if current is not None and point.at - current.end > gap_seconds:
            current = None  # the process was gone: a new bar even for the same phase
        elif current is not None and current.label != point.phase:
            current.end = point.at
            current = None
        if current is None:
            current = Bar(label=point.phase, start=point.at, end=point.at, row=point.phase)
            bars.append(current)
        current.end = point.at
        if point.started_at is not None and point.started_at < current.start:  # a phase's end knows its start
            current.start = point.started_at
            if len(bars) > 1 and bars[-2].end > current.start:
                bars[-2].end = current.start
    return [bar for bar in bars if bar.end > bar.start]


def chunk_bars(direction: str, runs_by_chunk: dict[int, list[ChunkSpan]]) -> list[Bar]:
    """One bar per process that worked on a chunk, on that chunk's row."""
    return [
        Bar(
            label=run.ran_by,
            start=run.started_at,
            end=max(run.ended_at, run.started_at),
            row=f"{direction} {index:04d}",
        )
        for index, runs in sorted(runs_by_chunk.items())
        for run in runs
    ]


def reported_chunk_runs(report: RunReport) -> dict[str, dict[int, list[ChunkSpan]]]:
    """Per direction and chunk, when each process worked on it, from the chunk results of every phase (a chunk's
    checkpoint carries the runs of killed processes into the result of the one that finished it)."""
    found: dict[str, dict[int, list[ChunkSpan]]] = {}
    for phase in report.phases.values():
        for chunk in phase.details.get("chunks", []):
            runs = [ChunkSpan.model_validate(run) for run in chunk.get("runs", [])]
            if runs:
                found.setdefault(chunk["direction"], {})[int(chunk["index"])] = runs
    return found


def rate_series(points: list[TimelinePoint]) -> list[Series]:
    series: dict[str, Series] = {}
    for point in points:
        if point.per_second is not None:
            line = series.setdefault(point.phase, Series(name=point.phase, at=[], values=[]))
            line.at.append(point.at)
            line.values.append(point.per_second)
    return list(series.values())


def _series(name: str, points: list[TimelinePoint], value: str, scale: float = 1.0) -> Series:
    measured = [(point.at, getattr(point, value)) for point in points if getattr(point, value) is not None]
    return Series(name=name, at=[at for at, _ in measured], values=[figure * scale for _, figure in measured])


def latency_series(points: list[TimelinePoint]) -> list[Series]:
    lines = [_series("PING p50 (ms)", points, "p50_ms"), _series("PING p99 (ms)", points, "p99_ms")]
    limit = _series("throttle limit, p99 (ms)", points, "limit_ms")
    return lines + ([limit] if limit.at else [])


def pace_marks(events: list[PaceEvent], started_at: float | None) -> list[Mark]:
    """Each throttle step and each `om-runbook tune` change, at its time."""
    if started_at is None:
        return []
    return [
        Mark(at=started_at + event.at_seconds, label=f"{event.kind}: pause {event.delay_seconds:g} s ({event.reason})")
        for event in events
    ]


def report_charts(
    points: list[TimelinePoint],
    chunk_runs: dict[str, dict[int, list[ChunkSpan]]],
    events: list[PaceEvent],
    pace_started_at: float | None,
) -> ReportCharts:
    return ReportCharts(
        phases=phase_bars(points),
        chunks=[bar for direction, runs in chunk_runs.items() for bar in chunk_bars(direction, runs)],
        rates=rate_series(points),
        latency=latency_series(points),
        pace_marks=pace_marks(events, pace_started_at),
        memory_mb=_series("Redis used_memory (MB)", points, "used_memory_bytes", 1e-6),
        cpu_percent=_series("Redis CPU (% of a core)", points, "cpu_share", 100.0),
    )
