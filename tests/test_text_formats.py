"""Text formats read exactly: blank cells in Word-exported PDFs, rows cut by page breaks, OCR'd text extracts
with their slips, and the real renders of the official template (DOCX, PDF, HTML)."""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from corpus import differences

from parser import parse
from sandbox.reportgen import ReportSpec, generate, render_docx, render_html, render_pdf
from sandbox.reportgen.render_text import TextSlips, render_text


def _mostly_blank(spec: ReportSpec, seed: int) -> ReportSpec:
    """表三 as agencies fill it in Word: most zero cells left blank (not 0), so many rows are entirely blank."""
    rng = random.Random(seed)
    tables = copy.deepcopy(spec.record.tables)
    for row in tables["requests"].values():
        for column, value in row.items():
            if (value == 0 and rng.random() < 0.9) or rng.random() < 0.05:
                row[column] = None
    return spec.with_record(replace(spec.record, tables=tables))


def _expected(spec: ReportSpec) -> dict[str, object]:
    expected = spec.record.to_json()
    expected.pop("source", None)
    expected["dates"]["published"] = None
    return expected


def _word_pdf(docx: bytes) -> bytes:
    """The PDF Word (here LibreOffice) exports: unlike reportlab it cuts a tall row at a page break."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "r.docx"
        source.write_bytes(docx)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to",
                        "pdf", "--outdir", tmp, str(source)], check=True, capture_output=True, timeout=120,
                       env={"HOME": tmp, "PATH": "/usr/bin:/bin"})
        return (Path(tmp) / "r.pdf").read_bytes()


@pytest.mark.parametrize("seed", range(6))
def test_blank_cells_keep_every_row(seed: int) -> None:
    spec = _mostly_blank(generate(random.Random(seed)), seed)
    blank_rows = [k for k, row in spec.record.tables["requests"].items() if all(v is None for v in row.values())]
    assert blank_rows, "the fixture must have rows printed entirely blank"
    for data in (render_pdf(spec), render_docx(spec), render_html(spec)):
        record = parse(data)
        assert not differences(spec.record.tables, record.tables)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_word_exported_pdf_with_blank_cells_and_rows_cut_by_page_breaks() -> None:
    # seeds 0 and 2: a row of 表三 is cut at the page break ("4.无正" | "当理由大量反复申请", or
    # "（二）部分公开（区分处理的，" | "只计这一情形，不计其他情形）"), its figures on one side and blanks on the other
    for seed in (0, 2):
        spec = _mostly_blank(generate(random.Random(seed)), seed)
        record = parse(_word_pdf(render_docx(spec)))
        problems = differences(spec.record.tables, record.tables)
        assert not problems, problems


@pytest.mark.parametrize("seed", range(12))
def test_ocr_text_extract_with_its_slips(seed: int) -> None:
    spec = generate(random.Random(seed))
    data = render_text(spec, seed=seed)
    text = data.decode()
    assert "\t费 " in text and (spec.record.agency or "") + " " in text
    problems = differences(_expected(spec), parse(data).to_json())
    assert not problems, problems


def test_ocr_text_two_line_label_either_way() -> None:
    spec = generate(random.Random(1), template="2019")
    for seed in range(4):
        record = parse(render_text(spec, seed=seed))
        assert record.tables["proactive"]["other_services"] == spec.record.tables["proactive"]["other_services"]
        assert "extra" not in record.tables["proactive"]


def test_each_slip_alone_is_read() -> None:
    spec = generate(random.Random(5), template="2019")
    off = TextSlips(False, False, False, False, False)
    for field in ("label_into_next_cell", "two_line_label", "split_header", "amount_with_unit", "signed_with_agency"):
        record = parse(render_text(spec, slips=replace(off, **{field: True})))
        assert not differences(_expected(spec), record.to_json()), field


def _renders(shared: Path) -> list[Path]:
    folder = shared / "corpus" / "renders" / "labels"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return [p for p in sorted(folder.glob("r-*.json"))
            if not p.name.endswith(".findings.json") and not p.stem.endswith("-scan")]


@pytest.mark.corpus
def test_renders_of_the_official_template_parse_to_their_labels(shared: Path) -> None:
    for label_path in _renders(shared):
        document = next((shared / "corpus" / "renders" / "docs").glob(label_path.stem + ".*"))
        expected = json.loads(label_path.read_text(encoding="utf-8"))
        problems = differences(expected, parse(document.read_bytes()).to_json())
        assert not problems, (label_path.stem, problems)


@pytest.mark.corpus
def test_ocr_seed_reads_its_slips(shared: Path) -> None:
    path = next((shared / "seeds").glob("004_*.txt"), None)
    if path is None:
        pytest.skip("seed 004 not present")
    record = parse(path.read_bytes())
    proactive = record.tables["proactive"]
    assert proactive["fees"] == {"previous": 0, "change": 140}
    assert proactive["procurement"] == {"items": 60, "amount": 11750, "amount_unit": "万元"}
    assert proactive["other_services"] == {"previous": 0, "change": 0, "decisions": 0}
    assert "extra" not in proactive
    assert record.dates.signed == "2020-01-20"
