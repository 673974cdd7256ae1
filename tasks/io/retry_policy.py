"""Retries with backoff for tasks doing I/O: on connection problems only, never on logic errors."""

from __future__ import annotations

from typing import Any

import redis
from prefect.tasks import exponential_backoff

from om_runbook.migrations.errors import RedisUnreachable

IO_RETRIES = 4
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=1)(IO_RETRIES)
TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, RedisUnreachable)


def retry_on_connection_errors(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect retry_condition_fn: retry only when the task failed because Redis was unreachable."""
    try:
        state.result()
    except TRANSIENT_ERRORS:
        return True
    except Exception:
        return False
    return False


IO_TASK_OPTIONS: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAYS,
    "retry_condition_fn": retry_on_connection_errors,
}
