"""Inline SVG and grid models for the SLA page: breaches per week, a calendar's week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class WeekCount:
    """One week's outcome counts: targets breached, and of those, met late."""

    week: date
    breached: int
    met_late: int


def week_start(moment: datetime) -> date:
    """The Monday of ``moment``'s ISO week."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


def per_week(
    breaches: list[tuple[datetime, datetime | None]], *, now: datetime, weeks: int
) -> list[WeekCount]:
    """Count ``(breach_time, met_time)`` pairs into the last ``weeks`` ISO weeks, oldest
    first; weeks without breaches are zero rows, older breaches are left out."""
    first = week_start(now) - timedelta(weeks=weeks - 1)
    breached = {first + timedelta(weeks=i): 0 for i in range(weeks)}
    late = dict(breached)
    for breach_time, met_time in breaches:
        week = week_start(breach_time)
        if week in breached:
            breached[week] += 1
            late[week] += 1 if met_time is not None else 0
    return [WeekCount(w, breached[w], late[w]) for w in sorted(breached)]


def bar_chart(counts: list[WeekCount], *, width: int = 640, height: int = 180) -> str:
    """An accessible SVG bar chart (role=img, a title, one <title> per bar)."""
    pad, axis = 24, 20
    top = max((c.breached for c in counts), default=0) or 1
    slot = (width - 2 * pad) / max(len(counts), 1)
    bar = max(slot * 0.6, 2)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">SLA breaches per week; the darker part was met late</title>',
        f'<line x1="{pad}" y1="{height - axis}" x2="{width - pad}" y2="{height - axis}" '
        'class="axis"/>',
    ]
    usable = height - axis - pad
    for i, c in enumerate(counts):
        x = pad + i * slot + (slot - bar) / 2
        h = usable * c.breached / top
        h_late = usable * c.met_late / top
        y = height - axis - h
        tip = escape(f"week of {c.week.isoformat()}: {c.breached} breached, {c.met_late} met late")
        parts += [
            f"<g><title>{tip}</title>",
            f'<rect class="bar-breached" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
            f'height="{h:.1f}"/>',
            f'<rect class="bar-late" x="{x:.1f}" y="{height - axis - h_late:.1f}" '
            f'width="{bar:.1f}" height="{h_late:.1f}"/>',
            f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{c.week.strftime('%d %b')}</text>",
        ]
        if c.breached:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">'
                f"{c.breached}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class DayRow:
    """One weekday of a calendar's week view: 24 hourly cells, True when open."""

    name: str
    hours: tuple[bool, ...]
    holidays: tuple[str, ...] = ()


def week_view(
    shifts: list[tuple[list[int], int, int]],
    *,
    always_open: bool,
    holidays: dict[int, list[str]] | None = None,
) -> list[DayRow]:
    """Hourly open/closed grid from shifts ``(days 1..7 Mon..Sun, start_min, end_min)``;
    an hour counts as open if any of it is inside a shift; ``end <= start`` wraps past
    midnight into the next day."""
    grid = [[always_open] * 24 for _ in range(7)]
    for days, start, end in shifts:
        for day in days:
            if not 1 <= day <= 7:
                continue
            spans = (
                [(day - 1, start, end)]
                if end > start
                else [
                    (day - 1, start, 1440),
                    (day % 7, 0, end),
                ]
            )
            for index, lo, hi in spans:
                for hour in range(24):
                    if lo < (hour + 1) * 60 and hi > hour * 60:
                        grid[index][hour] = True
    holidays = holidays or {}
    return [DayRow(DAYS[i], tuple(grid[i]), tuple(holidays.get(i + 1, []))) for i in range(7)]
