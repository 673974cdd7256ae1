"""The run report a DBA opens at the review meeting: one self-contained HTML file in `BACKUP_DIR/archive/` (charts
as inline SVG, no script, no network), from the timeline and the chunks'
checkpoints in the backup directory, so a resumed run's report covers the processes before it."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from om_runbook.migrations import svg_charts
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.report_charts import ReportCharts, Series, report_charts, reported_chunk_runs
from om_runbook.migrations.svg_charts import Line, TimeBar
from om_runbook.tasks.backup_store.backup_format import load_manifest, write_atomically
from om_runbook.tasks.backup_store.run_status import read_timeline

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1f2328; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #d0d7de; padding: 3px 8px; }
th { background: #f6f8fa; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #1a7f37; } .not-met { color: #cf222e; font-weight: bold; } figure { margin: 1em 0; }
figcaption { color: #59636e; font-size: .9em; } svg { max-width: 100%; height: auto; }
"""


def run_charts(backup_dir: Path, report: RunReport) -> ReportCharts:
    """The charts' figures: the timeline in the backup directory, the chunk runs and pace events in the report."""
    points = read_timeline(backup_dir).points
    system = report.system
    return report_charts(points, reported_chunk_runs(report), system.pace_events, system.pace_started_at)


def write_html_report(backup_dir: Path, report: RunReport, name: str) -> Path:
    """`archive/NAME.html`, written whole."""
    charts = run_charts(backup_dir, report)
    manifest = load_manifest(backup_dir)
    path = backup_dir / "archive" / f"{name}.html"
    write_atomically(path, render_html(report, charts, manifest.value_counts if manifest else {}))
    return path


def render_html(report: RunReport, charts: ReportCharts, value_counts: dict[str, dict[str, int]]) -> str:
    origin = charts.start() or 0.0
    started = datetime.fromtimestamp(origin, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if origin else "unknown"
    sections = [
        f"<h1>om-runbook run report: {_e(report.status)}</h1>",
        f"<p>Redis {_e(report.redis)}; first point {started}; run took {report.kpis.duration_seconds:.1f} s"
        + (f"; flow run {_e(report.flow_run_id)}" if report.flow_run_id else "")
        + ". Times in the charts are seconds since the first point.</p>",
        "<h2>KPIs against their targets</h2>",
        _kpi_table(report),
        "<h2>Phases and chunks</h2>",
        _figure(
            "timeline",
            len(charts.phases) + len(charts.chunks),
            _gantt(charts, origin),
            _timeline_caption(charts),
            f' data-chunk-rows="{len({bar.row for bar in charts.chunks})}" data-chunk-bars="{len(charts.chunks)}"',
        ),
        "<h2>Throughput</h2>",
        _figure("throughput", _count(charts.rates), _lines(charts.rates, origin, "units/s"), "Each phase's rate."),
        "<h2>Latency against the throttle's limit</h2>",
        _figure(
            "latency",
            _count(charts.latency),
            _lines(charts.latency, origin, "ms", charts),
            "PING p50 and p99 over the probe's last quarter second, measured by a separate process while the chunks "
            "ran; dashed: the throttle's p99 limit; vertical lines: each throttle step or tune change.",
        ),
        "<h2>Redis memory and CPU</h2>",
        _figure(
            "resources",
            len(charts.memory_mb.at) + len(charts.cpu_percent.at),
            _resources(charts, origin),
            "INFO memory and INFO cpu, sampled every second by the probe while the chunks ran.",
        ),
        "<h2>What the assessment found</h2>",
        _figure("value-classes", sum(len(c) for c in value_counts.values()), _classes(value_counts), ""),
        _table(["model field", "value class", "values"], _class_rows(value_counts)),
        "<h2>Problems per kind</h2>",
        _table(["kind", "count"], [[_e(k), _n(v)] for k, v in sorted(report.problem_counts.items())])
        if report.problem_counts
        else "<p>none</p>",
        "<h2>Sign-offs</h2>",
        _table(
            ["gate", "role", "name", "decision", "at", "comment"],
            [[_e(s.gate), _e(s.role), _e(s.name), _e(s.decision), _e(s.at), _e(s.comment)] for s in report.signoffs],
        )
        if report.signoffs
        else "<p>no sign-off in this run (auto-approved or not reached)</p>",
        "<h2>Messages</h2>",
        "<ul>" + "".join(f"<li>{_e(m)}</li>" for m in report.messages) + "</ul>",
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>om-runbook run report</title>'
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value))


def _n(value: int) -> str:
    return f'<span class="n">{value:,}</span>'


def _count(series: list[Series]) -> int:
    return sum(len(line.at) for line in series)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _kpi_table(report: RunReport) -> str:
    verdict = {True: '<span class="met">met</span>', False: '<span class="not-met">NOT MET</span>', None: "-"}
    rows = [[_e(c.name), _e(c.value), _e(c.target), verdict[c.met]] for c in report.kpi_checks]
    return _table(["KPI", "value", "target", "verdict"], rows) if rows else "<p>no KPI was evaluated</p>"


def _class_rows(value_counts: dict[str, dict[str, int]]) -> list[list[str]]:
    return [
        [_e(field), _e(value_class), _n(count)]
        for field, classes in sorted(value_counts.items())
        for value_class, count in sorted(classes.items())
    ]


def _timeline_caption(charts: ReportCharts) -> str:
    rows = {bar.row for bar in charts.chunks}
    return f"Top: the phases. Below: one row per chunk ({len(rows)}), one bar per process that worked on it."


def _figure(name: str, points: int, chart: str | None, caption: str, attributes: str = "") -> str:
    """`data-points` says how many figures the chart holds (the browser test checks it is not empty)."""
    opening = f'<figure data-chart="{name}" data-points="{points if chart else 0}"{attributes}>'
    if chart is None:
        return f"{opening}<p>no figures for this chart in this run</p></figure>"
    return f"{opening}{chart}<figcaption>{_e(caption)}</figcaption></figure>"


def _gantt(charts: ReportCharts, origin: float) -> str | None:
    bars = [(bar, "#8c959f") for bar in charts.phases] + [(bar, "#0969da") for bar in charts.chunks]
    if not bars:
        return None
    return svg_charts.gantt(
        list(dict.fromkeys(bar.row for bar, _ in bars)),
        [TimeBar(bar.row, bar.start - origin, bar.end - origin, color) for bar, color in bars],
        "seconds",
    )


def _line(series: Series, origin: float) -> Line:
    return Line(series.name, [at - origin for at in series.at], series.values, series.name.startswith("throttle"))


def _lines(series: list[Series], origin: float, unit: str, marks: ReportCharts | None = None) -> str | None:
    if not _count(series):
        return None
    pace = [mark.at - origin for mark in marks.pace_marks] if marks is not None else []
    return svg_charts.lines([_line(line, origin) for line in series], "seconds", unit, pace)


def _resources(charts: ReportCharts, origin: float) -> str | None:
    memory, cpu = charts.memory_mb, charts.cpu_percent
    if not memory.at and not cpu.at:
        return None
    return svg_charts.twin_lines(_line(memory, origin), _line(cpu, origin), "seconds", "MB", "% of a core")


def _classes(value_counts: dict[str, dict[str, int]]) -> str | None:
    if not value_counts:
        return None
    fields = sorted(value_counts)
    classes = sorted({value_class for counts in value_counts.values() for value_class in counts})
    stacks = [(value_class, [float(value_counts[f].get(value_class, 0)) for f in fields]) for value_class in classes]
    return svg_charts.stacked_bars(fields, stacks, "values")
