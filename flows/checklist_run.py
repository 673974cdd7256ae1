"""The state one checklist run accumulates (settings, report, checklist evidence, the lease held, the live display),
its sign-off gates, and how it ends: the report, artifacts and archive always written."""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from prefect import get_run_logger
from prefect.runtime import flow_run

from om_runbook.flows.artifacts import publish_checklist, publish_kpis, publish_migration_report
from om_runbook.flows.communication import Communication
from om_runbook.flows.live_display import RunDisplay
from om_runbook.flows.run_lookup import flow_run_ui_url
from om_runbook.flows.signoff_gates import ask_for_signoffs
from om_runbook.migrations.checklist import checklist_markdown
from om_runbook.migrations.communication import contact_line
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.kpi_targets import evaluate_kpis
from om_runbook.migrations.recovery_time import RecoveryEstimate, estimate_after_migration, rto_evidence, rto_kpis
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.report import PhaseClock, RunReport, recorded_snapshot
from om_runbook.migrations.report_markdown import migration_report_markdown
from om_runbook.migrations.run_status import default_resume_command
from om_runbook.migrations.signoff import Gate
from om_runbook.migrations.unfinished_run import UnfinishedRun
from om_runbook.tasks.backup_store.html_report import run_charts
from om_runbook.tasks.backup_store.report import REPORT_WRITE_ERRORS, archive_run, write_report
from om_runbook.tasks.guards.latency_probe import start_probe_process, stop_unused_probe_process
from om_runbook.tasks.guards.lease import RunLease
from om_runbook.tasks.guards.unfinished_run import clear_unfinished_run
from om_runbook.tasks.io.progress_meter import METER


class ChecklistRun:
    """The state one run accumulates: report, checklist evidence, the lease; the phases are functions taking it."""

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
        self.probe_process: subprocess.Popen[str] | None = None  # started ahead: warm when the chunks start
        self.resources.callback(self._stop_unused_probe_process)
        self.lease: RunLease | None = None
        self.earlier_run: UnfinishedRun | None = None
        self.evicted_keys_at_start = 0  # INFO stats evicted_keys when the run read the server's facts
        self.display = RunDisplay(
            "migration",
            settings.backup_dir,
            self.report.redis,
            settings.resume_command or default_resume_command("migration", str(settings.backup_dir)),
            str(flow_run.id),
            flow_run_ui_url(),
            self.logger,
        )
        self.display.status.contacts = [contact_line(contact) for contact in settings.contacts]
        self.communication = Communication(settings, flow_run_ui_url(), self.logger)
        self.display.on_progress = self.communication.progress_due

    def start_probe_process(self) -> None:
        """The migration's resource probe, started now so that its start-up is over when the chunks start."""
        if self.probe_process is None:
            self.probe_process = start_probe_process()

    def take_probe_process(self) -> subprocess.Popen[str] | None:
        process, self.probe_process = self.probe_process, None
        return process

    def _stop_unused_probe_process(self) -> None:
        process = self.take_probe_process()
        if process is not None:
            stop_unused_probe_process(process)

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

    @property
    def lease_token(self) -> str | None:
        return self.lease.token_text if self.lease is not None else None

    def finish(self) -> None:
        report = self.report
        if report.status in ("succeeded", "not_signed_off"):  # migrated and verified: nothing left unfinished
            clear_unfinished_run(self.settings.redis_url.get_secret_value(), self.settings.backup_dir)
        self.resources.close()
        report.kpis.duration_seconds = time.perf_counter() - self.started
        report.kpi_checks = evaluate_kpis(report.kpis, report.system)
        recovery = self.recovery_after_migration()
        if recovery is not None:
            report.kpi_checks += rto_kpis(recovery)
            self.evidence["rto"] = rto_evidence(recovery)
        if report.status != "succeeded" and report.messages:
            METER.last_error = report.messages[-1]
        self.display.finish(report.status)
        self.evidence.setdefault("rollback_decision", "no rollback criterion met")
        if report.status in ("succeeded", "not_signed_off"):
            self.evidence.setdefault("rollback_result", "not needed: no rollback criterion met")
        elif report.status == "not_approved" and "migrate" not in report.phases:
            self.evidence.setdefault("rollback_result", "not needed: nothing was written (not approved)")
        self.communication.end(report)
        self.evidence.update(self.communication.evidence())
        checklist = checklist_markdown(
            self.evidence,
            report.signoffs,
            report.status,
            self.settings.contacts,
            report.kpi_checks,
            datetime.now(timezone.utc),
        )
        try:
            publish_kpis(report.kpi_checks, report.status)
            publish_checklist(checklist)
        finally:
            html_report = self.keep_records(checklist)
        charts = run_charts(self.settings.backup_dir, report)
        publish_migration_report(migration_report_markdown(report, charts, html_report))

    def recovery_after_migration(self) -> RecoveryEstimate | None:
        """The RTO from this run's own figures, once its migrate and verify phases ran (else the go/no-go's stands)."""
        phases = self.report.phases
        if "migrate" not in phases or "verify" not in phases:
            return None
        return estimate_after_migration(
            phases["migrate"].duration_seconds,
            phases["verify"].duration_seconds,
            recorded_snapshot(self.report),
            self.report.kpis.keys_scanned,
        )

    def keep_records(self, checklist: str) -> Path | None:
        """Report file and archive, the HTML report's path; a full disk here is logged, never allowed to hide how
        the run ended."""
        backup_dir = self.settings.backup_dir
        try:
            write_report(self.settings.report_json, self.report)
            if (backup_dir / "manifest.json").exists():
                return archive_run(backup_dir, self.report, checklist, "run-report")
        except REPORT_WRITE_ERRORS as exc:
            self.logger.error("could not write the run report or archive: %s (the artifacts hold them)", exc)
        return None
