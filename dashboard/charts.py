"""Charts as inline SVG made on the server (no JavaScript): horizontal bars for rates, columns for a series.
Labels are escaped; numbers are formatted here."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR = 22
LABEL_WIDTH = 170
WIDTH = 560


def rate_bars(rows: Sequence[tuple[str, float, int]], *, title: str) -> str:
    """One bar per (label, rate 0…1, count): the share on time."""
    if not rows:
        return '<p class="empty">暂无可计算的数据</p>'
    height = BAR * len(rows) + 10
    span = WIDTH - LABEL_WIDTH - 90
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for index, (label, rate, count) in enumerate(rows):
        y = 5 + index * BAR
        width = max(round(span * rate), 1)
        colour = "#2e7d32" if rate >= 0.9 else "#f9a825" if rate >= 0.7 else "#c62828"
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR - 6}" '
                     f'fill="{colour}"><title>{escape(label)}：{rate:.0%}（{count}个机关）</title></rect>'
                     f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{rate:.0%} · {count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def series_columns(points: Sequence[tuple[str, float | None]], *, title: str) -> str:
    """Columns for a yearly series (e.g. applications received); a missing value is a gap."""
    known = [v for _, v in points if v is not None]
    if not known:
        return '<p class="empty">暂无数据</p>'
    top = max(max(known), 1)
    height, base, column = 180, 150, 56
    width = max(len(points) * (column + 16) + 20, 200)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(points):
        x = 20 + index * (column + 16)
        if value is not None:
            bar = round(120 * value / top)
            parts.append(f'<rect class="bar" x="{x}" y="{base - bar}" width="{column}" height="{bar}" fill="#1565c0">'
                         f'<title>{escape(label)}：{value:g}</title></rect>'
                         f'<text x="{x + column / 2}" y="{base - bar - 4}" text-anchor="middle">{value:g}</text>')
        parts.append(f'<text x="{x + column / 2}" y="{base + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
