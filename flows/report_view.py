"""The terminal view of a run: status, phase durations, KPIs against targets, sign-offs, problems (rich +
pandas), and the rehearsal's verdict."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.table import Table

from om_runbook.flows.artifacts import kpi_frame
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.snapshot_restore import SnapshotRestoreReport

if TYPE_CHECKING:
    from om_runbook.flows.rehearsal_flow import RehearsalReport


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def print_report(console: Console, report: RunReport) -> None:
    console.print(f"[bold]status:[/bold] {report.status}   [bold]redis:[/bold] {report.redis}")
    if report.flow_run_id:
        console.print(f"[bold]flow run:[/bold] {report.flow_run_id}")
    if report.phases:
        rows = [{"phase": name, "seconds": round(p.duration_seconds, 3)} for name, p in report.phases.items()]
        console.print(_table("phases", pd.DataFrame(rows, dtype=object)))
    kpis = pd.DataFrame([{"kpi": k, "value": v} for k, v in report.kpis.model_dump().items()], dtype=object)
    console.print(_table("KPIs", kpis))
    if report.kpi_checks:
        console.print(_table("checklist KPIs against targets", kpi_frame(report.kpi_checks)))
    if report.signoffs:
        rows = [{"gate": s.gate, "role": s.role, "name": s.name, "decision": s.decision} for s in report.signoffs]
        console.print(_table("sign-offs", pd.DataFrame(rows, dtype=object)))
    if report.problem_counts:
        rows = [{"problem": k, "count": v} for k, v in sorted(report.problem_counts.items())]
        console.print(_table("problems (details in --report-json)", pd.DataFrame(rows, dtype=object)))
    for message in report.messages:
        console.print(f"- {message}")


def print_rehearsal(console: Console, result: RehearsalReport) -> None:
    rows = [{"success criterion": name, "met": "yes" if met else "NO"} for name, met in result.criteria.items()]
    console.print(_table("rehearsal", pd.DataFrame(rows, dtype=object)))
    diff = result.rollback_diff
    if diff is not None:
        console.print(
            f"after rollback: {diff.keys_after:,} keys vs {diff.keys_before:,} before; "
            f"{diff.changed} changed, {diff.missing} missing, {diff.added} added"
        )
        for example in diff.examples:
            console.print(f"  {example}")
    restored = result.restore_diff
    if restored is not None:
        console.print(
            f"after the snapshot restore: {restored.keys_after:,} keys vs {restored.keys_before:,} before; "
            f"{restored.changed} changed, {restored.missing} missing, {restored.added} added"
        )
    console.print(f"migrate phase: {result.migrate_keys_per_second:,.0f} keys/s")
    for line in recovery_lines(result):
        console.print(line)
    console.print("[bold green]REHEARSAL PASSED[/]" if result.passed else "[bold red]REHEARSAL FAILED[/]")


def recovery_lines(result: RehearsalReport) -> list[str]:
    """The ways back as the rehearsal timed them (the RTO a production run can expect, scaled by its key count)."""
    lines = []
    if result.rollback is not None and result.rollback_seconds is not None:
        keys = result.rollback.kpis.keys_migrated
        lines.append(f"measured rollback: {result.rollback_seconds:.2f} s for {keys:,} keys")
    restore = result.restore
    if restore is not None and result.restore_seconds is not None:
        lines.append(
            f"measured snapshot restore: {result.restore_seconds:.2f} s for {restore.written:,} keys (load "
            f"{restore.load_seconds:.2f} s, compare and write {restore.compare_seconds:.2f} s, check "
            f"{restore.verify_seconds:.2f} s)"
        )
    return lines


def rehearsal_json(result: RehearsalReport) -> str:
    """The migration's report (status, phases, kpis, ...) with the rollback phase and the verdict added."""
    document = result.migration.model_dump(mode="json")
    if result.rollback is not None:
        document["phases"].update(result.rollback.model_dump(mode="json")["phases"])
    document["rehearsal"] = result.model_dump(mode="json", exclude={"migration"})
    return json.dumps(document, indent=2)


def print_restore(console: Console, report: SnapshotRestoreReport) -> None:
    """restore-snapshot's answer: what differs from the snapshot, what was written, and the check after it."""
    style = {"dry_run": "yellow", "restored": "green"}.get(report.status, "red")
    console.print(
        f"[bold {style}]restore-snapshot: {report.status}[/] ({report.redis}, {report.duration_seconds:.2f} s)"
    )
    if report.other_target:
        console.print("[bold red]  the target was named with --target-url: not checked against the backup's server[/]")
    selection = ", ".join(f"{prefix}*" for prefix in report.selection) if report.selection != [""] else "every key"
    console.print(
        f"  snapshot: {', '.join(report.snapshot_files)} (loaded in {report.load_seconds:.2f} s); {selection}"
    )
    if report.before is not None:
        heading = "before writing" if report.after is not None else "dry run, nothing written"
        console.print(f"  compared with the snapshot ({heading}, {report.compare_seconds:.2f} s):")
        for line in report.before.lines():
            console.print(f"    {line}", markup=False, highlight=False)
    for line in report.indexes:
        console.print(f"  {line}", markup=False)
    if report.after is not None:
        console.print(f"  written: {report.written:,} keys; deleted: {report.deleted:,}")
        console.print(f"  checked after writing ({report.verify_seconds:.2f} s):")
        for line in report.after.lines():
            console.print(f"    {line}", markup=False, highlight=False)
    for message in report.messages:
        console.print(f"  {message}", markup=False)
