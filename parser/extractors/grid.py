"""Expanding row/col spans into a rectangular grid, within a size limit (spans are attacker-controlled)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LimitExceeded

MAX_COLSPAN = 1000  # as browsers clamp it


def expand(rows: Sequence[Sequence[tuple[str, int, int]]], *, max_cells: int = 200_000) -> list[list[str | None]]:
    """Rows of (text, rowspan, colspan) into a grid; spanned positions hold None. A rowspan reaching past the
    table's last row ends there (as browsers do); a grid over `max_cells` raises `LimitExceeded`."""
    area = 0
    for r, cells in enumerate(rows):
        for _, rowspan, colspan in cells:
            area += min(max(rowspan, 1), len(rows) - r) * min(max(colspan, 1), MAX_COLSPAN)
        if area > max_cells:
            raise LimitExceeded(f"a table of more than {max_cells} cells (row and column spans)")
    grid: list[list[str | None]] = []
    taken: set[tuple[int, int]] = set()
    for r, cells in enumerate(rows):
        line: dict[int, str | None] = {}
        c = 0
        for text, rowspan, colspan in cells:
            rowspan = min(max(rowspan, 1), len(rows) - r)
            colspan = min(max(colspan, 1), MAX_COLSPAN)
            while (r, c) in taken:
                line.setdefault(c, None)
                c += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken.add((r + dr, c + dc))
                    if dr == 0:
                        line[c + dc] = text if dc == 0 else None
            c += colspan
        while (r, c) in taken:
            line.setdefault(c, None)
            c += 1
        width = max(line) + 1 if line else 0
        grid.append([line.get(i) for i in range(width)])
    # fill positions covered from above that lie beyond a row's own cells
    width = max((len(g) for g in grid), default=0)
    if width * len(grid) > max_cells:
        raise LimitExceeded(f"a table of {len(grid)} rows by {width} columns")
    return [g + [None] * (width - len(g)) for g in grid]
