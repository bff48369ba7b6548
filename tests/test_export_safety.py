"""Exports never carry a live spreadsheet formula, and SQLite commits are durable (synchronous=FULL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import text

from storage import make_engine
from storage.queries import EXPORT_COLUMNS, write_export

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"点此\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
           "\t=1+1", "\r=1+1"]


def _rows() -> list[dict[str, Any]]:
    rows = [{"report_id": 1, "agency": agency, "region": "=1+1", "year": 2024, "template": "2019",
             "table": "t", "row": "r", "column": "c", "value": -5, "url": "https://x.example/"}
            for agency in HOSTILE]
    rows.append({"report_id": 2, "agency": "淮安市洪泽区人民政府", "region": "320813", "year": 2024,
                 "template": "2019", "table": "t", "row": "r", "column": "c", "value": "-3", "url": "-"})
    return rows


def test_csv_cells_are_never_formulas() -> None:
    data = write_export(iter(_rows()), "csv").decode("utf-8-sig")
    records = list(csv.DictReader(io.StringIO(data)))
    agencies = [r["agency"] for r in records]
    assert agencies[:-1] == ["'" + a for a in HOSTILE] and agencies[-1] == "淮安市洪泽区人民政府"
    assert {r["region"] for r in records[:-1]} == {"'=1+1"}
    assert [r["value"] for r in records] == ["-5"] * len(HOSTILE) + ["-3"]  # numbers stay numbers
    assert records[-1]["url"] == "'-"


def test_xlsx_cells_are_text_and_numbers_stay_numbers() -> None:
    book = load_workbook(io.BytesIO(write_export(iter(_rows()), "xlsx")))
    sheet = book["cells"]
    header, *rows = list(sheet.iter_rows())
    assert [c.value for c in header] == list(EXPORT_COLUMNS)
    column = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    for row in rows:
        assert all(cell.data_type != "f" for cell in row), "a formula cell in the export"
    assert [r[column["agency"]].value for r in rows[:-1]] == ["'" + a for a in HOSTILE]
    value = rows[0][column["value"]]
    assert value.value == -5 and value.data_type == "n"


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
