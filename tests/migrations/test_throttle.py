from __future__ import annotations

import pytest

from om_runbook.migrations.throttle import (
    MAX_DELAY,
    MIN_DELAY,
    PaceEvent,
    Tuning,
    delay_event,
    latency_limit_ms,
    next_delay,
    pace_summary,
    throttled_seconds,
    tuning_events,
)


def test_the_limit_defaults_to_five_times_the_baseline_with_a_floor_and_zero_turns_it_off():
    assert latency_limit_ms(None, 0.4) == 10.0
    assert latency_limit_ms(None, 4.0) == 20.0
    assert latency_limit_ms(25.0, 4.0) == 25.0
    assert latency_limit_ms(0.0, 4.0) is None


@pytest.mark.parametrize(
    ("current", "p99", "limit", "expected"),
    [
        (0.0, 12.0, 10.0, MIN_DELAY),  # first reading above: the smallest pause
        (MIN_DELAY, 12.0, 10.0, 2 * MIN_DELAY),  # still above: doubles
        (1.5, 50.0, 10.0, MAX_DELAY),  # capped
        (MAX_DELAY, 50.0, 10.0, MAX_DELAY),
        (0.4, 3.0, 10.0, 0.2),  # under: halves
        (0.08, 3.0, 10.0, 0.0),  # under and below the smallest step: full speed
        (0.0, 10.0, 10.0, 0.0),  # at the limit is not above it
        (0.8, None, 10.0, 0.0),  # no reading (probe stopped): never throttle blind
        (0.8, 99.0, None, 0.0),  # throttle off
    ],
)
def test_next_delay(current, p99, limit, expected):
    assert next_delay(current, p99, limit) == pytest.approx(expected)


def test_delay_events_say_when_and_why():
    assert delay_event(0.1, 0.1, 12.0, 10.0, 3.0) is None
    up = delay_event(0.0, 0.05, 12.34, 10.0, 3.456)
    assert up == PaceEvent(
        at_seconds=3.46, p99_ms=12.34, delay_seconds=0.05,
        reason="p99 12.3 ms above the 10.0 ms limit: pause 0.05 s between batches",
    )  # fmt: skip
    down = delay_event(0.4, 0.2, 4.0, 10.0, 5.0)
    assert down.reason == "p99 4.0 ms back under the limit: pause 0.20 s between batches"
    assert delay_event(0.05, 0.0, 4.0, 10.0, 6.0).reason == "p99 4.0 ms under the limit: full speed again"
    assert delay_event(0.8, 0.0, 40.0, None, 7.0).reason == "throttle off: full speed again"
    assert delay_event(0.8, 0.0, None, 10.0, 7.0).reason == "no fresh latency reading (probe stopped): full speed"


def test_tuning_events_name_each_changed_setting():
    events = tuning_events(Tuning(batch_size=100), Tuning(batch_size=500, parallel=3), 7.0, 0.0)
    assert {e.kind for e in events} == {"tune"}
    assert [e.reason for e in events] == [
        "batch size set to 500 by om-runbook tune",
        "parallel set to 3 by om-runbook tune",
    ]
    assert tuning_events(Tuning(parallel=3), Tuning(parallel=3), 8.0, 0.0) == []


def test_throttled_seconds_add_up_the_slowed_spans_including_an_open_one():
    def event(at: float, delay: float, reason: str = "p99", kind: str = "throttle") -> PaceEvent:
        return PaceEvent(kind=kind, at_seconds=at, delay_seconds=delay, reason=reason)

    events = [
        event(1.0, 0.05),
        event(1.5, 0.1),
        event(2.0, 0.05, "batch size set to 9 by om-runbook tune", "tune"),
        event(3.0, 0.0),
        event(10.0, 0.05),
    ]
    assert throttled_seconds(events, 12.0) == pytest.approx(2.0 + 2.0)
    assert throttled_seconds([], 12.0) == 0.0


def test_pace_summary_lines():
    assert pace_summary(None, [], 0.0) == ["throttle: off (--max-latency-ms 0)"]
    assert pace_summary(10.0, [], 0.0) == ["throttle: PING p99 limit 10.0 ms; never reached"]
    events = [
        PaceEvent(at_seconds=1.0, delay_seconds=0.05, reason="p99 above"),
        PaceEvent(kind="tune", at_seconds=2.0, delay_seconds=0.05, reason="parallel set to 3 by om-runbook tune"),
    ]
    assert pace_summary(10.0, events, 4.25) == [
        "throttle: PING p99 limit 10.0 ms; slowed in 1 step(s), 4.2 s in all",
        "at 2.0 s: parallel set to 3 by om-runbook tune",
    ]
