"""Shared helpers for flow tests: seeding, whole-keyspace snapshots, settings."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
from pydantic import SecretStr

from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.config import RunSettings, build_settings
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.sample_data import generate_legacy_records
from om_runbook.tasks.io import worker_pool
from om_runbook.tasks.io.redis_nodes import single_server
from om_runbook.tasks.writer.seed import write_legacy_records


def seed(client: redis.Redis, count: int, dirty_share: float = 0.0, seed: int = 0) -> None:
    write_legacy_records(single_server(client), generate_legacy_records(count, dirty_share, seed))


def keyspace(client: redis.Redis, expiry: str = "TTL") -> dict[bytes, object]:
    """Every key with its exact content (hashes as dicts, other types as DUMP payloads) and whether it has a TTL
    (with `expiry="PEXPIRETIME"`: its absolute expiry in ms instead). Pipelined (3 round trips per key took 12.7 s
    for 40k keys); a key gone between its TYPE and its content (evicted, expired) is read again on its own, so it
    shows as the key it is now (`none`), as an unpipelined read shows it."""
    keys = list(client.scan_iter(count=1000))
    content: dict[bytes, object] = {}

    def read(batch: list[bytes]) -> None:
        with client.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.type(key)
            kinds = pipe.execute()
            for key, kind in zip(batch, kinds, strict=True):
                (pipe.hgetall if kind == b"hash" else pipe.dump)(key)
                pipe.execute_command(expiry, key)
            replies = pipe.execute()
        for key, kind, value, expires in zip(batch, kinds, replies[::2], replies[1::2], strict=True):
            content[key] = (kind, value, expires > 0 if expiry == "TTL" else expires)

    for start in range(0, len(keys), 200):
        batch = keys[start : start + 200]
        read(batch)
        for key in batch:  # an empty hash does not exist in Redis, nor a DUMP of nothing: gone in between
            kind, value, _expires = content[key]
            if kind != b"none" and not value:
                read([key])
    return content


def application_keys(content: dict[bytes, object]) -> dict[bytes, object]:
    """`keyspace()` without redis-om's own index bookkeeping (`{index}:hash`, `{index}:schema`), which the schema step
    writes on a server with RediSearch as redis-om 1.x's Migrator does."""
    return {key: value for key, value in content.items() if not key.endswith((b":index:hash", b":index:schema"))}


def back_up(settings: RunSettings, chunk_count: int) -> BackupManifest:
    """The logical backup as a run writes it (the one scan), without the flow and without an RDB snapshot."""
    from om_runbook.migrations.targets import discover_targets
    from om_runbook.tasks.first_scan import assess_and_back_up
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.readers.server_facts import read_nodes_facts

    settings = settings.model_copy(update={"rdb_snapshot": False})
    facts = read_nodes_facts(open_nodes(settings.redis_url.get_secret_value()))
    return assess_and_back_up(settings, discover_targets(settings.models), facts, chunk_count).manifest


def record_worker_jobs(monkeypatch) -> list[list[str]]:
    """Worker processes stay real; each pool opened adds a list of the names of the jobs submitted to it."""

    opened: list[list[str]] = []

    class RecordingPool(worker_pool.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append([])

        def submit(self, job, *args, **kwargs):
            mapped = getattr(job, "args", ())  # map() submits partial(_process_chunk, job)
            opened[-1].append(getattr(mapped[0] if mapped else job, "__name__", ""))
            return super().submit(job, *args, **kwargs)

    monkeypatch.setattr(worker_pool, "ProcessPoolExecutor", RecordingPool)
    return opened


def settings_for(url: str, backup_dir: Path, **extra: object) -> RunSettings:
    values = {
        "redis_url": SecretStr(url),
        "models": "om_runbook.migrations.sample_models",
        "backup_dir": backup_dir,
        "chunks": 4,
        "auto_approve": True,
    }
    return build_settings(**(values | extra))


def migrated(server, backup_dir: Path, count: int, **extra: object) -> tuple[redis.Redis, dict, RunSettings]:
    """`count` legacy records on `server`, migrated (no RDB snapshot): its client, the keyspace before, the settings."""
    from om_runbook.flows.migration_flow import migration_flow

    client = server.client()
    seed(client, count)
    before = keyspace(client)
    settings = settings_for(server.url, backup_dir, rdb_snapshot=False, **extra)
    assert migration_flow(settings).status == "succeeded"
    return client, before, settings


def migrate_lines_done(backup_dir: Path) -> int:
    """Backup lines the migrate checkpoints say are done (0 before the chunks start, or once cleared)."""
    total = 0
    for path in (backup_dir / "progress" / "migrate").glob("chunk-*.json"):
        try:
            total += json.loads(path.read_text())["lines_done"]
        except (OSError, ValueError):
            continue
    return total


def assert_complete_and_reversible(report: RunReport, settings: RunSettings, client: redis.Redis, before: dict) -> None:
    """The run succeeded, converted exactly what it backed up, and the rollback gives back every byte."""
    from om_runbook.flows.rollback_flow import rollback_flow

    assert report.status == "succeeded", report.messages
    assert report.kpis.fields_converted == report.phases["backup"].details["fields_changed"]
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert keyspace(client) == before


def when(ready: Callable[[], bool], action: Callable[[], object], timeout: float = 120) -> threading.Thread:
    """`action()` in a thread as soon as `ready()` (polled every 2 ms; after `timeout` s, at once)."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.002)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def once_chunks_write(backup_dir: Path, action: Callable[[], object]) -> threading.Thread:
    """`action()` in a thread as soon as the first migrate batch is checkpointed (the chunks are writing)."""
    return when(lambda: migrate_lines_done(backup_dir) > 0, action)


def children_of(pid: int) -> dict[int, str]:
    """The process's children: pid -> `pgrep -a` line (pid and command line)."""
    found = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True, check=False)
    return {int(line.split()[0]): line for line in found.stdout.splitlines()}


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may not reap the orphans it inherits)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def running_probe_processes() -> list[int]:
    """This process's children that are resource probes (tasks.guards.probe_process) still running."""
    probes = children_of(os.getpid()).items()
    return [pid for pid, line in probes if "om_runbook.tasks.guards.probe_process" in line and is_running(pid)]
