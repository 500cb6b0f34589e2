"""Payments per day by gateway as a stacked bar chart, drawn on the server as SVG (no script, no library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

PALETTE = ("#2f5bd3", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4", "#667085")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 900, 240, 40, 24, 10


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    ticks: list[tuple[float, int]]
    legend: list[tuple[str, str]]


def per_day(rows: list[dict[str, Any]], first: date, days: int) -> Chart:
    """Rows of {day, gateway, count} as stacked bars, one per day from `first`, a colour per gateway."""
    gateways = sorted({row["gateway"] for row in rows})
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(gateways)}
    counts: dict[date, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["day"], {})[row["gateway"]] = int(row["count"])
    peak = max([sum(day.values()) for day in counts.values()] or [0]) or 1
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / days
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for i in range(days):
        day = first + timedelta(days=i)
        x = LEFT + i * slot
        y = float(HEIGHT - BOTTOM)
        for gateway in gateways:
            n = counts.get(day, {}).get(gateway, 0)
            if n:
                h = plot_h * n / peak
                y -= h
                bars.append(Bar(x + 1, y, max(slot - 2, 1), h, colors[gateway], f"{day.isoformat()} {gateway}: {n}"))
        if i % 5 == 0 or i == days - 1:
            labels.append((x + slot / 2, day.strftime("%d.%m")))
    step = max(1, -(-peak // 4))  # whole payments per gridline, so small days do not repeat a label
    ticks = [(HEIGHT - BOTTOM - plot_h * v / peak, v) for v in range(0, peak + 1, step)]
    return Chart(WIDTH, HEIGHT, bars, labels, ticks, [(g, colors[g]) for g in gateways])
