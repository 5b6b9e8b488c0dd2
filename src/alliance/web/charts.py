"""Server-side SVG charts for the reports pages: pure functions, no script, no library.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` (what a screen reader
announces), labelled axes, and a `<title>` tooltip on every point or bar; the page shows
the same numbers in a table below it. Colours come only from CSS classes (`series-0` to
`series-5` in app.css): the Content-Security-Policy forbids style attributes. Every label
is escaped through `Markup.format`, so a sub-id such as `<script>` is drawn as text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup

from alliance.web.templating import number

Number = int | Decimal | float
Format = Callable[[Number], str]

SERIES_CLASSES = 6
# Room around the plot: labels on the left (y ticks), below (x ticks) and a y-axis title.
LEFT, RIGHT, TOP, BOTTOM = 64, 40, 16, 48


def plain(value: Number) -> str:
    """Default value format: integers as integers, anything else with 2 decimals, in the
    reader's locale ("1,234" in English, "1.234" in German, "1 234" in Swedish)."""
    if isinstance(value, int) or (isinstance(value, Decimal) and value == value.to_integral()):
        return number(int(value))
    return number(Decimal(str(value)), 2)


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a line chart: a name and one value per x label (None: no value)."""

    name: str
    values: Sequence[Number | None]


def _num(value: Number | None) -> float:
    return float(value) if value is not None else 0.0


def nice_ceiling(top: float, ticks: int = 4) -> tuple[float, float]:
    """A round upper bound for the y axis and its tick step (1, 2 or 5 x 10^n)."""
    if top <= 0:
        return 1.0, 1.0 / ticks
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step * math.ceil(top / step), step


def _fmt(x: float) -> str:
    """Coordinates with at most one decimal, no trailing zeros."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _series_class(index: int) -> str:
    return f"series-{index % SERIES_CLASSES}"


def _head(chart_id: str, title: str, desc: str, width: int, height: int) -> Markup:
    return Markup(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'role="img" aria-labelledby="{id}-title {id}-desc" '
        'preserveAspectRatio="xMinYMin meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
    ).format(id=chart_id, w=width, h=height, title=title, desc=desc)


