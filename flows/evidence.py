"""One-line evidence for each checklist item a run proves, and the markdown shown at each sign-off."""

from __future__ import annotations

from om_runbook.migrations.app_check import AppCheckResult, app_check_markdown
from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.kpi_targets import NOISE_FLOOR_MS, kpi_lines, within_target
from om_runbook.migrations.progress_figures import human_duration
from om_runbook.migrations.recovery_time import RecoveryEstimate, estimate_before_migration, rto_evidence
from om_runbook.migrations.report import AppRead, LatencySummary, RunReport
from om_runbook.migrations.verification import Verification
from om_runbook.tasks.assess import Assessment


def _mb(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 1e6:,.1f} MB"


def assessment_evidence(
    assessment: Assessment, baseline: LatencySummary, app_read: AppRead | None = None, app: LatencySummary | None = None
) -> dict[str, str]:
    server = assessment.server
    memory = f"used_memory {_mb(server.used_memory)}" + (
        f" of maxmemory {_mb(server.maxmemory)}" if server.maxmemory else " (no maxmemory set)"
    )
    return {
        "targets": ", ".join(f"{t.name} ({', '.join(t.fields)})" for t in assessment.targets),
        "estimate": f"{human_duration(assessment.estimated_seconds)}, from {assessment.read_keys_per_second:,.0f} "
        "keys/s measured while assessing",
        "resources": f"logical backup {_mb(assessment.logical_backup_bytes)}, RDB about "
        f"{_mb(assessment.rdb_snapshot_bytes_estimate)}, disk free {_mb(assessment.backup_disk_free_bytes)}",
        "data_quality": f"{assessment.unreadable_values:,} unreadable values, problems "
        f"{assessment.problem_counts or 'none'}",
        "memory": memory,
        "persistence": server.persistence_text,
        "health": f"Redis {server.redis_version}, role {server.role}, {server.total_keys:,} keys, "
        f"{f'cluster of {server.masters} masters' if server.cluster_enabled else 'single server'}",
        "monitoring": "the run's own probe (PING and the application's read, memory and Redis CPU, in its own "
        "process) and the migration-progress artifact; `om-runbook status` from any terminal",
        "baseline_latency": f"PING p50 {baseline.p50_ms:.3f} ms, p99 {baseline.p99_ms:.3f} ms "
        f"({baseline.samples} samples)"
        + (
            f"; the application's read ({app_read.describe()}) p50 {app.p50_ms:.3f} ms, p99 {app.p99_ms:.3f} ms"
            if app_read is not None and app is not None
            else "; no model key to time the application's read on"
        ),
    }


def backup_evidence(manifest: BackupManifest, settings: RunSettings) -> dict[str, str]:
    evidence = {
        "logical_backup": f"{manifest.fields_changed:,} fields of {manifest.keys_changed:,} keys in "
        f"{len(manifest.chunks)} chunk files with sha256 in the manifest",
        "backup_location": f"{settings.backup_dir} written and fsynced",
        "rollback_ready": "exact rollback from the logical backup (compare-and-set), RDB restore as the manual path",
        "bulk_settings": f"pipelined batches of {settings.batch_size:,} keys, {settings.parallel} chunks at a time, "
        "each chunk on its own connection; no Redis setting changed (no CONFIG SET)",
        "error_strategy": f"failure mode {settings.failure_mode}, max errors {settings.max_errors}, "
        f"roll back above {100 * settings.max_error_rate:g}% errors",
    }
    snapshot = manifest.snapshot
    if snapshot is not None and snapshot.taken:
        evidence["rdb_backup"] = f"{snapshot.size_bytes:,} bytes, sha256 {snapshot.digests}, redis-check-rdb passed"
    elif snapshot is not None and snapshot.provider_reference:
        evidence["rdb_backup"] = f"{snapshot.note} (given with --snapshot-reference; om-runbook cannot read it)"
    if snapshot is not None and snapshot.restore_tested:
        evidence["restore_test"] = (
            f"loaded into a throwaway redis-server: {snapshot.restored_keys:,} of {snapshot.source_keys:,} keys, "
            f"{snapshot.sample_keys_equal}/{snapshot.sample_keys_compared} sampled keys equal"
        )
    return evidence


