"""The `migration-report` artifact (pure): the run's headline numbers, text sparklines of its charts (the Prefect
UI's markdown shows them as they are) and where the HTML report with the full charts is."""

from __future__ import annotations

from pathlib import Path

from om_runbook.migrations.report import RunReport
from om_runbook.migrations.report_charts import ReportCharts, Series
from om_runbook.migrations.timeline import sparkline

SPARKLINE_WIDTH = 60


def _cell(text: str) -> str:
    """A table cell as the UI's markdown reads it: a leading '>' (the target "> 99%") would be a block quote."""
    text = text.replace("|", "\\|")
    return "\\" + text if text.startswith(">") else text


def _spark_row(line: Series, unit: str) -> str:
    if not line.values:
        return f"| {_cell(line.name)} | (no figures) | | |"
    return (
        f"| {_cell(line.name)} | `{sparkline(list(line.values), SPARKLINE_WIDTH)}` | "
        f"{line.values[-1]:,.2f} {unit} | {max(line.values):,.2f} {unit} |"
    )


def migration_report_markdown(report: RunReport, charts: ReportCharts, html_path: Path | None) -> str:
    kpis = report.kpis
    lines = [
        f"# Migration report: {report.status}",
        "",
        f"- Redis: {report.redis}",
        f"- keys scanned {kpis.keys_scanned:,}, keys migrated {kpis.keys_migrated:,}",
        f"- fields converted {kpis.fields_converted:,}, already converted {kpis.fields_already_converted:,}, "
        f"failed {kpis.fields_failed:,}",
        f"- success rate {100 * kpis.success_rate:.2f}%, run took {kpis.duration_seconds:.1f} s",
        "- phases: "
        + (", ".join(f"{name} {phase.duration_seconds:.1f} s" for name, phase in report.phases.items()) or "none"),
        "",
        "## Over time",
        "",
        "| figure | over the run | last | peak |",
        "|---|---|---|---|",
        *[_spark_row(line, "/s") for line in charts.rates],
        *[_spark_row(line, "ms") for line in charts.latency],
        _spark_row(charts.memory_mb, "MB"),
        _spark_row(charts.cpu_percent, "%"),
        "",
        "## KPIs against their targets",
        "",
        "| KPI | value | target | verdict |",
        "|---|---|---|---|",
        *[
            f"| {_cell(c.name)} | {_cell(c.value)} | {_cell(c.target)} | "
            f"{ {True: 'met', False: '**NOT MET**', None: '-'}[c.met] } |"
            for c in report.kpi_checks
        ],
        "",
        "## Sign-offs",
        "",
        *(
            [f"- {s.gate}: {s.role} {s.name}, {s.decision} at {s.at}" for s in report.signoffs]
            or ["- none in this run"]
        ),
        "",
        f"The full report with charts: `{html_path}`"
        if html_path
        else "The HTML report could not be written: see the log.",
    ]
    return "\n".join(lines) + "\n"