def _y_axis(
    top: float, step: float, plot: tuple[float, float, float, float], fmt: Format, label: str
) -> list[Markup]:
    x0, y0, x1, y1 = plot  # y0 is the top edge, y1 the bottom edge (the baseline)
    parts: list[Markup] = []
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = step * i
        y = y1 - (y1 - y0) * (value / top)
        shown: Number = int(value) if float(value).is_integer() else value
        parts.append(
            Markup(
                '<line class="grid-line" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}"/>'
                '<text class="tick" x="{tx}" y="{ty}" text-anchor="end">{text}</text>'
            ).format(
                x0=_fmt(x0),
                x1=_fmt(x1),
                y=_fmt(y),
                tx=_fmt(x0 - 6),
                ty=_fmt(y + 4),
                text=fmt(shown),
            )
        )
    parts.append(
        Markup('<line class="axis" x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>').format(
            x=_fmt(x0), y0=_fmt(y0), y1=_fmt(y1)
        )
    )
    mid = (y0 + y1) / 2
    parts.append(
        Markup(
            '<text class="tick axis-label" x="12" y="{y}" text-anchor="middle" '
            'transform="rotate(-90 12 {y})">{label}</text>'
        ).format(y=_fmt(mid), label=label)
    )
    return parts


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str = "Day",  # callers pass it translated
    y_label: str = "",
    fmt: Format = plain,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """A time series: one polyline per series with a point (and its tooltip) per x label."""
    x0, y0 = float(LEFT), float(TOP)
    x1, y1 = float(width - RIGHT), float(height - BOTTOM)
    n = len(x_labels)
    highest = max((_num(v) for s in series for v in s.values), default=0.0)
    top, step = nice_ceiling(highest)

    def x_at(i: int) -> float:
        return (x0 + x1) / 2 if n <= 1 else x0 + (x1 - x0) * i / (n - 1)

    def y_at(value: float) -> float:
        return y1 - (y1 - y0) * (value / top)

    parts = [_head(chart_id, title, desc, width, height)]
    parts += _y_axis(top, step, (x0, y0, x1, y1), fmt, y_label)
    parts.append(
        Markup('<line class="axis" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}"/>').format(
            x0=_fmt(x0), x1=_fmt(x1), y=_fmt(y1)
        )
    )
    # At most ~8 x tick labels, always the first and the last.
    every = max(1, math.ceil(n / 8))
    ticks = set(range(0, n, every))
    if n and n - 1 not in ticks:
        if n - 1 - max(ticks) < every:
            ticks.discard(max(ticks))  # too close to the last one: they would overlap
        ticks.add(n - 1)
    for i, label in enumerate(x_labels):
        if i in ticks:
            parts.append(
                Markup(
                    '<text class="tick" x="{x}" y="{y}" text-anchor="middle">{label}</text>'
                ).format(x=_fmt(x_at(i)), y=_fmt(y1 + 16), label=label)
            )
    parts.append(
        Markup(
            '<text class="tick axis-label" x="{x}" y="{y}" text-anchor="middle">{t}</text>'
        ).format(x=_fmt((x0 + x1) / 2), y=_fmt(height - 8), t=x_label)
    )
    for index, s in enumerate(series):
        cls = _series_class(index)
        coords = [(x_at(i), y_at(_num(v)), v) for i, v in enumerate(s.values[:n]) if v is not None]
        group = [Markup('<g class="series {cls}">').format(cls=cls)]
        if len(coords) > 1:
            points = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y, _ in coords)
            group.append(
                Markup('<polyline class="line {cls}" points="{p}"/>').format(cls=cls, p=points)
            )
        for (x, y, v), label in zip(
            coords, [x_labels[i] for i, v in enumerate(s.values[:n]) if v is not None], strict=True
        ):
            group.append(
                Markup(
                    '<circle class="point {cls}" cx="{x}" cy="{y}" r="3">'
                    "<title>{name}, {label}: {value}</title></circle>"
                ).format(cls=cls, x=_fmt(x), y=_fmt(y), name=s.name, label=label, value=fmt(v))
            )
        group.append(Markup("</g>"))
        parts += group
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[tuple[str, Number]],
    *,
    value_label: str = "",
    fmt: Format = plain,
    width: int = 560,
    bar_height: int = 22,
    gap: int = 8,
    label_width: int = 170,
    limit: int = 10,
) -> Markup:
    """A horizontal breakdown: the `limit` largest bars, largest first, labelled and valued."""
    shown = sorted(bars, key=lambda b: _num(b[1]), reverse=True)[:limit]
    x0, x1 = float(label_width), float(width - 80)
    y0 = float(TOP)
    height = int(TOP + len(shown) * (bar_height + gap) + 40)
    highest = max((_num(v) for _, v in shown), default=0.0)
    top, _ = nice_ceiling(highest)
    parts = [_head(chart_id, title, desc, width, height)]
    for i, (label, value) in enumerate(shown):
        y = y0 + i * (bar_height + gap)
        w = max(0.0, (x1 - x0) * _num(value) / top)
        text = label if len(label) <= 26 else label[:25] + "\u2026"
        parts.append(
            Markup(
                '<g class="bar-row"><title>{label}: {value}</title>'
                '<text class="tick" x="{lx}" y="{ty}" text-anchor="end">{short}</text>'
                '<rect class="bar series-0" x="{x}" y="{y}" width="{w}" height="{h}"/>'
                '<text class="tick" x="{vx}" y="{ty}">{value}</text></g>'
            ).format(
                label=label,
                value=fmt(value),
                short=text,
                lx=_fmt(x0 - 6),
                ty=_fmt(y + bar_height / 2 + 4),
                x=_fmt(x0),
                y=_fmt(y),
                w=_fmt(w),
                h=bar_height,
                vx=_fmt(x0 + w + 4),
            )
        )
    base = y0 + len(shown) * (bar_height + gap)
    parts.append(
        Markup('<line class="axis" x1="{x}" y1="{y0}" x2="{x}" y2="{y1}"/>').format(
            x=_fmt(x0), y0=_fmt(y0 - 4), y1=_fmt(base)
        )
    )
    parts.append(
        Markup(
            '<text class="tick axis-label" x="{x}" y="{y}" text-anchor="middle">{t}</text>'
        ).format(x=_fmt((x0 + x1) / 2), y=_fmt(base + 24), t=value_label)
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def legend(names: Sequence[str]) -> Markup:
    """The key of a line chart: one swatch per series, in the series' colour class."""
    items = [
        Markup('<li><span class="swatch {cls}" aria-hidden="true"></span>{name}</li>').format(
            cls=_series_class(i), name=name
        )
        for i, name in enumerate(names)
    ]
    return Markup('<ul class="legend">{}</ul>').format(Markup("").join(items))


__all__ = ["Series", "bar_chart", "legend", "line_chart", "nice_ceiling", "plain"]
