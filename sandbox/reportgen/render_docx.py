"""A report as a Word document (DOCX) with merged table cells, as agencies write them."""

from __future__ import annotations

import io
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt

from .layout import Block, layout
from .model import ReportSpec


def _tc(text: str, colspan: int, vmerge: str | None) -> Any:
    tc = OxmlElement("w:tc")
    properties = OxmlElement("w:tcPr")
    if colspan > 1:
        span = OxmlElement("w:gridSpan")
        span.set(qn("w:val"), str(colspan))
        properties.append(span)
    if vmerge is not None:
        merge = OxmlElement("w:vMerge")
        if vmerge == "restart":
            merge.set(qn("w:val"), "restart")
        properties.append(merge)
    tc.append(properties)
    paragraph = OxmlElement("w:p")
    if text:
        run = OxmlElement("w:r")
        text_element = OxmlElement("w:t")
        text_element.text = text
        run.append(text_element)
        paragraph.append(run)
    tc.append(paragraph)
    return tc


def _add_table(document: DocxDocument, block: Block) -> None:
    """Written as WordprocessingML directly (gridSpan / vMerge), as Word itself stores merged cells;
    python-docx's cell.merge() is quadratic and too slow for hundreds of test documents."""
    n_cols = max(sum(c.colspan for c in row) for row in block.rows)
    table = document.add_table(rows=0, cols=n_cols)
    table.style = "Table Grid"
    tbl = table._tbl
    covered: dict[tuple[int, int], tuple[int, int]] = {}  # (row, col) → colspan of a cell merged from above
    for r, row in enumerate(block.rows):
        tr = OxmlElement("w:tr")
        c = 0
        cells = list(row)
        while c < n_cols:
            if (r, c) in covered:
                colspan, _ = covered[(r, c)]
                tr.append(_tc("", colspan, "continue"))
                c += colspan
                continue
            if not cells:
                tr.append(_tc("", 1, None))
                c += 1
                continue
            cell = cells.pop(0)
            tr.append(_tc(cell.text, cell.colspan, "restart" if cell.rowspan > 1 else None))
            for dr in range(1, cell.rowspan):
                covered[(r + dr, c)] = (cell.colspan, dr)
            c += cell.colspan
        tbl.append(tr)


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
