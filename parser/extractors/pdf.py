"""PDFs with a text layer (pdfplumber): running text and ruled tables in reading order per page.

Tables that continue on the next page need no joining here: the template readers read rows as one
stream. Page furniture ("- 1 -", "第 1 页") is dropped.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfplumber.utils.exceptions import PdfminerException

from ..cells import fold, is_blank, is_number, squash
from ..document import Document, Row
from ..errors import CorruptDocument, EncryptedDocument, LimitExceeded
from ..labels import match_proactive_row, match_request_row
from ..limits import Limits

_PAGE_FURNITURE = re.compile(r"^[-—–－\s]*\d{1,3}[-—–－\s]*$|^第\s*\d+\s*页(\s*/?\s*共\s*\d+\s*页)?$|^\d+\s*/\s*\d+$")


def _cell(text: str | None) -> str | None:
    if text is None:
        return None
    return squash(text.replace("\n", "")) if re.search(r"[\u4e00-\u9fff]\n[\u4e00-\u9fff]", text) else squash(text)


def _page_rows(page: Any, page_no: int, table_offset: int) -> tuple[list[tuple[float, Row]], int]:
    items: list[tuple[float, Row]] = []
    tables = page.find_tables()
    boxes = []
    count = 0
    for table in tables:
        grid = table.extract()
        width = max((len(r) for r in grid), default=0)
        if width <= 1:
            continue  # a page border drawn as a box, not a table: its text is read as running text
        boxes.append(table.bbox)
        for row_obj, cells in zip(table.rows, grid, strict=False):
            cleaned = tuple(_cell(c) for c in cells)
            non_empty = [c for c in cleaned if c]
            if not non_empty:
                continue
            # a heading merged across the whole table (第二十条第（一）项) reads as running text; a label whose
            # figures are all printed blank ("" cells, not spanned None) stays a table row
            if len(non_empty) == 1 and all(c is None or c == non_empty[0] for c in cleaned) and \
                    not re.fullmatch(r"[\d.+\-]+", non_empty[0]):
                items.append((row_obj.bbox[1], Row((non_empty[0],), page=page_no)))
            else:
                items.append((row_obj.bbox[1], Row(cleaned, page=page_no, table=table_offset + count)))
        count += 1

    def outside(obj: dict[str, Any]) -> bool:
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        return not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)

    text_page = page.filter(outside) if boxes else page
    for line in text_page.extract_text_lines(return_chars=False):
        text = squash(line["text"])
        if text and not _PAGE_FURNITURE.match(text):
            items.append((line["top"], Row((text,), page=page_no)))
    items.sort(key=lambda item: item[0])
    return items, count


_ROW_START = re.compile(r"^(?:[（(][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+[、.．]|\d+[、.．]|其中)")


def _label_cell(cells: tuple[str | None, ...]) -> int | None:
    """Index of the only label cell of a row whose other cells are figures or printed blanks, else None."""
    labels = [i for i, c in enumerate(cells) if c and not is_blank(c) and not is_number(c)]
    return labels[-1] if labels else None


def _names_a_row(label: str) -> bool:
    folded = fold(label)
    return bool(match_request_row(folded) or match_proactive_row(folded))


def _join_across_page_break(previous: Row, first: Row) -> Row | None:
    """A table row that a page break cut in two (“4.无正” | “当理由大量反复申请”), joined; None when `first`
    starts a row of its own. One part carries the figures, the other only label text and blanks."""
    if previous.table is None or first.table is None or previous.page == first.page:
        return None
    at, cut = _label_cell(previous.cells), _label_cell(first.cells)
    if at is None or cut is None:
        return None
    before, after = previous.cells[at], first.cells[cut]
    assert before is not None and after is not None
    if _ROW_START.match(fold(after)) or (_names_a_row(after) and _names_a_row(before)):
        return None
    previous_values = [c for c in previous.cells[at + 1:] if c is not None]
    first_values = [c for c in first.cells[cut + 1:] if c is not None]
    previous_blank = bool(previous_values) and all(is_blank(c) for c in previous_values)
    first_blank = bool(first_values) and all(is_blank(c) for c in first_values)
    if not (previous_blank or first_blank):
        return None
    joined = squash(before + after) if re.search(r"[\u4e00-\u9fff\W]$", before) else squash(f"{before} {after}")
    values = tuple(previous_values) if first_blank else tuple(first_values)
    return Row((*previous.cells[:at], joined, *values), page=previous.page, table=previous.table)


def extract_pdf(data: bytes, limits: Limits) -> Document:
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PdfminerException as exc:
        cause = exc.args[0] if exc.args else exc
        if isinstance(cause, (PDFPasswordIncorrect, PDFEncryptionError)):
            raise EncryptedDocument("encrypted PDF, no password") from exc
        raise CorruptDocument(f"corrupt PDF: {cause}") from exc
    except (PDFSyntaxError, ValueError, KeyError, TypeError) as exc:
        raise CorruptDocument(f"corrupt PDF: {exc}") from exc
    with pdf:
        try:
            pages = pdf.pages
            if len(pages) > limits.max_pages:
                raise LimitExceeded(f"PDF has {len(pages)} pages, over the limit of {limits.max_pages}")
            rows: list[Row] = []
            tables = 0
            for number, page in enumerate(pages, start=1):
                items, count = _page_rows(page, number, tables)
                tables += count
                page_rows = [row for _, row in items]
                if rows and page_rows:
                    joined = _join_across_page_break(rows[-1], page_rows[0])
                    if joined is not None:
                        rows[-1] = joined
                        page_rows = page_rows[1:]
                rows.extend(page_rows)
                page.flush_cache()
        except (PdfminerException, PDFSyntaxError, KeyError, TypeError, AttributeError, AssertionError) as exc:
            raise CorruptDocument(f"corrupt PDF: {exc}") from exc
        return Document(format="pdf", rows=rows, pages=len(pages))


def text_chars(data: bytes) -> int:
    """How much text the PDF's text layer holds (0 for a scan)."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return sum(len(page.chars) for page in pdf.pages[:20])
