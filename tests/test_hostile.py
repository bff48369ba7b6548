"""Corrupt, truncated, encrypted, empty, enormous and non-report files: a clear error, never a crash or hang."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from monitor.cli import main
from parser import (
    CorruptDocument,
    EncryptedDocument,
    LimitExceeded,
    Limits,
    NotAnAnnualReport,
    ParseError,
    ParseTimeout,
    Record,
    UnsupportedFormat,
    parse,
)
from parser.detect import detect_format
from parser.guard import parse_guarded, parse_many
from sandbox import bombs
from sandbox.reportgen import generate, render_docx, render_html, render_pdf

ROOT = Path(__file__).resolve().parent.parent
needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")


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


# ---------------------------------------------------------------- bombs (issue 13): small variants of each


def _reads_fast(data: bytes, limits: Limits | None = None, seconds: float = 5.0) -> ParseError | None:
    started = time.monotonic()
    try:
        parse(data, limits=limits)
        outcome = None
    except ParseError as exc:
        outcome = exc
    assert time.monotonic() - started < seconds
    return outcome


def test_digit_run_after_a_label_does_not_backtrack() -> None:
    _reads_fast(bombs.regex_backtracking(), seconds=3)
    for line in ("一、本年新收政府信息公开申请数量 " + "1" * 40 + "x", "本年新收 | " + "1," * 60 + "x",
                 "本年新收\t" + "1." * 60 + "\tx", "本年新收 " + "1 " * 200 + "x"):
        _reads_fast(("2023年政府信息公开工作年度报告\n" + line + "\n").encode(), seconds=3)


def test_html_span_bomb_is_refused() -> None:
    outcome = _reads_fast(bombs.html_spans(cells=300, span=200), Limits(max_table_cells=20_000))
    assert isinstance(outcome, LimitExceeded) and "cells" in outcome.reason


def test_html_rowspan_past_the_table_ends_with_it() -> None:
    spec = generate(random.Random(6), template="2021")
    page = render_html(spec).replace(b"<td", b'<td rowspan="65534"', 1)
    assert parse(page).year == spec.record.year


def test_tiff_of_many_huge_frames_is_refused_from_its_headers() -> None:
    data = bombs.tiff_frames(frames=30, pixels=4_000_000)
    assert len(data) < 50_000
    outcome = _reads_fast(data, Limits(max_image_pixels=1_000_000))
    assert isinstance(outcome, LimitExceeded) and "pixels" in outcome.reason
    outcome = _reads_fast(data, Limits(max_pages=10))
    assert isinstance(outcome, LimitExceeded) and "frames" in outcome.reason
    outcome = _reads_fast(data, Limits(max_total_pixels=40_000_000))
    assert isinstance(outcome, LimitExceeded) and "frames" in outcome.reason


def test_docx_with_huge_xml_is_refused_before_inflating() -> None:
    data = bombs.docx_huge_xml(megabytes=3)
    outcome = _reads_fast(data, Limits(max_xml_bytes=2 * 1024 * 1024))
    assert isinstance(outcome, LimitExceeded) and "document.xml" in outcome.reason


def test_docx_grid_span_bomb_is_refused() -> None:
    outcome = _reads_fast(bombs.docx_grid_span(50_000_000))
    assert isinstance(outcome, LimitExceeded) and "spans" in outcome.reason
    outcome = _reads_fast(bombs.docx_grid_span(40))  # wide but plausible: read, not refused
    assert not isinstance(outcome, LimitExceeded)


def test_pdf_flate_bomb_is_refused_in_bounded_time() -> None:
    data = bombs.pdf_flate_stream(megabytes=48)
    outcome = _reads_fast(data, Limits(max_stream_bytes=4 * 1024 * 1024))
    assert isinstance(outcome, LimitExceeded) and "inflates" in outcome.reason
    outcome = _reads_fast(data, Limits(max_pdf_bytes_decoded=4 * 1024 * 1024))
    assert isinstance(outcome, LimitExceeded)
    with pytest.raises(LimitExceeded):  # the kind survives the reader process
        parse_guarded(data, limits=Limits(max_stream_bytes=4 * 1024 * 1024))


def test_damaged_flate_stream_still_reads_its_intact_part() -> None:
    data = _spec_pdf()
    assert parse(data).template in ("2019", "2021")


def test_file_over_the_size_limit_is_too_large_on_the_command_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spaces.txt"
    path.write_bytes(bombs.spaces(megabytes=3))
    assert main(["parse", str(path), "--max-mb", "2"]) == 2
    assert "too-large" in capsys.readouterr().err


# ---------------------------------------------------------------- nothing outlives its caller


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


_RTF = rb"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}} \f0 2023 report \par}"


@needs_soffice
def test_caller_killed_with_sigkill_leaves_no_reader_and_no_libreoffice(tmp_path: Path) -> None:
    script = tmp_path / "caller.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from parser import Limits\n"
        "from parser.guard import parse_guarded\n"
        "if __name__ == '__main__':\n"
        f"    parse_guarded({_RTF!r}, limits=Limits(seconds=300))\n")
    caller = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        seen: set[int] = set()
        while time.monotonic() < deadline:
            seen |= _descendants(caller.pid)
            if any("soffice.bin" in _command(pid) for pid in seen):
                break
            time.sleep(0.1)
        else:
            pytest.fail("LibreOffice never started")
        assert any(_running(pid) for pid in seen)
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_running(pid) for pid in seen):
        time.sleep(0.1)
    assert not [(pid, _command(pid)) for pid in seen if _running(pid)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and list(tmp_path.glob("nianbao-read-*")):
        time.sleep(0.1)
    assert not list(tmp_path.glob("nianbao-read-*")), "the reader's temporary folder was left behind"


def test_reader_stops_computing_when_its_caller_is_killed(tmp_path: Path) -> None:
    document = tmp_path / "slow.docx"
    document.write_bytes(bombs.docx_huge_xml(megabytes=10))  # under every limit: seconds of honest work
    script = tmp_path / "caller.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from parser import Limits\n"
        "from parser.guard import parse_many\n"
        "if __name__ == '__main__':\n"
        f"    list(parse_many([lambda: open({str(document)!r}, 'rb').read()] * 2, limits=Limits(seconds=300)))\n")
    caller = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        readers: set[int] = set()
        while time.monotonic() < deadline and len(readers) < 2:
            time.sleep(0.2)
            readers = {pid for pid in _descendants(caller.pid)  # forked by the caller or by a fork server
                       if _running(pid) and not _descendants(pid) and "resource_tracker" not in _command(pid)
                       and ("forkserver" in _command(pid) or str(script) in _command(pid))}
        assert len(readers) == 2, "the two readers never started"
        time.sleep(0.5)
        seen = _descendants(caller.pid)
    finally:
        caller.kill()
        caller.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 10 and any(_running(pid) for pid in seen):
        time.sleep(0.05)
    assert not [(pid, _command(pid)) for pid in seen if _running(pid)]
    assert time.monotonic() - killed < 3, "the readers went on computing after their caller died"


@needs_soffice
def test_libreoffice_timeout_kills_it_and_removes_its_folder(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ParseTimeout):
        parse(_RTF, limits=Limits(seconds=0.3))  # in-process: the converter's own timeout
    with pytest.raises(ParseTimeout):
        parse_guarded(_RTF, limits=Limits(seconds=0.5))  # in a reader: the guard's timeout
    time.sleep(0.5)
    left = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if str(tmp_path) in _command(pid) and _running(pid)]
    assert not left, [_command(pid) for pid in left]
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("pymp-")]  # pymp-: the fork server's socket


def test_batch_keeps_order_limits_and_errors_per_document() -> None:
    good = [render_pdf(generate(random.Random(seed))) for seed in (11, 12, 13)]

    def unreadable() -> bytes:
        raise LimitExceeded("file is too large")

    loaders = [lambda: good[0], unreadable, lambda: b"%PDF-1.4\n%broken", lambda: good[1],
               lambda: bombs.pdf_flate_stream(megabytes=24), lambda: good[2]]
    results = list(parse_many(loaders, limits=Limits(max_stream_bytes=4 * 1024 * 1024), workers=2))
    assert [type(r).__name__ for r in results] == ["Record", "LimitExceeded", "CorruptDocument", "Record",
                                                   "LimitExceeded", "Record"]
    assert [r.year for r in results if isinstance(r, Record)] == [
        generate(random.Random(seed)).record.year for seed in (11, 12, 13)]


@needs_soffice
def test_batch_document_over_its_time_is_killed_and_the_next_still_read(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    good = render_html(generate(random.Random(14)))
    results = list(parse_many([lambda: _RTF, lambda: good], limits=Limits(seconds=0.8), workers=1))
    assert isinstance(results[0], ParseTimeout) and isinstance(results[1], Record)
    time.sleep(0.3)
    assert not [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                if str(tmp_path) in _command(pid) and _running(pid)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("nianbao-")]


def test_scanned_pdf_with_a_giant_page_is_refused_before_rendering() -> None:
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(200, 14400))  # no text: read as a scan
    pdf.line(10, 10, 100, 100)
    pdf.showPage()
    pdf.save()
    outcome = _reads_fast(out.getvalue())
    assert isinstance(outcome, LimitExceeded) and "pixels" in outcome.reason
