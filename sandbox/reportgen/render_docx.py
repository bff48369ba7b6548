"""A report as a Word document (DOCX) with merged table cells, as agencies write them."""

from __future__ import annotations

import io

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from .layout import Block, layout
from .model import ReportSpec


def _grid_size(block: Block) -> tuple[int, int]:
    width = 0
    for row in block.rows[:1]:
        width = sum(c.colspan for c in row)
    return len(block.rows), max(width, max(sum(c.colspan for c in row) for row in block.rows))


def _add_table(document: docx.document.Document, block: Block) -> None:
    n_rows, n_cols = _grid_size(block)
    table = document.add_table(rows=n_rows, cols=n_cols)
    table.style = "Table Grid"
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(block.rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            target = table.cell(r, c)
            if cell.rowspan > 1 or cell.colspan > 1:
                target = target.merge(table.cell(r + cell.rowspan - 1, c + cell.colspan - 1))
            target.text = cell.text
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            c += cell.colspan


def render_docx(spec: ReportSpec) -> bytes:
    document = docx.Document()
    style = document.styles["Normal"]
    style.font.size = Pt(10.5)
    for block in layout(spec):
        if block.kind == "title":
            paragraph = document.add_paragraph(block.text)
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif block.kind in ("heading", "paragraph"):
            document.add_paragraph(block.text)
        elif block.kind == "table":
            _add_table(document, block)
        elif block.kind == "signature":
            document.add_paragraph(block.text).alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
