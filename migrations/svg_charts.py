"""The run report's charts as inline SVG text (pure): bars in time, lines on one or two value axes, stacked
horizontal bars. Drawn here rather than by a plotting library: the report is written at every run's end, and
matplotlib cost about 0.5 s to import and 0.4 s to draw five PNGs there (measured at 100k keys)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 900
TOP, BOTTOM, RIGHT = 34, 40, 20
PALETTE = ("#0969da", "#bf8700", "#cf222e", "#1a7f37", "#8250df", "#57606a", "#e16f24", "#1b7c83")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class TimeBar:
    row: str
    start: float
    end: float
    color: str


@dataclass(frozen=True)
class Line:
    """Points whose value is not a finite number (a rate over no time) are left out of the drawing."""

    name: str
    x: list[float]
    y: list[float]
    dashed: bool = False

    def points(self) -> list[tuple[float, float]]:
        return [(a, b) for a, b in zip(self.x, self.y, strict=True) if math.isfinite(a) and math.isfinite(b)]


@dataclass(frozen=True)
class Scale:
    """Data values from `low` to `high` onto pixels from `start` to `end`."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):  # one value (or as good as): a unit-wide range around it
        low, high = low - 0.5, low + 0.5
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9) * step
    ticks, index = [], 0
    while not ticks or ticks[-1] < high - step * 1e-9:
        ticks.append(round(first + index * step, 12))
        index += 1
    return ticks


