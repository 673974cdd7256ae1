"""Rollback and stand-alone verification, from a backup directory alone."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import SecretStr

from om_runbook.flows.artifacts import publish_migration_report
from om_runbook.flows.heartbeat import with_heartbeat
from om_runbook.flows.key_ranges import rollback_key_ranges
from om_runbook.flows.live_display import RunDisplay
from om_runbook.flows.progress import ChunkProgress
from om_runbook.flows.run_lookup import flow_run_ui_url
from om_runbook.flows.verification import check_chunks, verify_migration
from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.config import build_settings
from om_runbook.migrations.errors import RunbookError
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.report import PhaseClock, RunReport, migration_kpis
from om_runbook.migrations.report_markdown import migration_report_markdown
from om_runbook.migrations.run_status import default_resume_command
from om_runbook.migrations.server_facts import require_writable_primary
from om_runbook.migrations.targets import Storage, discover_targets, key_prefixes
from om_runbook.migrations.verification import nothing_found_refusal, summarize
from om_runbook.tasks.backup_store.backup_format import (
    check_chunk_files,
    clear_checkpoints,
    require_complete_manifest,
    save_manifest,
)
from om_runbook.tasks.backup_store.html_report import run_charts
from om_runbook.tasks.backup_store.report import REPORT_WRITE_ERRORS, archive_run, write_report
from om_runbook.tasks.guards.lease import RunLease
from om_runbook.tasks.guards.permissions import permissions_task
from om_runbook.tasks.guards.throttle import PaceController
from om_runbook.tasks.guards.unfinished_run import clear_unfinished_run
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import open_nodes
from om_runbook.tasks.readers.server_facts import read_nodes_facts, require_same_server
from om_runbook.tasks.schema import load_previous_indexes, previous_path, schema_rollback_task


@flow(name="om-datetime-rollback")
@with_heartbeat
def rollback_flow(
    redis_url: SecretStr,
    backup_dir: Path,
    parallel: int = 2,
    batch_size: int = 1000,
    report_json: Path | None = None,
    take_lease: bool = True,
    lease_token: str | None = None,
    resume_command: str = "",
    other_server: bool = False,
) -> RunReport:
    """Put back every original value still holding what we wrote, then check every restored field. A server other
    than the backup's is refused unless `other_server`."""
    report = RunReport(status="running", redis=redact_url(redis_url.get_secret_value()))
    display = RunDisplay(
        "rollback",
        backup_dir,
        report.redis,
        resume_command or default_resume_command("rollback", str(backup_dir)),
        str(flow_run.id),
        flow_run_ui_url(),
        get_run_logger(),
    )
    with display:
        try:
            return _rollback(
                report, redis_url, backup_dir, parallel, batch_size, report_json, take_lease, lease_token, other_server
            )
        finally:
            display.finish(report.status)
            _archive(backup_dir, report)


def _archive(backup_dir: Path, report: RunReport) -> None:
    """The rollback's report with charts in the archive and as the `migration-report` artifact; never in the way of
    how the rollback ended."""
    html_report = None
    try:
        if (backup_dir / "manifest.json").exists():
            html_report = archive_run(backup_dir, report, None, "rollback-report")
    except REPORT_WRITE_ERRORS as exc:
        get_run_logger().error("could not write the rollback's archive: %s", exc)
    publish_migration_report(migration_report_markdown(report, run_charts(backup_dir, report), html_report))


