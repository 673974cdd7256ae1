"""The verify phase, shared by the migration and the stand-alone verification, and the chunk read-back checks the
rollback uses too (read-only)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import SecretStr

from om_runbook.migrations.backup_format import BackupManifest, ChunkBackup
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.targets import ModelTarget
from om_runbook.migrations.verification import ChunkCheck, Expect, Verification, summarize
from om_runbook.migrations.worker_pool import worker_count
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.worker_pool import worker_processes
from om_runbook.tasks.readers.model_reads import SAMPLE_CONNECTION_NOTE
from om_runbook.tasks.verify import verify_chunk_task, verify_leftovers_task


def check_chunks(
    redis_url: SecretStr,
    backup_dir: Path,
    chunks: list[ChunkBackup],
    expect: Expect,
    batch_size: int,
    workers: int | None = None,
) -> list[ChunkCheck]:
    """Every chunk read back against the backup, a `verify-chunk` task each; the checks run in worker processes for a
    large phase (`workers`: --workers, else one per core from 200k keys)."""
    keys = sum(chunk.key_count for chunk in chunks)
    with worker_processes(worker_count(keys, len(chunks), os.cpu_count(), workers)) as pool:
        futures = [verify_chunk_task.submit(redis_url, backup_dir, chunk, expect, batch_size, pool) for chunk in chunks]
        return [future.result() for future in futures]


def verify_migration(
    settings: RunSettings, manifest: BackupManifest, targets: list[ModelTarget], has_search: bool, rescan: bool = False
) -> Verification:
    """Read-only: every chunk against its backup (pipelined reads of what the migration wrote), then the indexes, the
    application's models, and leftovers."""
    started = time.perf_counter()
    chunks = [chunk for chunk in manifest.chunks if chunk.key_count]
    METER.begin("verify: changed keys against the backup", sum(chunk.key_count for chunk in chunks))
    checks = check_chunks(
        settings.redis_url, settings.backup_dir, chunks, "target", settings.batch_size, settings.workers
    )
    sample = [item for check in checks for item in check.sample]
    left, model_sample, search, indexes = verify_leftovers_task(
        settings, targets, sample, has_search, rescan or settings.live_traffic
    )
    if left is None:  # no rescan: the legacy values left are the backed-up ones still not converted
        left = (sum(check.counts.get("not_applied", 0) for check in checks), [])
    verification = summarize(
        checks,
        "target",
        time.perf_counter() - started,
        left,
        model_sample,
        search,
        tolerate_other_fields=settings.live_traffic,
        indexes=indexes,
    )
    read_any = verification.sample_loaded or verification.sample_failed
    return verification.model_copy(update={"sample_connection": SAMPLE_CONNECTION_NOTE if read_any else ""})