def number_label(value: float) -> str:
    """Up to 4 significant digits, thousands separated: 0.25, 1.5, 12,000."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def gantt(rows: list[str], bars: list[TimeBar], x_label: str) -> str:
    """One line per row, each bar from its start to its end (a bar shorter than 2 px still shows)."""
    left = 30 + 6.5 * max((len(row) for row in rows), default=4)
    height = TOP + BOTTOM + 18 * len(rows)
    ticks = nice_ticks(min((bar.start for bar in bars), default=0.0), max((bar.end for bar in bars), default=0.0))
    x = Scale(ticks[0], ticks[-1], left, WIDTH - RIGHT)
    place = {row: number for number, row in enumerate(rows)}
    parts = [_x_axis(x, ticks, TOP, height - BOTTOM, x_label)]
    parts += [_text(left - 6, TOP + 18 * n + 13, row, "end") for row, n in place.items()]
    parts += [
        f'<rect x="{x(bar.start):.1f}" y="{TOP + 18 * place[bar.row] + 3}" '
        f'width="{max(x(bar.end) - x(bar.start), 2.0):.1f}" height="13" fill="{bar.color}"/>'
        for bar in bars
    ]
    return _svg(height, parts)


def lines(series: list[Line], x_label: str, y_label: str, marks: list[float] | None = None) -> str:
    """Each line with a dot per value, dashed where asked; `marks` as thin vertical lines."""
    left = 70
    colors = [PALETTE[n % len(PALETTE)] for n in range(len(series))]
    legend, top = _legend([line.name for line in series], colors, left)
    height = top + 226
    xs = [a for line in series for a, _ in line.points()] + list(marks or [])
    ys = [b for line in series for _, b in line.points()] + [0.0]
    x_ticks = nice_ticks(min(xs, default=0.0), max(xs, default=0.0))
    y_ticks = nice_ticks(min(ys), max(ys))
    x = Scale(x_ticks[0], x_ticks[-1], left, WIDTH - RIGHT)
    y = Scale(y_ticks[0], y_ticks[-1], height - BOTTOM, top)
    parts = [_x_axis(x, x_ticks, top, height - BOTTOM, x_label), _y_axis(y, y_ticks, left, "start", y_label)]
    parts += [
        f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{top}" y2="{height - BOTTOM}" stroke="#cf222e" '
        'stroke-width="0.8" opacity="0.6"/>'
        for at in marks or []
    ]
    parts += [_polyline(line, x, y, color) for line, color in zip(series, colors, strict=True)]
    return _svg(height, [legend, *parts])


def twin_lines(left_line: Line, right_line: Line, x_label: str, left_label: str, right_label: str) -> str:
    """Two lines over one time axis, each on its own value axis (left and right)."""
    left, right = 70, WIDTH - 70
    colors = [PALETTE[0], PALETTE[1]]
    legend, top = _legend([left_line.name, right_line.name], colors, left)
    height = top + 226
    xs = [a for line in (left_line, right_line) for a, _ in line.points()]
    x_ticks = nice_ticks(min(xs, default=0.0), max(xs, default=0.0))
    x = Scale(x_ticks[0], x_ticks[-1], left, right)
    parts = [legend, _x_axis(x, x_ticks, top, height - BOTTOM, x_label)]
    axes = ((left_line, colors[0], left, "start", left_label), (right_line, colors[1], right, "end", right_label))
    for line, color, at, side, label in axes:
        values = [b for _, b in line.points()] + [0.0]
        ticks = nice_ticks(min(values), max(values))
        y = Scale(ticks[0], ticks[-1], height - BOTTOM, top)
        parts += [_y_axis(y, ticks, at, side, label), _polyline(line, x, y, color)]
    return _svg(height, parts)


def stacked_bars(categories: list[str], stacks: list[tuple[str, list[float]]], x_label: str) -> str:
    """One horizontal bar per category, made of one segment per stack (a stack: a name and a width per category)."""
    left = 30 + 6.5 * max((len(c) for c in categories), default=4)
    colors = [PALETTE[n % len(PALETTE)] for n in range(len(stacks))]
    legend, top = _legend([name for name, _ in stacks], colors, left)
    height = top + BOTTOM + 24 * len(categories)
    totals = [sum(widths[n] for _, widths in stacks) for n in range(len(categories))]
    ticks = nice_ticks(0.0, max(totals, default=0.0))
    x = Scale(ticks[0], ticks[-1], left, WIDTH - RIGHT)
    parts = [legend, _x_axis(x, ticks, top, height - BOTTOM, x_label)]
    parts += [_text(left - 6, top + 24 * n + 16, category, "end") for n, category in enumerate(categories)]
    offsets = [0.0] * len(categories)
    for (name, widths), color in zip(stacks, colors, strict=True):
        for n, width in enumerate(widths):
            if width > 0:
                start, end = x(offsets[n]), x(offsets[n] + width)
                parts.append(
                    f'<rect x="{start:.1f}" y="{top + 24 * n + 4}" width="{end - start:.1f}" height="17" '
                    f'fill="{color}"><title>{escape(name)}: {width:,.0f}</title></rect>'
                )
            offsets[n] += width
    return _svg(height, parts)


def _svg(height: float, parts: list[str]) -> str:
    return (
        f'<svg role="img" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" {FONT}>' + "".join(parts) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _x_axis(x: Scale, ticks: list[float], top: float, bottom: float, label: str) -> str:
    parts = [f'<line x1="{x.start:.1f}" x2="{x.end:.1f}" y1="{bottom}" y2="{bottom}" stroke="#57606a"/>']
    for tick in ticks:
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{bottom}" stroke="#eaeef2"/>')
        parts.append(_text(x(tick), bottom + 14, number_label(tick)))
    parts.append(_text((x.start + x.end) / 2, bottom + 32, label))
    return "".join(parts)


def _y_axis(y: Scale, ticks: list[float], at: float, side: str, label: str) -> str:
    outward, anchor = (-6, "end") if side == "start" else (6, "start")
    parts = [f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{y.end:.1f}" y2="{y.start:.1f}" stroke="#57606a"/>']
    parts += [_text(at + outward, y(tick) + 4, number_label(tick), anchor) for tick in ticks]
    middle = (y.start + y.end) / 2
    edge = at - 58 if side == "start" else at + 58
    parts.append(_text(edge, middle, label, "middle", f' transform="rotate(-90 {edge:.1f} {middle:.1f})"'))
    return "".join(parts)


def _polyline(line: Line, x: Scale, y: Scale, color: str) -> str:
    points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in line.points())
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    dots = "".join(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="2" fill="{color}"/>' for a, b in line.points())
    return f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"{dash}/>{dots}'


def _legend(names: list[str], colors: list[str], left: float) -> tuple[str, float]:
    """A swatch and a name per line, wrapped onto as many rows as it needs; and where the plot below it starts."""
    parts, at, row = [], left, 0
    for name, color in zip(names, colors, strict=True):
        width = 34 + 6.5 * len(name)
        if at > left and at + width > WIDTH - RIGHT:
            at, row = left, row + 1
        parts.append(f'<rect x="{at:.1f}" y="{10 + 16 * row}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(at + 16, 20 + 16 * row, name, "start"))
        at += width
    return "".join(parts), TOP + 16 * row
