"""A chunk's subflow is tried again only when the Prefect API failed it (busy SQLite's 503, a dropped connection),
never when the migration itself failed."""

from __future__ import annotations

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Completed, Failed

from om_runbook.flows.api_retry import is_prefect_api_unavailable, retry_when_prefect_api_unavailable
from om_runbook.flows.key_ranges import _key_range_in_thread
from om_runbook.migrations.errors import MigrationAborted

URL = "http://127.0.0.1:4200/api/flow_runs/"


def _api_error(status: int) -> PrefectHTTPStatusError:
    response = httpx.Response(status, json={"exception_message": "x"}, request=httpx.Request("POST", URL))
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        return PrefectHTTPStatusError.from_httpx_error(error)
    raise AssertionError(f"{status} raised nothing")


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_busy_or_restarting_api_is_retried(status):
    assert is_prefect_api_unavailable(_api_error(status))
    assert retry_when_prefect_api_unavailable(None, None, Failed(data=_api_error(status)))


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500])
def test_an_answer_that_would_come_again_is_not_retried(status):
    assert not is_prefect_api_unavailable(_api_error(status))


def test_a_dropped_connection_to_the_api_is_retried():
    assert is_prefect_api_unavailable(httpx.ConnectError("refused", request=httpx.Request("POST", URL)))
    assert is_prefect_api_unavailable(httpx.ReadTimeout("slow", request=httpx.Request("POST", URL)))


def test_the_migration_failing_is_not_retried():
    assert not retry_when_prefect_api_unavailable(None, None, Failed(data=MigrationAborted("error budget spent")))
    assert not retry_when_prefect_api_unavailable(None, None, Failed(data=ValueError("bad")))
    assert not retry_when_prefect_api_unavailable(None, None, Completed(data=1))


def test_the_chunk_task_uses_the_condition():
    assert _key_range_in_thread.retries > 0
    assert _key_range_in_thread.retry_condition_fn is retry_when_prefect_api_unavailable


def test_redis_io_tasks_share_the_condition_and_retry_only_an_unreachable_redis():
    import redis

    from om_runbook.tasks.io.retry_policy import retry_on_connection_errors

    assert retry_on_connection_errors(None, None, Failed(data=redis.ConnectionError("refused")))
    assert not retry_on_connection_errors(None, None, Failed(data=_api_error(503)))
    assert not retry_on_connection_errors(None, None, Failed(data=MigrationAborted("error budget spent")))
    assert not retry_on_connection_errors(None, None, Completed(data=1))
