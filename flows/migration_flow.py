"""The checklist as one flow: pre-migration -> go/no-go -> migration -> verification -> acceptance ->
post-migration -> final sign-off; any rollback criterion met after the first write rolls back exactly."""

from __future__ import annotations

import time
from contextlib import ExitStack

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from om_runbook.flows.artifacts import publish_assessment, publish_backup, publish_checklist, publish_kpis
from om_runbook.flows.evidence import (
    acceptance_summary,
    assessment_evidence,
    backup_evidence,
    final_summary,
    go_no_go_summary,
    verification_evidence,
)
from om_runbook.flows.key_ranges import migrate_key_ranges
from om_runbook.flows.live_display import RunDisplay
from om_runbook.flows.progress import ChunkProgress
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.flows.run_lookup import flow_run_ui_url
from om_runbook.flows.signoff_gates import ask_for_signoffs
from om_runbook.flows.verification import verify_migration
from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.checklist import checklist_markdown
from om_runbook.migrations.codec import ValueClass
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.error_budget import refusal_before_writes, remaining_budget
from om_runbook.migrations.errors import ConfigurationError, LeaseLost, MigrationAborted, RunbookError
from om_runbook.migrations.headroom import headroom_findings
from om_runbook.migrations.kpi_targets import evaluate_kpis, performance_impact, rollback_reasons
from om_runbook.migrations.redaction import redact_text, redact_url, url_password
from om_runbook.migrations.report import PhaseClock, RunReport, merge_problems, migration_kpis
from om_runbook.migrations.run_status import default_resume_command
from om_runbook.migrations.signoff import Gate
from om_runbook.migrations.slots import auto_chunk_count
from om_runbook.migrations.targets import ModelTarget, Storage, discover_targets, key_prefixes
from om_runbook.migrations.throttle import latency_limit_ms, pace_summary, throttled_seconds
from om_runbook.migrations.unfinished_run import UnfinishedRun, earlier_backup_note, unfinished_run_refusal
from om_runbook.tasks.assess import Assessment, assess_task, disk_free, migratable_targets, server_facts_task
from om_runbook.tasks.backup import catch_up_task, clear_progress_task, reusable_backup, snapshot_tools_task
from om_runbook.tasks.backup_files import BackupDirectoryLock, require_complete_manifest
from om_runbook.tasks.chunk_runner import ChunkResult
from om_runbook.tasks.first_scan import assess_and_back_up_task
from om_runbook.tasks.latency_probe import ResourceProbe, latency_task
from om_runbook.tasks.lease import RunLease
from om_runbook.tasks.pacing import PaceController, latency_status_path
from om_runbook.tasks.permissions import permissions_task
from om_runbook.tasks.progress_meter import METER
from om_runbook.tasks.redis_io.redis_connection import database_number
from om_runbook.tasks.report_file import archive_run, write_report
from om_runbook.tasks.run_marker import clear_unfinished_run, mark_unfinished_run, read_unfinished_run
from om_runbook.tasks.schema import schema_task
from om_runbook.tasks.server_facts import ServerFacts, require_writable_primary
from om_runbook.tasks.verify import Verification

MAX_CATCH_UP_ROUNDS = 3


def _unreadable(manifest: BackupManifest) -> int:
    unparseable = sum(c.get(ValueClass.UNPARSEABLE.value, 0) for c in manifest.value_counts.values())
    return unparseable + manifest.problem_counts.get("wrong_type", 0)


def _already_converted(manifest: BackupManifest) -> int:
    return sum(c.get(ValueClass.CONVERTED.value, 0) for c in manifest.value_counts.values())


def _chunk_problem_counts(result: ChunkResult) -> dict[str, int]:
    """Problem counts from a chunk's exact counters (its problem list is capped)."""
    return {
        kind: result.counts.get(counter, 0)
        for kind, counter in (("conflict", "conflict"), ("missing", "missing"), ("write_error", "errors"))
        if result.counts.get(counter, 0)
    }


