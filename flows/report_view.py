"""The terminal view of a run report: status, phase durations, KPIs, problem counts (rich + pandas)."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from migrations.report import RunReport


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="right" if frame[column].dtype.kind in "if" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(f"{v:,.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in row)
        )
    return table


def print_report(console: Console, report: RunReport) -> None:
    console.print(f"[bold]status:[/bold] {report.status}   [bold]redis:[/bold] {report.redis}")
    if report.phases:
        phases = pd.DataFrame(
            [{"phase": name, "seconds": phase.duration_seconds} for name, phase in report.phases.items()]
        )
        console.print(_table("phases", phases))
    kpis = pd.DataFrame([{"kpi": name, "value": value} for name, value in report.kpis.model_dump().items()])
    kpis["value"] = kpis["value"].astype(object)
    console.print(_table("KPIs", kpis))
    if report.problem_counts:
        problems = pd.DataFrame([{"problem": k, "count": v} for k, v in sorted(report.problem_counts.items())])
        console.print(_table("problems (details in --report-json)", problems))
    for message in report.messages:
        console.print(f"- {message}")
