"""The checklist as one flow: pre-migration -> go/no-go -> migration -> verification -> acceptance ->
post-migration -> final sign-off; any rollback criterion met after the first write rolls back exactly."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow

from om_runbook.flows.artifacts import publish_assessment
from om_runbook.flows.checklist_run import ChecklistRun
from om_runbook.flows.evidence import (
    acceptance_summary,
    after_the_run,
    final_summary,
    go_no_go_summary,
    library_versions,
    upgrade_evidence,
    verification_evidence,
)
from om_runbook.flows.heartbeat import with_heartbeat
from om_runbook.flows.migrate_phase import migrate
from om_runbook.flows.pre_migration import pre_migration
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.flows.verification import verify_migration
from om_runbook.migrations.app_check import (
    AppCheckResult,
    app_check_evidence,
    app_check_rollback_reason,
    outcome_line,
)
from om_runbook.migrations.backup_format import BackupManifest, already_converted_count, unreadable_count
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.errors import BackupLost, KeysEvicted, LeaseLost, MigrationAborted, RunbookError
from om_runbook.migrations.kpi_targets import (
    MAX_DOWNTIME_SECONDS,
    evaluate_kpis,
    performance_check,
    performance_impact,
    rollback_reasons,
)
from om_runbook.migrations.progress_figures import human_duration
from om_runbook.migrations.redaction import redact_text, redact_url, url_secrets
from om_runbook.migrations.report import PhaseClock, RunReport, merge_problems, migration_kpis
from om_runbook.migrations.targets import ModelTarget, Storage, discover_targets, key_prefixes
from om_runbook.migrations.verification import Verification
from om_runbook.tasks.app_check import app_check_task
from om_runbook.tasks.assess import assess_task
from om_runbook.tasks.backup import clear_progress_task
from om_runbook.tasks.backup_store.backup_format import require_own_directory
from om_runbook.tasks.backup_store.report import write_report
from om_runbook.tasks.guards.eviction import eviction_check_task, eviction_since
from om_runbook.tasks.guards.latency_probe import latency_task
from om_runbook.tasks.guards.permissions import permissions_task
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.schema import schema_index_names
from om_runbook.tasks.writer.chunk_runner import ChunkResult, chunk_problem_counts


def verify(
    run: ChecklistRun, manifest: BackupManifest, migratable: list[ModelTarget], has_search: bool
) -> Verification:
    with run.clock.phase("verify") as details:
        verification = verify_migration(run.settings, manifest, migratable, has_search)
        details.update(verification.model_dump(mode="json", exclude={"problems"}))
    upgraded = upgrade_evidence(library_versions(), [target.name for target in migratable], verification)
    if upgraded:
        run.evidence["redis_om_upgrade"] = upgraded
    return verification


def score(run: ChecklistRun, manifest: BackupManifest, results: list[ChunkResult], verification: Verification) -> None:
    report = run.report
    report.problems, report.problem_counts = merge_problems(
        [manifest.problems, *[r.problems for r in results], verification.problems],
        [manifest.problem_counts, *[chunk_problem_counts(r) for r in results], verification.problem_counts],
    )
    report.kpis = migration_kpis(
        keys_scanned=manifest.keys_scanned,
        keys_migrated=sum(r.key_count for r in results),
        already_converted=already_converted_count(manifest),
        unreadable=unreadable_count(manifest),
        chunk_counts=[r.counts for r in results],
        duration_seconds=time.perf_counter() - run.started,
    )
    run.evidence.update(verification_evidence(verification, report.kpis.error_rate))
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(report.problem_counts.items()))
    run.evidence["problems_reported"] = f"{kinds or 'none'} (examples in the report)"
    report.kpi_checks = evaluate_kpis(report.kpis, report.system)
    performance = performance_check(report.system)
    if performance.met:
        run.evidence["performance_during"] = f"{performance.value} (target {performance.target})"
    if not report.kpis.fields_failed:
        run.evidence["no_critical_errors"] = "no value failed"


def check_application(run: ChecklistRun) -> AppCheckResult | None:
    """The application's own smoke test against the migrated data (`--app-check`); None when none was given."""
    settings = run.settings
    if not settings.app_check:
        return None
    METER.enter("application check")
    with run.clock.phase("app_check") as details:
        result = app_check_task(
            settings.app_check,
            settings.redis_url,
            settings.app_dir or Path.cwd(),
            settings.app_check_timeout_seconds,
        )
        details.update(result.model_dump())
    log = run.logger.info if result.passed else run.logger.error
    log("application check: %s", outcome_line(result))
    evidence = app_check_evidence(result)
    if evidence:
        run.evidence["application_tested"] = evidence
    return result


