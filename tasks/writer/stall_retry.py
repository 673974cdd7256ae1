"""A batch Redis does not take (CLIENT PAUSE, a slow script answering BUSY, a stopped server) is tried again, checks
first, for as long as the run's lease lasts; past it, or with the lease lost meanwhile, the chunk stops before its
next write with one line saying why and what to do."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from om_runbook.migrations.errors import LeaseLost, RedisStalled, ServerBusy
from om_runbook.tasks.io.resp import is_busy_reply

STALL_RETRY_SECONDS = 0.5
Result = TypeVar("Result")


def is_stall(exc: BaseException) -> bool:
    """Redis took no command in time (CLIENT PAUSE, a slow command, a stopped process) or answered BUSY."""
    return isinstance(exc, redis.TimeoutError | ServerBusy) or is_busy_reply(exc)


def write_through_stalls(
    write: Callable[[], Result],
    before_batch: Callable[[], None] | None,
    limit_seconds: float,
    chunk_index: int,
    logger: logging.Logger | logging.LoggerAdapter,
) -> Result:
    """`before_batch` (the lease and eviction checks), then `write`, repeated while Redis takes no write, for at
    most `limit_seconds` (the run's lease: past it another run could take over) from the first stalled attempt. A
    repeated batch is harmless (compare-and-set); the chunk never writes without the checks passing first."""
    stalled_since: float | None = None
    while True:
        attempt = time.monotonic()
        try:
            if before_batch is not None:
                before_batch()
            return write()
        except LeaseLost as exc:
            if stalled_since is None:
                raise
            raise _lease_lost_in_stall(exc, time.monotonic() - stalled_since, limit_seconds) from None
        except Exception as exc:
            if not is_stall(exc):
                raise
            if stalled_since is None:
                stalled_since = attempt
                logger.warning(
                    "chunk %04d: Redis takes no write (%s); the batch is retried for up to %.0f s, the run's lease",
                    chunk_index, exc, limit_seconds,
                )  # fmt: skip
            waited = time.monotonic() - stalled_since
            if waited >= limit_seconds:
                _check_once_more(before_batch, waited, limit_seconds)
                raise RedisStalled(
                    f"Redis took no write for {waited:.0f} s (a CLIENT PAUSE, a slow command or a stopped server; "
                    f"last: {exc}): chunk {chunk_index:04d} stopped before its next write, at the end of the run's "
                    f"lease of {limit_seconds:.0f} s. Every value written so far is backed up: once Redis answers "
                    "again, re-run the same command to resume, or run `om-runbook rollback` with this --backup-dir"
                ) from None
            time.sleep(STALL_RETRY_SECONDS)


def _check_once_more(before_batch: Callable[[], None] | None, waited: float, limit_seconds: float) -> None:
    """At the end of a stall: a lease lost meanwhile is said as such (no rollback while another run may write)."""
    try:
        if before_batch is not None:
            before_batch()
    except LeaseLost as exc:
        raise _lease_lost_in_stall(exc, waited, limit_seconds) from None
    except Exception as exc:
        if not is_stall(exc):
            raise


def _lease_lost_in_stall(exc: LeaseLost, waited: float, limit_seconds: float) -> LeaseLost:
    return LeaseLost(
        f"Redis took no write for {waited:.0f} s (a CLIENT PAUSE, a slow command or a stopped server), past the "
        f"run's lease of {limit_seconds:.0f} s; {exc}"
    )
