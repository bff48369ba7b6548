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

from ..cells import squash
from ..document import Document, Row
from ..errors import CorruptDocument, EncryptedDocument, LimitExceeded
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
            if len(non_empty) == 1 and all(c is None or c == "" or c == non_empty[0] for c in cleaned) and \
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
                rows.extend(row for _, row in items)
                page.flush_cache()
        except (PdfminerException, PDFSyntaxError, KeyError, TypeError, AttributeError, AssertionError) as exc:
            raise CorruptDocument(f"corrupt PDF: {exc}") from exc
        return Document(format="pdf", rows=rows, pages=len(pages))


def text_chars(data: bytes) -> int:
    """How much text the PDF's text layer holds (0 for a scan)."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return sum(len(page.chars) for page in pdf.pages[:20])
