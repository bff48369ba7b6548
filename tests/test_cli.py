"""`nianbao parse`: JSON exactly per the schema, readable tables, exit codes and one stderr line per bad file."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from parser.record import SCHEMA
from sandbox.reportgen import generate, render_html, render_pdf

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_parse_json_lines_and_exit_codes(tmp_path: Path) -> None:
    spec = generate(random.Random(21), template="2021")
    good_pdf = tmp_path / "a.bin"
    good_pdf.write_bytes(render_pdf(spec))
    good_html = tmp_path / "b.pdf"  # a misleading name: detection reads the content
    good_html.write_bytes(render_html(spec))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n%broken")
    result = _run("parse", str(good_pdf), str(broken), str(good_html), "--json")
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    for record in lines:
        assert record["schema"] == SCHEMA
        assert set(record) == {"schema", "title", "agency", "year", "template", "dates", "sections", "tables"}
        assert record["tables"]["requests"] == spec.record.tables["requests"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"{broken}: corrupt")


def test_single_file_json_is_one_object_and_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    path.write_bytes(render_html(generate(random.Random(2))))
    result = _run("parse", str(path), "--json", "--source")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["source"]["format"] == "html"


def test_readable_view_has_chinese_labels(tmp_path: Path) -> None:
    spec = generate(random.Random(9), template="2019")
    path = tmp_path / "r.pdf"
    path.write_bytes(render_pdf(spec))
    result = _run("parse", str(path))
    assert result.returncode == 0
    assert "三、收到和处理政府信息公开申请情况" in result.stdout
    assert "（七）总计" in result.stdout and "自然人" in result.stdout
    assert str(spec.record.tables["requests"]["total"]["total"]) in result.stdout


def test_missing_file_is_reported(tmp_path: Path) -> None:
    result = _run("parse", str(tmp_path / "nope.pdf"))
    assert result.returncode == 2
    assert "cannot open" in result.stderr


def test_check_prints_findings_and_json(tmp_path: Path) -> None:
    from sandbox.reportgen.plant import PLANTS

    planted = PLANTS["T4-BLOCK"](generate(random.Random(5)), random.Random(5))
    assert planted is not None
    path = tmp_path / "r.html"
    path.write_bytes(render_html(planted.spec))
    readable = _run("check", str(path))
    assert readable.returncode == 0
    assert "错误（1）" in readable.stdout and "[T4-BLOCK]" in readable.stdout
    result = _run("check", str(path), "--json")
    payload = json.loads(result.stdout)
    assert set(payload) == {"report", "findings"}
    assert [f["rule"] for f in payload["findings"]] == ["T4-BLOCK"]
    finding = payload["findings"][0]
    assert finding["table"] == "review" and finding["column"] == "total" and len(finding["fingerprint"]) == 32
