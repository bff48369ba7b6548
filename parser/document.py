"""The common shape every extractor produces: rows of cells in reading order.

A paragraph of text is a row with one cell and no table; a table row keeps its grid positions, with
`None` where a merged cell continues (rowspan/colspan) and "" where the cell is printed empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# An OCR reading at or above this confidence (0–100) is taken as read; below it, a person should look.
SURE_CONFIDENCE = 85.0


@dataclass(frozen=True)
class Row:
    cells: tuple[str | None, ...]
    page: int | None = None
    table: int | None = None  # index of the table in the document, None for running text
    # OCR only: how sure the recogniser was of each cell (0–100), None where nothing was read
    confidence: tuple[float | None, ...] | None = None

    @property
    def text(self) -> str:
        return " ".join(c for c in self.cells if c)


@dataclass
class Document:
    format: str
    rows: list[Row] = field(default_factory=list)
    pages: int | None = None
    meta: dict[str, str] = field(default_factory=dict)  # e.g. title, published (from the page, not the text)
    ocr: bool = False

    def paragraphs(self) -> list[str]:
        return [r.text for r in self.rows if r.table is None and r.text.strip()]

    def full_text(self) -> str:
        return "\n".join(r.text for r in self.rows if r.text.strip())