def roll_back(run: ChecklistRun, reasons: list[str]) -> None:
    """Exact rollback from the logical backup (a subflow); the run ends rolled back or says what is left."""
    settings = run.settings
    run.report.messages += [f"rollback criterion met: {reason}" for reason in reasons]
    run.evidence["rollback_decision"] = "; ".join(reasons) + ": rolled back"
    if not settings.auto_rollback:
        run.report.status = "rollback_needed"
        run.report.messages.append("automatic rollback is off: run `om-runbook rollback` with this --backup-dir")
        return
    run.logger.warning("rolling back: %s", "; ".join(reasons))
    try:
        outcome = rollback_flow(
            settings.redis_url,
            settings.backup_dir,
            settings.parallel,
            settings.batch_size,
            take_lease=False,
            lease_token=run.lease_token,
        )
    except RunbookError as exc:
        run.report.status = "rollback_incomplete"
        run.report.messages.append(f"automatic rollback failed: {exc}; re-run `om-runbook rollback`")
        return
    run.report.phases["rollback"] = outcome.phases["rollback"]
    run.report.status = "rolled_back" if outcome.status == "rolled_back" else "rollback_incomplete"
    run.report.messages += outcome.messages
    if outcome.status == "rolled_back":
        restored = outcome.kpis.keys_migrated
        run.evidence["rollback_result"] = f"rolled back: {restored:,} keys restored and verified against the backup"


def post_migration(run: ChecklistRun) -> None:
    settings = run.settings
    METER.enter("post-migration checks")
    system = run.report.system
    with run.clock.phase("post_migration") as details:
        after, app_after = latency_task(settings.redis_url, system.app_read)
        impact = performance_impact(system.baseline_latency or after, after)
        app_impact = (
            performance_impact(system.baseline_app_latency, app_after)
            if app_after and system.baseline_app_latency
            else None
        )
        clear_progress_task(settings.backup_dir)
        details.update(
            {
                "latency_after": after.model_dump(),
                "impact_after": impact,
                "app_latency_after": app_after.model_dump() if app_after else None,
                "app_impact_after": app_impact,
                "redis_settings_changed": [],
                "progress_state": "migrate checkpoints cleared",
            }
        )
    if app_impact is not None and system.app_read is not None and app_after is not None:
        text, within = after_the_run(
            f"median {system.app_read.command} of a model key", system.baseline_app_latency, app_after
        )
    else:
        text, within = after_the_run("median PING", system.baseline_latency, after)
    if within:
        run.evidence["performance_after"] = text
    else:
        run.report.messages.append(f"performance after the run: {text}")
    run.evidence["config_restored"] = "the run changes no Redis setting (no CONFIG SET)"
    run.evidence["progress_cleared"] = "migrate checkpoints cleared"
    run.evidence["archive"] = f"report and checklist in {settings.backup_dir / 'archive'}"


@flow(name="om-datetime-migration")
@with_heartbeat
def migration_flow(settings: RunSettings) -> RunReport:
    """The deployment checklist, from assessment to final sign-off; the report is always written."""
    require_own_directory(settings.backup_dir)  # before the status file or anything else is written there
    run = ChecklistRun(settings)
    with run.display:
        return _checklist(run, settings)