def library_versions() -> dict[str, str]:
    """The redis-om and pydantic this process imported the application's models with."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("redis-om", "pydantic"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def upgrade_evidence(versions: dict[str, str], models: list[str], verification: Verification) -> str | None:
    """The checklist's "Upgraded to Redis OM Python 1.0+": the versions the models were imported with, and every
    model loading its migrated records under them (the Model.get() sample); None while that is not shown."""
    redis_om = versions.get("redis-om", "")
    if not redis_om[:1].isdigit() or int(redis_om.split(".")[0]) < 1 or not verification.passed:
        return None
    if not verification.sample_loaded or verification.sample_equal != verification.sample_loaded:
        return None
    return (
        f"the models ({', '.join(models)}) imported with redis-om {redis_om} and pydantic {versions.get('pydantic')}; "
        f"{verification.sample_equal}/{verification.sample_loaded} migrated records load equal through Model.get()"
    )


def verification_evidence(verification: Verification, kpis_error_rate: float) -> dict[str, str]:
    evidence = {"error_rate": f"{100 * kpis_error_rate:.3f}%"}
    if verification.passed:
        evidence["integrity"] = (
            f"{verification.keys_checked:,} keys: every changed field equals its expected conversion, other "
            f"fields unchanged (digest), {verification.legacy_left or 0} legacy values left (all reported)"
        )
        evidence["sample"] = (
            f"{verification.sample_equal}/{verification.sample_loaded} keys equal via Model.get() "
            f"({verification.sample_connection or 'no sample'})"
        )
    if verification.index_checks and not verification.index_shortfall:
        evidence["index_visibility"] = "; ".join(verification.index_checks)
    if verification.search_checks.startswith("passed"):
        evidence["range_queries"] = verification.search_checks
    return evidence


def recovery_before_migration(assessment: Assessment, manifest: BackupManifest) -> RecoveryEstimate:
    return estimate_before_migration(
        assessment.keys_to_change, assessment.read_keys_per_second, manifest.snapshot, assessment.keys_scanned
    )


def go_no_go_summary(assessment: Assessment, manifest: BackupManifest, settings: RunSettings) -> str:
    snapshot = manifest.snapshot
    rdb = f"sha256 {snapshot.digests}" if snapshot is not None and snapshot.taken else "none"
    if snapshot is not None and snapshot.provider_reference:
        rdb = snapshot.note
    return "\n".join(
        [
            "Approve to start writing. Nothing has been changed yet.",
            "",
            f"- Redis: {assessment.redis} (Redis {assessment.server.redis_version}, {assessment.server.role})",
            f"- keys scanned: {assessment.keys_scanned:,}; fields to convert: {assessment.fields_to_change:,}; "
            f"unreadable values (left unchanged): {assessment.unreadable_values:,}",
            f"- estimated duration: {human_duration(assessment.estimated_seconds)}",
            f"- naive datetimes are read in **{settings.naive_timezone}**",
            f"- RDB snapshot: {rdb}",
            f"- logical backup: {manifest.fields_changed:,} fields in {len(manifest.chunks)} chunks",
            *chunk_checksum_lines(manifest),
            f"- recovery time (RTO): {rto_evidence(recovery_before_migration(assessment, manifest))}",
        ]
    )


def chunk_checksum_lines(manifest: BackupManifest, shown: int = 8) -> list[str]:
    """The backup files' sha256, for the DBA to compare with `sha256sum` (the first `shown`; all in the artifact)."""
    chunks = [chunk for chunk in manifest.chunks if chunk.key_count]
    lines = [f"  - {c.file}: {c.key_count:,} keys, {c.fields:,} fields, sha256 {c.sha256}" for c in chunks[:shown]]
    if len(chunks) > shown:
        lines.append(f"  - and {len(chunks) - shown} more chunks (sha256 of each in the backup manifest artifact)")
    return lines


def acceptance_summary(report: RunReport, app_check: AppCheckResult | None = None) -> str:
    verify = report.phases.get("verify")
    details = verify.details if verify else {}
    application = app_check_markdown(app_check) if app_check is not None else ["- application check: none given"]
    return "\n".join(
        [
            "Approve to keep the migrated data. **Reject rolls every changed field back exactly.**",
            "",
            f"- keys migrated: {report.kpis.keys_migrated:,}; fields converted: {report.kpis.fields_converted:,}; "
            f"failed (left unchanged): {report.kpis.fields_failed:,}; conflicts: {report.kpis.conflicts:,}",
            f"- verification passed: {details.get('passed')}; keys checked: {details.get('keys_checked')}; "
            f"legacy values left: {details.get('legacy_left')}; Model.get sample: "
            f"{details.get('sample_equal')}/{details.get('sample_loaded')} ({details.get('sample_connection')})",
            f"- search checks: {details.get('search_checks') or 'n/a'}",
            *[f"- queries see: {line}" for line in details.get("index_checks") or []],
            *application,
            "",
            "KPIs against their targets:",
            *kpi_lines(report.kpi_checks),
        ]
    )


def final_summary(report: RunReport) -> str:
    return "\n".join(
        [
            "Final sign-off. Fill in issues encountered, lessons learned and recommendations.",
            "",
            "KPIs against their targets:",
            *kpi_lines(report.kpi_checks),
        ]
    )


def after_the_run(what: str, before: LatencySummary | None, after: LatencySummary) -> tuple[str, bool]:
    """The checklist's "Performance within acceptable limits": the median before and after and the verdict against
    the 10% target with its noise floor; whether it is within."""
    if before is None or not before.samples or not after.samples:
        return f"{what}: not measured", False
    _impact, rise, met, within_noise = within_target(before, after)
    verdict = (
        f"under the {NOISE_FLOOR_MS:g} ms noise floor"
        if within_noise
        else "within the 10% target"
        if met
        else "ABOVE the 10% target"
    )
    text = f"{what} {before.p50_ms:.3f} ms before, {after.p50_ms:.3f} ms after the run ({rise:+.3f} ms): {verdict}"
    return text, met
