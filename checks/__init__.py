"""Checks: a parsed record (and the agency's earlier records) in, findings out. No I/O.

    findings = checks.run(record, history=earlier_records)

Deadline rules (LATE, MISSING, BACKDATED) need dated evidence from the crawler and live in
`checks.deadlines`; `run` applies LATE when the record carries its page's 发布时间 and a calendar is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date

from parser.record import Record

from . import arithmetic, document, history
from .context import Context
from .deadlines import Calendar, infer_kind, late
from .finding import SEVERITIES, Finding

Rule = Callable[[Context], Iterable[Finding]]

# Every single-report and history rule, in the order findings are listed.
RULES: tuple[tuple[str, Rule], ...] = (
    ("T3-BALANCE", arithmetic.t3_balance),
    ("T3-ROWSUM", arithmetic.t3_rowsum),
    ("T3-RESULTS", arithmetic.t3_results),
    ("T3-BLANK", arithmetic.t3_blank),
    ("T4-BLOCK", arithmetic.t4_block),
    ("T2-2019-TOTAL", arithmetic.t2_2019_total),
    ("VALUE-RANGE", arithmetic.value_range),
    ("LEGACY-SUM", arithmetic.legacy_sums),
    ("NARRATIVE-TABLE", document.narrative_table),
    ("YEAR-MISMATCH", document.year_mismatch),
    ("DATE-ORDER", document.date_order),
    ("TEMPLATE-OUTDATED", document.template_outdated),
    ("SECTIONS-MISSING", document.sections_missing),
    ("FEE-NOT-REPORTED", document.fee_not_reported),
    ("LABEL-MISNUMBERED", document.label_misnumbered),
    ("OCR-UNCERTAIN", document.ocr_uncertain),
    ("CARRY-OVER", history.carry_over),
    ("IN-FORCE-DRIFT", history.in_force_drift),
    ("DUPLICATE-CONTENT", history.duplicate_content),
)

__all__ = ["RULES", "SEVERITIES", "Calendar", "Finding", "run"]


def _same_agency(record: Record, others: Sequence[Record]) -> list[Record]:
    return [r for r in others if r is not record and r.agency == record.agency and r.year != record.year]


_METADATA_EVIDENCE = {
    "YEAR-MISMATCH": ("year", "dates/period_start", "dates/period_end"),
    "DATE-ORDER": ("year", "dates/signed"),
}


def rests_on(record: Record, finding: Finding) -> set[str]:
    """The record paths ("requests/total/natural_person", "dates/signed", "sections/review") a finding's
    evidence was read from: its own cell and every operand of its expression (an operand names a column of
    the finding's row or a row of its column)."""
    if finding.rule == "SECTIONS-MISSING":
        return {f"sections/{finding.expected}"}
    if finding.rule in _METADATA_EVIDENCE:
        return set(_METADATA_EVIDENCE[finding.rule])
    if finding.table is None or finding.row is None:
        return set()
    table = record.tables.get(finding.table) or {}
    row = table.get(finding.row)
    paths = {f"{finding.table}/{finding.row}/{finding.column}"} if finding.column else \
        {f"{finding.table}/{finding.row}/{column}" for column in (row if isinstance(row, dict) else {})}
    for operand in re.findall(r"[a-z_]+", finding.expression or ""):
        if isinstance(row, dict) and operand in row:
            paths.add(f"{finding.table}/{finding.row}/{operand}")
        elif operand in table and finding.column:
            paths.add(f"{finding.table}/{operand}/{finding.column}")
    return paths


def _downgrade_ocr(record: Record, findings: Iterator[Finding]) -> Iterator[Finding]:
    """A finding whose evidence OCR read is an error only when every value it rests on was read with high
    confidence (two readings that agree); otherwise a person must look first: a warning."""
    for finding in findings:
        if not (record.source.ocr and finding.severity == "error"):
            yield finding
            continue
        evidence = rests_on(record, finding)
        if finding.table is not None and not evidence:
            evidence = {finding.table}  # evidence we cannot name: not proven sure
            doubtful = True
        else:
            doubtful = any(path in record.source.uncertain for path in evidence)
        if doubtful:
            yield finding.with_severity("warning", "（依据的内容由扫描件识别且把握不大，请对照原件核实）")
        else:
            yield finding


def run(record: Record, history: Sequence[Record] = (), *, calendar: Calendar | None = None,
        kind: str | None = None, region: str = "") -> list[Finding]:
    """All findings for one record. `history` may hold any records; only the same agency's other years
    are used. With a `calendar`, a record that carries its page's 发布时间 is also checked for LATE."""
    context = Context(record=record, history=tuple(_same_agency(record, history)))
    found: list[Finding] = []
    for _, rule in RULES:
        found.extend(_downgrade_ocr(record, iter(rule(context))))
    if calendar is not None and record.year is not None and record.dates.published:
        due = calendar.due(record.year, kind or infer_kind(record.agency), region)
        finding = late(record.agency, record.year, due, published=date.fromisoformat(record.dates.published),
                       signed=date.fromisoformat(record.dates.signed) if record.dates.signed else None)
        if finding is not None:
            found.append(finding)
    unique: dict[str, Finding] = {}
    for finding in found:
        unique.setdefault(finding.fingerprint, finding)
    return list(unique.values())
