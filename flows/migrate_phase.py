"""The checklist's migration phase: the schema step, then the key-range chunks under the resource probe and the
throttle, catch-up rounds for values written meanwhile, and the alias switch."""

from __future__ import annotations

from om_runbook.flows.checklist_run import ChecklistRun
from om_runbook.flows.key_ranges import migrate_key_ranges
from om_runbook.flows.progress import ChunkProgress
from om_runbook.migrations.backup_format import BackupManifest, unreadable_count
from om_runbook.migrations.error_budget import remaining_budget
from om_runbook.migrations.targets import ModelTarget
from om_runbook.migrations.throttle import latency_limit_ms, pace_summary, throttled_seconds
from om_runbook.tasks.backup import catch_up_task
from om_runbook.tasks.backup_store.backup_format import require_complete_manifest
from om_runbook.tasks.guards.eviction import eviction_check_task
from om_runbook.tasks.guards.latency_probe import ResourceProbe
from om_runbook.tasks.guards.throttle import PaceController, latency_status_path
from om_runbook.tasks.guards.unfinished_run import mark_unfinished_run
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.schema import schema_task
from om_runbook.tasks.writer.chunk_runner import ChunkResult, chunk_problem_counts

MAX_CATCH_UP_ROUNDS = 3


def migrate(
    run: ChecklistRun, manifest: BackupManifest, migratable: list[ModelTarget], has_search: bool
) -> tuple[list[ChunkResult], BackupManifest]:
    settings = run.settings
    mark_unfinished_run(settings.redis_url.get_secret_value(), settings.backup_dir)
    METER.enter("schema step")
    with run.clock.phase("schema") as details:
        if not has_search:
            details["step"] = "schema step skipped: no search module"
        elif settings.schema_mode == "skip":
            details["step"] = "schema step skipped: --schema-mode skip (indexes left as they are)"
        else:
            details["step"] = f"schema step: {settings.schema_mode}"
            details["applied"] = schema_task(settings, migratable, "prepare")
        run.evidence["schema"] = details["step"]
    budget = remaining_budget(unreadable_count(manifest), settings.max_errors)
    with run.clock.phase("migrate") as details:
        run.evidence["migration_started"] = "chunk subflows started after the go/no-go sign-off"
        system = run.report.system
        baseline_p99 = system.baseline_latency.p99_ms if system.baseline_latency else 0.0
        system.latency_limit_ms = latency_limit_ms(settings.max_latency_ms, baseline_p99)
        url, status = settings.redis_url.get_secret_value(), latency_status_path(settings.backup_dir)
        with (
            ResourceProbe(url, status=status, app_read=system.app_read, process=run.take_probe_process()) as probe,
            PaceController(settings.backup_dir, system.latency_limit_ms) as pacer,
        ):
            with ChunkProgress(settings.backup_dir, manifest.chunks, "migrate"):
                results = migrate_key_ranges(
                    settings, manifest.chunks, budget, run.lease_token, run.evicted_keys_at_start
                )
                if settings.live_traffic or any(chunk_problem_counts(r) for r in results):
                    results, manifest = catch_up(run, manifest, migratable, results, budget)
        details["chunks"] = [r.model_dump(mode="json", exclude={"problems"}) for r in results]
        details["probe_error"] = probe.error
        eviction_check_task(settings.redis_url, run.evicted_keys_at_start, settings.backup_dir)
    if has_search and settings.schema_mode == "alias":
        with run.clock.phase("schema_switch") as details:
            details["applied"] = schema_task(settings, migratable, "switch")
    system.pace_events, system.pace_started_at = pacer.events, pacer.started_at
    system.throttled_seconds = throttled_seconds(pacer.events, pacer.elapsed())
    paced = pace_summary(system.latency_limit_ms, pacer.events, system.throttled_seconds)
    run.report.messages += paced
    if paced:
        run.evidence["pace"] = "; ".join(line.removeprefix("throttle: ") for line in paced)
    system.migration_latency, system.memory_peak_share, system.cpu_peak_share = (
        probe.latency(),
        probe.memory_peak,
        probe.cpu_peak,
    )
    system.migration_app_latency = probe.app_latency()
    run.evidence["progress"] = f"{len(results)} chunks checkpointed per batch, progress artifact updated"
    if probe.memory_peak is not None and probe.cpu_peak is not None:
        run.evidence["resource_usage"] = (
            f"memory peak {100 * probe.memory_peak:.1f}%, Redis CPU peak {100 * probe.cpu_peak:.0f}% of a core"
        )
    return results, manifest


def catch_up(
    run: ChecklistRun,
    manifest: BackupManifest,
    migratable: list[ModelTarget],
    results: list[ChunkResult],
    budget: int | None,
) -> tuple[list[ChunkResult], BackupManifest]:
    """Legacy values written meanwhile (or re-written after a conflict): backed up, then converted."""
    for _round in range(MAX_CATCH_UP_ROUNDS):
        chunk = catch_up_task(run.settings, migratable, manifest)
        manifest = require_complete_manifest(run.settings.backup_dir)  # the catch-up chunk is recorded there
        if chunk is None:
            break
        results = results + migrate_key_ranges(
            run.settings, [chunk], budget, run.lease_token, run.evicted_keys_at_start
        )
    return results, manifest
