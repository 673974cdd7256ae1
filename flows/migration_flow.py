"""The migration as the checklist runs it: assess -> backup -> migrate key ranges -> verify -> report."""

from __future__ import annotations

import time

from prefect import flow

from flows.key_ranges import migrate_key_ranges
from migrations.backup_format import BackupManifest
from migrations.codec import ValueClass
from migrations.config import RunSettings
from migrations.error_budget import refusal_before_writes, remaining_budget
from migrations.errors import MigrationAborted, RunbookError
from migrations.redaction import redact_url
from migrations.report import PhaseClock, RunReport, merge_problems, migration_kpis
from migrations.targets import ModelTarget, discover_targets
from tasks.assess import Assessment, assess_task, migratable_targets
from tasks.backup import backup_task
from tasks.chunk_runner import ChunkResult
from tasks.report_file import write_report
from tasks.server_facts import require_writable_primary
from tasks.verify import Verification, summarize, verify_chunk_task, verify_leftovers_task


def verify_migration(
    settings: RunSettings, manifest: BackupManifest, targets: list[ModelTarget], has_search: bool
) -> Verification:
    """Read-only: every chunk against its backup, then leftovers and the application's models."""
    started = time.perf_counter()
    futures = [
        verify_chunk_task.submit(settings.redis_url, settings.backup_dir, chunk, "target", settings.batch_size)
        for chunk in manifest.chunks
        if chunk.key_count
    ]
    checks = [future.result() for future in futures]
    sample = [item for check in checks for item in check.sample]
    left, model_sample, search = verify_leftovers_task(settings, targets, sample, has_search)
    return summarize(checks, "target", started, left, model_sample, search)


def _unreadable(manifest: BackupManifest) -> int:
    unparseable = sum(c.get(ValueClass.UNPARSEABLE.value, 0) for c in manifest.value_counts.values())
    return unparseable + manifest.problem_counts.get("wrong_type", 0)


def _already_converted(manifest: BackupManifest) -> int:
    return sum(c.get(ValueClass.CONVERTED.value, 0) for c in manifest.value_counts.values())


def _assessment_details(assessment: Assessment) -> dict:
    return assessment.model_dump(mode="json", exclude={"problems"})


@flow(name="om-datetime-migration")
def migration_flow(settings: RunSettings) -> RunReport:
    """Assess, back up (RDB + logical), migrate chunks in parallel, verify; the report is always written."""
    started = time.perf_counter()
    report = RunReport(status="running", redis=redact_url(settings.redis_url.get_secret_value()))
    clock = PhaseClock(report)
    try:
        targets = discover_targets(settings.models)
        with clock.phase("assess") as details:
            assessment = assess_task(settings, targets)
            details.update(_assessment_details(assessment))
        report.problems, report.problem_counts = assessment.problems, assessment.problem_counts
        hash_targets, notes = migratable_targets(targets, assessment.server)
        report.messages += notes
        require_writable_primary(assessment.server, report.redis)
        refusal = refusal_before_writes(assessment.unreadable_values, settings.failure_mode, settings.max_errors)
        if refusal:
            raise MigrationAborted(refusal)

        with clock.phase("backup") as details:
            manifest = backup_task(settings, hash_targets)
            details.update(manifest.model_dump(mode="json", exclude={"problems", "targets"}))

        with clock.phase("migrate") as details:
            unreadable = _unreadable(manifest)
            results = migrate_key_ranges(settings, manifest.chunks, remaining_budget(unreadable, settings.max_errors))
            details["chunks"] = [r.model_dump(mode="json", exclude={"problems"}) for r in results]

        with clock.phase("verify") as details:
            verification = verify_migration(settings, manifest, hash_targets, assessment.server.has_search)
            details.update(verification.model_dump(mode="json", exclude={"problems"}))

        report.problems, report.problem_counts = merge_problems(
            [manifest.problems, *[r.problems for r in results], verification.problems],
            [manifest.problem_counts, *[_chunk_problem_counts(r) for r in results], verification.problem_counts],
        )
        report.kpis = migration_kpis(
            keys_scanned=manifest.keys_scanned,
            keys_migrated=sum(r.key_count for r in results),
            already_converted=_already_converted(manifest),
            unreadable=unreadable,
            chunk_counts=[r.counts for r in results],
            duration_seconds=time.perf_counter() - started,
        )
        report.status = "succeeded" if verification.passed else "verification_failed"
        if not verification.passed:
            report.messages.append("verification failed: see phases.verify and problems")
        return report
    except RunbookError as exc:
        report.status = "aborted" if isinstance(exc, MigrationAborted) else "failed"
        report.messages.append(str(exc))
        raise
    finally:
        report.kpis.duration_seconds = time.perf_counter() - started
        write_report(settings.report_json, report)


def _chunk_problem_counts(result: ChunkResult) -> dict[str, int]:
    """Problem counts from a chunk's exact counters (its problem list is capped)."""
    return {
        kind: result.counts.get(counter, 0)
        for kind, counter in (("conflict", "conflict"), ("missing", "missing"), ("write_error", "errors"))
        if result.counts.get(counter, 0)
    }


@flow(name="om-datetime-assessment")
def assessment_flow(settings: RunSettings) -> RunReport:
    """Read-only: what a migration would change, its risks and estimates."""
    report = RunReport(status="running", redis=redact_url(settings.redis_url.get_secret_value()))
    clock = PhaseClock(report)
    try:
        targets = discover_targets(settings.models)
        with clock.phase("assess") as details:
            assessment = assess_task(settings, targets)
            details.update(_assessment_details(assessment))
        report.problems, report.problem_counts = assessment.problems, assessment.problem_counts
        report.kpis.keys_scanned = assessment.keys_scanned
        report.messages += migratable_targets(targets, assessment.server)[1]
        report.status = "assessed"
        return report
    except RunbookError as exc:
        report.status = "failed"
        report.messages.append(str(exc))
        raise
    finally:
        write_report(settings.report_json, report)