class ChecklistRun:
    """The state one run accumulates: report, checklist evidence; the phases are its methods."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self.started = time.perf_counter()
        self.report = RunReport(
            status="running", redis=redact_url(settings.redis_url.get_secret_value()), flow_run_id=str(flow_run.id)
        )
        self.clock = PhaseClock(self.report)
        self.evidence: dict[str, str] = {}
        self.logger = get_run_logger()
        self.resources = ExitStack()  # held until the run ends: the lease on the Redis
        self.lease: RunLease | None = None
        self.earlier_run: UnfinishedRun | None = None
        self.display = RunDisplay(
            "migration",
            settings.backup_dir,
            self.report.redis,
            settings.resume_command or default_resume_command("migration", str(settings.backup_dir)),
            str(flow_run.id),
            flow_run_ui_url(),
            self.logger,
        )

    def gate(self, gate: Gate, summary: str) -> bool:
        outcome, signoffs = ask_for_signoffs(gate, summary, self.settings)
        self.report.signoffs += signoffs
        if outcome == "approved":
            self.evidence[f"signoff_{gate}"] = ", ".join(f"{s.role}: {s.name}" for s in signoffs)
            return True
        self.report.messages.append(
            f"sign-off {gate}: {'rejected' if outcome == 'rejected' else 'not answered in time'}"
        )
        return False

    def pre_migration(self) -> tuple[Assessment, BackupManifest, list[ModelTarget]]:
        """Checks, then one scan for the assessment and the backup (the RDB snapshot beside it), then the refusals
        that need the scan's counts; a refusal removes the backup it made. Nothing is written to Redis before the
        lease, which comes after every refusal."""
        settings = self.settings
        url = settings.redis_url.get_secret_value()
        targets = discover_targets(settings.models)
        self.earlier_run = self.check_unfinished_run()
        with self.clock.phase("assess"):
            self.report.messages.append(
                permissions_task(
                    url, key_prefixes(targets, Storage.HASH), json_prefixes=key_prefixes(targets, Storage.JSON)
                )
            )
            facts, keys_in_database = server_facts_task(settings)
            self.refuse_before_scan(facts)
            lease = RunLease(url, "migration")
            lease.refuse_if_held()
            directory = self.resources.enter_context(BackupDirectoryLock(settings.backup_dir))
            existing = reusable_backup(settings)
            if settings.rdb_snapshot and existing is None:
                self.report.messages.append(snapshot_tools_task(settings))
            self.report.system.baseline_latency = latency_task(settings.redis_url)
        try:
            with self.clock.phase("backup") as details:
                if existing is None:
                    chunk_count = settings.chunks or auto_chunk_count(keys_in_database)
                    earlier = self.earlier_run.backup_dir if self.earlier_run else None
                    scan = assess_and_back_up_task(settings, targets, facts, chunk_count, earlier)
                    assessment, manifest = scan.assessment, scan.manifest
                else:
                    self.logger.info("resuming: the backup in %s is complete and is reused", settings.backup_dir)
                    assessment, manifest = assess_task(settings, targets), existing
                details.update(manifest.model_dump(mode="json", exclude={"problems", "targets"}))
            self.report.phases["assess"].details.update(assessment.model_dump(mode="json", exclude={"problems"}))
            self.report.problems, self.report.problem_counts = assessment.problems, assessment.problem_counts
            self.evidence.update(assessment_evidence(assessment, self.report.system.baseline_latency))
            publish_assessment(assessment)
            self.report.messages += assessment.notes
            refusal = refusal_before_writes(assessment.unreadable_values, settings.failure_mode, settings.max_errors)
            if refusal:
                raise MigrationAborted(refusal)
            self.lease = self.resources.enter_context(lease)
        except BaseException:
            if existing is None:
                directory.discard_new_backup()
            raise
        migratable, _skipped = migratable_targets(targets, assessment.server)
        self.evidence.update(backup_evidence(manifest, settings))
        publish_backup(manifest)
        if self.earlier_run is not None:
            self.report.messages.append(earlier_backup_note(self.earlier_run, _already_converted(manifest)))
        return assessment, manifest, migratable

    def refuse_before_scan(self, facts: ServerFacts) -> None:
        """Refusals that need only the server's facts: before the scan, so none of it is wasted."""
        settings = self.settings
        require_writable_primary(facts, self.report.redis)
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
        self.report.messages += warnings
        if refusals:
            raise MigrationAborted("; ".join(refusals))
        self.evidence["resources_available"] = "disk and memory headroom checked"

    def check_unfinished_run(self) -> UnfinishedRun | None:
        """Refuse (before any write) when an unfinished run with another backup directory changed this Redis, unless
        acknowledged; returns that run when acknowledged."""
        settings = self.settings
        marker = read_unfinished_run(settings.redis_url.get_secret_value())
        refusal = unfinished_run_refusal(marker, settings.backup_dir, settings.acknowledge_unfinished_run)
        if refusal:
            raise ConfigurationError(refusal)
        return marker if marker is not None and not marker.is_for(settings.backup_dir) else None

    @property
    def lease_token(self) -> str | None:
        return self.lease.token_text if self.lease is not None else None

    def migrate(
        self, manifest: BackupManifest, migratable: list[ModelTarget], has_search: bool
    ) -> tuple[list[ChunkResult], BackupManifest]:
        settings = self.settings
        mark_unfinished_run(settings.redis_url.get_secret_value(), settings.backup_dir)
        METER.enter("schema step")
        with self.clock.phase("schema") as details:
            if not has_search:
                details["step"] = "schema step skipped: no search module"
            elif settings.schema_mode == "skip":
                details["step"] = "schema step skipped: --schema-mode skip (indexes left as they are)"
            else:
                details["step"] = f"schema step: {settings.schema_mode}"
                details["applied"] = schema_task(settings, migratable, "prepare")
            self.evidence["schema"] = details["step"]
        budget = remaining_budget(_unreadable(manifest), settings.max_errors)
        with self.clock.phase("migrate") as details:
            self.evidence["migration_started"] = "chunk subflows started after the go/no-go sign-off"
            system = self.report.system
            baseline_p99 = system.baseline_latency.p99_ms if system.baseline_latency else 0.0
            system.latency_limit_ms = latency_limit_ms(settings.max_latency_ms, baseline_p99)
            url, status = settings.redis_url.get_secret_value(), latency_status_path(settings.backup_dir)
            with (
                ResourceProbe(url, status=status) as probe,
                PaceController(settings.backup_dir, system.latency_limit_ms) as pacer,
            ):
                with ChunkProgress(settings.backup_dir, manifest.chunks, "migrate"):
                    results = migrate_key_ranges(settings, manifest.chunks, budget, self.lease_token)
                    if settings.live_traffic or any(_chunk_problem_counts(r) for r in results):
                        results, manifest = self.catch_up(manifest, migratable, results, budget)
            details["chunks"] = [r.model_dump(mode="json", exclude={"problems"}) for r in results]
            details["probe_error"] = probe.error
        if has_search and settings.schema_mode == "alias":
            with self.clock.phase("schema_switch") as details:
                details["applied"] = schema_task(settings, migratable, "switch")
        system.pace_events = pacer.events
        system.throttled_seconds = throttled_seconds(pacer.events, pacer.elapsed())
        self.report.messages += pace_summary(system.latency_limit_ms, pacer.events, system.throttled_seconds)
        system.migration_latency, system.memory_peak_share, system.cpu_peak_share = (
            probe.latency(),
            probe.memory_peak,
            probe.cpu_peak,
        )
        self.evidence["progress"] = f"{len(results)} chunks checkpointed per batch, progress artifact updated"
        if probe.memory_peak is not None and probe.cpu_peak is not None:
            self.evidence["resource_usage"] = (
                f"memory peak {100 * probe.memory_peak:.1f}%, Redis CPU peak {100 * probe.cpu_peak:.0f}% of a core"
            )
        return results, manifest

    def catch_up(
        self, manifest: BackupManifest, migratable: list[ModelTarget], results: list[ChunkResult], budget: int | None
    ) -> tuple[list[ChunkResult], BackupManifest]:
        """Legacy values written meanwhile (or re-written after a conflict): backed up, then converted."""
        for _round in range(MAX_CATCH_UP_ROUNDS):
            chunk = catch_up_task(self.settings, migratable, manifest)
            manifest = require_complete_manifest(self.settings.backup_dir)  # the catch-up chunk is recorded there
            if chunk is None:
                break
            results = results + migrate_key_ranges(self.settings, [chunk], budget, self.lease_token)
        return results, manifest

    def verify(self, manifest: BackupManifest, migratable: list[ModelTarget], has_search: bool) -> Verification:
        with self.clock.phase("verify") as details:
            verification = verify_migration(self.settings, manifest, migratable, has_search)
            details.update(verification.model_dump(mode="json", exclude={"problems"}))
        return verification

    def score(self, manifest: BackupManifest, results: list[ChunkResult], verification: Verification) -> None:
        report = self.report
        report.problems, report.problem_counts = merge_problems(
            [manifest.problems, *[r.problems for r in results], verification.problems],
            [manifest.problem_counts, *[_chunk_problem_counts(r) for r in results], verification.problem_counts],
        )
        report.kpis = migration_kpis(
            keys_scanned=manifest.keys_scanned,
            keys_migrated=sum(r.key_count for r in results),
            already_converted=_already_converted(manifest),
            unreadable=_unreadable(manifest),
            chunk_counts=[r.counts for r in results],
            duration_seconds=time.perf_counter() - self.started,
        )
        self.evidence.update(verification_evidence(verification, report.kpis.error_rate))
        report.kpi_checks = evaluate_kpis(report.kpis, report.system)
        if not report.kpis.fields_failed:
            self.evidence["no_critical_errors"] = "no value failed"

    def roll_back(self, reasons: list[str]) -> None:
        """Exact rollback from the logical backup (a subflow); the run ends rolled back or says what is left."""
        settings = self.settings
        self.report.messages += [f"rollback criterion met: {reason}" for reason in reasons]
        self.evidence["rollback_decision"] = "; ".join(reasons) + ": rolled back"
        if not settings.auto_rollback:
            self.report.status = "rollback_needed"
            self.report.messages.append("automatic rollback is off: run `om-runbook rollback` with this --backup-dir")
            return
        self.logger.warning("rolling back: %s", "; ".join(reasons))
        try:
            outcome = rollback_flow(
                settings.redis_url,
                settings.backup_dir,
                settings.parallel,
                settings.batch_size,
                take_lease=False,
                lease_token=self.lease_token,
            )
        except RunbookError as exc:
            self.report.status = "rollback_incomplete"
            self.report.messages.append(f"automatic rollback failed: {exc}; re-run `om-runbook rollback`")
            return
        self.report.phases["rollback"] = outcome.phases["rollback"]
        self.report.status = "rolled_back" if outcome.status == "rolled_back" else "rollback_incomplete"
        self.report.messages += outcome.messages

    def post_migration(self) -> None:
        settings = self.settings
        METER.enter("post-migration checks")
        with self.clock.phase("post_migration") as details:
            after = latency_task(settings.redis_url)
            impact = performance_impact(self.report.system.baseline_latency or after, after)
            clear_progress_task(settings.backup_dir)
            details.update(
                {
                    "latency_after": after.model_dump(),
                    "impact_after": impact,
                    "redis_settings_changed": [],
                    "progress_state": "migrate checkpoints cleared",
                }
            )
        if impact is not None:
            self.evidence["performance_after"] = f"median PING {100 * impact:.1f}% above the baseline after the run"
        self.evidence["config_restored"] = "the run changes no Redis setting (no CONFIG SET)"
        self.evidence["progress_cleared"] = "migrate checkpoints cleared"
        self.evidence["archive"] = f"report and checklist in {settings.backup_dir / 'archive'}"

    def finish(self) -> None:
        report = self.report
        if report.status in ("succeeded", "not_signed_off"):  # migrated and verified: nothing left unfinished
            clear_unfinished_run(self.settings.redis_url.get_secret_value(), self.settings.backup_dir)
        self.resources.close()
        report.kpis.duration_seconds = time.perf_counter() - self.started
        report.kpi_checks = evaluate_kpis(report.kpis, report.system)
        if report.status != "succeeded" and report.messages:
            METER.last_error = report.messages[-1]
        self.display.finish(report.status)
        self.evidence.setdefault("rollback_decision", "no rollback criterion met")
        checklist = checklist_markdown(self.evidence, report.signoffs, report.status)
        try:
            publish_kpis(report.kpi_checks, report.status)
            publish_checklist(checklist)
        finally:
            self.keep_records(checklist)

    def keep_records(self, checklist: str) -> None:
        """Report file and archive; a full disk here is logged, never allowed to hide how the run ended."""
        backup_dir = self.settings.backup_dir
        try:
            write_report(self.settings.report_json, self.report)
            if (backup_dir / "manifest.json").exists():
                archive_run(backup_dir, self.report, checklist)
        except OSError as exc:
            self.logger.error("could not write the run report or archive: %s (the artifacts hold them)", exc)


