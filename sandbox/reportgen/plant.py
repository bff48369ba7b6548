"""Planting one known inconsistency of a given kind into a clean report, for testing the checks: each
plant is built so that exactly its rule should fire, and says which cell it should fire on."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from parser.labels import APPLICANT_COLUMNS
from parser.record import Dates, Record

from .model import RESULT_ROWS_2019, RESULT_ROWS_2021, ReportSpec, Variant, _paragraphs, generate


@dataclass(frozen=True)
class Planted:
    spec: ReportSpec
    rule: str
    table: str | None = None
    row: str | None = None
    column: str | None = None
    history: tuple[ReportSpec, ...] = ()


Plant = Callable[[ReportSpec, random.Random], Planted | None]


def _tables(spec: ReportSpec) -> dict[str, Any]:
    return copy.deepcopy(spec.record.tables)


def _with_tables(spec: ReportSpec, tables: dict[str, Any], *, reword: bool = False) -> ReportSpec:
    record = replace(spec.record, tables=tables)
    paragraphs = _paragraphs(record, random.Random(0), spec.style) if reword else spec.paragraphs
    return replace(spec, record=record, paragraphs=paragraphs)


def _columns(rng: random.Random) -> list[str]:
    columns = list(APPLICANT_COLUMNS[:-1])
    rng.shuffle(columns)
    return columns


def _result_rows(tables: dict[str, Any]) -> list[str]:
    requests = tables["requests"]
    return [k for k in (*RESULT_ROWS_2021, *RESULT_ROWS_2019) if k in requests and k != "total"]


def t3_balance(spec: ReportSpec, rng: random.Random) -> Planted:
    tables = _tables(spec)
    column, d = _columns(rng)[0], rng.randint(1, 5)
    tables["requests"]["carried_forward"][column] += d
    tables["requests"]["carried_forward"]["total"] += d
    return Planted(_with_tables(spec, tables), "T3-BALANCE", "requests", "total", column)


def t3_rowsum(spec: ReportSpec, rng: random.Random) -> Planted | None:
    tables = _tables(spec)
    requests = tables["requests"]
    rows = _result_rows(tables)
    for column in _columns(rng):
        donors = [k for k in rows if requests[k][column] >= 1]
        if donors:
            donor = rng.choice(donors)
            receiver = rng.choice([k for k in rows if k != donor])
            requests[donor][column] -= 1
            requests[receiver][column] += 1
            return Planted(_with_tables(spec, tables), "T3-ROWSUM", "requests", receiver, "total")
    return None


def t3_results(spec: ReportSpec, rng: random.Random) -> Planted:
    tables = _tables(spec)
    row, column, d = rng.choice(_result_rows(tables)), _columns(rng)[0], rng.randint(1, 5)
    tables["requests"][row][column] += d
    tables["requests"][row]["total"] += d
    return Planted(_with_tables(spec, tables), "T3-RESULTS", "requests", "total", column)


def t3_blank(spec: ReportSpec, rng: random.Random) -> Planted:
    tables = _tables(spec)
    row = rng.choice(list(tables["requests"]))
    column = rng.choice(APPLICANT_COLUMNS)
    if (row, column) in (("new", "total"),):
        row = "carried_over"
    tables["requests"][row][column] = None
    return Planted(_with_tables(spec, tables), "T3-BLANK", "requests", row, column)


def t4_block(spec: ReportSpec, rng: random.Random) -> Planted:
    tables = _tables(spec)
    block = rng.choice(("review", "litigation_direct", "litigation_after_review"))
    tables["review"][block][rng.choice(("upheld", "corrected", "other", "pending"))] += rng.randint(1, 4)
    return Planted(_with_tables(spec, tables), "T4-BLOCK", "review", block, "total")


def t2_2019_total(spec: ReportSpec, rng: random.Random) -> Planted | None:
    if spec.record.template != "2019":
        return None
    tables = _tables(spec)
    key = rng.choice(("rules", "normative_documents"))
    row = tables["proactive"][key]
    row["published"] = max(row["published"], 2)
    row["made"] = max(row["made"], row["published"])
    row["total"] = row["published"] - 1
    return Planted(_with_tables(spec, tables), "T2-2019-TOTAL", "proactive", key, "total")


def value_range(spec: ReportSpec, rng: random.Random) -> Planted:
    tables = _tables(spec)
    key = rng.choice(("licensing", "punishment", "coercion"))
    tables["proactive"][key]["decisions"] = -rng.randint(1, 50)
    return Planted(_with_tables(spec, tables), "VALUE-RANGE", "proactive", key, "decisions")


def narrative_table(spec: ReportSpec, rng: random.Random) -> Planted:
    requests = spec.record.tables["requests"]
    received = requests["new"]["total"]
    wrong = received + requests["carried_over"]["total"] + rng.randint(1, 9)
    paragraphs = copy.deepcopy(spec.paragraphs)
    paragraphs["overview"] = [p.replace(f"政府信息公开申请{received}件", f"政府信息公开申请{wrong}件")
                              for p in paragraphs["overview"]]
    return Planted(replace(spec, paragraphs=paragraphs), "NARRATIVE-TABLE", "requests", "new", "total")


def year_mismatch(spec: ReportSpec, rng: random.Random) -> Planted:
    year = spec.record.year
    assert year is not None
    paragraphs = copy.deepcopy(spec.paragraphs)
    paragraphs["overview"] = [p.replace(f"统计期限自{year}年1月1日起至{year}年12月31日止",
                                        f"统计期限自{year - 1}年1月1日起至{year - 1}年12月31日止")
                              for p in paragraphs["overview"]]
    dates = replace(spec.record.dates, period_start=f"{year - 1}-01-01", period_end=f"{year - 1}-12-31")
    return Planted(replace(spec, paragraphs=paragraphs, record=replace(spec.record, dates=dates)), "YEAR-MISMATCH")


def date_order(spec: ReportSpec, rng: random.Random) -> Planted:
    year = spec.record.year
    month, day = rng.randint(3, 12), rng.randint(1, 28)
    dates: Dates = replace(spec.record.dates, signed=f"{year}-{month:02d}-{day:02d}")
    return Planted(replace(spec, signed_line=f"{year}年{month}月{day}日", record=replace(spec.record, dates=dates)),
                   "DATE-ORDER")


def template_outdated(spec: ReportSpec, rng: random.Random) -> Planted:
    fresh = generate(rng, template="2019", year=rng.randint(2021, 2025), agency=spec.record.agency,
                     variant=spec.variant)
    return Planted(fresh, "TEMPLATE-OUTDATED")


def sections_missing(spec: ReportSpec, rng: random.Random) -> Planted:
    sections = {**spec.record.sections, "problems": False}
    return Planted(replace(spec, record=replace(spec.record, sections=sections)), "SECTIONS-MISSING")


def fee_not_reported(spec: ReportSpec, rng: random.Random) -> Planted | None:
    if spec.record.template != "2021":
        return None
    paragraphs = {**spec.paragraphs, "other": ["无其他需要报告的事项。"]}
    return Planted(replace(spec, paragraphs=paragraphs), "FEE-NOT-REPORTED")


def label_misnumbered(spec: ReportSpec, rng: random.Random) -> Planted:
    return Planted(replace(spec, variant=replace(spec.variant, misnumbered_block=True)), "LABEL-MISNUMBERED",
                   "proactive")


def _previous(spec: ReportSpec, rng: random.Random) -> ReportSpec:
    """The same agency's clean report for the year before, which `spec` follows on from."""
    record = spec.record
    assert record.year is not None
    before = generate(rng, template=record.template, year=record.year - 1, agency=record.agency,
                      variant=Variant(), style=spec.style + 1)
    tables = copy.deepcopy(before.record.tables)
    # make last year's closing figures this year's opening ones, keeping last year's report clean
    requests = tables["requests"]
    for column in APPLICANT_COLUMNS[:-1]:
        diff = record.tables["requests"]["carried_over"][column] - requests["carried_forward"][column]
        requests["carried_forward"][column] += diff
        if diff >= 0:
            requests["new"][column] += diff
        else:
            requests["granted"][column] -= diff
            requests["total"][column] -= diff
    for row in ("new", "granted", "total", "carried_forward"):
        requests[row]["total"] = sum(requests[row][c] for c in APPLICANT_COLUMNS[:-1])
    if record.template == "2021" and before.record.template == "2021":
        for key in ("rules", "normative_documents"):
            now = record.tables["proactive"][key]
            tables["proactive"][key]["in_force"] = now["in_force"] - now["issued"] + now["repealed"]
    return _with_tables(before, tables, reword=True)


