"""Rules over the same agency's earlier reports: carry-over, documents in force, copied reports."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parser.labels import APPLICANT_COLUMNS
from parser.record import Record

from .context import Context
from .finding import Finding
from .labels import APPLICANT, PROACTIVE_ROW, num

DUPLICATE_SIMILARITY = 0.9


def carry_over(ctx: Context) -> Iterator[Finding]:
    previous = ctx.previous()
    if previous is None:
        return
    this = (ctx.tables.get("requests") or {}).get("carried_over") or {}
    last = (previous.tables.get("requests") or {}).get("carried_forward") or {}
    for column in APPLICANT_COLUMNS:
        now, before = this.get(column), last.get(column)
        if isinstance(now, int) and isinstance(before, int) and now != before:
            yield ctx.finding(
                "CARRY-OVER", "warning",
                f"表三 {APPLICANT[column]}列：本年「上年结转」为{num(now)}，"
                f"但{previous.year}年报告「结转下年度继续办理」为{num(before)}",
                table="requests", row="carried_over", column=column, printed=now, expected=before,
                expression=f"carried_forward({previous.year})")


def in_force_drift(ctx: Context) -> Iterator[Finding]:
    previous = ctx.previous()
    if previous is None or ctx.record.template != "2021" or previous.template != "2021":
        return
    for key in ("rules", "normative_documents"):
        row = (ctx.tables.get("proactive") or {}).get(key) or {}
        before = ((previous.tables.get("proactive") or {}).get(key) or {}).get("in_force")
        issued, repealed, in_force = row.get("issued"), row.get("repealed"), row.get("in_force")
        if not all(isinstance(v, int) for v in (before, issued, repealed, in_force)):
            continue
        assert isinstance(before, int) and isinstance(issued, int) and isinstance(repealed, int)
        expected = before + issued - repealed
        if in_force != expected:
            yield ctx.finding(
                "IN-FORCE-DRIFT", "warning",
                f"表二 {PROACTIVE_ROW[key]}：上年现行有效{before}＋本年制发{issued}－本年废止{repealed}＝{expected}，"
                f"但本年现行有效件数填报为{num(in_force)}",
                table="proactive", row=key, column="in_force", printed=in_force, expected=expected,
                expression=f"in_force({previous.year}) + issued - repealed")


def _shingles(text: str, size: int = 8) -> set[str]:
    text = re.sub(r"\d+", "#", re.sub(r"\s+", "", text))
    return {text[i:i + size] for i in range(max(len(text) - size + 1, 0))}


def similarity(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def _figures(record: Record) -> list[object]:
    out: list[object] = []
    for table in ("proactive", "requests", "review", "legacy"):
        for key, row in sorted((record.tables.get(table) or {}).items()):
            out.extend(sorted(row.items()) if isinstance(row, dict) else [(key, row)])
    return out


def duplicate_content(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    for earlier in ctx.history:
        if earlier.year is None or record.year is None or earlier.year >= record.year:
            continue
        text_similarity = similarity(record.source.text, earlier.source.text) if len(record.source.text) > 300 else 0
        figures = _figures(record)
        same_figures = bool(figures) and figures == _figures(earlier) and any(
            isinstance(v, tuple) and isinstance(v[1], int) and v[1] > 0 for v in figures)
        if text_similarity >= DUPLICATE_SIMILARITY or same_figures:
            what = f"正文与{earlier.year}年报告相似度{text_similarity:.0%}" if text_similarity >= DUPLICATE_SIMILARITY \
                else f"表格数字与{earlier.year}年报告完全相同"
            yield ctx.finding("DUPLICATE-CONTENT", "warning", f"{what}，疑似照搬往年报告",
                              printed=round(text_similarity, 3), expected=earlier.year)
            return
