"""Checked before a chunk's batches: no key evicted on any master since the chunk started (an eviction during a
run is data loss, whatever the policy allowed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.errors import KeysEvicted, LeaseLost, RunbookError
from om_runbook.migrations.headroom import eviction_message
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.server_facts import read_evicted_keys, read_maxmemory_policy

CHECK_EVERY_SECONDS = 1.0  # one INFO stats per master per second and chunk: nothing against the batches


class EvictionGuard:
    """Raises KeysEvicted when the masters' evicted_keys rose above `baseline` (None: the count when the guard is
    made), checked every `every_seconds`; a given baseline is older than the guard, so it is also checked at once."""

    def __init__(
        self,
        nodes: RedisNodes,
        snapshot: str,
        baseline: int | None = None,
        every_seconds: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self.nodes = nodes
        self.snapshot = snapshot
        self.every_seconds = every_seconds
        self.baseline = read_evicted_keys(nodes) if baseline is None else baseline
        self.next_check = time.monotonic() + (every_seconds if baseline is None else 0.0)

    def __call__(self) -> None:
        if time.monotonic() >= self.next_check:
            self.check_now()

    def check_now(self) -> None:
        self.next_check = time.monotonic() + self.every_seconds
        require_no_eviction(self.nodes, self.baseline, self.snapshot)


def require_no_eviction(nodes: RedisNodes, evicted_before: int, snapshot: str) -> None:
    """KeysEvicted when the masters' `evicted_keys` rose above `evicted_before`."""
    evicted = read_evicted_keys(nodes) - evicted_before
    if evicted > 0:
        raise KeysEvicted(eviction_message(evicted, read_maxmemory_policy(nodes), snapshot))


def eviction_since(redis_url: SecretStr, evicted_before: int, backup_dir: Path) -> KeysEvicted | None:
    """The KeysEvicted that `require_no_eviction` would raise now, or None (also when the count cannot be read: the
    caller keeps its own error)."""
    try:
        require_no_eviction(open_nodes(redis_url.get_secret_value()), evicted_before, snapshot_description(backup_dir))
    except KeysEvicted as exc:
        return exc
    except (RunbookError, redis.RedisError):
        return None
    return None


def snapshot_description(backup_dir: Path) -> str:
    """What holds the evicted records: the run's RDB snapshot, when it took one."""
    snapshots = sorted((backup_dir / "rdb").glob("*.rdb")) if (backup_dir / "rdb").is_dir() else []
    if not snapshots:
        return "no snapshot of this run (--no-rdb-snapshot): your own backups are"
    return "the RDB snapshot " + ", ".join(str(path) for path in snapshots)


def before_each_batch(lease: Callable[[], None] | None, eviction: EvictionGuard) -> Callable[[], None]:
    """The checks before a batch is written: the run's lease, then no eviction. A lease found gone is first checked
    against evictions: an evicted lease key is an eviction, not another run."""

    def run_checks() -> None:
        try:
            if lease is not None:
                lease()
        except LeaseLost:
            eviction.check_now()
            raise
        eviction()

    return run_checks


@task(name="eviction-check", cache_policy=NONE, **IO_TASK_OPTIONS)
def eviction_check_task(redis_url: SecretStr, evicted_at_start: int, backup_dir: Path) -> None:
    """After a phase: no key evicted since the run read the server's facts (between and around the chunks too)."""
    require_no_eviction(open_nodes(redis_url.get_secret_value()), evicted_at_start, snapshot_description(backup_dir))
