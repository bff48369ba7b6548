"""DOCX (python-docx): paragraphs and tables in body order, merged cells as spans; zip bombs refused."""

from __future__ import annotations

import io
import zipfile

import docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from ..cells import squash
from ..document import Document, Row
from ..errors import CorruptDocument, LimitExceeded
from ..limits import Limits


def check_zip(data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                if info.compress_size and info.file_size / max(info.compress_size, 1) > limits.max_zip_ratio \
                        and info.file_size > 10 * 1024 * 1024:
                    raise LimitExceeded(f"{info.filename} expands {info.file_size // info.compress_size}-fold "
                                        "(zip bomb?)")
            if total > limits.max_unzipped_bytes:
                raise LimitExceeded(f"archive expands to {total} bytes, over the limit of "
                                    f"{limits.max_unzipped_bytes}")
    except zipfile.BadZipFile as exc:
        raise CorruptDocument(f"corrupt DOCX (zip): {exc}") from exc


def _table_rows(table: Table, index: int) -> list[Row]:
    rows: list[Row] = []
    previous: list[object] = []
    for tr in table.rows:
        cells: list[str | None] = []
        seen: list[object] = []
        try:
            row_cells = tr.cells
        except (IndexError, ValueError):
            continue
        for col, cell in enumerate(row_cells):
            tc = cell._tc
            vmerge = tc.tcPr.find(qn("w:vMerge")) if tc.tcPr is not None else None
            continued = vmerge is not None and vmerge.get(qn("w:val")) in (None, "continue")
            if seen and seen[-1] is tc:
                cells.append(None)  # colspan
            elif (col < len(previous) and previous[col] is tc) or continued:
                cells.append(None)  # rowspan
            else:
                cells.append(squash("\n".join(p.text for p in cell.paragraphs)))
            seen.append(tc)
        previous = seen
        if any(cells):
            rows.append(Row(tuple(cells), table=index))
    return rows


def extract_docx(data: bytes, limits: Limits) -> Document:
    check_zip(data, limits)
    try:
        document: DocxDocument = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on a broken package
        raise CorruptDocument(f"corrupt DOCX: {exc}") from exc
    rows: list[Row] = []
    tables = 0
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = squash(block.text)
            if text:
                rows.append(Row((text,)))
        elif isinstance(block, Table):
            rows.extend(_table_rows(block, tables))
            tables += 1
    return Document(format="docx", rows=rows)
