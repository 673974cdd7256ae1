"""The checklist's pre-migration phase: checks and refusals before any write, then the one scan (assessment and
logical backup, the RDB snapshot beside it) and the refusals that need its counts; the lease comes last."""

from __future__ import annotations

from om_runbook.flows.artifacts import publish_assessment, publish_backup
from om_runbook.flows.checklist_run import ChecklistRun
from om_runbook.flows.evidence import assessment_evidence, backup_evidence, recovery_before_migration
from om_runbook.migrations.backup_format import BackupManifest, already_converted_count
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.error_budget import refusal_before_writes
from om_runbook.migrations.errors import ConfigurationError, MigrationAborted
from om_runbook.migrations.headroom import eviction_refusal, headroom_findings
from om_runbook.migrations.recovery_time import rto_evidence
from om_runbook.migrations.server_facts import ServerFacts, require_writable_primary
from om_runbook.migrations.slots import auto_chunk_count
from om_runbook.migrations.targets import ModelTarget, Storage, discover_targets, key_prefixes
from om_runbook.migrations.unfinished_run import UnfinishedRun, earlier_backup_note, unfinished_run_refusal
from om_runbook.tasks.assess import Assessment, assess_task, disk_free, migratable_targets, server_facts_task
from om_runbook.tasks.backup import reusable_backup, snapshot_tools_task
from om_runbook.tasks.backup_store.backup_format import BackupDirectoryLock
from om_runbook.tasks.first_scan import assess_and_back_up_task
from om_runbook.tasks.guards.latency_probe import find_app_read, latency_task
from om_runbook.tasks.guards.lease import RunLease
from om_runbook.tasks.guards.permissions import permissions_task
from om_runbook.tasks.guards.unfinished_run import read_unfinished_run
from om_runbook.tasks.io.redis_connection import database_number
from om_runbook.tasks.schema import schema_index_names


def pre_migration(run: ChecklistRun) -> tuple[Assessment, BackupManifest, list[ModelTarget]]:
    """Checks, then one scan for the assessment and the backup (the RDB snapshot beside it), then the refusals
    that need the scan's counts; a refusal removes the backup it made. Nothing is written to Redis before the
    lease, which comes after every refusal."""
    settings = run.settings
    url = settings.redis_url.get_secret_value()
    targets = discover_targets(settings.models)
    run.earlier_run = check_unfinished_run(run.settings)
    with run.clock.phase("assess"):
        run.report.messages.append(
            permissions_task(
                url,
                key_prefixes(targets, Storage.HASH),
                json_prefixes=key_prefixes(targets, Storage.JSON),
                index_names=schema_index_names(targets, settings.schema_mode),
                alias=settings.schema_mode == "alias",
                snapshot=settings.rdb_snapshot,
            )
        )
        facts, keys_in_database = server_facts_task(settings)
        refuse_before_scan(run, facts)
        lease = RunLease(url, "migration", settings.lease_seconds)
        lease.refuse_if_held()
        directory = run.resources.enter_context(BackupDirectoryLock(settings.backup_dir))
        existing = reusable_backup(settings)
        if settings.rdb_snapshot and existing is None:
            run.report.messages.append(snapshot_tools_task(settings))
        run.report.system.baseline_latency, _ = latency_task(settings.redis_url)
    run.start_probe_process()  # after the baseline PINGs: its start-up's CPU must not be in them
    try:
        with run.clock.phase("backup") as details:
            if existing is None:
                chunk_count = settings.chunks or auto_chunk_count(keys_in_database)
                earlier = run.earlier_run.backup_dir if run.earlier_run else None
                scan = assess_and_back_up_task(settings, targets, facts, chunk_count, earlier)
                assessment, manifest = scan.assessment, scan.manifest
            else:
                run.logger.info("resuming: the backup in %s is complete and is reused", settings.backup_dir)
                assessment, manifest = assess_task(settings, targets), existing
            details.update(manifest.model_dump(mode="json", exclude={"problems", "targets"}))
        run.report.phases["assess"].details.update(assessment.model_dump(mode="json", exclude={"problems"}))
        run.report.problems, run.report.problem_counts = assessment.problems, assessment.problem_counts
        # the application's read is timed once the refusals that come before the scan are past: no record's
        # content is read before them
        system = run.report.system
        system.app_read = find_app_read(url, targets)
        if system.app_read is not None:
            _, system.baseline_app_latency = latency_task(settings.redis_url, system.app_read, ping=False)
        run.evidence.update(
            assessment_evidence(assessment, system.baseline_latency, system.app_read, system.baseline_app_latency)
        )
        publish_assessment(assessment)
        run.report.messages += assessment.notes
        refusal = refusal_before_writes(assessment.unreadable_values, settings.failure_mode, settings.max_errors)
        if refusal:
            raise MigrationAborted(refusal)
        run.lease = run.resources.enter_context(lease)
    except BaseException:
        if existing is None:
            directory.discard_new_backup()
        raise
    migratable, _skipped = migratable_targets(targets, assessment.server)
    run.evidence.update(backup_evidence(manifest, settings))
    run.evidence["rto"] = rto_evidence(recovery_before_migration(assessment, manifest))
    publish_backup(manifest)
    if run.earlier_run is not None:
        run.report.messages.append(earlier_backup_note(run.earlier_run, already_converted_count(manifest)))
    return assessment, manifest, migratable


