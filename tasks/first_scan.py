"""Checklist phases "Migration impact assessment" and "Backup and recovery" as one read of the keyspace: the same
reads classify every value and write its backup line, and the RDB snapshot (its check and restore test) runs
beside the scan. Nothing is written to Redis; a failure leaves no half backup behind."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from pydantic import BaseModel

from om_runbook.migrations.backup_format import BackupManifest, SnapshotInfo
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.server_facts import ServerFacts
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget
from om_runbook.migrations.worker_pool import worker_count
from om_runbook.tasks.assess import Assessment, build_assessment, migratable_targets
from om_runbook.tasks.backup import LogicalBackup
from om_runbook.tasks.backup_store.snapshot import no_snapshot, provider_snapshot, snapshot_nodes
from om_runbook.tasks.io.progress_meter import METER, ProgressMeter
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.io.worker_pool import worker_processes
from om_runbook.tasks.readers.keyspace import keys_in_database
from om_runbook.tasks.readers.record_scan import back_up_share


class FirstScan(BaseModel):
    assessment: Assessment
    manifest: BackupManifest


SYNC_ANSWER_SECONDS = 10.0


def _snapshot(settings: RunSettings, started: threading.Event) -> SnapshotInfo:
    """Part (a), on its own connections: redis-cli, redis-check-rdb and the restore server are processes of their
    own, so a thread suffices to run them beside the scan (its progress is counted apart from the scan's). `started`
    is set once the server took the SYNC, or when this ends (done, or refused)."""
    try:
        if settings.snapshot_reference:
            return provider_snapshot(settings.snapshot_reference, settings.snapshot_taken_at)
        if not settings.rdb_snapshot:
            return no_snapshot("skipped at the user's request")
        nodes = open_nodes(settings.redis_url.get_secret_value())
        return snapshot_nodes(
            nodes, settings.backup_dir / "rdb", settings.rdb_tools_dir, settings.module_dir, ProgressMeter(), started
        )
    finally:
        started.set()


def assess_and_back_up(
    settings: RunSettings,
    targets: list[ModelTarget],
    facts: ServerFacts,
    chunk_count: int,
    earlier_backup: str | None = None,
) -> FirstScan:
    """The assessment and a complete backup (manifest, chunk files, snapshot) from one scan, split across worker
    processes for a large keyspace; on any failure the files it wrote are removed and the error is raised."""
    url = settings.redis_url.get_secret_value()
    nodes, safe_url = open_nodes(url), redact_url(url)
    migratable, _notes = migratable_targets(targets, facts)
    keys = keys_in_database(nodes)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="om-runbook-snapshot") as pool:
        # with the flow's context: anything it logs reaches this run's Prefect API, never a server of its own
        sync_taken = threading.Event()
        snapshot = pool.submit(contextvars.copy_context().run, _snapshot, settings, sync_taken)
        # a SYNC the Redis user may not run (found here when ACL DRYRUN was refused too) is refused before the scan
        if sync_taken.wait(SYNC_ANSWER_SECONDS) and snapshot.done():
            snapshot.result()
        backup = LogicalBackup(nodes, migratable, settings, safe_url, chunk_count, earlier_backup)
        try:
            started = time.perf_counter()
            METER.begin("assess + backup: scan", keys)
            shares = backup.shares(worker_count(keys, len(backup.manifest.chunks), os.cpu_count(), settings.workers))
            with worker_processes(len(shares)) as workers:
                scanned = workers.map(back_up_share, shares)
            tally, files = Tally(), {}
            for part in scanned:
                tally.merge(part.tally)
                files |= part.files
            seconds = time.perf_counter() - started
            assessment = build_assessment(nodes, targets, facts, tally, seconds, settings.backup_dir, safe_url)
            snapshot_info = snapshot.result()  # the backup is complete only with its snapshot
        except BaseException:
            backup.abandon()
            raise
    return FirstScan(assessment=assessment, manifest=backup.complete(tally, files, snapshot_info))


@task(name="assess-and-back-up", cache_policy=NONE, **IO_TASK_OPTIONS)
def assess_and_back_up_task(
    settings: RunSettings,
    targets: list[ModelTarget],
    facts: ServerFacts,
    chunk_count: int,
    earlier_backup: str | None = None,
) -> FirstScan:
    """One scan for the assessment and the logical backup, the RDB snapshot beside it."""
    logger = get_run_logger()
    scan = assess_and_back_up(settings, targets, facts, chunk_count, earlier_backup)
    manifest = scan.manifest
    logger.info("RDB snapshot: %s", manifest.snapshot.note if manifest.snapshot else "none")
    logger.info(
        "one scan: %d keys assessed in %.1f s; logical backup of %d fields of %d keys in %d chunk files",
        scan.assessment.keys_scanned,
        scan.assessment.duration_seconds,
        manifest.fields_changed,
        manifest.keys_changed,
        len(manifest.chunks),
    )
    return scan
