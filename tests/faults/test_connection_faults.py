"""Connections killed mid-batch and Redis restarted mid-run: the I/O tasks retry with backoff, the chunks
resume from their checkpoints, and the run completes with every value converted exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.config import RunSettings
from om_runbook.tasks.io.local_redis import RedisServer, reap_all, start_redis_server
from tests.flows.helpers import assert_complete_and_reversible, keyspace, seed, settings_for, when

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _when_migrating(backup_dir: Path, action) -> threading.Thread:
    """Run `action` once the first migrate checkpoint exists (the chunks are writing)."""
    return when(lambda: any((backup_dir / "progress" / "migrate").glob("chunk-*.json")), action)


def test_connections_killed_mid_batch_are_retried_and_the_run_completes(any_redis_server, tmp_path):
    redis_server = any_redis_server
    client = redis_server.client()
    seed(client, 8_000)
    before = keyspace(client)
    settings = settings_for(redis_server.url, tmp_path / "b", batch_size=20)
    killer = redis_server.client()
    kills: list[int] = []

    def kill_clients() -> None:
        # a kill between batches only drops an idle pooled connection (redis-py reconnects silently): kill often
        # enough that batches are cut mid-flight (on 2 loaded cores too); all within about 0.6 s, before the first
        # retry's 1 s backoff ends
        for _ in range(120):
            kills.append(killer.client_kill_filter(_type="normal", skipme=True))
            time.sleep(0.004)

    watcher = _when_migrating(settings.backup_dir, kill_clients)
    report = migration_flow(settings)
    watcher.join(5)
    assert sum(kills) >= 1, "no connection was killed"
    chunks = report.phases["migrate"].details["chunks"]
    # a batch was interrupted: its task retried and resumed from the chunk's checkpoint, not from the start
    assert any(chunk["resumed_from_line"] > 0 for chunk in chunks), chunks
    assert_complete_and_reversible(report, settings, client, before)


def _persistent_redis_with_records(
    start: Callable[..., RedisServer], tmp_path: Path
) -> tuple[RedisServer, dict[bytes, object], RunSettings]:
    """A redis-server with AOF on every write, 8,000 legacy records, their keyspace, and run settings."""
    server = start(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    seed(server.client(), 8_000)
    return server, keyspace(server.client()), settings_for(server.url, tmp_path / "b", batch_size=20)


def restarted(server: RedisServer) -> RedisServer:
    """The same redis-server (binary, modules, files, port) started again."""
    return start_redis_server(server.directory, *server.extra_args, port=server.port, binary=server.binary)


def test_redis_restarted_mid_run_with_persistence_the_run_retries_and_completes(any_redis_start, tmp_path):
    server, before, settings = _persistent_redis_with_records(any_redis_start, tmp_path)
    servers = [server]
    try:

        def restart() -> None:
            server.stop()  # SIGTERM: the AOF holds every acknowledged write
            servers.append(restarted(server))

        watcher = _when_migrating(settings.backup_dir, restart)
        report = migration_flow(settings)
        watcher.join(15)
        assert len(servers) == 2, "Redis was not restarted during the run"
        assert_complete_and_reversible(report, settings, servers[-1].client(), before)
    finally:
        reap_all(servers)


def test_a_redis_that_stays_down_ends_the_run_with_a_clear_message_and_a_rerun_finishes(any_redis_start, tmp_path):
    server, before, settings = _persistent_redis_with_records(any_redis_start, tmp_path)
    servers = [server]
    try:
        watcher = _when_migrating(settings.backup_dir, server.process.kill)  # SIGKILL, and nobody restarts it
        started = time.monotonic()
        report = migration_flow(settings)
        watcher.join(5)
        assert report.status == "rollback_incomplete", report.messages
        text = " ".join(report.messages)
        assert f"cannot connect to Redis at redis://127.0.0.1:{server.port}/0" in text or "Connection refused" in text
        assert "re-run `om-runbook rollback`" in text
        assert time.monotonic() - started < 120  # retries with backoff, then a clear end: no hang

        servers.append(restarted(server))
        resumed = migration_flow(settings)  # the same backup directory: the run resumes from its checkpoints
        assert_complete_and_reversible(resumed, settings, servers[-1].client(), before)
    finally:
        reap_all(servers)
