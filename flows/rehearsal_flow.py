"""A full rehearsal on a Redis nobody depends on: seed legacy data, run the checklist flow, roll back, and
prove every key byte-identical to before."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from pydantic import BaseModel, Field, SecretStr

from om_runbook.flows.heartbeat import with_heartbeat
from om_runbook.flows.live_display import RunDisplay
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.restore_flow import restore_snapshot_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.flows.run_lookup import flow_run_ui_url
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.fingerprint import KeyspaceDiff, compare_fingerprints
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.report import RunReport, recorded_snapshot
from om_runbook.migrations.sample_data import generate_legacy_records
from om_runbook.migrations.snapshot_restore import SnapshotRestoreReport
from om_runbook.tasks.backup_store.backup_format import require_complete_manifest
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.fingerprint import fingerprint_task
from om_runbook.tasks.writer.seed import drop_keys_under, write_legacy_records


class RehearsalReport(BaseModel):
    passed: bool
    criteria: dict[str, bool] = Field(default_factory=dict)
    seeded_records: int = 0
    seeded_dirty: int = 0
    migrate_keys_per_second: float = 0.0
    migration: RunReport
    rollback: RunReport | None = None
    rollback_diff: KeyspaceDiff | None = None
    restore: SnapshotRestoreReport | None = None  # restore-snapshot --confirm of every model key, after the rollback
    restore_diff: KeyspaceDiff | None = None
    staging_mirror: list[str] = Field(default_factory=list)  # the staging rehearsal's comparison with production

    @property
    def rollback_seconds(self) -> float | None:
        return self.rollback.kpis.duration_seconds if self.rollback is not None else None

    @property
    def restore_seconds(self) -> float | None:
        return self.restore.duration_seconds if self.restore is not None else None


@task(name="seed-legacy-records", cache_policy=NONE, **IO_TASK_OPTIONS)
def seed_task(redis_url: SecretStr, count: int, dirty_share: float, seed: int) -> tuple[int, int]:
    """Legacy (0.x format) sample records; returns (records, dirty records)."""
    summary = write_legacy_records(
        open_nodes(redis_url.get_secret_value()), generate_legacy_records(count, dirty_share, seed)
    )
    return summary.records, summary.dirty


def migrate_rate(report: RunReport) -> float:
    phase = report.phases.get("migrate")
    if phase is None or phase.duration_seconds <= 0:
        return 0.0
    return report.kpis.keys_migrated / phase.duration_seconds


def rehearsal_criteria(
    migration: RunReport,
    rollback: RunReport | None,
    diff: KeyspaceDiff | None,
    restore_diff: KeyspaceDiff | None,
    snapshot_taken: bool,
) -> dict[str, bool]:
    """The checklist's success criteria a rehearsal can prove, each true or false; with an RDB snapshot, the manual
    way back (restore-snapshot) too."""
    checks = {c.name: c.met for c in migration.kpi_checks}
    criteria = {
        "migration succeeded and verified": migration.status == "succeeded",
        "error rate < 1%": checks.get("error rate") is True,
        "success rate > 99%": checks.get("success rate") is True,
        "rollback restored every field": rollback is not None and rollback.status == "rolled_back",
        "every key byte-identical after rollback": diff is not None and diff.identical,
    }
    if snapshot_taken:
        criteria["every key byte-identical after the snapshot restore"] = (
            restore_diff is not None and restore_diff.identical
        )
    return criteria


@flow(name="om-datetime-rehearsal")
@with_heartbeat
def rehearsal_flow(
    settings: RunSettings,
    count: int = 100_000,
    dirty_share: float = 0.001,
    seed: int = 0,
    seeded: tuple[int, int] | None = None,
) -> RehearsalReport:
    """Seed (when count > 0), migrate with the whole checklist, roll back, compare every key with before. `seeded`:
    (records, dirty records) the caller already wrote (while the Prefect server started), so none are written here."""
    logger = get_run_logger()
    display = RunDisplay(
        "rehearsal",
        settings.backup_dir,
        redact_url(settings.redis_url.get_secret_value()),
        "a rehearsal starts again from the top: run the same command again",
        str(flow_run.id),
        flow_run_ui_url(),
        logger,
    )
    with display:
        result = _rehearse(settings, count, dirty_share, seed, seeded)
        display.finish("passed" if result.passed else "failed")
        return result


def _rehearse(
    settings: RunSettings, count: int, dirty_share: float, seed: int, seeded: tuple[int, int] | None
) -> RehearsalReport:
    logger = get_run_logger()
    if seeded is None:
        METER.begin("seed legacy records", count)
        seeded = seed_task(settings.redis_url, count, dirty_share, seed) if count else (0, 0)
    before = fingerprint_task(settings.redis_url)
    logger.info("rehearsal: %d keys fingerprinted before the migration", len(before))
    migration = migration_flow(settings)
    rollback = diff = restore = restore_diff = None
    if migration.status == "succeeded":
        rollback = rollback_flow(settings.redis_url, settings.backup_dir, settings.parallel, settings.batch_size)
        diff = compare_fingerprints(before, fingerprint_task(settings.redis_url))
    snapshot_taken = _snapshot_taken(migration)
    if rollback is not None and rollback.status == "rolled_back" and snapshot_taken:
        restore = prove_snapshot_restore(settings)
        restore_diff = compare_fingerprints(before, fingerprint_task(settings.redis_url))
    criteria = rehearsal_criteria(migration, rollback, diff, restore_diff, snapshot_taken)
    return RehearsalReport(
        passed=all(criteria.values()),
        criteria=criteria,
        seeded_records=seeded[0],
        seeded_dirty=seeded[1],
        migrate_keys_per_second=migrate_rate(migration),
        migration=migration,
        rollback=rollback,
        rollback_diff=diff,
        restore=restore,
        restore_diff=restore_diff,
    )


def _snapshot_taken(migration: RunReport) -> bool:
    snapshot = recorded_snapshot(migration)
    return snapshot is not None and snapshot.taken


@task(name="drop-rehearsal-model-keys", cache_policy=NONE)
def drop_model_keys_task(redis_url: SecretStr, prefixes: list[str]) -> int:
    return drop_keys_under(open_nodes(redis_url.get_secret_value()), prefixes)


def prove_snapshot_restore(settings: RunSettings) -> SnapshotRestoreReport:
    """The manual way back, rehearsed: every model key deleted from the rehearsal's own server, then put back by
    restore-snapshot --confirm from the run's RDB snapshot (timed: the production estimate's restore figure)."""
    manifest = require_complete_manifest(settings.backup_dir)
    dropped = drop_model_keys_task(settings.redis_url, [target.key_prefix for target in manifest.targets])
    get_run_logger().info("rehearsal: %d model keys deleted; restoring them from the RDB snapshot", dropped)
    return restore_snapshot_flow(
        settings.redis_url,
        settings.backup_dir,
        confirm=True,
        batch_size=settings.batch_size,
        rdb_tools_dir=settings.rdb_tools_dir,
        module_dir=settings.module_dir,
    )
