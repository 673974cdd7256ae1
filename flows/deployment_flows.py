"""Entry points of the deployments in deployments/prefect.yaml: typed parameters for the UI form, and the
Redis URL (with its password) read from a Prefect Secret block, never taken as a plain parameter."""

import time
from pathlib import Path
from typing import Annotated

import redis
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rehearsal_flow import RehearsalReport, rehearsal_flow
from om_runbook.flows.report_view import recovery_lines
from om_runbook.flows.restore_flow import restore_snapshot_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.flows.run_options import deployment_default, deployment_parameter, with_parameter_docs
from om_runbook.migrations.config import FailureMode, RunSettings, build_settings
from om_runbook.migrations.errors import ConfigurationError, RunbookError
from om_runbook.migrations.redaction import redact_text, url_secrets
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.signoff import GateRoles
from om_runbook.migrations.snapshot_restore import CONFIRMATION_WORD, SnapshotRestoreReport
from om_runbook.migrations.staging_mirror import mirror_differences, mirror_markdown
from om_runbook.migrations.targets import Storage, discover_targets, key_prefixes
from om_runbook.tasks.backup_store.backup_format import (
    chunk_result_path,
    latest_snapshot,
    require_complete_manifest,
    write_atomically,
)
from om_runbook.tasks.io.app_dir import put_app_dir_first
from om_runbook.tasks.migrate import migrate_chunk_task
from om_runbook.tasks.readers.mirror import mirror_facts_task
from om_runbook.tasks.rollback import restore_snapshot_task
from om_runbook.tasks.writer.staging_guard import empty_staging

SecretName = Annotated[
    str, Field(description="name of the Prefect Secret block holding the Redis URL (with its password)")
]
MODELS_HELP = (
    "modules or packages of the application's redis-om 1.x models, comma-separated (a package: every module in it)"
)
APP_DIR_HELP = "the application's directory, first on the import path (default: the work pool's working directory)"
ModelsModule = Annotated[str, Field(description=MODELS_HELP)]
AppDir = Annotated[str | None, Field(description=APP_DIR_HELP)]
NaiveTimezone = Annotated[str, Field(description="IANA zone in which naive legacy datetimes are read")]


PRODUCTION_SECRET = "om-runbook-production-redis-url"


def staging_mirror_lines(staging: SecretStr, production: str | None, models: str) -> list[str]:
    """The checklist's "Staging environment mirrors production", from both servers' facts (production only read)."""
    if production is None:
        return ["- [ ] Staging environment mirrors production: not compared (no production Secret block)"]
    targets = discover_targets(models)
    prefixes = key_prefixes(targets, Storage.HASH) + key_prefixes(targets, Storage.JSON)
    ours = mirror_facts_task(staging, prefixes)
    try:
        # production is only read for this comparison, and staging often cannot reach it: one retry, then the item
        # stays open with the reason, and the rehearsal's own result stands
        theirs = mirror_facts_task.with_options(retries=1, retry_delay_seconds=2)(SecretStr(production), prefixes)
    except (RunbookError, redis.RedisError) as exc:  # unreachable, refused (ACL), a URL redis-py cannot use
        reason = redact_text(str(exc), url_secrets(production))
        return [f"- [ ] Staging environment mirrors production: not compared (production could not be read: {reason})"]
    return mirror_markdown(ours, theirs, mirror_differences(ours, theirs))


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