def _rollback(
    report: RunReport,
    redis_url: SecretStr,
    backup_dir: Path,
    parallel: int,
    batch_size: int,
    report_json: Path | None,
    take_lease: bool,
    lease_token: str | None,
    other_server: bool,
) -> RunReport:
    started = time.perf_counter()
    url = redis_url.get_secret_value()
    clock = PhaseClock(report)
    try:
        manifest = require_complete_manifest(backup_dir)
        check_chunk_files(backup_dir, manifest)
        nodes = open_nodes(url)
        require_same_server(nodes, manifest.server, str(backup_dir), other_server)
        facts = read_nodes_facts(nodes)
        require_writable_primary(facts, report.redis)
        json_prefixes = key_prefixes(manifest.targets, Storage.JSON)
        report.messages.append(
            permissions_task(
                url,
                key_prefixes(manifest.targets, Storage.HASH),
                json_prefixes=json_prefixes,
                index_names=_indexes_to_restore(backup_dir),
            )
        )
        chunks = [chunk for chunk in manifest.chunks if chunk.key_count]
        lease = RunLease(url, "rollback") if take_lease else nullcontext()
        with lease as held, clock.phase("rollback") as details:
            token = held.token_text if held is not None else lease_token
            # Every rollback replays every chunk from its first line: what an earlier rollback did may have been
            # undone since (a migrate resumed), and the compare-and-set skips what is already back. Only under the
            # lease: a second rollback refused by it must not touch the first one's checkpoints.
            clear_checkpoints(backup_dir, "rollback")
            with ChunkProgress(backup_dir, chunks, "rollback"), PaceController(backup_dir, None) as pacer:
                results = rollback_key_ranges(redis_url, backup_dir, chunks, batch_size, parallel, token)
            details["pace_events"] = [event.model_dump(mode="json") for event in pacer.events]
            check_started = time.perf_counter()
            METER.begin("rollback: check restored values", sum(chunk.key_count for chunk in chunks))
            checks = check_chunks(redis_url, backup_dir, chunks, "original", batch_size)
            verification = summarize(checks, "original", time.perf_counter() - check_started)
            details["chunks"] = [r.model_dump(mode="json", exclude={"problems"}) for r in results]
            details["check"] = verification.model_dump(mode="json", exclude={"problems"})
        report.kpis = migration_kpis(
            keys_scanned=sum(c.key_count for c in chunks),
            keys_migrated=sum(r.key_count for r in results),
            already_converted=0,
            unreadable=0,
            chunk_counts=[r.counts for r in results],
            duration_seconds=time.perf_counter() - started,
        )
        report.problems = [p for r in results for p in r.problems] + verification.problems
        report.problem_counts = verification.problem_counts
        refusal = nothing_found_refusal([r.counts for r in results], backup_dir)
        if refusal:
            report.status = "rollback_incomplete"
            report.messages.append(refusal)
            return report
        if verification.passed:
            if facts.has_search and previous_path(backup_dir).exists():
                report.messages += schema_rollback_task(url, backup_dir)
            report.messages += record_rolled_back(url, backup_dir, manifest)
            report.status = "rolled_back"
        else:
            report.status = "rollback_incomplete"
            report.messages.append("some fields do not hold their original bytes: see phases.rollback.details.check")
        return report
    except RunbookError as exc:
        report.status = "failed"
        report.messages.append(str(exc))
        METER.last_error = str(exc)
        raise
    finally:
        report.kpis.duration_seconds = time.perf_counter() - started
        try:
            write_report(report_json, report)
        except OSError as exc:
            get_run_logger().error("could not write the rollback report %s: %s", report_json, exc)


def record_rolled_back(url: str, backup_dir: Path, manifest: BackupManifest) -> list[str]:
    """Every migrated field holds its original again: the manifest says so, the migrate progress and the unfinished-run
    marker go. A full disk must not turn that into a failure: it is said instead (the messages returned)."""
    manifest.status = "rolled_back"
    messages = []
    try:
        save_manifest(backup_dir, manifest)
    except OSError as exc:
        messages.append(
            f"every field is back, but the manifest in {backup_dir} could not be marked rolled back "
            f"({exc.strerror or exc}); a later rollback from it finds nothing left to do"
        )
    clear_checkpoints(backup_dir, "migrate")
    clear_unfinished_run(url, backup_dir)
    return messages


def _indexes_to_restore(backup_dir: Path) -> list[str]:
    """The indexes the schema step replaced, which the rollback puts back."""
    return [previous.index_name for previous in load_previous_indexes(backup_dir) or []]


@flow(name="om-datetime-verification")
@with_heartbeat
def verification_flow(
    redis_url: SecretStr, backup_dir: Path, report_json: Path | None = None, other_server: bool = False
) -> RunReport:
    """Read-only: the migration recorded in `backup_dir` against the server, as in the run's verify phase."""
    url = redis_url.get_secret_value()
    report = RunReport(status="running", redis=redact_url(url))
    clock = PhaseClock(report)
    try:
        manifest = require_complete_manifest(backup_dir)
        check_chunk_files(backup_dir, manifest)
        nodes = open_nodes(url)
        require_same_server(nodes, manifest.server, str(backup_dir), other_server)
        settings = build_settings(
            redis_url=redis_url,
            models=manifest.models,
            naive_timezone=manifest.naive_timezone,
            backup_dir=backup_dir,
            chunks=len(manifest.chunks),
        )
        targets = [t for t in discover_targets(manifest.models) if t.name in {i.name for i in manifest.targets}]
        facts = read_nodes_facts(nodes)
        with clock.phase("verify") as details:
            # any time after the run, the application may have written: the full rescan for legacy values
            verification = verify_migration(settings, manifest, targets, facts.has_search, rescan=True)
            details.update(verification.model_dump(mode="json", exclude={"problems"}))
        report.problems, report.problem_counts = verification.problems, verification.problem_counts
        report.status = "verified" if verification.passed else "verification_failed"
        return report
    except RunbookError as exc:
        report.status = "failed"
        report.messages.append(str(exc))
        raise
    finally:
        write_report(report_json, report)
