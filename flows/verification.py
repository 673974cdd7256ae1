"""The verify phase, shared by the migration and the stand-alone verification (read-only)."""

from __future__ import annotations

import os
import time

from migrations.backup_format import BackupManifest
from migrations.config import RunSettings
from migrations.targets import ModelTarget
from migrations.worker_plan import worker_count
from tasks.progress_meter import METER
from tasks.verify import Verification, summarize, verify_chunk_task, verify_leftovers_task
from tasks.worker_processes import worker_processes


def verify_migration(
    settings: RunSettings, manifest: BackupManifest, targets: list[ModelTarget], has_search: bool, rescan: bool = False
) -> Verification:
    """Read-only: every chunk against its backup (pipelined reads of what the migration wrote), then the indexes, the
    application's models, and leftovers."""
    started = time.perf_counter()
    chunks = [chunk for chunk in manifest.chunks if chunk.key_count]
    keys = sum(chunk.key_count for chunk in chunks)
    METER.begin("verify: changed keys against the backup", keys)
    with worker_processes(worker_count(keys, len(chunks), os.cpu_count(), settings.workers)):
        futures = [
            verify_chunk_task.submit(settings.redis_url, settings.backup_dir, chunk, "target", settings.batch_size)
            for chunk in chunks
        ]
        checks = [future.result() for future in futures]
    sample = [item for check in checks for item in check.sample]
    left, model_sample, search, indexes = verify_leftovers_task(
        settings, targets, sample, has_search, rescan or settings.live_traffic
    )
    if left is None:  # no rescan: the legacy values left are the backed-up ones still not converted
        left = (sum(check.counts.get("not_applied", 0) for check in checks), [])
    return summarize(
        checks,
        "target",
        started,
        left,
        model_sample,
        search,
        tolerate_other_fields=settings.live_traffic,
        indexes=indexes,
    )
