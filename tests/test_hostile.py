"""Corrupt, truncated, encrypted, empty, enormous and non-report files: a clear error, never a crash or hang."""

from __future__ import annotations

import io
import random
import time
import zipfile

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from parser import (
    CorruptDocument,
    EncryptedDocument,
    LimitExceeded,
    Limits,
    NotAnAnnualReport,
    ParseError,
    ParseTimeout,
    UnsupportedFormat,
    parse,
)
from parser.detect import detect_format
from parser.guard import parse_guarded
from sandbox.reportgen import generate, render_docx, render_pdf


def _spec_pdf() -> bytes:
    return render_pdf(generate(random.Random(3)))


def test_format_is_detected_from_content_not_name() -> None:
    spec = generate(random.Random(4))
    assert detect_format(render_pdf(spec)) == "pdf"
    assert detect_format(render_docx(spec)) == "docx"
    assert detect_format(b"\xef\xbb\xbf<!DOCTYPE html><html></html>") == "html"
    assert detect_format("一、总体情况\n".encode("gb18030")) == "text"
    assert detect_format(b"\x89PNG\r\n\x1a\n....") == "image"
    assert detect_format(b"   \n") == "empty"


def test_truncated_pdf() -> None:
    data = _spec_pdf()
    with pytest.raises(ParseError) as caught:
        parse(data[: len(data) // 3])
    assert caught.value.reason


def test_garbage_after_pdf_magic() -> None:
    with pytest.raises(CorruptDocument, match="corrupt PDF"):
        parse(b"%PDF-1.7\n" + bytes(random.Random(1).randrange(256) for _ in range(5000)))


def test_encrypted_pdf() -> None:
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, encrypt="secret")
    pdf.drawString(100, 700, "2023 report")
    pdf.save()
    with pytest.raises(EncryptedDocument, match="encrypted PDF"):
        parse(out.getvalue())


def test_empty_file() -> None:
    with pytest.raises(CorruptDocument, match="empty"):
        parse(b"")


def test_file_over_the_byte_limit() -> None:
    with pytest.raises(LimitExceeded, match="over the limit"):
        parse(_spec_pdf(), limits=Limits(max_bytes=1000))


def test_pdf_over_the_page_limit() -> None:
    with pytest.raises(LimitExceeded, match="pages"):
        parse(_spec_pdf(), limits=Limits(max_pages=1))


def test_docx_zip_bomb() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<" + b"a" * (40 * 1024 * 1024) + b">")
    data = out.getvalue()
    assert len(data) < 200_000
    with pytest.raises(LimitExceeded, match=r"zip bomb|expands"):
        parse(data)


def test_broken_docx() -> None:
    data = render_docx(generate(random.Random(8)))
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            payload = source.read(item)
            target.writestr(item, payload[: len(payload) // 2] if item.filename == "word/document.xml" else payload)
    with pytest.raises(CorruptDocument):
        parse(broken.getvalue())


def test_binary_and_archives_are_unsupported() -> None:
    with pytest.raises(UnsupportedFormat):
        parse(b"\x00\x01\x02\x03" * 100)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("data.csv", "a,b")
    with pytest.raises(UnsupportedFormat):
        parse(out.getvalue())


def test_text_that_is_not_a_report() -> None:
    with pytest.raises(NotAnAnnualReport):
        parse(b"Hello, this is a shopping list: milk, eggs.")


def test_corrupt_image() -> None:
    with pytest.raises(CorruptDocument):
        parse(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)


def test_guard_enforces_wall_time_and_survives_a_crash() -> None:
    started = time.monotonic()
    with pytest.raises(ParseTimeout):
        parse_guarded(_spec_pdf(), limits=Limits(seconds=0.001))
    assert time.monotonic() - started < 10
    record = parse_guarded(_spec_pdf())
    assert record.template in ("2019", "2021")


def test_guard_reports_errors_with_their_kind() -> None:
    with pytest.raises(EncryptedDocument):
        out = io.BytesIO()
        pdf = canvas.Canvas(out, encrypt="x")
        pdf.drawString(10, 10, "x")
        pdf.save()
        parse_guarded(out.getvalue())
