from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from om_runbook.migrations.svg_charts import Line, Scale, TimeBar, gantt, lines, nice_ticks, stacked_bars, twin_lines

pytestmark = pytest.mark.pure
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def _parsed(svg: str) -> ET.Element:
    """The chart as XML: a chart that is not well-formed does not draw in a browser."""
    return ET.fromstring(svg)


def _within(svg: str, attribute: str, low: float, high: float) -> bool:
    return all(low - 0.05 <= float(value) <= high + 0.05 for value in re.findall(rf' {attribute}="([-\d.]+)"', svg))


@given(finite, finite)
def test_nice_ticks_cover_the_range_in_round_equal_steps(a, b):
    low, high = min(a, b), max(a, b)
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= 12
    slack = 1e-6 * (high - low) + 1e-9 * max(1.0, abs(low), abs(high))  # what float arithmetic may lose
    assert ticks[0] <= low + slack and ticks[-1] >= high - slack
    steps = [later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False)]
    step = max(steps)
    assert all(math.isclose(s, step, rel_tol=1e-6, abs_tol=slack) for s in steps)
    mean_step = (ticks[-1] - ticks[0]) / (len(ticks) - 1)  # a tick near 1e12 is a float 1e-4 apart from the next
    mantissa = mean_step / 10 ** math.floor(math.log10(mean_step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-3) for m in (1, 2, 2.5, 5, 10))


def test_nice_ticks_of_one_value_or_no_number_still_give_an_axis():
    assert nice_ticks(7.7, 7.7)[0] <= 7.2 and nice_ticks(7.7, 7.7)[-1] >= 8.2  # a unit-wide range around it
    assert nice_ticks(0.0, 0.0)[0] <= 0.0 <= nice_ticks(0.0, 0.0)[-1]
    assert nice_ticks(float("nan"), 1.0) == [0.0, 1.0] and nice_ticks(0.0, float("inf")) == [0.0, 1.0]


def test_a_scale_maps_its_ends_onto_its_pixels_and_can_turn_upside_down():
    assert Scale(0, 10, 100, 200)(5) == 150
    assert Scale(0, 10, 200, 100)(10) == 100  # a value axis: larger values higher up


def test_a_gantt_draws_every_bar_on_its_row_inside_the_chart():
    rows = ["assess + backup: scan", "migrate 0000", "migrate 0001"]
    bars = [TimeBar(rows[0], 0.0, 5.0, "#888"), TimeBar(rows[1], 5.0, 7.5, "#00f"), TimeBar(rows[2], 5.1, 5.1, "#00f")]
    svg = gantt(rows, bars, "seconds")
    tree = _parsed(svg)
    drawn = [r for r in tree.iter("rect") if r.get("fill") in ("#888", "#00f")]
    assert len(drawn) == 3 and {t.text for t in tree.iter("text")} >= set(rows) | {"seconds"}
    assert min(float(r.get("width")) for r in drawn) >= 2.0  # a bar with no length still shows
    assert len({r.get("y") for r in drawn}) == 3 and _within(svg, "x", 0, 900)


def test_charts_with_nothing_to_draw_are_still_well_formed_axes():
    for svg in (gantt([], [], "seconds"), lines([], "seconds", "ms"), stacked_bars([], [], "values")):
        assert _parsed(svg).tag == "svg"
    assert _parsed(twin_lines(Line("a", [], []), Line("b", [], []), "s", "MB", "%")).tag == "svg"


def test_lines_draw_a_dot_per_value_dash_the_limit_and_mark_the_throttle_steps():
    series = [Line("PING p99 (ms)", [0, 1, 2], [0.5, 0.7, 0.6]), Line("throttle limit", [0, 2], [10, 10], True)]
    svg = lines(series, "seconds", "ms", marks=[1.5])
    tree = _parsed(svg)
    assert len(list(tree.iter("circle"))) == 5 and len(list(tree.iter("polyline"))) == 2
    assert [p.get("stroke-dasharray") for p in tree.iter("polyline")] == [None, "6 4"]
    assert any(line.get("stroke") == "#cf222e" for line in tree.iter("line"))
    assert _within(svg, "cy", 34, 220) and _within(svg, "cx", 70, 880)


def test_values_that_are_not_numbers_are_left_out_not_drawn_off_the_chart():
    svg = lines([Line("keys/s", [0, 1, 2, 3], [100.0, float("inf"), float("nan"), 300.0])], "seconds", "keys/s")
    tree = _parsed(svg)
    assert len(list(tree.iter("circle"))) == 2 and "nan" not in svg and "inf" not in svg


def test_twin_lines_give_each_line_its_own_value_axis():
    svg = twin_lines(Line("memory (MB)", [0, 1], [3000, 3100]), Line("CPU (%)", [0, 1], [20, 80]), "s", "MB", "%")
    tree = _parsed(svg)
    labels = [t.text for t in tree.iter("text")]
    assert "3,000" in labels and "80" in labels and "MB" in labels and "%" in labels
    assert _within(svg, "cy", 34, 220)


def test_stacked_bars_put_each_class_after_the_one_before_and_escape_names():
    svg = stacked_bars(["app.Customer.birthday", "app.<b>"], [("legacy_date", [7, 0]), ("missing", [3, 5])], "values")
    tree = _parsed(svg)
    segments = [r for r in tree.iter("rect") if r.find("title") is not None]
    assert [s.find("title").text for s in segments] == ["legacy_date: 7", "missing: 3", "missing: 5"]
    first, second = segments[0], segments[1]
    assert math.isclose(float(first.get("x")) + float(first.get("width")), float(second.get("x")), abs_tol=0.11)
    assert "app.&lt;b&gt;" in svg and "<b>" not in svg


def test_a_long_legend_wraps_inside_the_chart_and_the_plot_starts_below_it():
    names = [f"verify: changed keys against the backup {n}" for n in range(6)]
    svg = lines([Line(name, [0, 1], [n, n + 1]) for n, name in enumerate(names)], "seconds", "keys/s")
    tree = _parsed(svg)
    swatches = [r for r in tree.iter("rect") if r.get("width") == "12"]
    labels = [t for t in tree.iter("text") if t.text in names]
    assert len(swatches) == len(labels) == 6
    assert all(float(t.get("x")) + 6.5 * len(t.text) <= 900 for t in labels)  # no name cut off at the right
    rows = sorted({float(r.get("y")) for r in swatches})
    assert len(rows) > 1 and min(float(c.get("cy")) for c in tree.iter("circle")) > rows[-1] + 12
