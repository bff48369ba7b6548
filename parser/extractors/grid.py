"""Expanding row/col spans into a rectangular grid."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def expand(rows: Iterable[Sequence[tuple[str, int, int]]]) -> list[list[str | None]]:
    """Rows of (text, rowspan, colspan) into a grid; spanned positions hold None."""
    grid: list[list[str | None]] = []
    taken: dict[tuple[int, int], bool] = {}
    for r, cells in enumerate(rows):
        line: dict[int, str | None] = {}
        c = 0
        for text, rowspan, colspan in cells:
            while taken.get((r, c)):
                line.setdefault(c, None)
                c += 1
            for dr in range(max(rowspan, 1)):
                for dc in range(max(colspan, 1)):
                    taken[(r + dr, c + dc)] = True
                    if dr == 0:
                        line[c + dc] = text if dc == 0 else None
            c += max(colspan, 1)
        while taken.get((r, c)):
            line.setdefault(c, None)
            c += 1
        width = max(line) + 1 if line else 0
        grid.append([line.get(i) for i in range(width)])
    # fill positions covered from above that lie beyond a row's own cells
    width = max((len(g) for g in grid), default=0)
    return [g + [None] * (width - len(g)) for g in grid]
