"""Checks: a parsed record (and the agency's earlier records) in, findings out. No I/O.

    findings = checks.run(record, history=earlier_records)

Deadline rules (LATE, MISSING, BACKDATED) need dated evidence from the crawler and live in
`checks.deadlines`; `run` applies LATE when the record carries its page's 发布时间 and a calendar is given.
"""

from __future__ import annotations

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


def _downgrade_ocr(record: Record, findings: Iterator[Finding]) -> Iterator[Finding]:
    """Figures read by OCR are never by themselves the basis of an error: a scan's errors are warnings."""
    for finding in findings:
        if record.source.ocr and finding.severity == "error" and finding.table is not None:
            yield finding.with_severity("warning", "（数字由扫描件识别，请对照原件核实）")
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
