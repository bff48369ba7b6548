"""Rules over the tables' own arithmetic (表二, 表三 勾稽关系, 表四, the 2008 statistics table)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from parser.labels import (
    APPLICANT_COLUMNS,
    OTHER_SUBROWS,  # the record's vocabulary, defined once
    REVIEW_BLOCKS,
)

from .context import Context
from .finding import Finding
from .labels import APPLICANT, PROACTIVE_FIELD, PROACTIVE_ROW, REQUEST_ROW, REVIEW_BLOCK, REVIEW_COLUMN, num

RESULT_ROWS = (
    "granted", "partially_granted", "withheld_state_secret", "withheld_law_prohibited", "withheld_three_safeties",
    "withheld_third_party", "withheld_internal_affairs", "withheld_process_info", "withheld_enforcement_file",
    "withheld_admin_query", "unavailable_not_held", "unavailable_needs_creation", "unavailable_unclear",
    "not_processed_petition", "not_processed_duplicate", "not_processed_publication", "not_processed_excessive",
    "not_processed_confirmation",
)
REQUEST_LIMIT = 1_000_000
REVIEW_LIMIT = 100_000
PROACTIVE_LIMIT = 100_000_000


def _close(a: float, b: float, decimals: int = 0) -> bool:
    """Equal within the rounding of the printed figures (an amount in 万元 rounded to 2 or 4 places)."""
    return math.isclose(a, b, abs_tol=0.5 * 10 ** -decimals + 1e-9)


def _decimals(*values: Any) -> int:
    places = [len(repr(v).split(".")[1]) for v in values if isinstance(v, float) and "." in repr(v)]
    return max(places, default=0)


def _known(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def result_rows(requests: dict[str, Any]) -> list[str]:
    rows = [r for r in RESULT_ROWS if r in requests]
    if "other" in requests:
        rows.append("other")
    rows += [r for r in OTHER_SUBROWS if r in requests and "other" not in requests]
    return rows


def t3_balance(ctx: Context) -> Iterator[Finding]:
    r = ctx.tables.get("requests") or {}
    if not all(k in r for k in ("new", "carried_over", "total", "carried_forward")):
        return
    for column in APPLICANT_COLUMNS:
        new, carried, total, forward = (r[k].get(column) for k in ("new", "carried_over", "total", "carried_forward"))
        if not _known(new, carried, total, forward) or new + carried == total + forward:
            continue
        yield ctx.finding(
            "T3-BALANCE", "error",
            f"表三 {APPLICANT[column]}列：本年新收{num(new)}＋上年结转{num(carried)}＝{num(new + carried)}，"
            f"但办理结果总计{num(total)}＋结转下年度{num(forward)}＝{num(total + forward)}，勾稽关系不成立",
            table="requests", row="total", column=column, printed=total, expected=new + carried - forward,
            expression="new + carried_over - carried_forward")


def t3_rowsum(ctx: Context) -> Iterator[Finding]:
    r = ctx.tables.get("requests") or {}
    for key, row in r.items():
        parts = [row.get(c) for c in APPLICANT_COLUMNS[:-1]]
        total = row.get("total")
        if not _known(*parts, total) or sum(parts) == total:
            continue
        yield ctx.finding(
            "T3-ROWSUM", "error",
            f"表三「{REQUEST_ROW.get(key, key)}」行：六类申请人合计{num(sum(parts))}，但总计栏填报为{num(total)}",
            table="requests", row=key, column="total", printed=total, expected=sum(parts),
            expression="natural_person + commercial + research + social_welfare + legal_service + other_org")


def t3_results(ctx: Context) -> Iterator[Finding]:
    r = ctx.tables.get("requests") or {}
    rows = result_rows(r)
    if "total" not in r or len(rows) < 10:
        return
    for column in APPLICANT_COLUMNS:
        parts = [r[k].get(column) for k in rows]
        total = r["total"].get(column)
        if not _known(*parts, total) or sum(parts) == total:
            continue
        yield ctx.finding(
            "T3-RESULTS", "error",
            f"表三 {APPLICANT[column]}列：办理结果（一）至（六）合计{num(sum(parts))}，但（七）总计填报为{num(total)}",
            table="requests", row="total", column=column, printed=total, expected=sum(parts),
            expression=" + ".join(rows))


def t3_blank(ctx: Context) -> Iterator[Finding]:
    """One finding for all of 表三's empty cells (listing them), pointing at the first."""
    r = ctx.tables.get("requests") or {}
    blanks = [(key, column) for key, row in r.items() for column in APPLICANT_COLUMNS
              if column in row and row[column] is None]
    if not blanks:
        return
    rows: dict[str, list[str]] = {}
    for key, column in blanks:
        rows.setdefault(key, []).append(APPLICANT[column])
    listed = "；".join(f"「{REQUEST_ROW.get(k, k)}」{'、'.join(cols)}" for k, cols in list(rows.items())[:6])
    more = "等" if len(rows) > 6 else ""
    first_row, first_column = blanks[0]
    yield ctx.finding(
        "T3-BLANK", "warning",
        f"表三有{len(blanks)}个单元格为空（{listed}{more}），应填数字（无则填0），空格不计入合计核对",
        table="requests", row=first_row, column=first_column, printed=None, expected=len(blanks))


