"""A chunk's subflow run again when the Prefect API, not the migration, failed it: on SQLite a busy server answers
503 "database is locked", and a long enough spell of it outlasts the client's own retries. The chunk resumes from
its checkpoint, so a second attempt repeats no write."""

from __future__ import annotations

from typing import Any

import httpx
from prefect.tasks import exponential_backoff

from om_runbook.tasks.io.retry_policy import retry_condition

API_RETRIES = 3
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def is_prefect_api_unavailable(error: BaseException) -> bool:
    """True for an API answer a client may retry (busy, overloaded, restarting) or a connection that failed."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in RETRYABLE_STATUS
    return isinstance(error, httpx.TransportError)


retry_when_prefect_api_unavailable = retry_condition(is_prefect_api_unavailable)
"""Prefect retry_condition_fn: retry the task only when the Prefect API made it fail."""


API_RETRY_OPTIONS: dict[str, Any] = {
    "retries": API_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5)(API_RETRIES),
    "retry_condition_fn": retry_when_prefect_api_unavailable,
}