@flow(name="om-datetime-migration")
def migration_flow(settings: RunSettings) -> RunReport:
    """The deployment checklist, from assessment to final sign-off; the report is always written."""
    run = ChecklistRun(settings)
    with run.display:
        return _checklist(run, settings)


def _checklist(run: ChecklistRun, settings: RunSettings) -> RunReport:
    report = run.report
    writes_started = False
    try:
        assessment, manifest, migratable = run.pre_migration()
        if not run.gate("go-no-go", go_no_go_summary(assessment, manifest, settings)):
            report.status = "not_approved"
            return report
        go_at = time.perf_counter()
        writes_started = True
        results, manifest = run.migrate(manifest, migratable, assessment.server.has_search)
        verification = run.verify(manifest, migratable, assessment.server.has_search)
        run.score(manifest, results, verification)
        reasons = rollback_reasons(report.kpis, settings.max_error_rate, verification.passed)
        if reasons:
            run.roll_back(reasons)
            return report
        accepted = run.gate("acceptance", acceptance_summary(report))
        report.system.downtime_seconds = time.perf_counter() - go_at
        report.kpi_checks = evaluate_kpis(report.kpis, report.system)
        if not accepted:
            run.roll_back(["acceptance sign-off not given"])
            return report
        run.post_migration()
        if not run.gate("final", final_summary(report)):
            if any(s.gate == "final" and s.decision == "reject" for s in report.signoffs):
                run.roll_back(["final sign-off rejected"])
            else:
                report.status = "not_signed_off"
                report.messages.append("data stays migrated and verified (accepted); the final sign-off is missing")
            return report
        report.status = "succeeded"
        return report
    except LeaseLost as exc:
        report.status = "aborted"
        report.messages.append(str(exc))  # no rollback: another run may be writing
        return report
    except RunbookError as exc:
        report.status = "aborted" if isinstance(exc, MigrationAborted) else "failed"
        report.messages.append(str(exc))
        if writes_started:
            run.roll_back([f"unrecoverable error: {exc}"])
            return report
        raise
    except Exception as exc:
        report.status = "failed"
        secret = (url_password(settings.redis_url.get_secret_value()),)
        report.messages.append(redact_text(f"{type(exc).__name__}: {exc}", secret))
        if writes_started:
            run.roll_back([f"unrecoverable error: {type(exc).__name__}"])
        raise
    finally:
        run.finish()


@flow(name="om-datetime-assessment")
def assessment_flow(settings: RunSettings) -> RunReport:
    """Read-only: what a migration would change, its risks and estimates."""
    report = RunReport(status="running", redis=redact_url(settings.redis_url.get_secret_value()))
    clock = PhaseClock(report)
    try:
        targets = discover_targets(settings.models)
        with clock.phase("assess") as details:
            url, json_prefixes = settings.redis_url.get_secret_value(), key_prefixes(targets, Storage.JSON)
            permissions = permissions_task(
                url, key_prefixes(targets, Storage.HASH), refuse=False, json_prefixes=json_prefixes
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