def t4_block(ctx: Context) -> Iterator[Finding]:
    review = ctx.tables.get("review") or {}
    for block in REVIEW_BLOCKS:
        row: dict[str, Any] = review.get(block) or {}
        parts: list[Any] = [row.get(c) for c in ("upheld", "corrected", "other", "pending")]
        total: Any = row.get("total")
        if not _known(*parts, total) or sum(parts) == total:
            continue
        yield ctx.finding(
            "T4-BLOCK", "error",
            f"表四 {REVIEW_BLOCK[block]}：结果维持{num(parts[0])}＋结果纠正{num(parts[1])}＋其他结果{num(parts[2])}"
            f"＋尚未审结{num(parts[3])}＝{num(sum(parts))}，但总计填报为{num(total)}",
            table="review", row=block, column="total", printed=total, expected=sum(parts),
            expression="upheld + corrected + other + pending")


def t2_2019_total(ctx: Context) -> Iterator[Finding]:
    if ctx.record.template != "2019":
        return
    proactive = ctx.tables.get("proactive") or {}
    for key in ("rules", "normative_documents"):
        row: dict[str, Any] = proactive.get(key) or {}
        published: Any = row.get("published")
        total: Any = row.get("total")
        if _known(published, total) and total < published:
            yield ctx.finding(
                "T2-2019-TOTAL", "warning",
                f"表二 {PROACTIVE_ROW[key]}：对外公开总数量{num(total)}小于本年新公开数量{num(published)}",
                table="proactive", row=key, column="total", printed=total, expected=published,
                expression="total >= published")


def _range_problem(value: Any, *, signed: bool, fractional: bool, limit: float) -> str | None:
    if not _known(value):
        return None
    if value < 0 and not signed:
        return "为负数"
    if isinstance(value, float) and not fractional and value != int(value):
        return "不是整数"
    if abs(value) > limit:
        return "数值异常偏大"
    return None


