"""Annual report files → canonical records (`nianbao.report/1`).

`parse(data)` takes the bytes of one file and returns a `Record`; it never reads or writes files itself
(the DOC converter and OCR run external programs on temporary copies).
"""

from __future__ import annotations

import io

from .document import Document
from .errors import (
    CorruptDocument,
    EncryptedDocument,
    LimitExceeded,
    NotAnAnnualReport,
    ParseError,
    ParseTimeout,
    UnsupportedFormat,
)
from .limits import Limits
from .record import SCHEMA, Dates, Record, Source

__all__ = [
    "SCHEMA", "CorruptDocument", "Dates", "Document", "EncryptedDocument", "LimitExceeded", "Limits",
    "NotAnAnnualReport", "ParseError", "ParseTimeout", "Record", "Source", "UnsupportedFormat", "extract",
    "parse",
]


def extract(data: bytes, *, content_type: str | None = None, limits: Limits | None = None) -> Document:
    """Bytes of any supported format → the common `Document`."""
    from .detect import detect_format

    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise LimitExceeded(f"file is {len(data)} bytes, over the limit of {limits.max_bytes}")
    kind = detect_format(data)
    if kind == "empty":
        raise CorruptDocument("empty file")
    if kind == "pdf":
        from .extractors.pdf import extract_pdf

        document = extract_pdf(data, limits)
        if sum(len(r.text) for r in document.rows) < 40 * max(document.pages or 1, 1):
            from .extractors.ocr import extract_scanned_pdf

            check_scan_pages(data, limits)
            _before_external_programs()

            return extract_scanned_pdf(data, limits)
        return document
    if kind == "docx":
        from .extractors.docx import extract_docx

        return extract_docx(data, limits)
    if kind in ("doc", "rtf"):
        from .extractors.doc import extract_doc

        _before_external_programs()

        return extract_doc(data, limits, suffix="." + kind)
    if kind == "image":
        from .extractors.ocr import extract_image

        check_image_size(data, limits)
        _before_external_programs()

        return extract_image(data, limits)
    if kind == "html":
        from .extractors.html import extract_html

        return extract_html(data, content_type, limits)
    if kind == "text":
        from .extractors.text import extract_text

        return extract_text(data, content_type)
    if kind == "zip":
        raise UnsupportedFormat("a ZIP archive that is not a Word document")
    raise UnsupportedFormat("binary file of an unknown format")


def check_image_size(data: bytes, limits: Limits) -> None:
    """Refuse an image whose frames would not fit in memory, from its headers alone (a 112 KB TIFF can hold
    300 frames of 80 million pixels)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > limits.max_pages:
                raise LimitExceeded(f"image has {frames} frames, over the limit of {limits.max_pages} pages")
            total = 0
            for frame in range(frames):
                image.seek(frame)
                pixels = image.width * image.height
                if pixels > limits.max_image_pixels:
                    raise LimitExceeded(f"image of {image.width}×{image.height} pixels, over the limit of "
                                        f"{limits.max_image_pixels}")
                total += pixels
                if total > limits.max_total_pixels:
                    raise LimitExceeded(f"image frames hold more than {limits.max_total_pixels} pixels")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptDocument(f"unreadable image: {exc}") from exc


_OCR_PAGE_WIDTH = 2480  # pixels across a page rendered for OCR (at most; A4 at 300 dpi)


def check_scan_pages(data: bytes, limits: Limits) -> None:
    """Refuse a scanned PDF whose pages, rendered for OCR at a page's width, would be too many pixels (a
    page 200 points wide and 14,400 tall renders to 440 million)."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        return  # the OCR reader reports it
    try:
        if len(pdf) > limits.max_pages:
            raise LimitExceeded(f"PDF has {len(pdf)} pages, over the limit of {limits.max_pages}")
        for index in range(len(pdf)):
            width, height = pdf.get_page_size(index)
            pixels = _OCR_PAGE_WIDTH * _OCR_PAGE_WIDTH * height / max(width, 1)
            if pixels > limits.max_image_pixels:
                raise LimitExceeded(f"page {index + 1} ({width:.0f}×{height:.0f} points) renders to "
                                    f"{pixels / 1e6:.0f} million pixels, over the limit of "
                                    f"{limits.max_image_pixels / 1e6:.0f} million")
    finally:
        pdf.close()


def _before_external_programs() -> None:
    from .guard import before_external_programs

    before_external_programs()


def build_record(document: Document) -> Record:
    """The record of an extracted document (pure: no I/O)."""
    from .metadata import read_metadata
    from .tables import read_tables

    meta = read_metadata(document)
    tables = read_tables(document)
    text = "\n".join(document.paragraphs())
    if tables.template is None and meta.year is None and "公开" not in text:
        raise NotAnAnnualReport("no annual-report title, year or table found")
    template = tables.template
    if template is None and meta.year is not None and meta.year <= 2018 and "公开" in text:
        template = "2008"
    table_data = tables.tables if template != "2008" or tables.tables else {"legacy": {}}
    return Record(
        title=meta.title,
        agency=meta.agency,
        year=meta.year,
        template=template,
        dates=meta.dates,
        sections=meta.sections,
        tables=table_data,
        source=Source(
            format=document.format,
            pages=document.pages,
            text=text,
            table_pages=tables.table_pages,
            block_labels=tuple(tables.block_labels),
            ocr=document.ocr,
            low_confidence_cells=tuple(c for c in document.meta.get("ocr_uncertain", "").split("\n") if c),
            uncertain={**meta.uncertain, **tables.uncertain},
        ),
    )


def parse(data: bytes, *, content_type: str | None = None, limits: Limits | None = None) -> Record:
    """Bytes of one annual report → its record. Raises `ParseError` with a user-facing reason."""
    return build_record(extract(data, content_type=content_type, limits=limits))
