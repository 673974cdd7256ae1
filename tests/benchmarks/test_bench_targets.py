"""`make bench` judges its figures against issue 25's targets: which apply at which record count, and the verdicts."""

from __future__ import annotations

import pytest

from tests.benchmarks.migrate_benchmark import median_run, spread_line, target_lines

pytestmark = pytest.mark.pure


def test_at_100k_the_flow_against_plain_each_phase_and_redis_oms_algorithm():
    seconds = {"redis-om": 64.2, "naive": 2.6, "plain": 7.6, "flow-server": 8.0}
    phases = {"plain": {"migrate": 1.93, "verify": 1.97}, "flow-server": {"migrate": 2.5, "verify": 2.0}}
    assert target_lines(100_000, seconds, phases) == [
        "target at 100,000: whole flow / plain pipeline 1.05 (at most 1.2): met",
        "target at 100,000: migrate in the flow / in plain 1.30 (at most 1.1): NOT MET",
        "target at 100,000: verify in the flow / in plain 1.02 (at most 1.1): met",
        "target at 100,000: redis-om's algorithm / whole flow 8.03 (at least 6): met",
    ]


def test_at_1m_the_flow_against_the_naive_loop_and_the_prefect_overhead():
    seconds = {"naive": 25.6, "plain": 52.2, "flow-server": 58.3}
    assert target_lines(1_000_000, seconds, {}) == [
        "target at 1,000,000: whole flow / naive loop 2.28 (at most 2): NOT MET",
        "target at 1,000,000: Prefect overhead (flow - plain) / flow 0.10 (at most 0.05): NOT MET",
    ]
    assert target_lines(1_000_000, {"naive": 25.6}, {}) == []  # a mode not measured: no verdict


def test_a_phase_slowing_down_by_more_than_a_fifth_from_1m_to_10m_is_a_finding():
    from tests.benchmarks.migrate_benchmark import curve_lines

    before = {"plain": {"backup": 10.0, "migrate": 20.0, "schema": 0.1}, "naive": {}}
    after = {"plain": {"backup": 125.0, "migrate": 250.0, "schema": 0.5}, "flow-server": {"backup": 1.0}}
    assert curve_lines(1_000_000, before, 10_000_000, after) == [
        "curve plain backup: 100,000 keys/s at 1,000,000 -> 80,000 at 10,000,000 (-20%): ok",
        "curve plain migrate: 50,000 keys/s at 1,000,000 -> 40,000 at 10,000,000 (-20%): ok",
    ]
    after["plain"]["migrate"] = 251.0
    assert curve_lines(1_000_000, before, 10_000_000, after)[1].endswith("(-20%): FINDING: dropped more than 20%")


def test_repeated_runs_report_the_median_run_whole_and_their_spread():
    runs = [
        {"seconds": 60.0, "phases": {"backup": 30.0}},
        {"seconds": 54.0, "phases": {"backup": 24.0}},
        {"seconds": 57.0, "phases": {"backup": 27.0}},
    ]
    assert median_run(runs) == {"seconds": 57.0, "phases": {"backup": 27.0}}  # its phases are of the same run
    assert median_run(runs[:2]) == runs[1]  # an even count: the lower of the middle two
    assert median_run(runs[:1]) == runs[0]
    assert spread_line(1_000_000, "plain", runs) == (
        "1000000 plain: 3 runs, 54.00 / 57.00 / 60.00 s (min / median / max; spread 11% of the median)"
    )
