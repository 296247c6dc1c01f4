"""Charts as server-rendered SVG: no script, no chart library, nothing the Content-Security-Policy has to
allow. Every label is escaped; colours are presentation attributes (an inline style would be refused)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT, PAD = 640, 180, 32
PALETTE = {
    "ADD": "#2f7d32",
    "UPDATE": "#1f5fa8",
    "DELETE": "#b3261e",
    "NONE": "#8a6d00",
    "SKIP": "#777777",
    "forget": "#7b1fa2",
    "undo": "#00838f",
    "reconcile": "#5d4037",
    "import": "#455a64",
    "review": "#ef6c00",
    "edit": "#3949ab",
}


def _frame(title: str, body: str, legend: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 30}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - 8}" y2="{HEIGHT}" stroke="#999"/>{body}{legend}</svg>'
    )


def _empty(title: str) -> str:
    return _frame(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#777">no data yet</text>')


def _axis(top: float, label_first: str, label_last: str, unit: str = "") -> str:
    return (
        f'<text x="{PAD - 4}" y="{PAD - 10}" text-anchor="end" font-size="11" fill="#555">{escape(_num(top))}{unit}'
        f'</text><text x="{PAD}" y="{HEIGHT + 14}" font-size="11" fill="#555">{escape(label_first)}</text>'
        f'<text x="{WIDTH - 8}" y="{HEIGHT + 14}" text-anchor="end" font-size="11" fill="#555">'
        f"{escape(label_last)}</text>"
    )


def _num(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def line(title: str, points: Sequence[tuple[str, float]], unit: str = "") -> str:
    """A line over days (or any labels), with its area shaded."""
    if not points:
        return _empty(title)
    top = max(value for _, value in points) or 1.0
    step = (WIDTH - PAD - 8) / max(1, len(points) - 1)
    xy = [(PAD + i * step, HEIGHT - (value / top) * (HEIGHT - PAD)) for i, (_, value) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    area = f"{PAD},{HEIGHT} {path} {xy[-1][0]:.1f},{HEIGHT}"
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1f5fa8"><title>{escape(label)}: {escape(_num(v))}{unit}'
        "</title></circle>"
        for (x, y), (label, v) in zip(xy, points, strict=True)
    )
    body = (
        f'<polygon points="{area}" fill="#1f5fa8" fill-opacity="0.12"/>'
        f'<polyline points="{path}" fill="none" stroke="#1f5fa8" stroke-width="2"/>{dots}'
        + _axis(top, points[0][0], points[-1][0], unit)
    )
    return _frame(title, body)


def stacked(title: str, days: Mapping[str, Mapping[str, int]]) -> str:
    """Bars per day, stacked by label."""
    if not days:
        return _empty(title)
    labels = sorted(
        {label for counts in days.values() for label in counts},
        key=lambda x: list(PALETTE).index(x) if x in PALETTE else 99,
    )
    top = max(sum(counts.values()) for counts in days.values()) or 1
    slot = (WIDTH - PAD - 8) / len(days)
    bar = max(2.0, slot * 0.7)
    parts: list[str] = []
    for i, (day, counts) in enumerate(sorted(days.items())):
        y = float(HEIGHT)
        for label in labels:
            n = counts.get(label, 0)
            if not n:
                continue
            h = n / top * (HEIGHT - PAD)
            y -= h
            parts.append(
                f'<rect x="{PAD + i * slot:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE.get(label, "#999")}"><title>{escape(day)} {escape(label)}: {n}</title></rect>'
            )
    legend = "".join(
        f'<rect x="{PAD + j * 78}" y="{HEIGHT + 20}" width="9" height="9" fill="{PALETTE.get(label, "#999")}"/>'
        f'<text x="{PAD + j * 78 + 12}" y="{HEIGHT + 28}" font-size="10" fill="#333">{escape(label)}</text>'
        for j, label in enumerate(labels[:8])
    )
    ordered = sorted(days)
    return _frame(title, "".join(parts) + _axis(top, ordered[0], ordered[-1]), legend)


def histogram(title: str, values: Sequence[float], unit: str = " ms", bins: int = 20) -> str:
    """How values spread (decision latency)."""
    if not values:
        return _empty(title)
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    top = max(counts)
    slot = (WIDTH - PAD - 8) / bins
    parts = [
        f'<rect x="{PAD + i * slot:.1f}" y="{HEIGHT - n / top * (HEIGHT - PAD):.1f}" width="{slot * 0.85:.1f}" '
        f'height="{n / top * (HEIGHT - PAD):.1f}" fill="#1f5fa8"><title>{_num(low + i * width)} to '
        f"{_num(low + (i + 1) * width)}{escape(unit)}: {n}</title></rect>"
        for i, n in enumerate(counts)
        if n
    ]
    return _frame(title, "".join(parts) + _axis(top, f"{_num(low)}{unit}", f"{_num(high)}{unit}"))
