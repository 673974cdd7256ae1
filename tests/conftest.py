"""Shared fixtures: real redis-server processes and one Prefect test harness per session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from om_runbook.migrations.rdb_tools import RDB_TOOLS_ENV
from om_runbook.tasks.io.local_redis import RedisServer, reap_all, start_redis_server
from tests.installed_venv import InstalledVenv, build_installed_venv
from tests.redis_stack import stack_binary, start_plain_server, start_stack_server

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start any number of servers (`factory(*args, password=...)`); all are stopped at teardown."""
    started: list[RedisServer] = []

    def factory(*args: str, password: str | None = None) -> RedisServer:
        server = start_redis_server(tmp_path / f"redis-{len(started)}", *args, password=password)
        started.append(server)
        return server

    yield factory
    reap_all(started)


@pytest.fixture
def redis_server(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_server_factory()


@pytest.fixture
def redis_stack_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_stack_server(tmp_path / "redis-stack")
    yield server
    reap_all([server])


SERVER_KINDS = {"redis-7.0": start_plain_server, "redis-8.2-modules": start_stack_server}


def _with_snapshot_tools(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Redis 8.2 the run's snapshot restore test needs 8.2 tools (7.0's cannot read RDB 12): as a user would set
    them, in $OM_RUNBOOK_RDB_TOOLS_DIR (the test's processes, and the command-line runs it starts, inherit it)."""
    if kind == "redis-8.2-modules":
        monkeypatch.setenv(RDB_TOOLS_ENV, str(Path(stack_binary()).parent))


@pytest.fixture(params=list(SERVER_KINDS))
def any_redis_start(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Callable[..., RedisServer]:
    """`start(directory, *args, port=None)` for each server our users run, for tests that start (and restart) their
    own: plain Redis 7.0 and Redis 8.2 with modules. The test stops what it starts."""
    _with_snapshot_tools(request.param, monkeypatch)
    return SERVER_KINDS[request.param]


@pytest.fixture(params=list(SERVER_KINDS))
def any_redis_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    """Each test using it runs on both servers our users run: plain Redis 7.0 and Redis 8.2 with modules."""
    _with_snapshot_tools(request.param, monkeypatch)
    name = "redis_server" if request.param == "redis-7.0" else "redis_stack_server"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def shared_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for tests that only add keys under their own prefixes (e.g. property tests)."""
    server = start_redis_server(tmp_path_factory.mktemp("shared-redis"))
    yield server
    reap_all([server])


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session, with the 1 s end-of-flow heartbeat wait off."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):  # two workers build their databases at once on 2 cores
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> InstalledVenv:
    """om-runbook installed from its wheel into a fresh venv (not editable), as into an application's environment."""
    return build_installed_venv(tmp_path_factory.mktemp("installed"))


SERVER_FIXTURES = {
    "redis_server", "redis_server_factory", "redis_stack_server", "any_redis_server", "any_redis_start",
    "shared_redis_server",
    "prefect_harness", "prefect_server", "installed_venv",
}  # fmt: skip
PURE_TESTS = Path(__file__).parent / "migrations"  # no I/O: what `make check` runs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers from what a test stands on: `servers` for a real redis-server or Prefect server (every test outside
    tests/migrations not marked `pure`, and any test that takes a server fixture), `browser` for the Prefect UI,
    `slow` for the deployment tests (a Prefect server, workers, minutes)."""
    for item in items:
        path = Path(str(item.fspath))
        pure = PURE_TESTS in path.parents or item.get_closest_marker("pure") is not None
        if not pure or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
        if path.name == "test_prefect_ui.py":
            item.add_marker(pytest.mark.browser)
        if path.parent.name == "deployments":
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _prefect_console_on_this_tests_stderr(request: pytest.FixtureRequest) -> None:
    """Prefect's console log handler keeps the stream it was configured with: under `capsys`, the capture of whichever
    test first set it up, closed since (its next line is a "Logging error" traceback). Make it write to whatever
    sys.stderr is at each line."""
    if "capsys" not in request.fixturenames:
        return
    from om_runbook.flows.live_display import prefect_console_handlers

    for handler in prefect_console_handlers():
        handler.console.file, handler.console.stderr = None, True
