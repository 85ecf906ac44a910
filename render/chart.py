"""A breach's metric as an inline SVG line chart, drawn on the server.

No script and no chart library: a page (and the archive's report) shows the
chart in any browser, printed, or offline. The chart is described for
screen readers by its <title> and <desc>; the numbers it draws are also in
the page's text, so nothing is known only from the picture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 40
# Colours chosen for WCAG AA against white: text 15:1, line 8.6:1, threshold 6.4:1.
INK, LINE, THRESHOLD, SHADE = "#1f1f1f", "#1a4f9c", "#b3261e", "#f6d4cf"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _ticks(low: float, high: float, count: int) -> list[float]:
    """About `count` round steps between low and high (1, 2, 5 times a power of ten)."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400)


def _time_ticks(low: float, high: float, count: int) -> list[float]:
    """Clock-round steps (a minute, five, a quarter hour...) between low and high."""
    raw = (high - low) / max(count, 1)
    step = next((s for s in TIME_STEPS if s >= raw), TIME_STEPS[-1])
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _segments(points: Sequence[Sequence[float]]) -> list[list[tuple[float, float]]]:
    """Runs of finite samples: a NaN (no value) breaks the line, it is not drawn as zero."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if _finite(t) and _finite(v):
            runs[-1].append((float(t), float(v)))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def breach_chart(chart: Mapping[str, Any], *, chart_id: str) -> Markup:
    """`chart` as `services.breach_chart.breach_series` returns it; `chart_id`
    makes the ids of its title and description unique in the page."""
    points = chart.get("points") or []
    runs = _segments(points)
    threshold = chart.get("threshold")
    unit = chart.get("unit") or ""
    quantity = chart.get("quantity") or chart.get("metric") or "value"
    w_start, w_end = chart["window_start_ts"], chart["window_end_ts"]
    x0, x1 = chart["start_ts"], chart["end_ts"]
    if x1 <= x0:
        x1 = x0 + 1.0
    values = [v for run in runs for _, v in run]
    if _finite(threshold):
        values.append(float(threshold))
    low = min([0.0, *values])
    high = max([1.0, *values])
    high += (high - low) * 0.08  # headroom above the peak and the threshold line
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (min(max(t, x0), x1) - x0) / (x1 - x0) * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    peak = max((v for run in runs for _, v in run), default=None)
    summary = (
        f"{quantity} from {_clock(x0)} to {_clock(x1)} UTC, "
        f"{len(values) - (1 if _finite(threshold) else 0)} samples"
        + (f", peak {_number(peak)} {unit}" if peak is not None else ", no samples")
        + (f"; threshold {_number(threshold)} {unit}" if _finite(threshold) else "")
        + f"; breach window {_clock(w_start)} to {_clock(w_end)} UTC shaded."
    )
    out = [
        f'<svg class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(chart.get("title") or quantity)}</title>',
        f'<desc id="{desc_id}">{escape(summary)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" '
        f'stroke="{INK}" stroke-width="1"/>',
        f'<rect class="window" x="{x(w_start):.1f}" y="{TOP}" '
        f'width="{max(x(w_end) - x(w_start), 1.5):.1f}" height="{plot_h}" fill="{SHADE}"/>',
    ]
    for v in _ticks(low, high, 4):
        out.append(f'<line x1="{LEFT - 4}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="#d0d0d0" stroke-width="0.5"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="12" '
                   f'fill="{INK}">{escape(_number(v))}</text>')
    for t in _time_ticks(x0, x1, 6):
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP + plot_h}" '
                   f'y2="{TOP + plot_h + 4}" stroke="{INK}"/>')
        out.append(f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" '
                   f'font-size="12" fill="{INK}">{_clock(t)}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" '
               f'font-size="12" fill="{INK}">time (UTC)</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
               f'fill="{INK}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">'
               f'{escape(unit or quantity)}</text>')
    if _finite(threshold):
        ty = y(float(threshold))
        out.append(f'<line class="threshold" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" '
                   f'y2="{ty:.1f}" stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{LEFT + plot_w - 4}" y="{ty - 5:.1f}" text-anchor="end" '
                   f'font-size="12" fill="{THRESHOLD}">threshold {escape(_number(threshold))}'
                   f'{escape(" " + unit if unit else "")}</text>')
    for run in runs:
        if chart.get("step"):  # each value holds since the sample before (a gap's length)
            run = [run[0]] + [p for a, b in zip(run, run[1:], strict=False)
                              for p in ((a[0], b[1]), b)]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
        if len(run) == 1:
            out.append(f'<circle cx="{x(run[0][0]):.1f}" cy="{y(run[0][1]):.1f}" r="2.5" '
                       f'fill="{LINE}"/>')
        else:
            out.append(f'<polyline class="series" points="{coords}" fill="none" '
                       f'stroke="{LINE}" stroke-width="1.75" stroke-linejoin="round"/>')
    if not runs:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
                   f'text-anchor="middle" font-size="14" fill="{INK}">no samples in the '
                   f'snapshot for this window</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
