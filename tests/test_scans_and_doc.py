"""Scanned PDFs (OCR) and legacy DOC files: real tesseract and a real LibreOffice conversion."""

from __future__ import annotations

import io
import random
import shutil

import pytest
from corpus import differences

from parser import parse
from parser.extractors.doc import convert_to_docx
from parser.limits import Limits
from sandbox.reportgen import generate, render_docx, render_scan
from sandbox.reportgen.render_pdf import render_pdf
from sandbox.reportgen.render_scan import scan_pages

SCANS = 4  # scans of every kind, rendered real records and planted errors: tests/test_scans.py

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")


def _table_cells(record: dict) -> int:
    return sum(len(row) for key in ("proactive", "requests", "review")
               for row in record["tables"][key].values() if isinstance(row, dict))


@pytest.mark.slow
@needs_tesseract
def test_scanned_reports_read_at_99_percent_of_cells() -> None:
    cells = wrong = 0
    for seed in range(SCANS):
        spec = generate(random.Random(1000 + seed))
        expected = spec.record.to_json(with_source=False)
        got = parse(render_scan(spec, random.Random(seed))).to_json()
        cells += _table_cells(expected)
        wrong += sum(1 for p in differences(expected, got) if p.startswith(".tables"))
        assert got["template"] == expected["template"]
        assert got["year"] == expected["year"]
        assert got["source"]["ocr"] is True
    assert 1 - wrong / cells >= 0.99, f"{wrong} of {cells} cells wrong"


@pytest.mark.slow
@needs_tesseract
def test_a_photographed_page_as_an_image_file() -> None:
    spec = generate(random.Random(77), template="2021")
    first_page = scan_pages(render_pdf(spec), random.Random(1))[0]
    out = io.BytesIO()
    first_page.save(out, format="PNG")
    record = parse(out.getvalue())
    assert record.source.format == "image"
    assert record.year == spec.record.year
    assert record.tables["proactive"] == spec.record.tables["proactive"]


@pytest.mark.slow
@needs_soffice
def test_legacy_doc_files_are_converted_and_read() -> None:
    spec = generate(random.Random(12), template="2019")
    doc = _docx_to_doc(render_docx(spec))
    assert doc.startswith(b"\xd0\xcf\x11\xe0")
    got = parse(doc).to_json()
    assert got["source"]["format"] == "doc"
    assert not differences(spec.record.to_json(with_source=False), got)


def _docx_to_doc(data: bytes) -> bytes:
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "report.docx")
        with open(source, "wb") as handle:
            handle.write(data)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to",
                        "doc:MS Word 97", "--outdir", tmp, source], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "HOME": tmp})
        with open(os.path.join(tmp, "report.doc"), "rb") as handle:
            return handle.read()


def test_doc_conversion_reports_garbage_clearly() -> None:
    from parser import CorruptDocument, UnsupportedFormat

    if shutil.which("soffice") is None:
        with pytest.raises(UnsupportedFormat):
            convert_to_docx(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, ".doc", Limits())
        return
    with pytest.raises(CorruptDocument):
        parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)


