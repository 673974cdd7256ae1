from __future__ import annotations

import re

import pytest

from om_runbook.migrations.report import KpiCheck, RunReport
from om_runbook.migrations.report_charts import report_charts
from om_runbook.migrations.signoff import SignOff
from om_runbook.migrations.timeline import ChunkSpan, TimelinePoint
from om_runbook.tasks.backup_store.html_report import render_html

pytestmark = pytest.mark.pure


def _charts():
    points = [
        TimelinePoint(at=100.0 + t, phase="migrate: chunks", done=1000 * t, per_second=1000.0, p50_ms=0.1,
                      p99_ms=0.5 + t, limit_ms=10.0, used_memory_bytes=3_000_000 + t, cpu_share=0.2)
        for t in range(5)
    ]  # fmt: skip
    runs = {"migrate": {0: [ChunkSpan(started_at=100, ended_at=102)], 1: [ChunkSpan(started_at=101, ended_at=104)]}}
    return report_charts(points, runs, [], None)


def test_every_chart_is_inline_svg_with_its_data_points_and_nothing_is_fetched():
    report = RunReport(status="succeeded", redis="redis://:***@db:6379/0")
    report.kpi_checks = [KpiCheck(name="success rate", value="100%", target="> 99%", met=True)]
    report.signoffs = [
        SignOff(gate="go-no-go", role="Technical Lead", name="Ada <b>", decision="approve", at="2026-12-04T03:00:00Z")
    ]
    text = render_html(report, _charts(), {"app.Customer.birthday": {"legacy_date": 7, "missing": 2}})
    figures = dict(re.findall(r'data-chart="([^"]+)" data-points="(\d+)"', text))
    assert figures == {"timeline": "3", "throughput": "5", "latency": "15", "resources": "10", "value-classes": "2"}
    assert 'data-chunk-rows="2" data-chunk-bars="2"' in text
    charts = re.findall(r'<figure data-chart="[^"]+" data-points="\d+"[^>]*>(<svg .*?</svg>)', text)
    assert len(charts) == 5 and all(("<rect" in chart or "<polyline" in chart) for chart in charts)
    assert "<img" not in text
    assert "<script" not in text and "http://" not in text and "https://" not in text  # opens with no network
    assert "Ada &lt;b&gt;" in text and "&gt; 99%" in text  # the people's text escaped


def test_a_chart_without_figures_says_so_instead_of_an_empty_picture():
    text = render_html(RunReport(status="failed", redis="r"), report_charts([], {}, [], None), {})
    assert text.count('data-points="0"') == 5 and "<svg" not in text
    assert "no KPI was evaluated" in text and "no sign-off in this run" in text
