"""A trend chart drawn with fpdf2's vector primitives: each hand's mean over the tests, and its norm band.

The norm band is the range "within normal limits" (an SD score within
+/- ``station.norms.NORMAL_BAND_SD``) of the norm row used at each test: it
moves as the patient's age band changes. Dates are spaced by time; tests on
one day are spread evenly within it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from fpdf import FPDF

from station.report.layout import FONT, GREY, RULE, latin1
from station.report.trend import TrendPoint

#: hand -> (line colour, band fill colour)
COLOURS = {"dominant": ((20, 90, 170), (120, 170, 230)), "non-dominant": ((200, 90, 20), (240, 180, 120))}
OTHER = ((60, 60, 60), (190, 190, 190))


def draw_trend(pdf: FPDF, points: Sequence[TrendPoint], *, x: float, y: float, w: float, h: float,
               unit: str, title: str) -> None:
    """Draw the chart in the box (x, y, w, h) mm. With no point, a line saying so."""
    pdf.set_font(FONT, "B", 8)
    pdf.set_xy(x, y)
    pdf.cell(w, 4, latin1(title))
    if not points:
        pdf.set_font(FONT, "", 8)
        pdf.set_xy(x, y + 5)
        pdf.cell(w, 4, "No completed test to plot.")
        return
    left, top, right, bottom = x + 11, y + 6, x + w - 2, y + h - 9
    xs = _x_positions(points)
    lo, hi = _y_range(points)
    sx = lambda v: left + (right - left) * v  # noqa: E731 (v in 0..1)
    sy = lambda v: bottom - (bottom - top) * (v - lo) / (hi - lo)  # noqa: E731
    # bands first, then axes, then lines: the lines stay visible over the bands
    hands = list(dict.fromkeys(p.hand for p in points))
    for hand in hands:
        band = [(xs[i], p) for i, p in enumerate(points) if p.hand == hand and p.norm_low is not None]
        if not band:
            continue
        upper = [(sx(v), sy(p.norm_high)) for v, p in band]
        lower = [(sx(v), sy(p.norm_low)) for v, p in reversed(band)]
        if len(band) == 1:  # one test: a short bar, so the band is still seen
            (px, ph), (_, pl) = upper[0], lower[0]
            upper, lower = [(px - 1.5, ph), (px + 1.5, ph)], [(px + 1.5, pl), (px - 1.5, pl)]
        pdf.set_fill_color(*COLOURS.get(hand, OTHER)[1])
        with pdf.local_context(fill_opacity=0.25):
            pdf.polygon(upper + lower, style="F")
    _axes(pdf, points, xs, left, top, right, bottom, lo, hi, sx, sy, unit)
    for hand in hands:
        line = [(sx(xs[i]), sy(p.value)) for i, p in enumerate(points) if p.hand == hand]
        colour = COLOURS.get(hand, OTHER)[0]
        pdf.set_draw_color(*colour)
        pdf.set_fill_color(*colour)
        pdf.set_line_width(0.45)
        if len(line) > 1:
            pdf.polyline(line)
        for px, py in line:
            pdf.circle(px, py, 0.7, style="F")
    pdf.set_line_width(0.2)
    _legend(pdf, hands, any(p.norm_low is not None for p in points), x=left, y=bottom + 5)


def _x_positions(points: Sequence[TrendPoint]) -> list[float]:
    """0..1 per point: by date; several tests on a day share the day's slot in order."""
    days = sorted({p.date for p in points})
    ords = {d: _ordinal(d, k) for k, d in enumerate(days)}
    first, last = min(ords.values()), max(ords.values())
    span = (last - first) or 1.0
    tests_of_day: dict[str, list] = {}
    for p in points:
        ids = tests_of_day.setdefault(p.date, [])
        if p.test_id not in ids:
            ids.append(p.test_id)
    slot = 0.6 / max(len(days), 1)  # part of a day's share used to spread its tests
    out = []
    for p in points:
        ids = tests_of_day[p.date]
        shift = (ids.index(p.test_id) - (len(ids) - 1) / 2) * slot / max(len(ids), 1) if len(ids) > 1 else 0.0
        v = 0.5 if last == first else (ords[p.date] - first) / span
        out.append(min(1.0, max(0.0, 0.04 + 0.92 * v + shift)))
    return out


def _ordinal(day: str, k: int) -> float:
    try:
        return float(date.fromisoformat(day[:10]).toordinal())
    except ValueError:
        return float(k)  # no usable date: keep the order


def _y_range(points: Sequence[TrendPoint]) -> tuple[float, float]:
    vals = [p.value for p in points]
    vals += [v for p in points for v in (p.norm_low, p.norm_high) if v is not None]
    lo, hi = min(vals), max(vals)
    pad = max((hi - lo) * 0.1, 0.5)
    lo, hi = max(0.0, lo - pad), hi + pad
    step = _nice_step((hi - lo) / 4)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def _nice_step(raw: float) -> float:
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _axes(pdf, points, xs, left, top, right, bottom, lo, hi, sx, sy, unit) -> None:
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.15)
    pdf.set_font(FONT, "", 6.5)
    pdf.set_text_color(*GREY)
    step = _nice_step((hi - lo) / 4)
    v = lo
    while v <= hi + step / 1000:
        py = sy(v)
        pdf.line(left, py, right, py)
        pdf.set_xy(left - 11, py - 1.5)
        pdf.cell(10, 3, f"{v:g}", align="R")
        v += step
    pdf.set_draw_color(*GREY)
    pdf.line(left, top, left, bottom)
    pdf.line(left, bottom, right, bottom)
    pdf.set_xy(right - 20, top - 4.5)
    pdf.cell(20, 3, latin1(f"({unit})"), align="R")
    labelled: list[float] = []
    for xv, p in zip(xs, points, strict=True):
        px = sx(xv)
        if any(abs(px - q) < 14 for q in labelled):
            continue  # dates would overlap: label some
        labelled.append(px)
        pdf.line(px, bottom, px, bottom + 1)
        pdf.set_xy(px - 8, bottom + 1)
        pdf.cell(16, 3, latin1(p.date), align="C")
    pdf.set_text_color(0, 0, 0)


def _legend(pdf, hands, has_band: bool, *, x: float, y: float) -> None:
    pdf.set_font(FONT, "", 6.5)
    for hand in hands:
        colour, fill = COLOURS.get(hand, OTHER)
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.45)
        pdf.line(x, y + 1.5, x + 5, y + 1.5)
        pdf.set_xy(x + 6, y)
        label = f"{hand} hand mean"
        pdf.cell(pdf.get_string_width(label) + 2, 3, label)
        x = pdf.get_x() + 2
        if has_band:
            pdf.set_fill_color(*fill)
            with pdf.local_context(fill_opacity=0.25):
                pdf.rect(x, y + 0.3, 5, 2.4, style="F")
            pdf.set_xy(x + 6, y)
            label = "norm: within normal limits"
            pdf.cell(pdf.get_string_width(label) + 2, 3, label)
            x = pdf.get_x() + 4
    pdf.set_line_width(0.2)