def _checklist(run: ChecklistRun, settings: RunSettings) -> RunReport:
    report = run.report
    writes_started = False
    if settings.live_traffic:
        run.evidence["traffic_stopped"] = (
            "not needed: --live-traffic (the application keeps writing; catch-up rounds convert what it writes)"
        )
    run.communication.start()
    try:
        assessment, manifest, migratable = pre_migration(run)
        if not run.gate("go-no-go", go_no_go_summary(assessment, manifest, settings)):
            report.status = "not_approved"
            return report
        go_at = time.perf_counter()
        writes_started = True
        results, manifest = migrate(run, manifest, migratable, assessment.server.has_search)
        verification = verify(run, manifest, migratable, assessment.server.has_search)
        eviction_check_task(settings.redis_url, run.evicted_keys_at_start, settings.backup_dir)
        score(run, manifest, results, verification)
        reasons = rollback_reasons(report.kpis, settings.max_error_rate, verification.passed)
        app_check = check_application(run) if not reasons else None
        if app_check is not None and not app_check.passed:
            reasons.append(app_check_rollback_reason(app_check))
        if reasons:
            roll_back(run, reasons)
            return report
        accepted = run.gate("acceptance", acceptance_summary(report, app_check))
        report.system.downtime_seconds = time.perf_counter() - go_at
        if report.system.downtime_seconds < MAX_DOWNTIME_SECONDS:
            run.evidence["downtime"] = f"{human_duration(report.system.downtime_seconds)} from go to acceptance"
        report.kpi_checks = evaluate_kpis(report.kpis, report.system)
        if not accepted:
            roll_back(run, ["acceptance sign-off not given"])
            return report
        post_migration(run)
        final_approved = run.gate("final", final_summary(report))
        noted = [s for s in report.signoffs if s.gate == "final" and (s.issues_encountered or s.lessons_learned)]
        if noted:
            run.evidence["final_notes"] = "in the Final Notes, by " + ", ".join(f"{s.name} ({s.role})" for s in noted)
        if not final_approved:
            if any(s.gate == "final" and s.decision == "reject" for s in report.signoffs):
                roll_back(run, ["final sign-off rejected"])
            else:
                report.status = "not_signed_off"
                report.messages.append("data stays migrated and verified (accepted); the final sign-off is missing")
            return report
        report.status = "succeeded"
        return report
    except (KeysEvicted, LeaseLost) as exc:
        # a lease key gone is first checked against the run's eviction count: an evicted lease is an eviction,
        # also when it happened before the chunk's own guard read its baseline
        evicted = (
            exc
            if isinstance(exc, KeysEvicted)
            else eviction_since(settings.redis_url, run.evicted_keys_at_start, settings.backup_dir)
        )
        if evicted is None:
            report.status = "aborted"
            report.messages.append(str(exc))  # no rollback: another run may be writing
            return report
        report.status = "failed"
        report.messages.append(str(evicted))  # no rollback: its writes could evict more
        run.evidence["rollback_decision"] = "keys evicted: automatic rollback withheld (it could evict more)"
        return report
    except BackupLost as exc:
        report.status = "failed"
        report.messages.append(str(exc))  # no rollback: the originals were in the directory that went away
        run.evidence["rollback_decision"] = "backup directory gone: automatic rollback impossible without it"
        return report
    except RunbookError as exc:
        report.status = "aborted" if isinstance(exc, MigrationAborted) else "failed"
        report.messages.append(str(exc))
        if writes_started:
            roll_back(run, [f"unrecoverable error: {exc}"])
            return report
        raise
    except Exception as exc:
        report.status = "failed"
        secret = url_secrets(settings.redis_url.get_secret_value())
        report.messages.append(redact_text(f"{type(exc).__name__}: {exc}", secret))
        if writes_started:
            roll_back(run, [f"unrecoverable error: {type(exc).__name__}"])
        raise
    finally:
        run.finish()


@flow(name="om-datetime-assessment")
@with_heartbeat
def assessment_flow(settings: RunSettings) -> RunReport:
    """Read-only: what a migration would change, its risks and estimates."""
    report = RunReport(status="running", redis=redact_url(settings.redis_url.get_secret_value()))
    clock = PhaseClock(report)
    try:
        targets = discover_targets(settings.models)
        with clock.phase("assess") as details:
            url, json_prefixes = settings.redis_url.get_secret_value(), key_prefixes(targets, Storage.JSON)
            permissions = permissions_task(
                url,
                key_prefixes(targets, Storage.HASH),
                refuse=False,
                json_prefixes=json_prefixes,
                index_names=schema_index_names(targets, settings.schema_mode),
                alias=settings.schema_mode == "alias",
                snapshot=settings.rdb_snapshot,
            )
            assessment = assess_task(settings, targets)
            details.update(assessment.model_dump(mode="json", exclude={"problems"}))
        report.problems, report.problem_counts = assessment.problems, assessment.problem_counts
        report.kpis.keys_scanned = assessment.keys_scanned
        report.messages += [permissions, *assessment.notes]
        publish_assessment(assessment)
        report.status = "assessed"
        return report
    except RunbookError as exc:
        report.status = "failed"
        report.messages.append(str(exc))
        raise
    finally:
        write_report(settings.report_json, report)
