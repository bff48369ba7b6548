"""PDFs with a text layer (pdfplumber): running text and ruled tables in reading order per page.

Tables that continue on the next page need no joining here: the template readers read rows as one
stream. Page furniture ("- 1 -", "第 1 页") is dropped.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import zlib
from typing import Any

import pdfplumber
from pdfminer import pdftypes
from pdfminer.layout import LTChar, LTCurve, LTLine, LTRect
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.pdftypes import resolve1
from pdfplumber.utils import text as text_utils
from pdfplumber.utils.exceptions import PdfminerException

from ..cells import fold, is_blank, is_number, squash
from ..document import Document, Row
from ..errors import CorruptDocument, EncryptedDocument, LimitExceeded, ParseError
from ..labels import match_proactive_row, match_request_row
from ..limits import Limits


def _quiet_pdfminer() -> None:
    """pdfminer calls `log.debug` about a million times for 20 reports (5 % of the time, even when nothing is
    logged); while debug logging is off, those calls are made no-ops."""
    for name, module in list(sys.modules.items()):
        log = getattr(module, "log", None)
        if name.startswith("pdfminer.") and isinstance(log, logging.Logger) and not log.isEnabledFor(logging.DEBUG):
            log.debug = _ignore  # type: ignore[method-assign]


def _ignore(*args: object, **kwargs: object) -> None:
    return None


_quiet_pdfminer()

_PAGE_FURNITURE = re.compile(r"^[-—–－\s]*\d{1,3}[-—–－\s]*$|^第\s*\d+\s*页(\s*/?\s*共\s*\d+\s*页)?$|^\d+\s*/\s*\d+$")


def _cell(text: str | None) -> str | None:
    if text is None:
        return None
    return squash(text.replace("\n", "")) if re.search(r"[\u4e00-\u9fff]\n[\u4e00-\u9fff]", text) else squash(text)


def _assign_chars(tables: list[Any], chars: list[dict[str, Any]]) -> tuple[list[list[list[list[Any] | None]]],
                                                                          list[dict[str, Any]]]:
    """One pass over the page's characters: each goes to the table cell holding its centre (as pdfplumber's
    `Table.extract` decides, without re-scanning every character for every row and cell) or, outside every
    table, to the running text."""
    table_rows = [table.rows for table in tables]  # a property pdfplumber recomputes on every access
    cells: list[list[list[list[Any] | None]]] = [
        [[[] if cell is not None else None for cell in row.cells] for row in rows] for rows in table_rows]
    boxes = [table.bbox for table in tables]
    row_boxes = [[row.bbox for row in rows] for rows in table_rows]
    outside: list[dict[str, Any]] = []
    for char in chars:
        x = (char["x0"] + char["x1"]) / 2
        y = (char["top"] + char["bottom"]) / 2
        inside = False
        for t, box in enumerate(boxes):
            if not (box[0] <= x <= box[2] and box[1] <= y <= box[3]):
                continue
            inside = True
            rows = table_rows[t]
            for r, row_box in enumerate(row_boxes[t]):
                if not (row_box[0] <= x < row_box[2] and row_box[1] <= y < row_box[3]):
                    continue
                found = False
                for c, cell in enumerate(rows[r].cells):
                    if cell is not None and cell[0] <= x < cell[2] and cell[1] <= y < cell[3]:
                        target = cells[t][r][c]
                        assert target is not None
                        target.append(char)
                        found = True
                        break
                if found:
                    break
        if not inside:
            outside.append(char)
    return cells, outside


def _lean_objects(page: Any) -> None:
    """Replace pdfplumber's per-object conversion for this page with one that keeps only what characters,
    table edges and their positions need (pdfplumber resolves every attribute of every character: colours,
    colour spaces, matrices, a fifth of a text PDF's reading time). Same coordinates, same object kinds."""
    height = page.height
    mb_x0, mb_top = page.mediabox[:2]
    initial_doctop = page.initial_doctop
    number = page.page_number

    def process_object(obj: Any) -> dict[str, Any]:
        kind = _KINDS.get(type(obj)) or re.sub(r"^LT", "", type(obj).__name__).lower()
        if not hasattr(obj, "y1"):
            return {"object_type": kind, "page_number": number}  # LTAnno: no position, dropped by pdfplumber
        top = (height - obj.y1) + mb_top
        attr: dict[str, Any] = {
            "object_type": kind, "page_number": number, "x0": obj.x0 + mb_x0, "x1": obj.x1 + mb_x0,
            "y0": obj.y0, "y1": obj.y1, "width": obj.width, "height": obj.height, "top": top,
            "bottom": (height - obj.y0) + mb_top, "doctop": initial_doctop + top,
        }
        if kind == "char":
            attr["text"] = obj.get_text()
            attr["upright"] = obj.upright
            attr["size"] = obj.size
            attr["fontname"] = obj.fontname
            attr["adv"] = obj.adv
        elif isinstance(obj, LTCurve):
            attr["pts"] = [(mb_x0 + x, mb_top + height - y) for x, y in obj.pts]
            attr["linewidth"] = obj.linewidth
            attr["stroke"] = obj.stroke
            attr["fill"] = obj.fill
        return attr

    page.process_object = process_object


def _page_rows(page: Any, page_no: int, table_offset: int) -> tuple[list[tuple[float, Row]], int]:
    items: list[tuple[float, Row]] = []
    _lean_objects(page)
    # a page border drawn as a box is not a table: its text is read as running text
    found = [(table, table.rows) for table in page.find_tables()]
    tables = [table for table, rows in found if max((len(row.cells) for row in rows), default=0) > 1]
    table_cells, outside = _assign_chars(tables, page.chars)
    for count, (table, grid) in enumerate(zip(tables, table_cells, strict=True)):
        for row_obj, row_cells in zip(table.rows, grid, strict=True):
            cleaned = tuple(None if chars is None else (_cell(text_utils.extract_text(chars)) if chars else "")
                            for chars in row_cells)
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
    if outside:
        for line in text_utils.chars_to_textmap(outside).extract_text_lines(strip=True, return_chars=False):
            text = squash(line["text"])
            if text and not _PAGE_FURNITURE.match(text):
                items.append((line["top"], Row((text,), page=page_no)))
    items.sort(key=lambda item: item[0])
    return items, len(tables)


_KINDS: dict[type, str] = {LTChar: "char", LTLine: "line", LTRect: "rect", LTCurve: "curve"}

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


class _BoundedZlib:
    """Stands in for the zlib module inside pdfminer, which inflates every stream whole: a 1 GB stream of
    zeros (1 MB compressed) would take gigabytes and minutes. Each stream is inflated up to
    `max_stream_bytes`, all of a document's up to `max_pdf_bytes_decoded`; past that, `LimitExceeded`."""

    error = zlib.error

    def __init__(self) -> None:
        self.start(Limits())

    def start(self, limits: Limits) -> None:
        self.per_stream = limits.max_stream_bytes
        self.left = limits.max_pdf_bytes_decoded

    def _take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise LimitExceeded("the PDF's streams inflate to more than the limit for one document")

    def decompress(self, data: bytes) -> bytes:
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, self.per_stream + 1)
        if len(out) > self.per_stream:
            raise LimitExceeded(f"a PDF stream inflates to more than {self.per_stream} bytes")
        if not inflater.eof:
            raise zlib.error("incomplete or truncated stream")
        self._take(len(out))
        return out

    def decompressobj(self, *args: Any) -> Any:
        return zlib.decompressobj(*args)

    def decompress_corrupted(self, data: bytes) -> bytes:
        """What a damaged stream yields up to its damage (pdfminer's own feeds it byte by byte, quadratic)."""
        inflater = zlib.decompressobj()
        parts: list[bytes] = []
        size = 0
        for at in range(0, len(data), 65536):
            chunk = data[at:at + 65536]
            try:
                parts.append(inflater.decompress(chunk, self.per_stream + 1 - size))
            except zlib.error:
                for i in range(len(chunk)):  # find how far the damaged chunk still inflates
                    try:
                        parts.append(inflater.decompress(chunk[i:i + 1]))
                    except zlib.error:
                        break
                break
            size += len(parts[-1])
            if size > self.per_stream or inflater.unconsumed_tail:
                raise LimitExceeded(f"a PDF stream inflates to more than {self.per_stream} bytes")
            if inflater.eof:
                break
        out = b"".join(parts)
        self._take(len(out))
        return out


