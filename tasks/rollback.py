"""Checklist "Rollback Execution": exact original bytes back from the logical backup, or an RDB restore."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.migrations.redaction import redact_url
from om_runbook.tasks.backup_store.snapshot_restore import (
    LoadedSnapshot,
    RestorePass,
    copy_whole_snapshot,
    restore_pass,
)
from om_runbook.tasks.guards.eviction import EvictionGuard, before_each_batch, snapshot_description
from om_runbook.tasks.guards.lease import lease_check_on
from om_runbook.tasks.guards.throttle import PaceReader
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.writer.chunk_runner import ChunkResult, ErrorPolicy, run_chunk


@task(name="rollback-chunk", cache_policy=NONE, **IO_TASK_OPTIONS)
def rollback_chunk_task(
    redis_url: SecretStr, backup_dir: Path, chunk: ChunkBackup, batch_size: int, lease_token: str | None = None
) -> ChunkResult:
    """Put the originals back where a field still holds the value we wrote (others are conflicts), following the
    run's pace (`om-runbook tune`); with the run's lease token, the lease is checked before every batch."""
    logger = get_run_logger()
    nodes = open_nodes(redis_url.get_secret_value())
    policy = ErrorPolicy("log_and_skip", None)  # a rollback goes as far as it can and reports the rest
    check = before_each_batch(
        lease_check_on(nodes, lease_token), EvictionGuard(nodes, snapshot_description(backup_dir))
    )
    pace = PaceReader(backup_dir)
    result = run_chunk(nodes, backup_dir, chunk, "rollback", batch_size, policy, logger, pace, check)
    logger.info("rollback chunk %04d: %d keys, %s", chunk.index, result.key_count, result.counts)
    return result


@task(name="restore-rdb-snapshot", cache_policy=NONE, **IO_TASK_OPTIONS)
def restore_snapshot_task(snapshot: list[Path], target_url: SecretStr) -> int:
    """Manual path: copy every key of the RDB snapshot (every master's file, of a cluster) into a throwaway or
    staging server or cluster."""
    url = target_url.get_secret_value()
    target = open_nodes(url)
    restored = copy_whole_snapshot(snapshot, target)
    get_run_logger().info("restored %d keys from %s into %s", restored, snapshot, redact_url(url))
    return restored


@task(name="restore-snapshot-pass", cache_policy=NONE)
def restore_pass_task(
    loaded: LoadedSnapshot,
    redis_url: SecretStr,
    prefixes: list[str],
    batch_size: int,
    write: bool,
    delete_extra: bool = False,
) -> RestorePass:
    """Checklist "Manual rollback (if automatic fails)", made safe: the snapshot's keys against the target's, and
    with `write`, DUMP/RESTORE of each one that differs or is missing (never a FLUSHALL). No retries: a re-run of
    the command compares again and writes only what is still different."""
    phase = "restore-snapshot: compare and write back" if write else "restore-snapshot: compare with the snapshot"
    result = restore_pass(
        loaded, open_nodes(redis_url.get_secret_value()), prefixes, batch_size, write, delete_extra, phase
    )
    get_run_logger().info(
        "%s: %s; %d keys written, %d deleted in %.2f s",
        phase,
        result.diff.counts,
        result.written,
        result.deleted,
        result.seconds,
    )
    return result