def carry_over(spec: ReportSpec, rng: random.Random) -> Planted:
    previous = _previous(spec, rng)
    tables = copy.deepcopy(previous.record.tables)
    column = _columns(rng)[0]
    tables["requests"]["carried_forward"][column] += rng.randint(1, 5)
    return Planted(spec, "CARRY-OVER", "requests", "carried_over", column,
                   history=(_with_tables(previous, tables),))


def in_force_drift(spec: ReportSpec, rng: random.Random) -> Planted | None:
    if spec.record.template != "2021":
        return None
    previous = _previous(spec, rng)
    tables = copy.deepcopy(previous.record.tables)
    key = rng.choice(("rules", "normative_documents"))
    tables["proactive"][key]["in_force"] += rng.randint(1, 9)
    return Planted(spec, "IN-FORCE-DRIFT", "proactive", key, "in_force", history=(_with_tables(previous, tables),))


def duplicate_content(spec: ReportSpec, rng: random.Random) -> Planted:
    previous = _previous(spec, rng)
    year = spec.record.year
    assert year is not None
    copied = {k: [p.replace(str(year), str(year - 1)) for p in v] for k, v in spec.paragraphs.items()}
    return Planted(spec, "DUPLICATE-CONTENT", history=(replace(previous, paragraphs=copied, style=spec.style),))


PLANTS: dict[str, Plant] = {
    "T3-BALANCE": t3_balance, "T3-ROWSUM": t3_rowsum, "T3-RESULTS": t3_results, "T3-BLANK": t3_blank,
    "T4-BLOCK": t4_block, "T2-2019-TOTAL": t2_2019_total, "VALUE-RANGE": value_range,
    "NARRATIVE-TABLE": narrative_table, "YEAR-MISMATCH": year_mismatch, "DATE-ORDER": date_order,
    "TEMPLATE-OUTDATED": template_outdated, "SECTIONS-MISSING": sections_missing,
    "FEE-NOT-REPORTED": fee_not_reported, "LABEL-MISNUMBERED": label_misnumbered, "CARRY-OVER": carry_over,
    "IN-FORCE-DRIFT": in_force_drift, "DUPLICATE-CONTENT": duplicate_content,
}


def clean_record(record: Record) -> bool:
    return record.template in ("2019", "2021")
