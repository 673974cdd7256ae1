"""The latency throttle and live tuning (pure): how long chunks pause between batches, and why.

While the chunks run, a probe in its own process measures PING p99 over each second. Above the limit the pause
between batches doubles (from MIN_DELAY up to MAX_DELAY); below it, it halves back to zero. Batch size and
parallelism can be changed during the run (`om-runbook tune`); every change of pace is recorded for the report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MIN_DELAY = 0.05
MAX_DELAY = 2.0
AUTO_LIMIT_FLOOR_MS = 10.0
AUTO_LIMIT_FACTOR = 5.0


class Tuning(BaseModel):
    """What `om-runbook tune` asks of a running migration (unset: leave as is)."""

    batch_size: int | None = Field(None, ge=1, le=100_000)
    parallel: int | None = Field(None, ge=1, le=64)
    max_latency_ms: float | None = Field(None, ge=0)


class Pace(BaseModel):
    """What the chunks follow right now."""

    delay_seconds: float = 0.0
    batch_size: int | None = None
    parallel: int | None = None


class PaceEvent(BaseModel):
    kind: Literal["throttle", "tune"] = "throttle"  # a throttle step, or a change asked by `om-runbook tune`
    at_seconds: float
    p99_ms: float | None = None
    delay_seconds: float
    reason: str


def latency_limit_ms(requested: float | None, baseline_p99_ms: float) -> float | None:
    """The p99 limit in ms: as requested (0 = no throttle), or by default 5x the baseline p99, at least 10 ms."""
    if requested is not None:
        return requested or None
    return max(AUTO_LIMIT_FLOOR_MS, AUTO_LIMIT_FACTOR * baseline_p99_ms)


def next_delay(current: float, p99_ms: float | None, limit_ms: float | None) -> float:
    """The pause between batches after one more latency reading."""
    if limit_ms is None or p99_ms is None:
        return 0.0
    if p99_ms > limit_ms:
        return min(MAX_DELAY, max(MIN_DELAY, current * 2))
    halved = current / 2
    return halved if halved >= MIN_DELAY else 0.0


def delay_event(
    previous: float, delay: float, p99_ms: float | None, limit_ms: float | None, at_seconds: float
) -> PaceEvent | None:
    """An event when throttling starts, changes step, or ends; None when the pace stays the same."""
    if delay == previous:
        return None
    if limit_ms is None:
        reason = "throttle off: full speed again"
    elif p99_ms is None:
        reason = "no fresh latency reading (probe stopped): full speed"
    elif delay > previous:
        reason = f"p99 {p99_ms:.1f} ms above the {limit_ms:.1f} ms limit: pause {delay:.2f} s between batches"
    elif delay:
        reason = f"p99 {p99_ms:.1f} ms back under the limit: pause {delay:.2f} s between batches"
    else:
        reason = f"p99 {p99_ms:.1f} ms under the limit: full speed again"
    return PaceEvent(at_seconds=round(at_seconds, 2), p99_ms=p99_ms, delay_seconds=delay, reason=reason)


def tuning_events(before: Tuning, after: Tuning, at_seconds: float, delay: float) -> list[PaceEvent]:
    """One event per setting `om-runbook tune` changed."""
    events = []
    for name in ("batch_size", "parallel", "max_latency_ms"):
        old, new = getattr(before, name), getattr(after, name)
        if new is not None and new != old:
            events.append(
                PaceEvent(
                    kind="tune",
                    at_seconds=round(at_seconds, 2),
                    delay_seconds=delay,
                    reason=f"{name.replace('_', ' ')} set to {new} by om-runbook tune",
                )
            )
    return events


def throttled_seconds(events: list[PaceEvent], end_seconds: float) -> float:
    """Wall time spent with a pause between batches (from the event log)."""
    total, since = 0.0, None
    for event in events:
        if event.kind == "tune":
            continue
        if event.delay_seconds and since is None:
            since = event.at_seconds
        elif not event.delay_seconds and since is not None:
            total, since = total + event.at_seconds - since, None
    return total + (end_seconds - since if since is not None else 0.0)


def pace_summary(limit_ms: float | None, events: list[PaceEvent], slowed_seconds: float) -> list[str]:
    """The report's lines on the throttle and on changes made during the run."""
    if limit_ms is None:
        lines = ["throttle: off (--max-latency-ms 0)"]
    else:
        steps = sum(1 for e in events if e.delay_seconds and e.kind == "throttle")
        lines = [
            f"throttle: PING p99 limit {limit_ms:.1f} ms; slowed in {steps} step(s), {slowed_seconds:.1f} s in all"
            if steps
            else f"throttle: PING p99 limit {limit_ms:.1f} ms; never reached"
        ]
    lines += [f"at {e.at_seconds:.1f} s: {e.reason}" for e in events if e.kind == "tune"]
    return lines
