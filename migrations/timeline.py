"""The run's figures over time (pure): one point every few seconds (phase, work done, its rate, PING p99), bounded to
a fixed number of points whatever the run's length, and the text sparklines `om-runbook status` draws from them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from om_runbook.migrations.progress_figures import PhaseFigures

MAX_POINTS = 600
MIN_RATE_SECONDS = 0.5  # a shorter span (the run's last points) gives no rate: too few batches to mean anything
BLOCKS = "▁▂▃▄▅▆▇█"


class ProbeReading(BaseModel):
    """The resource probe's latest figures (it runs while the chunks run): PING over its last quarter second, and
    its latest memory and Redis CPU sample."""

    at: float = Field(0.0, description="epoch seconds")
    p50_ms: float | None = None
    p99_ms: float | None = None
    samples: int = 0
    used_memory_bytes: int | None = None
    cpu_share: float | None = Field(
        None, description="Redis CPU seconds per second (user + sys) since the sample before"
    )


class TimelinePoint(BaseModel):
    at: float = Field(description="epoch seconds")
    phase: str
    done: int = Field(0, description="units the phase has done (keys, bytes)")
    per_second: float | None = Field(None, description="the phase's rate since the point before, in its unit")
    p99_ms: float | None = Field(None, description="PING p99 the probe measured last (the migrate phase only)")
    p50_ms: float | None = None
    limit_ms: float | None = Field(None, description="the throttle's p99 limit at this point")
    used_memory_bytes: int | None = None
    cpu_share: float | None = None
    started_at: float | None = Field(None, description="a phase's last point: when the phase began (epoch seconds)")


class ChunkSpan(BaseModel):
    """One process's stretch of work on one chunk (epoch seconds): a resumed chunk has one per process."""

    started_at: float
    ended_at: float
    ran_by: str = Field("", description="host:pid")


class Timeline(BaseModel):
    """Kept in the backup directory: a resumed run adds to the points of the process before it. Points are at least
    `spacing` seconds apart; when there are more than the bound, neighbours are merged and the spacing doubles, so
    every point covers about the same span of time."""

    points: list[TimelinePoint] = Field(default_factory=list)
    spacing: float = Field(0.0, description="seconds between points")

    def add(self, point: TimelinePoint, max_points: int = MAX_POINTS) -> None:
        if len(self.points) > 1 and point.at - self.points[-2].at < self.spacing:
            self.points[-1] = _merged(self.points[-1], point)  # the newest point still gathers its span
            return
        self.points.append(point)
        if len(self.points) > max_points:
            self.spacing = max(2 * self.spacing, (self.points[-1].at - self.points[0].at) / len(self.points) * 2)
            self.points = halve(self.points)


def next_point(
    previous: TimelinePoint | None,
    at: float,
    phase: str,
    done: int,
    p99_ms: float | None,
    probe: ProbeReading | None = None,
    limit_ms: float | None = None,
) -> TimelinePoint:
    """The point at `at`; its rate is measured against `previous` when both are of the same phase."""
    rate = None
    if (
        previous is not None
        and previous.phase == phase
        and at - previous.at >= MIN_RATE_SECONDS
        and done >= previous.done
    ):
        rate = (done - previous.done) / (at - previous.at)
    figures = probe.model_dump(include={"p50_ms", "used_memory_bytes", "cpu_share"}) if probe is not None else {}
    return TimelinePoint(at=at, phase=phase, done=done, per_second=rate, p99_ms=p99_ms, limit_ms=limit_ms, **figures)


def phase_end_point(
    at: float, phase: str, figures: PhaseFigures, p99_ms: float | None, probe: ProbeReading | None = None
) -> TimelinePoint:
    """The point of a phase that ended, with its rate over the whole time it ran and the probe's last reading: a
    phase shorter than the spacing of the points would otherwise have no rate, memory or CPU at all."""
    resources = probe.model_dump(include={"used_memory_bytes", "cpu_share"}) if probe is not None else {}
    return TimelinePoint(
        at=at,
        phase=phase,
        done=figures.done,
        per_second=figures.phase_rate(),
        p99_ms=p99_ms,
        started_at=at - figures.seconds,
        **resources,
    )


def _merged(first: TimelinePoint, second: TimelinePoint) -> TimelinePoint:
    """Two neighbours as one: the later point, with the mean rate and the worse p99 of both."""
    rates = [p.per_second for p in (first, second) if p.per_second is not None]
    p99s = [p.p99_ms for p in (first, second) if p.p99_ms is not None]
    return second.model_copy(
        update={"per_second": sum(rates) / len(rates) if rates else None, "p99_ms": max(p99s) if p99s else None}
    )


def halve(points: list[TimelinePoint]) -> list[TimelinePoint]:
    """Every pair of neighbours merged (the last point kept as it is when the count is odd): half the resolution,
    the same span of time."""
    merged = [_merged(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    return merged + points[len(merged) * 2 :]


def recent(points: list[TimelinePoint], now: float, seconds: float) -> list[TimelinePoint]:
    return [point for point in points if now - point.at <= seconds]


def sparkline(values: list[float | None], width: int = 40) -> str:
    """The last `width` values as block characters scaled from their own minimum to maximum; a gap for no value."""
    shown = values[-width:]
    known = [value for value in shown if value is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if value is None else BLOCKS[round((value - low) / span * (len(BLOCKS) - 1)) if span else 0]
        for value in shown
    )
