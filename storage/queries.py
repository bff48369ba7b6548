"""Reading the store: report and finding listings, human decisions on findings, and the table export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Agency, Document, DocumentVersion, FindingRow, Report

# a spreadsheet takes a cell starting with one of these for a formula (or, after a tab/CR, a new field)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
EXPORT_COLUMNS = ("report_id", "agency", "region", "year", "template", "table", "row", "column", "value", "url")


@dataclass(frozen=True)
class ReportSummary:
    id: int
    agency: str
    region: str | None
    year: int | None
    template: str | None
    title: str | None
    url: str
    errors: int
    warnings: int
    parse_error: str | None


def latest_reports(session: Session) -> list[Report]:
    """The newest version's report of every document that has not been removed."""
    reports = []
    documents = session.scalars(select(Document).where(Document.removed_at.is_(None)).order_by(Document.id))
    for document in documents:
        if document.versions and document.versions[-1].report is not None:
            reports.append(document.versions[-1].report)
    return reports


def list_reports(session: Session, *, agency: str | None = None, region: str | None = None,
                 year: int | None = None) -> list[ReportSummary]:
    out = []
    for report in latest_reports(session):
        owner = session.get(Agency, report.agency_id)
        assert owner is not None
        if (agency and agency not in owner.name) or (region and not (owner.region_code or "").startswith(region)):
            continue
        if year is not None and report.year != year:
            continue
        severities = [f.severity for f in report.findings if f.status != "dismissed"]
        out.append(ReportSummary(report.id, owner.name, owner.region_code, report.year, report.template,
                                 report.title, report.version.document.url, severities.count("error"),
                                 severities.count("warning"), report.error))
    return sorted(out, key=lambda r: (r.agency, r.year or 0))


def list_findings(session: Session, *, severity: str | None = None, status: str | None = None) -> list[FindingRow]:
    current = {r.id for r in latest_reports(session)}
    query = select(FindingRow).where(FindingRow.report_id.in_(current)).order_by(FindingRow.id)
    if severity:
        query = query.where(FindingRow.severity == severity)
    if status:
        query = query.where(FindingRow.status == status)
    return list(session.scalars(query))


def decide(session: Session, fingerprint: str, status: str, *, note: str, by: str, at: datetime) -> int:
    """Confirm or dismiss a finding (every stored occurrence of it). Returns how many rows changed."""
    if status not in ("confirmed", "dismissed", "open"):
        raise ValueError(f"unknown status {status!r}")
    rows = list(session.scalars(select(FindingRow).where(FindingRow.fingerprint.startswith(fingerprint))))
    fingerprints = {r.fingerprint for r in rows}
    if len(fingerprints) > 1:
        raise LookupError(f"{fingerprint!r} matches {len(fingerprints)} findings; give more of the fingerprint")
    for row in rows:
        row.status, row.note, row.decided_by, row.decided_at = status, note, by, at
    return len(rows)


def export_cells(session: Session) -> Iterator[dict[str, Any]]:
    """One row per stored report and table cell, with the report's agency, region, year and template."""
    for report in latest_reports(session):
        if not report.record:
            continue
        owner = session.get(Agency, report.agency_id)
        assert owner is not None
        url = session.get(DocumentVersion, report.version_id).document.url  # type: ignore[union-attr]
        base = {"report_id": report.id, "agency": owner.name, "region": owner.region_code, "year": report.year,
                "template": report.template, "url": url}
        for table, rows in (report.record.get("tables") or {}).items():
            for row, cells in rows.items():
                if row == "extra" and isinstance(cells, dict):
                    for name, extra in cells.items():
                        for column, value in extra.items():
                            yield {**base, "table": table, "row": f"extra/{name}", "column": column, "value": value}
                elif isinstance(cells, dict):
                    for column, value in cells.items():
                        yield {**base, "table": table, "row": row, "column": column, "value": value}
                else:
                    yield {**base, "table": table, "row": row, "column": None, "value": cells}


def inert(value: Any) -> Any:
    """Crawled text as a spreadsheet cell that is never a formula: a leading quote before `=`, `+`, `-`, `@`,
    tab or CR (OWASP's advice). Numbers, and text that is a plain number such as "-3", are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_export(rows: Iterator[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else inert(r.get(k))) for k in EXPORT_COLUMNS} for r in rows)
        return ("\ufeff" + text.getvalue()).encode("utf-8")  # BOM so Excel reads the Chinese as UTF-8
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        book = Workbook(write_only=True)
        sheet = book.create_sheet("cells")
        sheet.append(list(EXPORT_COLUMNS))

        def cell(value: Any) -> Any:
            if not isinstance(value, str):
                return value  # numbers stay numbers (negative ones too)
            text = WriteOnlyCell(sheet, inert(value))
            text.data_type = "s"  # openpyxl would store any string starting with "=" as a formula
            return text

        for r in rows:
            sheet.append([cell(r.get(k)) for k in EXPORT_COLUMNS])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise ValueError(f"unknown export format {fmt!r} (csv, xlsx, jsonl)")