def value_range(ctx: Context) -> Iterator[Finding]:
    tables = ctx.tables
    for key, row in (tables.get("requests") or {}).items():
        for column, value in row.items():
            problem = _range_problem(value, signed=False, fractional=False, limit=REQUEST_LIMIT)
            if problem:
                yield ctx.finding("VALUE-RANGE", "error",
                                  f"表三「{REQUEST_ROW.get(key, key)}」行 {APPLICANT.get(column, column)}列填报"
                                  f"{num(value)}，{problem}",
                                  table="requests", row=key, column=column, printed=value)
    for key, row in (tables.get("review") or {}).items():
        for column, value in row.items():
            problem = _range_problem(value, signed=False, fractional=False, limit=REVIEW_LIMIT)
            if problem:
                yield ctx.finding("VALUE-RANGE", "error",
                                  f"表四 {REVIEW_BLOCK.get(key, key)} {REVIEW_COLUMN.get(column, column)}填报"
                                  f"{num(value)}，{problem}",
                                  table="review", row=key, column=column, printed=value)
    proactive = tables.get("proactive") or {}
    rows = [(k, v) for k, v in proactive.items() if k != "extra"] + list((proactive.get("extra") or {}).items())
    for key, row in rows:
        for column, value in row.items():
            if column == "amount_unit":
                continue
            problem = _range_problem(value, signed=column == "change", fractional=column == "amount",
                                     limit=PROACTIVE_LIMIT if column != "amount" else math.inf)
            if problem:
                yield ctx.finding("VALUE-RANGE", "error",
                                  f"表二 {PROACTIVE_ROW.get(key, key)} {PROACTIVE_FIELD.get(column, column)}填报"
                                  f"{num(value)}，{problem}",
                                  table="proactive", row=key, column=column, printed=value)
    for key, value in (tables.get("legacy") or {}).items():
        amount = re.search(r"费|经费|金额|元", key) is not None
        problem = _range_problem(value, signed=False, fractional=amount, limit=math.inf if amount else REQUEST_LIMIT)
        if problem:
            yield ctx.finding("VALUE-RANGE", "error", f"统计表「{key}」填报{num(value)}，{problem}",
                              table="legacy", row=key, column=None, printed=value)


# ---------------------------------------------------------------- the 2008 statistics table

_LEGACY_TOTALS: tuple[tuple[str, str, str], ...] = (
    # (what, pattern of the total's key, pattern of its parts' keys)
    ("收到申请数", r"^(收到申请数|受理政府信息依申请公开总数|受理.*申请.*总数|申请总数)$",
     r"^(当面|传真|网络|网上|信函|电子邮件|电话|其他形式|信函、传真)[^/]*申请数$"),
    ("申请答复数", r"^(申请答复数|对申请的答复总数|答复总数)$",
     r"^(属于已主动公开范围数|同意公开答复数|同意部分公开答复数|不同意公开答复数|不予公开答复数|"
     r"不属于本行政机关公开数|申请信息不存在数|告知作出更改补充数|告知通过其他途径办理数|其他类型答复数)$"),
    ("行政复议数量", r"^行政复议数量$", r"^(维持具体行政行为数|行政复议数量/.+)$"),
    ("行政诉讼数量", r"^行政诉讼数量$", r"^(维持具体行政行为或者驳回原告诉讼请求数|行政诉讼数量/.+)$"),
)


def legacy_sums(ctx: Context) -> Iterator[Finding]:
    legacy = ctx.tables.get("legacy") or {}
    keys = list(legacy)
    for what, total_pattern, part_pattern in _LEGACY_TOTALS:
        total_key = next((k for k in keys if re.search(total_pattern, k)), None)
        if total_key is None:
            continue
        start = keys.index(total_key) + 1
        parts = []
        for key in keys[start:]:
            if re.search(part_pattern, key):
                parts.append(key)
            elif parts and what in ("收到申请数",):
                break
        if what in ("行政复议数量", "行政诉讼数量"):
            parts = [k for k in parts if k.startswith(what + "/") or k.startswith("维持")][:3]
        if len(parts) < 2:
            continue
        values = [legacy[k] for k in parts]
        total = legacy[total_key]
        if not _known(*values, total) or _close(sum(values), total, _decimals(*values, total)):
            continue
        yield ctx.finding(
            "LEGACY-SUM", "error",
            f"统计表「{total_key}」填报{num(total)}，但其分项" + "、".join(f"{k}{num(legacy[k])}" for k in parts)
            + f"合计{num(sum(values))}",
            table="legacy", row=total_key, column=None, printed=total, expected=sum(values),
            expression=" + ".join(parts))
