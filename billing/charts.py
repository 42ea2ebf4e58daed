"""The charges chart, drawn on the server: coins per billing period, by kind, as SVG geometry
the template writes out (no script, nothing fetched)."""

from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 48


@dataclass
class Bar:
    pbp: int
    label: str
    x: float
    width: float
    segments: list  # (kind, y, height, amount)
    total: Decimal
    selected: bool
    label_x: float
    year: str  # under the first bar and each January
    full_label: str


def nice_ceiling(value: Decimal) -> Decimal:
    """A round number ≥ value for the axis (1, 2, 5 × 10^n)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return Decimal(step) * magnitude
    return Decimal(10) * magnitude


def period_chart(periods, totals, kinds, selected: int) -> dict:
    """`periods`: [(pbp, Period)] oldest first; `totals`: {(period start, kind): coins}.
    Negative totals (credits) draw no bar; the table beside the chart lists them."""
    peak = max([sum((max(totals.get((period.start, kind), Decimal(0)), Decimal(0)) for kind in kinds), Decimal(0))
                for _, period in periods] + [Decimal(0)])
    top = nice_ceiling(peak)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(periods), 1)
    bars = []
    for index, (pbp, period) in enumerate(periods):
        x = LEFT + index * slot + slot * 0.15
        width = slot * 0.7
        y = HEIGHT - BOTTOM
        segments = []
        total = Decimal(0)
        for kind in kinds:
            amount = totals.get((period.start, kind), Decimal(0))
            total += amount
            height = float(max(amount, Decimal(0)) / top) * plot_h
            y -= height
            segments.append((kind, round(y, 1), round(height, 1), amount))
        bars.append(Bar(pbp=pbp, label=period.start.strftime("%b"), x=round(x, 1), width=round(width, 1),
                        segments=segments, total=total, selected=pbp == selected,
                        label_x=round(x + width / 2, 1),
                        year=str(period.start.year) if index == 0 or period.start.month == 1 else "",
                        full_label=period.start.strftime("%b %Y")))
    ticks = [(round(HEIGHT - BOTTOM - plot_h * i / 4, 1), top * i / 4) for i in range(5)]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "baseline": HEIGHT - BOTTOM,
            "label_y": HEIGHT - BOTTOM + 16, "year_y": HEIGHT - BOTTOM + 32, "bars": bars, "ticks": ticks, "top": top}
