"""Entry points of the deployments in deployments/prefect.yaml: typed parameters for the UI form, and the
Redis URL (with its password) read from a Prefect Secret block, never taken as a plain parameter."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rehearsal_flow import RehearsalReport, rehearsal_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.migrations.config import FailureMode, build_settings
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.signoff import GateRoles
from om_runbook.tasks.backup_files import (
    chunk_result_path,
    latest_snapshot,
    require_complete_manifest,
    write_atomically,
)
from om_runbook.tasks.migrate import migrate_chunk_task
from om_runbook.tasks.rollback import restore_snapshot_task
from om_runbook.tasks.staging import empty_staging

SecretName = Annotated[
    str, Field(description="name of the Prefect Secret block holding the Redis URL (with its password)")
]
ModelsModule = Annotated[str, Field(description="importable module of the application's redis-om 1.x models")]
NaiveTimezone = Annotated[str, Field(description="IANA zone in which naive legacy datetimes are read")]


PRODUCTION_SECRET = "om-runbook-production-redis-url"


def _optional_secret(block_name: str) -> str | None:
    try:
        return str(Secret.load(block_name).get())
    except ValueError:
        return None


def redis_url_from_secret(block_name: str) -> SecretStr:
    try:
        value = Secret.load(block_name).get()
    except ValueError as exc:
        raise ConfigurationError(
            f"no Prefect Secret block named {block_name!r}: create it in the UI (Blocks > Secret) or with "
            f"`Secret(value='redis://...').save({block_name!r})`"
        ) from exc
    return SecretStr(str(value))


@flow(name="om-production-migration")
def production_migration(
    redis_url_secret: SecretName,
    models: ModelsModule,
    backup_dir: Annotated[str, Field(description="directory for the RDB and logical backups (it is the rollback)")],
    naive_timezone: NaiveTimezone = "UTC",
    chunks: Annotated[
        int | None, Field(ge=1, le=16384, description="key-range chunks; default 1 per 250k keys")
    ] = None,
    batch_size: Annotated[int, Field(ge=1, le=100_000, description="keys per pipelined batch")] = 1000,
    failure_mode: Annotated[FailureMode, Field(description="on a value that cannot be migrated")] = "log_and_skip",
    max_errors: Annotated[int | None, Field(ge=0, description="stop when more values than this fail")] = None,
    max_error_rate: Annotated[float, Field(ge=0, le=1, description="roll back above this share of failures")] = 0.01,
    rdb_snapshot: Annotated[bool, Field(description="take and restore-test a full RDB snapshot first")] = True,
    signoff_roles: Annotated[GateRoles | None, Field(description="roles that must approve each gate")] = None,
    gate_timeout_seconds: Annotated[int, Field(ge=1, description="an unanswered gate is not approved")] = 4 * 3600,
    chunk_deployment: Annotated[
        str | None,
        Field(description="fan-out: run each chunk as a run of this deployment (om-migrate-key-range/key-range)"),
    ] = None,
) -> RunReport:
    """The production run: the whole checklist with sign-off pauses answered in the UI."""
    settings = build_settings(
        redis_url=redis_url_from_secret(redis_url_secret),
        models=models,
        backup_dir=Path(backup_dir),
        naive_timezone=naive_timezone,
        chunks=chunks,
        batch_size=batch_size,
        failure_mode=failure_mode,
        max_errors=max_errors,
        max_error_rate=max_error_rate,
        rdb_snapshot=rdb_snapshot,
        signoff_roles=signoff_roles or GateRoles(),
        gate_timeout_seconds=gate_timeout_seconds,
        chunk_deployment=chunk_deployment,
        redis_url_secret=redis_url_secret,
    )
    return migration_flow(settings)


@flow(name="om-migrate-key-range", flow_run_name="key-range-{chunk_index}")
def key_range_on_worker(
    redis_url_secret: SecretName,
    backup_dir: Annotated[str, Field(description="the run's backup directory (shared storage)")],
    chunk_index: Annotated[int, Field(ge=0, description="the chunk of the run's manifest to migrate")],
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000,
    failure_mode: FailureMode = "log_and_skip",
    error_budget: Annotated[int | None, Field(ge=0)] = None,
    lease_token: Annotated[str | None, Field(description="the parent run's lease, checked before every batch")] = None,
) -> dict:
    """One chunk of a fanned-out migration, on whichever worker of the pool picks it up; its result goes to the
    shared backup directory for the parent run (which triggered it with run_deployment)."""
    directory = Path(backup_dir)
    manifest = require_complete_manifest(directory)
    chunk = next((c for c in manifest.chunks if c.index == chunk_index), None)
    if chunk is None:
        raise ConfigurationError(f"{backup_dir} has no chunk {chunk_index}")
    settings = build_settings(
        redis_url=redis_url_from_secret(redis_url_secret),
        models=manifest.models,
        backup_dir=directory,
        naive_timezone=manifest.naive_timezone,
        batch_size=batch_size,
        failure_mode=failure_mode,
    )
    result = migrate_chunk_task(settings, chunk, error_budget, lease_token)
    write_atomically(chunk_result_path(directory, chunk), result.model_dump_json())
    return result.model_dump(mode="json", exclude={"problems"})


@flow(name="om-rollback")
def production_rollback(
    redis_url_secret: SecretName,
    backup_dir: Annotated[str, Field(description="the backup directory of the run to roll back")],
) -> RunReport:
    """Exact rollback from a run's logical backup."""
    return rollback_flow(redis_url_from_secret(redis_url_secret), Path(backup_dir))


