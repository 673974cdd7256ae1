"""Checklist phases "Migration impact assessment" and "Backup and recovery" as one read of the keyspace: the same
reads classify every value and write its backup line, and the RDB snapshot (its check and restore test) runs
beside the scan. Nothing is written to Redis; a failure leaves no half backup behind."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from pydantic import BaseModel

from migrations.backup_format import BackupManifest, SnapshotInfo
from migrations.config import RunSettings
from migrations.redaction import redact_url
from migrations.tally import Tally
from migrations.targets import ModelTarget
from tasks.assess import Assessment, assess_keyspace, migratable_targets
from tasks.backup import LogicalBackup
from tasks.progress_meter import ProgressMeter
from tasks.redis_io.redis_nodes import open_nodes
from tasks.redis_io.retry_policy import IO_TASK_OPTIONS
from tasks.server_facts import ServerFacts
from tasks.snapshot import no_snapshot, snapshot_nodes


class FirstScan(BaseModel):
    assessment: Assessment
    manifest: BackupManifest


def _snapshot(settings: RunSettings) -> SnapshotInfo:
    """Part (a), on its own connections: redis-cli, redis-check-rdb and the restore server are processes of their
    own, so a thread suffices to run them beside the scan (its progress is counted apart from the scan's)."""
    if not settings.rdb_snapshot:
        return no_snapshot("skipped at the user's request")
    nodes = open_nodes(settings.redis_url.get_secret_value())
    return snapshot_nodes(
        nodes, settings.backup_dir / "rdb", settings.rdb_tools_dir, settings.module_dir, ProgressMeter()
    )


def assess_and_back_up(
    settings: RunSettings,
    targets: list[ModelTarget],
    facts: ServerFacts,
    chunk_count: int,
    earlier_backup: str | None = None,
) -> FirstScan:
    """The assessment and a complete backup (manifest, chunk files, snapshot) from one scan; on any failure the
    files it wrote are removed and the error is raised."""
    url = settings.redis_url.get_secret_value()
    nodes, safe_url = open_nodes(url), redact_url(url)
    migratable, _notes = migratable_targets(targets, facts)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="om-runbook-snapshot") as pool:
        # with the flow's context: anything it logs reaches this run's Prefect API, never a server of its own
        snapshot = pool.submit(contextvars.copy_context().run, _snapshot, settings)
        backup = LogicalBackup(nodes, migratable, settings, safe_url, chunk_count, earlier_backup)
        tally = Tally()
        try:
            assessment = assess_keyspace(
                nodes, targets, facts, settings.zone, settings.batch_size, settings.backup_dir, safe_url, tally,
                backup.add,
            )  # fmt: skip
            snapshot_info = snapshot.result()  # the backup is complete only with its snapshot
        except BaseException:
            backup.abandon()
            raise
    return FirstScan(assessment=assessment, manifest=backup.complete(tally, snapshot_info))


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
