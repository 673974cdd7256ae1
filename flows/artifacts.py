"""Run artifacts in the Prefect UI (keys: lowercase letters, digits, dashes); pandas builds the tables."""

from __future__ import annotations

import pandas as pd
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.progress_figures import human_duration
from om_runbook.migrations.report import KpiCheck
from om_runbook.tasks.assess import Assessment

ASSESSMENT_KEY = "migration-assessment"
BACKUP_KEY = "migration-backup-manifest"
KPI_KEY = "migration-kpis"
CHECKLIST_KEY = "migration-checklist"
REPORT_KEY = "migration-report"


def assessment_frame(assessment: Assessment) -> pd.DataFrame:
    rows = [
        {"model field": field, "value class": value_class, "values": count}
        for field, classes in sorted(assessment.value_counts.items())
        for value_class, count in sorted(classes.items())
    ]
    return pd.DataFrame(rows, columns=["model field", "value class", "values"], dtype=object)


def kpi_frame(checks: list[KpiCheck]) -> pd.DataFrame:
    rows = [
        {"kpi": c.name, "value": c.value, "target": c.target, "met": {True: "met", False: "NOT MET"}.get(c.met, "-")}
        for c in checks
    ]
    return pd.DataFrame(rows, columns=["kpi", "value", "target", "met"], dtype=object)


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def publish_assessment(assessment: Assessment) -> None:
    server = assessment.server
    create_table_artifact(
        assessment_frame(assessment).to_dict("records"),
        key=ASSESSMENT_KEY,
        description=(
            f"Redis {server.redis_version} ({server.role}), {assessment.keys_scanned:,} keys scanned, "
            f"{assessment.fields_to_change:,} fields to convert, {assessment.unreadable_values:,} unreadable, "
            f"estimated duration {human_duration(assessment.estimated_seconds)}"
        ),
    )


def backup_markdown(manifest: BackupManifest) -> str:
    snapshot = manifest.snapshot
    lines = [
        f"# Backup of {manifest.redis}",
        "",
        f"- created {manifest.created_at}; models `{manifest.models}`; naive timezone `{manifest.naive_timezone}`",
        f"- logical backup: {manifest.fields_changed:,} fields of {manifest.keys_changed:,} keys "
        f"in {len(manifest.chunks)} chunk files",
    ]
    if snapshot is not None:
        lines.append(
            f"- RDB snapshot: {snapshot.note}"
            + (f"; sha256 {snapshot.digests}, {snapshot.size_bytes:,} bytes" if snapshot.taken else "")
        )
    frame = pd.DataFrame(
        [
            {"chunk": c.index, "slots": f"{c.first_slot}-{c.last_slot}", "keys": c.key_count, "sha256": c.sha256}
            for c in manifest.chunks
        ],
        dtype=object,
    )
    return "\n".join([*lines, "", _markdown_table(frame), ""])


def publish_backup(manifest: BackupManifest) -> None:
    create_markdown_artifact(backup_markdown(manifest), key=BACKUP_KEY, description="backup manifest and checksums")


def _markdown_cell(value: object) -> object:
    """The Prefect UI renders a table artifact's cells as markdown: a leading '>' (the target "> 99%") would be a
    block quote."""
    return "\\" + value if isinstance(value, str) and value.startswith(">") else value


def publish_kpis(checks: list[KpiCheck], status: str) -> None:
    records = kpi_frame(checks).to_dict("records")
    rows = [{name: _markdown_cell(value) for name, value in row.items()} for row in records]
    create_table_artifact(rows, key=KPI_KEY, description=f"checklist KPIs against targets (run {status})")


def publish_checklist(markdown: str) -> None:
    create_markdown_artifact(markdown, key=CHECKLIST_KEY, description="the deployment checklist as this run proved it")


def publish_migration_report(markdown: str) -> None:
    create_markdown_artifact(
        markdown, key=REPORT_KEY, description="headline numbers, the run over time, the HTML report"
    )