@with_parameter_docs
def _production_migration(
    redis_url_secret: SecretName,
    models: ModelsModule,
    backup_dir: Annotated[str, Field(description="directory for the RDB and logical backups (it is the rollback)")],
    naive_timezone: deployment_parameter("naive_timezone") = deployment_default("naive_timezone"),
    chunks: deployment_parameter("chunks") = deployment_default("chunks"),
    parallel: deployment_parameter("parallel") = deployment_default("parallel"),
    workers: deployment_parameter("workers") = deployment_default("workers"),
    batch_size: deployment_parameter("batch_size") = deployment_default("batch_size"),
    failure_mode: deployment_parameter("failure_mode") = deployment_default("failure_mode"),
    max_errors: deployment_parameter("max_errors") = deployment_default("max_errors"),
    max_error_rate: deployment_parameter("max_error_rate") = deployment_default("max_error_rate"),
    rdb_snapshot: deployment_parameter("rdb_snapshot") = deployment_default("rdb_snapshot"),
    snapshot_reference: deployment_parameter("snapshot_reference") = deployment_default("snapshot_reference"),
    snapshot_taken_at: deployment_parameter("snapshot_taken_at") = deployment_default("snapshot_taken_at"),
    rdb_tools_dir: deployment_parameter("rdb_tools_dir") = deployment_default("rdb_tools_dir"),
    module_dir: deployment_parameter("module_dir") = deployment_default("module_dir"),
    report_json: deployment_parameter("report_json") = deployment_default("report_json"),
    signoff_roles: deployment_parameter("signoff_roles") = deployment_default("signoff_roles"),
    gate_timeout_seconds: deployment_parameter("gate_timeout_seconds") = deployment_default("gate_timeout_seconds"),
    gate_poll_seconds: deployment_parameter("gate_poll_seconds") = deployment_default("gate_poll_seconds"),
    lease_seconds: deployment_parameter("lease_seconds") = deployment_default("lease_seconds"),
    live_traffic: deployment_parameter("live_traffic") = deployment_default("live_traffic"),
    auto_rollback: deployment_parameter("auto_rollback") = deployment_default("auto_rollback"),
    allow_eviction: deployment_parameter("allow_eviction") = deployment_default("allow_eviction"),
    other_server: deployment_parameter("other_server") = deployment_default("other_server"),
    acknowledge_unfinished_run: deployment_parameter("acknowledge_unfinished_run") = deployment_default(
        "acknowledge_unfinished_run"
    ),
    chunk_deployment: deployment_parameter("chunk_deployment") = deployment_default("chunk_deployment"),
    schema_mode: deployment_parameter("schema_mode") = deployment_default("schema_mode"),
    schema_timeout_seconds: deployment_parameter("schema_timeout_seconds") = deployment_default(
        "schema_timeout_seconds"
    ),
    max_latency_ms: deployment_parameter("max_latency_ms") = deployment_default("max_latency_ms"),
    contacts: deployment_parameter("contacts") = deployment_default("contacts"),
    progress_every_minutes: deployment_parameter("progress_every_minutes") = deployment_default(
        "progress_every_minutes"
    ),
    app_check: deployment_parameter("app_check") = deployment_default("app_check"),
    app_check_timeout_seconds: deployment_parameter("app_check_timeout_seconds") = deployment_default(
        "app_check_timeout_seconds"
    ),
    app_dir: AppDir = None,
) -> RunReport:
    """The production run: the whole checklist with sign-off pauses answered in the UI. Every parameter but the
    Secret block's name and the application's directory is a RunSettings field (flows/run_options.py says which are
    left out, and why)."""
    directory = put_app_dir_first(app_dir)
    values = {name: value for name, value in locals().items() if name in RunSettings.model_fields}
    settings = build_settings(
        **values
        | {
            "app_dir": directory,
            "redis_url": redis_url_from_secret(redis_url_secret),
            "backup_dir": Path(backup_dir),
            "signoff_roles": signoff_roles or GateRoles(),
        }
    )
    return migration_flow(settings)


production_migration = flow(name="om-production-migration")(_production_migration)


