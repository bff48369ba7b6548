"""Human-readable views of records for the terminal (Chinese labels, aligned columns)."""

from __future__ import annotations

import unicodedata
from typing import Any

from checks.finding import Finding
from checks.labels import APPLICANT, PROACTIVE_FIELD, PROACTIVE_ROW, REVIEW_BLOCK, REVIEW_COLUMN, SECTION
from domain.vocabulary import SEVERITY_LABELS as VOCABULARY_SEVERITY_LABELS
from parser.record import Record

REQUEST_LABELS = {
    "new": "一、本年新收政府信息公开申请数量",
    "carried_over": "二、上年结转政府信息公开申请数量",
    "granted": "（一）予以公开",
    "partially_granted": "（二）部分公开",
    "withheld_state_secret": "（三）1.属于国家秘密",
    "withheld_law_prohibited": "（三）2.其他法律行政法规禁止公开",
    "withheld_three_safeties": "（三）3.危及“三安全一稳定”",
    "withheld_third_party": "（三）4.保护第三方合法权益",
    "withheld_internal_affairs": "（三）5.属于三类内部事务信息",
    "withheld_process_info": "（三）6.属于四类过程性信息",
    "withheld_enforcement_file": "（三）7.属于行政执法案卷",
    "withheld_admin_query": "（三）8.属于行政查询事项",
    "unavailable_not_held": "（四）1.本机关不掌握相关政府信息",
    "unavailable_needs_creation": "（四）2.没有现成信息需要另行制作",
    "unavailable_unclear": "（四）3.补正后申请内容仍不明确",
    "not_processed_petition": "（五）1.信访举报投诉类申请",
    "not_processed_duplicate": "（五）2.重复申请",
    "not_processed_publication": "（五）3.要求提供公开出版物",
    "not_processed_excessive": "（五）4.无正当理由大量反复申请",
    "not_processed_confirmation": "（五）5.要求行政机关确认或重新出具已获取信息",
    "other": "（六）其他处理",
    "other_no_correction": "（六）1.逾期不补正、不再处理",
    "other_fee_unpaid": "（六）2.逾期未缴纳费用、不再处理",
    "other_misc": "（六）3.其他",
    "total": "（七）总计",
    "carried_forward": "四、结转下年度继续办理",
}
APPLICANT_LABELS = {k: ("其他" if k == "other_org" else v) for k, v in APPLICANT.items()}
PROACTIVE_LABELS = PROACTIVE_ROW
FIELD_LABELS = {**PROACTIVE_FIELD, "amount_unit": "单位"}
REVIEW_LABELS = REVIEW_BLOCK
REVIEW_COLUMN_LABELS = REVIEW_COLUMN
SECTION_LABELS = SECTION


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, size: int, right: bool = False) -> str:
    gap = " " * max(size - width(text), 0)
    return gap + text if right else text + gap


def show(value: Any) -> str:
    return "（空）" if value is None else str(value)


def table_lines(rows: list[tuple[str, list[str]]], headers: list[str]) -> list[str]:
    label_width = max([width(label) for label, _ in rows] + [width(headers[0])]) + 2
    col_width = max([width(h) for h in headers[1:]] + [width(v) for _, vals in rows for v in vals] + [4]) + 2
    lines = [pad(headers[0], label_width) + "".join(pad(h, col_width, right=True) for h in headers[1:])]
    for label, values in rows:
        lines.append(pad(label, label_width) + "".join(pad(v, col_width, right=True) for v in values))
    return lines


def render_record(record: Record) -> str:
    out = [
        f"标题：{record.title or '（未识别）'}",
        f"机关：{record.agency or '（未识别）'}    年度：{record.year or '（未识别）'}    "
        f"表格格式：{record.template or '（未识别）'}",
        f"落款日期：{show(record.dates.signed)}    发布日期：{show(record.dates.published)}    "
        f"统计期限：{show(record.dates.period_start)} 至 {show(record.dates.period_end)}",
        "正文部分：" + "  ".join(f"{label}{'✓' if record.sections.get(k) else '✗'}"
                              for k, label in SECTION_LABELS.items()),
    ]
    tables = record.tables
    proactive = tables.get("proactive") or {}
    if proactive:
        out += ["", "二、主动公开政府信息情况"]
        for key, row in proactive.items():
            rows = row.items() if key != "extra" else ()
            if key == "extra":
                for name, extra_row in row.items():
                    out.append(f"  {name}：" + "，".join(f"{FIELD_LABELS.get(f, f)} {show(v)}"
                                                       for f, v in extra_row.items()))
                continue
            out.append(f"  {PROACTIVE_LABELS.get(key, key)}：" + "，".join(
                f"{FIELD_LABELS.get(f, f)} {show(v)}" for f, v in rows))
    requests = tables.get("requests") or {}
    if requests:
        out += ["", "三、收到和处理政府信息公开申请情况"]
        rows = [(REQUEST_LABELS.get(k, k), [show(row.get(c)) for c in APPLICANT_LABELS]) for k, row in
                requests.items()]
        out += ["  " + line for line in table_lines(rows, ["", *APPLICANT_LABELS.values()])]
    review = tables.get("review") or {}
    if review:
        out += ["", "四、政府信息公开行政复议、行政诉讼情况"]
        rows = [(REVIEW_LABELS.get(k, k), [show(row.get(c)) for c in REVIEW_COLUMN_LABELS]) for k, row in
                review.items()]
        out += ["  " + line for line in table_lines(rows, ["", *REVIEW_COLUMN_LABELS.values()])]
    legacy = tables.get("legacy") or {}
    if legacy:
        cumulative = tables.get("legacy_cumulative") or {}
        out += ["", "政府信息公开情况统计表"]
        rows = [(k, [show(v)] + ([show(cumulative.get(k))] if cumulative else [])) for k, v in legacy.items()]
        out += ["  " + line for line in table_lines(rows, ["指标", "本年"] + (["累计"] if cumulative else []))]
    return "\n".join(out)


SEVERITY_LABELS = VOCABULARY_SEVERITY_LABELS  # one label set: 错误 / 疑点 / 提示


def render_findings(findings: list[Finding]) -> str:
    if not findings:
        return "未发现问题。"
    out = []
    for severity, label in SEVERITY_LABELS.items():
        group = [f for f in findings if f.severity == severity]
        if not group:
            continue
        out.append(f"{label}（{len(group)}）")
        for finding in group:
            where = f"，第{finding.page}页" if finding.page else ""
            out.append(f"  [{finding.rule}] {finding.message}{where}")
            if finding.text and finding.rule in ("NARRATIVE-TABLE", "YEAR-MISMATCH"):
                out.append(f"      原文：{finding.text[:120]}")
    return "\n".join(out)
