"""A report as a Word-style PDF (reportlab): A4, ruled tables whose labels wrap over lines, tables that
run on to the next page, page numbers "- N -" in the footer."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .fonts import cjk_font_path
from .layout import Block, layout
from .model import ReportSpec

FONT = "NianbaoCJK"


@cache
def _register_font() -> str:
    pdfmetrics.registerFont(TTFont(FONT, str(cjk_font_path()), subfontIndex=0))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _register_font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=26, alignment=1, spaceAfter=6),
        "heading": ParagraphStyle("heading", fontName=font, fontSize=12, leading=20, spaceBefore=6),
        "paragraph": ParagraphStyle("paragraph", fontName=font, fontSize=11, leading=19, firstLineIndent=22,
                                    wordWrap="CJK"),
        "signature": ParagraphStyle("signature", fontName=font, fontSize=11, leading=19, alignment=2),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK"),
    }


def _table(block: Block, styles: dict[str, ParagraphStyle], width: float, *, repeat_header: bool = False) -> Table:
    n_cols = max(sum(c.colspan for c in row) for row in block.rows)
    grid: list[list[Any]] = [["" for _ in range(n_cols)] for _ in block.rows]
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("FONTNAME", (0, 0), (-1, -1), styles["cell"].fontName),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"),
    ]
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(block.rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            grid[r][c] = Paragraph(cell.text, styles["cell"]) if cell.label and cell.text else cell.text
            if cell.rowspan > 1 or cell.colspan > 1:
                commands.append(("SPAN", (c, r), (c + cell.colspan - 1, r + cell.rowspan - 1)))
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            c += cell.colspan
    if n_cols == 10:  # 表三: three label columns, seven figures
        widths = [14 * mm, 22 * mm, 44 * mm] + [(width - 80 * mm) / 7] * 7
    elif n_cols == 15:
        widths = [width / 15] * 15
    else:
        widths = [width * 0.34] + [width * 0.66 / (n_cols - 1)] * (n_cols - 1)
    # 表三 and 表四 open with three header rows; some agencies repeat them on each page the table runs on to
    header_rows = 3 if repeat_header and n_cols in (10, 15) else 0
    return Table(grid, colWidths=widths, style=TableStyle(commands), repeatRows=header_rows, splitByRow=1)


def _page_number(canvas: Any, document: Any) -> None:
    canvas.saveState()
    canvas.setFont(_register_font(), 10)
    canvas.drawCentredString(A4[0] / 2, 12 * mm, f"- {document.page} -")
    canvas.restoreState()


def render_pdf(spec: ReportSpec, *, repeat_headers: bool = False) -> bytes:
    styles = _styles()
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=22 * mm,
                                 bottomMargin=22 * mm, title=spec.record.title or "", author=spec.record.agency or "")
    flow: list[Any] = []
    for block in layout(spec):
        if block.kind == "table":
            flow.append(_table(block, styles, document.width, repeat_header=repeat_headers))
            flow.append(Spacer(1, 4 * mm))
        else:
            flow.append(Paragraph(block.text, styles[block.kind]))
    document.build(flow, onFirstPage=_page_number, onLaterPages=_page_number)
    return out.getvalue()
