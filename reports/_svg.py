"""Inline SVG charts for the report: no scripts, no external assets, well-formed XML.

Every function returns one `<svg>` element as a string. All text is escaped, so labels taken from
a history cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 920
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 42

KIND_COLOURS = {
    "partition": "#e53935",
    "wan": "#fb8c00",
    "kill": "#8e24aa",
    "pause": "#3949ab",
    "clock": "#00897b",
    "reconverged": "#43a047",
}
PHASE_COLOURS = {"main": "#90a4ae", "heal": "#66bb6a", "recovery": "#42a5f5"}


def esc(text: object) -> str:
    """Escape any value for HTML or XML text and attributes."""
    return escape(str(text), quote=True)


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, "#757575")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low if math.isfinite(low) else 0.0]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


class _Frame:
    """Maps data coordinates to the plotting area and draws axes."""

    def __init__(
        self, x_max: float, y_max: float, height: int = HEIGHT, x_min: float = 0.0,
        log_y: bool = False, left: int = LEFT,
    ):
        self.left = left
        self.log_y = log_y
        self.height = height
        self.x_min = x_min
        self.x_max = x_max if x_max > x_min else x_min + 1.0
        self.y_max = y_max if y_max > 0 else 1.0
        self.plot_w = WIDTH - left - RIGHT
        self.plot_h = height - TOP - BOTTOM

    def x(self, value: float) -> float:
        span = self.x_max - self.x_min
        clipped = min(max(value, self.x_min), self.x_max)
        return self.left + (clipped - self.x_min) / span * self.plot_w

    def y(self, value: float) -> float:
        clipped = min(max(value, 0.0), self.y_max)
        if self.log_y:
            share = math.log10(1 + clipped) / math.log10(1 + self.y_max)
        else:
            share = clipped / self.y_max
        return TOP + self.plot_h - share * self.plot_h

    def y_ticks(self) -> list[float]:
        if not self.log_y:
            return nice_ticks(0, self.y_max)
        ticks = [0.0]
        power = 1.0
        while power <= self.y_max:
            ticks.append(power)
            power *= 10
        return ticks

    def axes(self, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        parts = [
            (f'<rect x="{self.left}" y="{TOP}" width="{self.plot_w}" height="{self.plot_h}" '
             'fill="none" stroke="#b0bec5"/>')
        ]
        for tick in self.y_ticks():
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.left + self.plot_w}" y2="{y:.1f}" '
                'stroke="#eceff1"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                f"{esc(_fmt(tick))}</text>"
            )
        if x_ticks:
            for tick in nice_ticks(self.x_min, self.x_max, 8):
                x = self.x(tick)
                parts.append(
                    f'<line x1="{x:.1f}" y1="{TOP + self.plot_h}" x2="{x:.1f}" '
                    f'y2="{TOP + self.plot_h + 4}" stroke="#607d8b"/>'
                    f'<text x="{x:.1f}" y="{TOP + self.plot_h + 16}" text-anchor="middle" '
                    f'font-size="11">{esc(_fmt(tick))}</text>'
                )
        parts.append(
            f'<text x="{self.left + self.plot_w / 2:.1f}" y="{self.height - 6}" '
            'text-anchor="middle" '
            f'font-size="12">{esc(x_label)}</text>'
            f'<text x="14" y="{TOP + self.plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 14 {TOP + self.plot_h / 2:.1f})">{esc(y_label)}</text>'
        )
        return parts


def _svg(title: str, body: Sequence[str], height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">'
        f"<title>{esc(title)}</title>" + "".join(body) + "</svg>"
    )


def _bands(frame: _Frame, bands: Sequence[tuple[float, float, str]]) -> list[str]:
    parts = []
    for start, end, kind in bands:
        x0, x1 = frame.x(start), frame.x(end)
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{frame.plot_h}" fill="{kind_colour(kind)}" fill-opacity="0.13">'
            f"<title>{esc(kind)} {start:.1f}s to {end:.1f}s</title></rect>"
        )
    return parts


def latency_chart(
    points: Sequence[tuple[float, float, str]],
    bands: Sequence[tuple[float, float, str]],
    t_max_s: float,
    phase_starts: Sequence[tuple[str, float]] = (),
) -> str:
    """Scatter of (send time s, latency ms, via) with nemesis periods shaded behind and the
    starts of runner phases (heal, recovery) as dashed lines."""
    y_max = max((p[1] for p in points), default=1.0) * 1.05
    frame = _Frame(t_max_s, y_max)
    body = _bands(frame, bands)
    for offset, (name, start) in enumerate(phase_starts):
        x = frame.x(start)
        body.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + frame.plot_h}" '
            'stroke="#78909c" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{TOP + frame.plot_h - 4 - 12 * offset}" font-size="10" '
            'fill="#546e7a">'
            f"{esc(name)}</text>"
        )
    body += frame.axes("send time (s since test start)", "latency (ms)")
    colours = {"online": "#1e88e5", "offline": "#f4511e"}
    for t_s, ms, via in points:
        body.append(
            f'<circle cx="{frame.x(t_s):.1f}" cy="{frame.y(ms):.1f}" r="1.8" '
            f'fill="{colours.get(via, "#546e7a")}" fill-opacity="0.75"/>'
        )
    body.append(_legend([("online", colours["online"]), ("offline", colours["offline"])]))
    return _svg("Delivery latency over time", body)


def _legend(items: Sequence[tuple[str, str]], y: int = TOP + 4) -> str:
    parts = []
    x = LEFT + 10
    for label, colour in items:
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y + 9}" font-size="11">{esc(label)}</text>'
        )
        x += 24 + 7 * len(label)
    return "".join(parts)


def histogram_chart(
    values: Sequence[float],
    bin_width: float,
    markers: Sequence[tuple[float, str, str]],
    x_label: str,
) -> str:
    """Histogram of `values` (log-scaled counts, so a long tail stays visible) with vertical
    marker lines (value, label, colour). `bin_width` grows to keep at most 100 bins."""
    top_value = max(list(values) + [m[0] for m in markers] + [bin_width])
    while top_value / bin_width > 100:
        bin_width *= 2
    bins = max(1, math.ceil(top_value / bin_width) + 1)
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(max(0.0, value) / bin_width))] += 1
    frame = _Frame(bins * bin_width, max(counts) * 1.5 if counts else 1, log_y=True)
    body = frame.axes(x_label, "dots (log scale)")
    for i, count in enumerate(counts):
        if not count:
            continue
        x0, x1 = frame.x(i * bin_width), frame.x((i + 1) * bin_width)
        y = frame.y(count)
        body.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{y:.1f}" width="{max(1.0, x1 - x0 - 1):.1f}" '
            f'height="{TOP + frame.plot_h - y:.1f}" fill="#5c6bc0">'
            f"<title>{esc(_fmt(i * bin_width))} to {esc(_fmt((i + 1) * bin_width))}: "
            f"{count}</title></rect>"
        )
    right = LEFT + frame.plot_w - 8
    for offset, (value, label, colour) in enumerate(markers):
        x = frame.x(value)
        key_y = TOP + 14 + 16 * offset
        body.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + frame.plot_h}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<line x1="{right - 26}" y1="{key_y - 4}" x2="{right - 4}" y2="{key_y - 4}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<text x="{right - 30}" y="{key_y}" font-size="11" text-anchor="end" '
            f'fill="{colour}">{esc(label)}</text>'
        )
    return _svg("Convergence distribution", body)


def bar_chart(
    groups: Sequence[tuple[str, dict[str, float]]], series: Sequence[tuple[str, str]]
) -> str:
    """Grouped bars: one group per label (a DC), one bar per series (name, colour)."""
    y_max = max((v for _label, values in groups for v in values.values()), default=1.0) * 1.3
    frame = _Frame(max(1, len(groups)), y_max)
    body = frame.axes("datacenter (sender's DC)", "messages", x_ticks=False)
    group_w = frame.plot_w / max(1, len(groups))
    bar_w = group_w * 0.8 / max(1, len(series))
    for gi, (label, values) in enumerate(groups):
        gx = LEFT + gi * group_w + group_w * 0.1
        for si, (name, colour) in enumerate(series):
            value = values.get(name, 0)
            y = frame.y(value)
            x = gx + si * bar_w
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(1.0, bar_w - 2):.1f}" '
                f'height="{TOP + frame.plot_h - y:.1f}" fill="{colour}">'
                f"<title>{esc(label)} {esc(name)}: {esc(_fmt(value))}</title></rect>"
            )
            if value:
                body.append(
                    f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y - 3:.1f}" font-size="10" '
                    f'text-anchor="middle">{esc(_fmt(value))}</text>'
                )
        body.append(
            f'<text x="{LEFT + gi * group_w + group_w / 2:.1f}" y="{TOP + frame.plot_h + 16}" '
            f'text-anchor="middle" font-size="12">{esc(label)}</text>'
        )
    body.append(_legend(list(series)))
    return _svg("Delivery per datacenter", body)


def timeline_chart(
    lanes: Sequence[tuple[str, Sequence[tuple[float, float, str, bool]]]],
    phases: Sequence[tuple[str, float, float]],
    t_max_s: float,
) -> str:
    """Nemesis timeline: one lane per fault kind with (start s, end s, label, closed) bars."""
    lane_h = 22
    height = TOP + BOTTOM + 18 + lane_h * max(1, len(lanes))
    frame = _Frame(t_max_s, 1.0, height=height, left=LEFT + 24)
    body: list[str] = []
    for name, start, end in phases:
        x0, x1 = frame.x(start), frame.x(end)
        body.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(1.0, x1 - x0):.1f}" height="14" '
            f'fill="{PHASE_COLOURS.get(name, "#bdbdbd")}"><title>{esc(name)} phase</title></rect>'
            f'<text x="{x0 + 3:.1f}" y="{TOP + 11}" font-size="10" fill="#fff">{esc(name)}</text>'
        )
    for li, (kind, bars) in enumerate(lanes):
        y = TOP + 20 + li * lane_h
        body.append(
            f'<text x="{frame.left - 6}" y="{y + 14}" text-anchor="end" font-size="11">'
            f"{esc(kind)}</text>"
            f'<line x1="{frame.left}" y1="{y + lane_h - 2}" x2="{frame.left + frame.plot_w}" '
            f'y2="{y + lane_h - 2}" stroke="#eceff1"/>'
        )
        for start, end, label, closed in bars:
            x0, x1 = frame.x(start), frame.x(end)
            dash = "" if closed else ' stroke="#000" stroke-dasharray="3 2"'
            body.append(
                f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(2.0, x1 - x0):.1f}" '
                f'height="{lane_h - 6}" '
                f'fill="{kind_colour(kind)}" fill-opacity="0.8"{dash}>'
                f"<title>{esc(kind)} {esc(label)} {start:.2f}s to {end:.2f}s"
                f"{'' if closed else ' (still open at the end)'}</title></rect>"
            )
            chars = int((x1 - x0 - 8) / 6.2)
            if label and chars >= 6:
                text = label if len(label) <= chars else label[: chars - 1] + "…"
                body.append(
                    f'<text x="{x0 + 4:.1f}" y="{y + lane_h - 9}" font-size="10" fill="#fff">'
                    f"{esc(text)}</text>"
                )
    for tick in nice_ticks(0, frame.x_max, 8):
        x = frame.x(tick)
        body.append(
            f'<text x="{x:.1f}" y="{height - BOTTOM + 14}" text-anchor="middle" font-size="11">'
            f"{esc(_fmt(tick))}</text>"
        )
    body.append(
        f'<text x="{frame.left + frame.plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        'font-size="12">time (s since test start)</text>'
    )
    return _svg("Nemesis timeline", body, height=height)


def log_x_chart(
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]], bool]],
    x_label: str, y_label: str, title: str,
    marks: Sequence[tuple[float, float, str]] = (), height: int = 360,
) -> str:
    """Lines over a log-scale x axis (x > 0): `series` are (label, colour, points, dashed);
    `marks` are (x, y, label) points drawn as labelled diamonds."""
    xs = [x for _, _, points, _ in series for x, _ in points if x > 0] + [m[0] for m in marks]
    ys = [y for _, _, points, _ in series for _, y in points] + [m[1] for m in marks]
    if not xs:
        return _svg(title, [], height)
    low, high = math.log10(min(xs)), math.log10(max(xs))
    frame = _Frame(high + 0.05, max(ys) * 1.1, height=height, x_min=low - 0.05)
    parts = frame.axes(x_label, y_label, x_ticks=False)
    bottom = TOP + frame.plot_h
    for value in sorted(set(xs)):
        x = frame.x(math.log10(value))
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
                     f'stroke="#607d8b"/><text x="{x:.1f}" y="{bottom + 16}" '
                     f'text-anchor="middle" font-size="11">{esc(_fmt(value))}</text>')
    for _, colour, points, dashed in series:
        coords = " ".join(f"{frame.x(math.log10(x)):.1f},{frame.y(y):.1f}"
                          for x, y in points if x > 0)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"{dash}/>')
        for x, y in points:
            if x > 0 and not dashed:
                parts.append(f'<circle cx="{frame.x(math.log10(x)):.1f}" cy="{frame.y(y):.1f}" '
                             f'r="3" fill="{colour}"/>')
    for x_value, y_value, label in marks:
        x, y = frame.x(math.log10(x_value)), frame.y(y_value)
        parts.append(f'<path d="M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} '
                     f'L{x - 7:.1f},{y:.1f} Z" fill="#212121"/><text x="{x + 10:.1f}" '
                     f'y="{y - 8:.1f}" font-size="11">{esc(label)}</text>')
    legend = [(label, colour) for label, colour, _, _ in series]
    rows = [legend[i:i + 4] for i in range(0, len(legend), 4)]
    for n, row in enumerate(rows):
        parts.append(_legend(row, y=TOP + 4 + 14 * n))
    return _svg(title, parts, height)