_ZLIB = _BoundedZlib()
pdftypes.zlib = _ZLIB  # type: ignore[assignment]
pdftypes.decompress_corrupted = _ZLIB.decompress_corrupted


def _cause(exc: BaseException) -> BaseException:
    """pdfplumber wraps whatever pdfminer raised, our own limits included."""
    while isinstance(exc, PdfminerException) and exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    return exc


def _page_count(pdf: Any) -> int | None:
    try:
        count = resolve1(resolve1(pdf.doc.catalog["Pages"])["Count"])
    except Exception:  # a damaged page tree: pdfplumber walks it and decides
        return None
    return count if isinstance(count, int) else None


def extract_pdf(data: bytes, limits: Limits) -> Document:
    _ZLIB.start(limits)
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PdfminerException as exc:
        cause = _cause(exc)
        if isinstance(cause, ParseError):
            raise cause from None
        if isinstance(cause, (PDFPasswordIncorrect, PDFEncryptionError)):
            raise EncryptedDocument("encrypted PDF, no password") from exc
        raise CorruptDocument(f"corrupt PDF: {cause}") from exc
    except (PDFSyntaxError, ValueError, KeyError, TypeError) as exc:
        raise CorruptDocument(f"corrupt PDF: {exc}") from exc
    with pdf:
        declared = _page_count(pdf)
        if declared is not None and declared > limits.max_pages:
            raise LimitExceeded(f"PDF has {declared} pages, over the limit of {limits.max_pages}")
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
            cause = _cause(exc)
            if isinstance(cause, ParseError):
                raise cause from None
            raise CorruptDocument(f"corrupt PDF: {cause}") from exc
        return Document(format="pdf", rows=rows, pages=len(pages))


def text_chars(data: bytes) -> int:
    """How much text the PDF's text layer holds (0 for a scan)."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return sum(len(page.chars) for page in pdf.pages[:20])
