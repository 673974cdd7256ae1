"""`make bench` judges its figures against issue 25's targets: which apply at which record count, and the verdicts."""

from __future__ import annotations

import pytest

from tests.benchmarks.migrate_benchmark import target_lines

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