def refuse_before_scan(run: ChecklistRun, facts: ServerFacts) -> None:
    """Refusals that need only the server's facts: before the scan, so none of it is wasted."""
    settings = run.settings
    require_writable_primary(facts, run.report.redis)
    database = database_number(settings.redis_url.get_secret_value())
    if facts.has_search and settings.schema_mode != "skip" and database != 0:
        raise ConfigurationError(
            f"this run targets database {database}, and RediSearch indexes exist only in database 0: redis-om "
            "queries (find()) cannot work on these keys and the schema step cannot create the 1.x indexes. Run "
            "with --schema-mode skip to migrate the data without indexes; nothing was written"
        )
    if facts.cluster_enabled and facts.has_search and settings.schema_mode != "skip":
        raise ConfigurationError(
            "the schema step on a Redis Cluster with the search module is not supported by this version: run "
            "with --schema-mode skip and apply the 1.x indexes with redis-om's `om migrate`; nothing was written"
        )
    refusals, warnings = headroom_findings(
        used_memory=facts.used_memory,
        maxmemory=facts.maxmemory,
        disk_free=disk_free(settings.backup_dir),
        backup_bytes=facts.snapshot_bytes_estimate if settings.rdb_snapshot else 0,
    )
    run.report.messages += warnings
    if refusals:
        raise MigrationAborted("; ".join(refusals))
    eviction = eviction_refusal(policy=facts.maxmemory_policy, maxmemory=facts.maxmemory, used_memory=facts.used_memory)
    if eviction and not settings.allow_eviction:
        raise MigrationAborted(eviction)
    if eviction:
        run.report.messages.append(
            f"--allow-eviction: maxmemory-policy {facts.maxmemory_policy} may evict keys; any eviction stops the run"
        )
    run.evicted_keys_at_start = facts.evicted_keys
    run.evidence["resources_available"] = "disk and memory headroom checked"


def check_unfinished_run(settings: RunSettings) -> UnfinishedRun | None:
    """Refuse (before any write) when an unfinished run with another backup directory changed this Redis, unless
    acknowledged; returns that run when acknowledged."""
    marker = read_unfinished_run(settings.redis_url.get_secret_value())
    refusal = unfinished_run_refusal(marker, settings.backup_dir, settings.acknowledge_unfinished_run)
    if refusal:
        raise ConfigurationError(refusal)
    return marker if marker is not None and not marker.is_for(settings.backup_dir) else None
