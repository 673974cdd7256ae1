"""Redis that takes no command for a while in the middle of the chunks: a write pause (`CLIENT PAUSE ... WRITE`)
shorter and longer than the run's lease, the server process stopped (`SIGSTOP`), and a slow script holding the server
(BUSY). Within the lease the batch is retried and the run succeeds exactly; past it the run stops before its next
write with one line naming the stall and the remedy, and the re-run resumes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time

import pytest
import redis

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.errors import ServerBusy
from om_runbook.tasks.guards.eviction import EvictionGuard
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.readers.server_facts import read_evicted_keys
from om_runbook.tasks.writer.stall_retry import write_through_stalls
from tests.faults.test_kill_and_resume import OM_RUNBOOK, _env
from tests.flows.helpers import assert_complete_and_reversible, keyspace, once_chunks_write, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")
# the run's connections time out after 1 s (the URL's own option, as a user may set it; the default is 10 s), so a
# stall of a few seconds is already several timeouts
QUICK_TIMEOUT = "?socket_timeout=1"
BUSY_SCRIPT = "local t = redis.call('TIME')[1] + ARGV[1] while tonumber(redis.call('TIME')[1]) < t do end return 1"


def test_a_write_pause_longer_than_the_socket_timeout_within_the_lease_is_waited_out(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    url = any_redis_server.url + QUICK_TIMEOUT
    settings = settings_for(url, tmp_path / "b", rdb_snapshot=False, batch_size=20, lease_seconds=20)
    paused = once_chunks_write(settings.backup_dir, lambda: client.execute_command("CLIENT", "PAUSE", 4000, "WRITE"))
    started = time.monotonic()
    report = migration_flow(settings)
    paused.join()
    assert time.monotonic() - started > 4  # the chunks did wait for the pause to end
    assert_complete_and_reversible(report, settings, client, before)


def test_a_write_pause_longer_than_the_lease_ends_with_one_line_and_the_remedy_then_resumes(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    backup_dir = tmp_path / "b"
    command = [
        str(OM_RUNBOOK), "run", "--redis-url", any_redis_server.url + QUICK_TIMEOUT,
        "--models", "om_runbook.migrations.sample_models",
        "--backup-dir", str(backup_dir), "--auto-approve", "--chunks", "2", "--batch-size", "20",
        "--no-rdb-snapshot", "--lease-seconds", "5",
    ]  # fmt: skip
    pause_ends: list[float] = []

    def pause_8_seconds() -> None:
        client.execute_command("CLIENT", "PAUSE", 8000, "WRITE")
        pause_ends.append(time.monotonic() + 8)

    paused = once_chunks_write(backup_dir, pause_8_seconds)
    completed = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    paused.join()
    shown = " ".join((completed.stdout + completed.stderr).split())
    assert completed.returncode == 1, shown[-3000:]
    assert "Traceback" not in shown and "Error logging to API" not in shown, shown[-3000:]
    last = " ".join(completed.stdout.strip().splitlines()[-4:])
    assert "Redis took no write for" in shown and "past the run's lease of 5 s" in shown, shown[-3000:]
    assert "re-run the same command to resume" in " ".join(last.split()), last

    time.sleep(max(0.0, pause_ends[0] - time.monotonic()))
    settings = settings_for(any_redis_server.url, backup_dir, rdb_snapshot=False, chunks=2, batch_size=20)
    assert_complete_and_reversible(migration_flow(settings), settings, client, before)


def test_redis_stopped_for_5_seconds_mid_chunk_is_waited_out(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    settings = settings_for(any_redis_server.url + QUICK_TIMEOUT, tmp_path / "b", rdb_snapshot=False, batch_size=20)

    def stop_for_5_seconds() -> None:
        os.kill(any_redis_server.process.pid, signal.SIGSTOP)
        time.sleep(5)
        os.kill(any_redis_server.process.pid, signal.SIGCONT)

    stopped = once_chunks_write(settings.backup_dir, stop_for_5_seconds)
    report = migration_flow(settings)
    stopped.join()
    assert_complete_and_reversible(report, settings, client, before)


def test_a_slow_script_holding_the_server_is_waited_out_not_counted_as_write_errors(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    settings = settings_for(any_redis_server.url, tmp_path / "b", rdb_snapshot=False, batch_size=20)
    holder = redis.Redis(host="127.0.0.1", port=any_redis_server.port, socket_timeout=30)  # the default is 5 s
    busy = once_chunks_write(settings.backup_dir, lambda: holder.eval(BUSY_SCRIPT, 0, 7))
    report = migration_flow(settings)
    busy.join()
    assert report.problem_counts.get("write_error", 0) == 0, report.problems[:3]
    assert_complete_and_reversible(report, settings, client, before)


def test_the_eviction_check_during_a_slow_script_is_a_stall_waited_out_not_a_refusal(any_redis_server):
    """CI found it: the check before a batch read INFO stats while a script held the server, and BUSY was taken for
    'the migration user needs INFO', which rolled the run back."""
    nodes = open_nodes(any_redis_server.url)
    guard = EvictionGuard(nodes, "no snapshot")
    any_redis_server.client().config_set("lua-time-limit", 100)  # BUSY after 0.1 s of script, not 5 s
    holder = redis.Redis(host="127.0.0.1", port=any_redis_server.port, socket_timeout=30)
    script = threading.Thread(target=holder.eval, args=(BUSY_SCRIPT, 0, 2))
    script.start()
    time.sleep(0.5)
    with pytest.raises(ServerBusy):
        read_evicted_keys(nodes)
    assert write_through_stalls(lambda: "written", guard.check_now, 10, 0, logging.getLogger("test")) == "written"
    script.join()
