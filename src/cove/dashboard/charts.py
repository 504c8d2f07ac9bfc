"""Line plots drawn on the server as SVG: no chart script, nothing to load, and a table of
the same numbers beside each plot for screen readers (``metrics.html``). Colours are SVG
attributes, not styles, so the pages' Content-Security-Policy (no inline style) holds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH, HEIGHT = 720, 220
# Margins; the y axis's labels are on the right, next to the latest points (what a phone,
# scrolling a plot sideways from its right end, shows first).
LEFT, RIGHT, TOP, BOTTOM = 16, 52, 12, 28
# Colours with at least 4.5:1 contrast on white.
PALETTE = ("#0b6bcb", "#8a3ffc", "#c0262d", "#1a7f37", "#8a5a00", "#005f73", "#6e4b9e")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]  # one per point; None: nothing to plot there (a gap)
    colour: str = ""


@dataclass(frozen=True)
class Drawn:
    name: str
    colour: str
    path: str  # an SVG path: a segment per run of points with values
    dots: list[tuple[float, float, str]]  # x, y, tooltip
    total: float  # the sum of its values (the test and the legend read it)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    rows: list[tuple[str, list[str]]]  # the table: (HH:MM, a value per series), with data
    series: list[Drawn]
    y_ticks: list[tuple[float, str]]  # y, label
    x_ticks: list[tuple[float, str]]  # x, label
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT

    @property
    def points(self) -> int:
        """Points that have a value, in all series."""
        return sum(len(s.dots) for s in self.series)


def clock(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%H:%M")


def _axis(peak: float, integers: bool) -> tuple[float, float]:
    """The y axis's top and tick step: about 4 ticks, each 1, 2, 2.5 or 5 times a power of
    10 (whole numbers only, for counts)."""
    peak = peak if peak > 0 else 1
    raw = peak / 4
    power = 10.0 ** math.floor(math.log10(raw))
    step = 10 * power
    for m in (1, 2, 2.5, 5, 10):
        candidate = m * power
        if integers and (candidate < 1 or candidate != int(candidate)):
            continue
        if candidate >= raw:
            step = candidate
            break
    return math.ceil(peak / step - 1e-9) * step, step


def _label(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def line_chart(
    chart_id: str, title: str, unit: str, minutes: list[int], series: list[Series]
) -> Chart:
    """``minutes``: each point's start (Unix time // 60), oldest first."""
    count = len(minutes)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    integers = all(float(v).is_integer() for v in values)
    top, step = _axis(max(values, default=0), integers)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    drawn = []
    for n, s in enumerate(series):
        colour = s.colour or PALETTE[n % len(PALETTE)]
        path: list[str] = []
        dots = []
        previous = False
        for i, v in enumerate(s.values):
            if v is None:
                previous = False
                continue
            px, py = round(x(i), 1), round(y(v), 1)
            path.append(f"{'L' if previous else 'M'}{px} {py}")
            if v:  # (a dot on each point with something to show; zeros are the line)
                dots.append((px, py, f"{clock(minutes[i])} UTC: {s.name} {v:g} {unit}"))
            previous = True
        total = sum(v for v in s.values if v is not None)
        drawn.append(Drawn(s.name, colour, " ".join(path), dots, total))
    ticks = round(top / step)
    y_ticks = [(round(y(step * k), 1), _label(step * k)) for k in range(ticks + 1)]
    every = max(1, count // 6)
    x_ticks = [(round(x(i), 1), clock(minutes[i])) for i in range(0, count, every)]
    return Chart(
        chart_id,
        title,
        unit,
        _rows(minutes, series),
        drawn,
        y_ticks,
        x_ticks,
        empty=not any(values),
    )


def _rows(minutes: list[int], series: list[Series]) -> list[tuple[str, list[str]]]:
    rows = []
    for i, minute in enumerate(minutes):
        values = [s.values[i] for s in series]
        if any(values):
            rows.append((clock(minute), ["-" if v is None else f"{v:g}" for v in values]))
    return rows