@flow(name="om-staging-rehearsal")
def staging_rehearsal(
    redis_url_secret: SecretName,
    work_dir: Annotated[str, Field(description="directory for this rehearsal's backups")],
    models: ModelsModule = "om_runbook.migrations.sample_models",
    production_backups: Annotated[
        str | None, Field(description="directory of production backup directories; its newest RDB is restored")
    ] = None,
    seed_count: Annotated[int, Field(ge=1, description="legacy sample records seeded when there is no snapshot")] = (
        100_000
    ),
    naive_timezone: NaiveTimezone = "UTC",
    production_redis_url_secret: Annotated[
        str, Field(description="the production Secret block: the rehearsal refuses to empty the server it names")
    ] = PRODUCTION_SECRET,
) -> RehearsalReport:
    """Restore production's latest snapshot (or seed legacy data) into staging, run forward with automatic
    sign-off, verify, roll back, verify again, and publish the measured keys/s as the production estimate."""
    logger = get_run_logger()
    if redis_url_secret == production_redis_url_secret:
        raise ConfigurationError(f"the staging rehearsal was given the production Secret {redis_url_secret!r}")
    redis_url = redis_url_from_secret(redis_url_secret)
    snapshot = latest_snapshot(Path(production_backups)) if production_backups else []
    production = _optional_secret(production_redis_url_secret)
    empty_staging(redis_url.get_secret_value(), production)  # refuses anything but an empty or marked staging Redis
    if snapshot:
        restored = restore_snapshot_task(snapshot, redis_url)
        logger.info("restored %d keys from %s into staging", restored, snapshot)
        count = 0
    else:
        logger.info("no production snapshot found: seeding %d legacy records", seed_count)
        count, models = seed_count, "om_runbook.migrations.sample_models"
    run_dir = Path(work_dir) / f"rehearsal-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = build_settings(
        redis_url=redis_url, models=models, backup_dir=run_dir, naive_timezone=naive_timezone, auto_approve=True
    )
    result = rehearsal_flow(settings, count=count)
    keys = result.migration.kpis.keys_scanned
    estimate = keys / result.migration.kpis.duration_seconds if result.migration.kpis.duration_seconds else 0.0
    create_markdown_artifact(
        "\n".join(
            [
                f"# Staging rehearsal: {'passed' if result.passed else 'FAILED'}",
                "",
                f"- source: {', '.join(map(str, snapshot)) or f'{count:,} seeded legacy records'}",
                f"- migrate phase: **{result.migrate_keys_per_second:,.0f} keys/s**; whole run "
                f"{estimate:,.0f} keys/s over {keys:,} keys",
                f"- production estimate: {keys:,} keys in about {result.migration.kpis.duration_seconds:,.0f} s",
                *[f"- {name}: {'yes' if met else 'NO'}" for name, met in result.criteria.items()],
            ]
        ),
        key="production-estimate",
        description="keys/s measured by the staging rehearsal",
    )
    return result