@flow(name="om-migrate-key-range", flow_run_name="key-range-{chunk_index}")
@with_parameter_docs
def key_range_on_worker(
    redis_url_secret: SecretName,
    backup_dir: Annotated[str, Field(description="the run's backup directory (shared storage)")],
    chunk_index: Annotated[int, Field(ge=0, description="the chunk of the run's manifest to migrate")],
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000,
    failure_mode: FailureMode = "log_and_skip",
    error_budget: Annotated[int | None, Field(ge=0)] = None,
    lease_token: Annotated[str | None, Field(description="the parent run's lease, checked before every batch")] = None,
    evicted_keys_at_start: Annotated[
        int | None, Field(ge=0, description="the parent run's INFO evicted_keys before its scan: any rise stops it")
    ] = None,
    lease_seconds: deployment_parameter("lease_seconds") = deployment_default("lease_seconds"),
    app_dir: AppDir = None,
) -> dict:
    """One chunk of a fanned-out migration, on whichever worker of the pool picks it up; its result goes to the
    shared backup directory for the parent run (which triggered it with run_deployment)."""
    put_app_dir_first(app_dir)
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
        lease_seconds=lease_seconds,  # a stalled batch is retried within the parent run's lease, not a default one
    )
    result = migrate_chunk_task(settings, chunk, error_budget, lease_token, evicted_keys_at_start)
    write_atomically(chunk_result_path(directory, chunk), result.model_dump_json())
    return result.model_dump(mode="json", exclude={"problems"})


@flow(name="om-rollback")
@with_parameter_docs
def production_rollback(
    redis_url_secret: SecretName,
    backup_dir: Annotated[str, Field(description="the backup directory of the run to roll back")],
    app_dir: AppDir = None,
    other_server: deployment_parameter("other_server") = deployment_default("other_server"),
) -> RunReport:
    """Exact rollback from a run's logical backup."""
    put_app_dir_first(app_dir)
    return rollback_flow(redis_url_from_secret(redis_url_secret), Path(backup_dir), other_server=other_server)


@flow(name="om-restore")
@with_parameter_docs
def production_restore_snapshot(
    redis_url_secret: SecretName,
    backup_dir: Annotated[str, Field(description="the backup directory of the run whose RDB snapshot is restored")],
    confirmation: Annotated[
        str,
        Field(
            description=f"empty: a dry run that only says what would change; type {CONFIRMATION_WORD} to write",
            pattern=f"^(|{CONFIRMATION_WORD})$",
        ),
    ] = "",
    all_keys: Annotated[bool, Field(description="every key of the snapshot, not only the models' prefixes")] = False,
    delete_extra: Annotated[bool, Field(description="delete keys the snapshot lacks (else listed)")] = False,
    other_target: Annotated[
        bool, Field(description="the Secret names a Redis other than the backup's, on purpose (the restore says so)")
    ] = False,
    rdb_tools_dir: deployment_parameter("rdb_tools_dir") = deployment_default("rdb_tools_dir"),
    module_dir: deployment_parameter("module_dir") = deployment_default("module_dir"),
    app_dir: AppDir = None,
) -> SnapshotRestoreReport:
    """The manual way back from a run's RDB snapshot: the dry run by default, the typed confirmation to write (any
    other text is refused by the form and by Prefect's parameter validation)."""
    put_app_dir_first(app_dir)
    return restore_snapshot_flow(
        redis_url_from_secret(redis_url_secret),
        Path(backup_dir),
        confirm=confirmation == CONFIRMATION_WORD,
        all_keys=all_keys,
        delete_extra=delete_extra,
        other_target=other_target,
        rdb_tools_dir=rdb_tools_dir,
        module_dir=module_dir,
    )


@flow(name="om-staging-rehearsal")
@with_parameter_docs
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
    app_dir: AppDir = None,
) -> RehearsalReport:
    """Restore production's latest snapshot (or seed legacy data) into staging, run forward with automatic
    sign-off, verify, roll back, verify again, and publish the measured keys/s as the production estimate."""
    put_app_dir_first(app_dir)
    logger = get_run_logger()
    application_models = models
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
    # after the rollback staging holds again what was rehearsed (restored or seeded), byte for byte
    mirror = result.staging_mirror = staging_mirror_lines(redis_url, production, application_models)
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
                *[f"- {line}" for line in recovery_lines(result)],
                *[f"- {name}: {'yes' if met else 'NO'}" for name, met in result.criteria.items()],
                "",
                *mirror,
            ]
        ),
        key="production-estimate",
        description="keys/s, rollback and snapshot restore times measured by the staging rehearsal",
    )
    return result
