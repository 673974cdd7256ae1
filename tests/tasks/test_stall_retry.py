"""The stall rule on its own (no Redis: the callables stand for the checks and the batch write, raising what
redis-py raises): retried within the limit, stopped past it, a lease lost meanwhile said as such, other errors
never retried."""

from __future__ import annotations

import logging

import pytest
import redis

from om_runbook.migrations.errors import LeaseLost, RedisStalled
from om_runbook.tasks.writer import stall_retry
from om_runbook.tasks.writer.stall_retry import is_stall, write_through_stalls

pytestmark = pytest.mark.pure
LOG = logging.getLogger("test")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(stall_retry, "STALL_RETRY_SECONDS", 0.0)


def failing(times: int, error: Exception, then: object = "written"):
    calls = {"n": 0}

    def call():
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return then

    return call, calls


def test_a_write_that_times_out_twice_is_retried_after_the_checks_each_time():
    write, writes = failing(2, redis.TimeoutError("Timeout reading from socket"))
    checks = {"n": 0}
    assert write_through_stalls(write, lambda: checks.update(n=checks["n"] + 1), 60, 1, LOG) == "written"
    assert writes["n"] == 3 and checks["n"] == 3


def test_busy_replies_are_stalls_and_other_errors_are_not():
    assert is_stall(redis.ResponseError("BUSY Redis is busy running a script. You can only call SCRIPT KILL"))
    assert not is_stall(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    write, writes = failing(1, redis.ResponseError("WRONGTYPE Operation against a key"))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        write_through_stalls(write, None, 60, 1, LOG)
    assert writes["n"] == 1


def test_a_stall_past_the_limit_stops_with_the_remedy(monkeypatch):
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(stall_retry.time, "monotonic", lambda: next(clock))
    write, _ = failing(10**6, redis.TimeoutError("Timeout reading from socket"))
    with pytest.raises(RedisStalled, match=r"Redis took no write for \d+ s .* lease of 20 s.*re-run the same command"):
        write_through_stalls(write, None, 20, 3, LOG)


def test_a_lease_lost_during_a_stall_names_the_stall_and_a_lease_lost_first_does_not():
    write, _ = failing(1, redis.TimeoutError("Timeout reading from socket"))
    state = {"n": 0}

    def check() -> None:
        state["n"] += 1
        if state["n"] == 2:
            raise LeaseLost("this run's lease was lost (nobody holds it now)")

    with pytest.raises(LeaseLost, match=r"Redis took no write for .* past the run's lease of 6 s; this run's lease"):
        write_through_stalls(write, check, 6, 1, LOG)
    with pytest.raises(LeaseLost, match=r"^this run's lease"):
        write_through_stalls(write, lambda: (_ for _ in ()).throw(LeaseLost("this run's lease gone")), 6, 1, LOG)
