"""Charts as inline SVG, drawn on the server: a line of totals over time and stacked bars of
value per asset. Figures stay `Decimal` (axis ticks included); floats are only pixel
coordinates. Every text is escaped; each mark carries a <title> with its exact figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from markupsafe import Markup, escape

from sequestra.service.web.figures import money

WIDTH_PX: Final = 720.0
HEIGHT_PX: Final = 240.0
LEFT_PX: Final = 92.0  # room for the tick labels
RIGHT_PX: Final = 16.0
TOP_PX: Final = 12.0
BOTTOM_PX: Final = 28.0
TICKS: Final = 4
POINTS_MAX: Final = 500
SERIES_MAX: Final = 24
LABELS_SHOWN_MAX: Final = 6
PALETTE: Final = (
    "#1f5f8b",
    "#d08c2f",
    "#3a8f5c",
    "#a23b3b",
    "#6c4f9e",
    "#4a8c9c",
    "#8c6d2f",
    "#5a5a5a",
)
_STEPS: Final = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_SUFFIXES: Final = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"))


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Decimal, ...]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_step(top: Decimal, ticks: int = TICKS) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten whose `ticks` steps reach `top`."""
    if top <= 0:
        return Decimal(1)
    raw = top / ticks
    scale = Decimal(10) ** raw.adjusted()
    for step in _STEPS:
        if step * scale >= raw:
            return step * scale
    return 10 * scale


def compact(value: Decimal) -> str:
    """A tick label: 1.5M, 250,000, 0.25 (exact: only trailing zeros are dropped)."""
    for size, suffix in _SUFFIXES:
        if abs(value) >= size:
            return format((value / size).normalize(), "f") + suffix
    if value == value.to_integral_value():
        return format(value.quantize(Decimal(1)), ",f")
    return format(value.normalize(), ",f")


def _y_px(value: Decimal, top: Decimal) -> float:
    plot = HEIGHT_PX - TOP_PX - BOTTOM_PX
    return HEIGHT_PX - BOTTOM_PX - float(value / top) * plot


def _axes(top: Decimal, step: Decimal, labels: Sequence[str], unit: str) -> list[str]:
    parts = []
    for index in range(TICKS + 1):
        value = step * index
        y = _y_px(value, top)
        parts.append(
            f'<line x1="{LEFT_PX}" y1="{y:.1f}" x2="{WIDTH_PX - RIGHT_PX}" y2="{y:.1f}" '
            'stroke="#d8dde3" stroke-width="1"/>'
            f'<text x="{LEFT_PX - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#444">{escape(compact(value))}</text>'
        )
    parts.append(f'<text x="4" y="{TOP_PX + 4}" font-size="11" fill="#444">{escape(unit)}</text>')
    if labels:
        shown = _label_indexes(len(labels))
        for index in shown:
            x = _x_px(index, len(labels))
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT_PX - 8}" text-anchor="middle" font-size="11" '
                f'fill="#444">{escape(labels[index])}</text>'
            )
    return parts


def _label_indexes(count: int) -> list[int]:
    if count <= LABELS_SHOWN_MAX:
        return list(range(count))
    stride = (count - 1) / (LABELS_SHOWN_MAX - 1)
    return sorted({round(stride * k) for k in range(LABELS_SHOWN_MAX)})


def _x_px(index: int, count: int) -> float:
    plot = WIDTH_PX - LEFT_PX - RIGHT_PX
    slot = plot / count
    return LEFT_PX + slot * index + slot / 2


def _frame(title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH_PX:.0f} {HEIGHT_PX:.0f}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    if len(labels) > POINTS_MAX or len(series) > SERIES_MAX:
        raise ValueError(
            f"chart: expected at most {POINTS_MAX} points and {SERIES_MAX} series, "
            f"got {len(labels)} and {len(series)}"
        )
    for line in series:
        if len(line.values) != len(labels):
            raise ValueError(
                f"series {line.name}: expected {len(labels)} values, got {len(line.values)}"
            )
        if any(value < 0 for value in line.values):
            raise ValueError(f"series {line.name}: expected no negative value")


def line_chart(title: str, unit: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One line per series over the labels (oldest first), from zero to a round top.

    Raises ValueError when a series does not match the labels, is negative or too long.
    """
    _check(labels, series)
    top_value = max((v for line in series for v in line.values), default=Decimal(0))
    step = nice_step(top_value)
    top = step * TICKS
    body = _axes(top, step, labels, unit)
    for number, line in enumerate(series):
        points = [
            (_x_px(i, len(labels)), _y_px(v, top), label, v)
            for i, (label, v) in enumerate(zip(labels, line.values, strict=True))
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{colour(number)}" stroke-width="2"/>'
        )
        for x, y, label, value in points:
            tip = f"{line.name} {label}: {money(value)} {unit}"
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour(number)}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    return _frame(title, body)


def stacked_bars(title: str, unit: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One bar per label, stacked by series (bottom first).

    Raises ValueError when a series does not match the labels, is negative or too long.
    """
    _check(labels, series)
    totals = [sum((line.values[i] for line in series), Decimal(0)) for i in range(len(labels))]
    step = nice_step(max(totals, default=Decimal(0)))
    top = step * TICKS
    body = _axes(top, step, labels, unit)
    slot = (WIDTH_PX - LEFT_PX - RIGHT_PX) / max(len(labels), 1)
    bar = max(slot * 0.7, 1.0)
    for index, label in enumerate(labels):
        base = Decimal(0)
        x = _x_px(index, len(labels)) - bar / 2
        for number, line in enumerate(series):
            value = line.values[index]
            if value == 0:
                continue
            y_top, y_bottom = _y_px(base + value, top), _y_px(base, top)
            tip = f"{line.name} {label}: {money(value)} {unit}"
            body.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{colour(number)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            base += value
    return _frame(title, body)
