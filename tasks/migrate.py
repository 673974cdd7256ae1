"""Checklist phase "Data Migration": one key-range chunk, compare-and-set from the logical backup."""

from __future__ import annotations

import os
import socket

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.migrations.config import RunSettings
from om_runbook.tasks.guards.eviction import EvictionGuard, before_each_batch, snapshot_description
from om_runbook.tasks.guards.lease import lease_check_on
from om_runbook.tasks.guards.throttle import PaceReader
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.writer.chunk_runner import ChunkResult, ErrorPolicy, run_chunk


@task(name="migrate-chunk", cache_policy=NONE, **IO_TASK_OPTIONS)
def migrate_chunk_task(
    settings: RunSettings,
    chunk: ChunkBackup,
    error_budget: int | None,
    lease_token: str | None = None,
    evicted_keys_at_start: int | None = None,
) -> ChunkResult:
    """Convert the chunk's fields from their backed-up originals; resumes from the chunk's checkpoint. With the run's
    lease token, the lease is checked before every batch; evictions are counted from `evicted_keys_at_start` (the
    run's baseline), else from the chunk's start."""
    logger = get_run_logger()
    nodes = open_nodes(settings.redis_url.get_secret_value())
    policy = ErrorPolicy(settings.failure_mode, error_budget)
    pace = PaceReader(settings.backup_dir)
    check = before_each_batch(
        lease_check_on(nodes, lease_token),
        EvictionGuard(nodes, snapshot_description(settings.backup_dir), evicted_keys_at_start),
    )
    result = run_chunk(
        nodes, settings.backup_dir, chunk, "migrate", settings.batch_size, policy, logger, pace, check,
        settings.lease_seconds,
    )  # fmt: skip
    result.ran_by = f"{socket.gethostname()}:{os.getpid()}"
    logger.info(
        "chunk %04d (slots %d-%d): %d keys, %s in %.2f s",
        chunk.index,
        chunk.first_slot,
        chunk.last_slot,
        result.key_count,
        result.counts,
        result.seconds,
    )
    return result
