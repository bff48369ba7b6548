"""Rules over the document as a whole and its text: narrative against tables, years, dates, the template,
the six required parts, the fee statement, block headings, OCR doubts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from .context import Context
from .finding import Finding
from .labels import APPLICANT, PROACTIVE_FIELD, PROACTIVE_ROW, REQUEST_ROW, REVIEW_BLOCK, REVIEW_COLUMN, SECTION, num

_SENTENCE = re.compile(r"[^。；;！!？?\n]+[。；;！!？?]?")
_CN_ORDINAL = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "十一": 11,
               "十二": 12, "十三": 13, "十四": 14, "十五": 15}


@dataclass(frozen=True)
class Statement:
    """A figure the text states, and the table cell it must match."""

    pattern: re.Pattern[str]
    name: str
    template: str  # "modern" (2019/2021) or "2008"


_GAP = r"[^。；;，,\d]{0,14}?"
STATEMENTS = (
    Statement(re.compile(r"(?:收到|受理|接收|接到|办理)" + _GAP + r"申请" + r"[^。；;\d]{0,6}?(\d+)\s*(?:件|条|个|份)"),
              "received", "any"),
    Statement(re.compile(r"上年(?:度)?结转" + _GAP + r"(\d+)\s*(?:件|条)"), "carried_over", "modern"),
    Statement(re.compile(r"结转(?:至)?下(?:一)?年(?:度)?" + _GAP + r"(\d+)\s*(?:件|条)"), "carried_forward", "modern"),
    Statement(re.compile(r"行政复议(?:案件|申请)?" + r"[^。；;，,\d诉]{0,8}?(\d+)\s*(?:件|起|宗)"), "review", "modern"),
    Statement(re.compile(r"行政诉讼(?:案件)?" + r"[^。；;，,\d复]{0,8}?(\d+)\s*(?:件|起|宗)"), "litigation", "modern"),
    Statement(re.compile(r"(?:已经|已)?答复的?(\d+)\s*件"), "answered", "2008"),
)


def _cell(ctx: Context, name: str) -> tuple[Any, dict[str, Any]] | None:
    """The table value a statement is about, and where it sits."""
    tables = ctx.tables
    if ctx.record.template == "2008":
        legacy = tables.get("legacy") or {}
        wanted = {"received": r"^(收到申请数|受理政府信息依申请公开总数|受理.*申请.*总数)$",
                  "answered": r"^(申请答复数|对申请的答复总数)$"}.get(name)
        key = next((k for k in legacy if wanted and re.search(wanted, k)), None)
        return (legacy[key], {"table": "legacy", "row": key, "column": None}) if key else None
    requests = tables.get("requests") or {}
    review = tables.get("review") or {}
    if name == "received" and "new" in requests:
        return requests["new"].get("total"), {"table": "requests", "row": "new", "column": "total"}
    if name in ("carried_over", "carried_forward") and name in requests:
        return requests[name].get("total"), {"table": "requests", "row": name, "column": "total"}
    if name == "review" and "review" in review:
        return review["review"].get("total"), {"table": "review", "row": "review", "column": "total"}
    if name == "litigation" and review:
        totals = [review.get(b, {}).get("total") for b in ("litigation_direct", "litigation_after_review")]
        if all(isinstance(t, int) for t in totals):
            return sum(totals), {"table": "review", "row": "litigation_direct", "column": "total"}
    return None


def _sentences(text: str) -> Iterator[str]:
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if sentence:
            yield sentence


def narrative_table(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    text = re.sub(r"(?<=\d)\s+(?=[件条个份起宗])|(?<=[申请收到受理复议诉讼转])\s+(?=\d)", "", record.source.text)
    modern = record.template in ("2019", "2021")
    seen: set[str] = set()
    requests = ctx.tables.get("requests") or {}
    for sentence in _sentences(text):
        if re.search(r"\d{4}\s*年(?:度)?以来|同比|较上年|上一年度|去年", sentence):
            continue  # comparisons with other years state other years' figures
        for statement in STATEMENTS:
            if (statement.template == "modern" and not modern) or (statement.template == "2008" and modern):
                continue
            if statement.name in seen:
                continue
            match = statement.pattern.search(sentence)
            if not match:
                continue
            stated = int(match.group(1))
            found = _cell(ctx, statement.name)
            if found is None:
                continue
            value, where = found
            if not isinstance(value, int | float):
                continue
            seen.add(statement.name)
            acceptable = {value}
            if statement.name == "received" and modern:
                carried = (requests.get("carried_over") or {}).get("total")
                if isinstance(carried, int):
                    acceptable.add(value + carried)  # "受理N件" often counts last year's carried-over too
            if stated in acceptable:
                continue
            yield ctx.finding(
                "NARRATIVE-TABLE", "warning",
                f"正文称「{match.group(0)}」（{stated}），但表格中对应数字为{num(value)}",
                printed=stated, expected=value, text=sentence, expression=statement.name, **where)


def _year_of(iso: str | None) -> int | None:
    return int(iso[:4]) if iso else None


def year_mismatch(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    if record.year is None:
        return
    period_text = next((s for s in _sentences(record.source.text) if re.search(r"统计(?:期限|时限)", s)), None)
    for label, value in (("统计期限起始", record.dates.period_start), ("统计期限截止", record.dates.period_end)):
        year = _year_of(value)
        if year is not None and year != record.year:
            yield ctx.finding(
                "YEAR-MISMATCH", "error",
                f"标题年度为{record.year}年，但{label}日期为{value}",
                printed=year, expected=record.year, text=period_text)
            return


def date_order(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    if record.year is None:
        return
    end = date(record.year, 12, 31)
    for label, value in (("落款日期", record.dates.signed), ("页面发布时间", record.dates.published)):
        if value and date.fromisoformat(value) < end:
            yield ctx.finding(
                "DATE-ORDER", "error",
                f"{label}{value}早于报告年度{record.year}年结束，年度报告不可能在年度结束前形成",
                printed=value, expected=f"> {end.isoformat()}", text=value)


def template_outdated(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    if record.year is not None and record.year >= 2021 and record.template in ("2019", "2008"):
        yield ctx.finding(
            "TEMPLATE-OUTDATED", "warning",
            f"{record.year}年度报告仍使用{record.template}版表格格式，应使用国办公开办函〔2021〕30号的新格式",
            printed=record.template, expected="2021")


def sections_missing(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    if record.template not in ("2019", "2021") or not record.sections:
        return
    for key, present in record.sections.items():
        if not present:
            yield ctx.finding("SECTIONS-MISSING", "error",
                              f"报告缺少法定内容「{SECTION[key]}」（《政府信息公开条例》第五十条）",
                              printed=None, expected=key, text=SECTION[key])


def fee_not_reported(ctx: Context) -> Iterator[Finding]:
    record = ctx.record
    if record.template != "2021":
        return
    if not re.search(r"信息处理费|处理费|收费|收取费用|费用", record.source.text):
        yield ctx.finding("FEE-NOT-REPORTED", "notice",
                          "报告未说明是否收取信息处理费（国办函〔2020〕109号要求在第六部分报告）",
                          text=SECTION["other"])


def label_misnumbered(ctx: Context) -> Iterator[Finding]:
    labels = ctx.record.source.block_labels
    previous, previous_label = 0, ""
    for label in labels:
        match = re.search(r"第[（(]\s*([一二三四五六七八九十]+)\s*[)）]\s*项", label)
        if not match:
            continue
        ordinal = _CN_ORDINAL.get(match.group(1), 0)
        if ordinal and ordinal <= previous:
            yield ctx.finding("LABEL-MISNUMBERED", "notice",
                              f"表二栏目标题「{label}」重复或顺序错误（排在「{previous_label}」之后）",
                              table="proactive", text=label, printed=label)
        if ordinal > previous:
            previous, previous_label = ordinal, label


_TABLE_NAME = {"proactive": "表二", "requests": "表三", "review": "表四"}
_METADATA_NAME = {"year": "标题中的年度", "dates/signed": "落款日期", "dates/period_start": "统计期限",
                  "dates/period_end": "统计期限"}


def describe_uncertain(path: str, read: str) -> str | None:
    """One doubtful OCR reading as a reader of the printed report would find it:
    表三 “予以公开”行 “自然人”列：读作 71，把握不大."""
    reading = f"读作 {read}，把握不大" if read else "未能读出"
    parts = path.split("/")
    if parts[0] in _TABLE_NAME and len(parts) >= 3:
        table, row, column = parts[0], "/".join(parts[1:-1]), parts[-1]
        if table == "requests":
            row_name, column_name = REQUEST_ROW.get(row, row).split("·")[-1], APPLICANT.get(column, column)
            return f"表三 “{row_name}”行 “{column_name}”列：{reading}"
        if table == "review":
            return f"表四 “{REVIEW_BLOCK.get(row, row)}” “{REVIEW_COLUMN.get(column, column)}”列：{reading}"
        row_name = row.removeprefix("extra/") if row.startswith("extra/") else PROACTIVE_ROW.get(row, row)
        return f"表二 “{row_name}”行 “{PROACTIVE_FIELD.get(column, column)}”列：{reading}"
    if path in _METADATA_NAME:
        return f"{_METADATA_NAME[path]}：{reading}"
    return None  # a section not found: reported by SECTIONS-MISSING itself


def ocr_uncertain(ctx: Context) -> Iterator[Finding]:
    source = ctx.record.source
    described = [d for d in (describe_uncertain(p, r) for p, r in source.uncertain.items()) if d]
    cells = list(dict.fromkeys(described)) + [c for c in source.low_confidence_cells if c not in described]
    if cells:
        yield ctx.finding("OCR-UNCERTAIN", "notice",
                          f"扫描件中有{len(cells)}处识别把握不大，请对照原件核对：" + "；".join(cells[:10]),
                          text="\n".join(cells))
