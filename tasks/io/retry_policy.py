"""Retries with backoff for tasks doing I/O: on connection problems only, never on logic errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from prefect.tasks import exponential_backoff

from om_runbook.migrations.errors import RedisUnreachable

IO_RETRIES = 4
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=1)(IO_RETRIES)
TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError, RedisUnreachable)


def retry_condition(retryable: Callable[[Exception], bool]) -> Callable[[Any, Any, Any], bool]:
    """A Prefect retry_condition_fn: retry only a task whose failure `retryable` says is worth another try."""

    def condition(_task: Any, _task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except Exception as error:  # noqa: BLE001 - classified, never swallowed: a False fails the task as before
            return retryable(error)
        return False

    return condition


retry_on_connection_errors = retry_condition(lambda error: isinstance(error, TRANSIENT_ERRORS))
"""Prefect retry_condition_fn: retry only when the task failed because Redis was unreachable."""


IO_TASK_OPTIONS: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAYS,
    "retry_condition_fn": retry_on_connection_errors,
}
