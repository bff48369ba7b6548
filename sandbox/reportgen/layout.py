"""A report spec laid out as blocks (title lines, headings, paragraphs, tables with spans) in the national
format; every renderer prints these same blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parser.labels import APPLICANT_COLUMNS, REVIEW_BLOCKS, REVIEW_COLUMNS

from .model import ReportSpec, Variant


@dataclass(frozen=True)
class Cell:
    text: str
    rowspan: int = 1
    colspan: int = 1
    label: bool = True  # a label cell (left-aligned) rather than a figure


@dataclass(frozen=True)
class Block:
    kind: str  # "title", "heading", "paragraph", "table", "signature"
    text: str = ""
    rows: tuple[tuple[Cell, ...], ...] = ()


SECTION_HEADINGS = {
    "overview": "一、总体情况",
    "proactive": "二、主动公开政府信息情况",
    "requests": "三、收到和处理政府信息公开申请情况",
    "review": "四、政府信息公开行政复议、行政诉讼情况",
    "problems": "五、存在的主要问题及改进情况",
    "other": "六、其他需要报告的事项",
}

REQUEST_LABELS_2019 = [
    ("granted", None, "（一）予以公开"),
    ("partially_granted", None, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"),
    ("withheld_state_secret", "（三）不予公开", "1.属于国家秘密"),
    ("withheld_law_prohibited", "（三）不予公开", "2.其他法律行政法规禁止公开"),
    ("withheld_three_safeties", "（三）不予公开", "3.危及“三安全一稳定”"),
    ("withheld_third_party", "（三）不予公开", "4.保护第三方合法权益"),
    ("withheld_internal_affairs", "（三）不予公开", "5.属于三类内部事务信息"),
    ("withheld_process_info", "（三）不予公开", "6.属于四类过程性信息"),
    ("withheld_enforcement_file", "（三）不予公开", "7.属于行政执法案卷"),
    ("withheld_admin_query", "（三）不予公开", "8.属于行政查询事项"),
    ("unavailable_not_held", "（四）无法提供", "1.本机关不掌握相关政府信息"),
    ("unavailable_needs_creation", "（四）无法提供", "2.没有现成信息需要另行制作"),
    ("unavailable_unclear", "（四）无法提供", "3.补正后申请内容仍不明确"),
    ("not_processed_petition", "（五）不予处理", "1.信访举报投诉类申请"),
    ("not_processed_duplicate", "（五）不予处理", "2.重复申请"),
    ("not_processed_publication", "（五）不予处理", "3.要求提供公开出版物"),
    ("not_processed_excessive", "（五）不予处理", "4.无正当理由大量反复申请"),
    ("not_processed_confirmation", "（五）不予处理", "5.要求行政机关确认或重新出具已获取信息"),
]
OTHER_2019 = [("other", None, "（六）其他处理")]
OTHER_2021 = [
    ("other_no_correction", "（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
    ("other_fee_unpaid", "（六）其他处理", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
    ("other_misc", "（六）其他处理", "3.其他"),
]
TYPOS = {"2.其他法律行政法规禁止公开": "2.其他法律行政止公开", "5.属于三类内部事务信息": "5.属于三类内容事务信息",
         "（二）部分公开（区分处理的，只计这一情形，不计其他情形）":
             "（二）部分公开（区分处理的，只计这一情况，不计其他情况）"}


def _label(text: str, variant: Variant) -> str:
    if variant.label_typos:
        text = TYPOS.get(text, text)
    if variant.half_width_brackets:
        text = text.replace("（", "(").replace("）", ")")
    if variant.spaced_labels and len(text) <= 6 and not text[0].isdigit():
        text = " ".join(text)
    return text


def figure(value: Any, variant: Variant, *, signed: bool = False) -> str:
    if value is None:
        return ""
    if signed and value != 0:
        if variant.sign_words:
            return f"{'增' if value > 0 else '减'}{abs(value)}"
        return f"{value:+d}"
    if isinstance(value, float):
        text = f"{value:,}" if variant.thousands else repr(value)
        return text
    return f"{value:,}" if variant.thousands else str(value)


def _value_cells(values: list[Any], variant: Variant, span: int = 1) -> list[Cell]:
    return [Cell(figure(v, variant), colspan=span, label=False) for v in values]


def proactive_table(tables: dict[str, Any], template: str, v: Variant) -> tuple[tuple[Cell, ...], ...]:
    p = tables["proactive"]
    rows: list[tuple[Cell, ...]] = []

    def block(heading: str) -> None:
        rows.append((Cell(_label(heading, v), colspan=4),))

    if template == "2021":
        block("第二十条第（一）项")
        rows.append(tuple(Cell(t) for t in ("信息内容", "本年制发件数", "本年废止件数", "现行有效件数")))
        for key, name in (("rules", "规章"), ("normative_documents", "行政规范性文件")):
            rows.append((Cell(name), *_value_cells([p[key][f] for f in ("issued", "repealed", "in_force")], v)))
        for heading, keys in (("第二十条第（五）项", (("licensing", "行政许可"),)),
                              ("第二十条第（六）项", (("punishment", "行政处罚"), ("coercion", "行政强制")))):
            block(heading)
            rows.append((Cell("信息内容"), Cell("本年处理决定数量", colspan=3)))
            for key, name in keys:
                rows.append((Cell(name), *_value_cells([p[key]["decisions"]], v, span=3)))
        block("第二十条第（六）项" if v.misnumbered_block else "第二十条第（八）项")
        rows.append((Cell("信息内容"), Cell("本年收费金额（单位：万元）", colspan=3)))
        rows.append((Cell("行政事业性收费"), *_value_cells([p["fees"]["amount"]], v, span=3)))
        return tuple(rows)
    block("第二十条第（一）项")
    rows.append(tuple(Cell(t) for t in ("信息内容", "本年新制作数量", "本年新公开数量", "对外公开总数量")))
    for key, name in (("rules", "规章"), ("normative_documents", "规范性文件")):
        rows.append((Cell(name), *_value_cells([p[key][f] for f in ("made", "published", "total")], v)))
    for heading, keys in (("第二十条第（五）项", (("licensing", "行政许可"),
                                                 ("other_services", "其他对外管理服务事项"))),
                          ("第二十条第（六）项", (("punishment", "行政处罚"), ("coercion", "行政强制")))):
        block(heading)
        rows.append(tuple(Cell(t) for t in ("信息内容", "上一年项目数量", "本年增/减", "处理决定数量")))
        for key, name in keys:
            row = p[key]
            rows.append((Cell(name), Cell(figure(row["previous"], v), label=False),
                         Cell(figure(row["change"], v, signed=True), label=False),
                         Cell(figure(row["decisions"], v), label=False)))
    block("第二十条第（六）项" if v.misnumbered_block else "第二十条第（八）项")
    rows.append((Cell("信息内容"), Cell("上一年项目数量"), Cell("本年增/减", colspan=2)))
    rows.append((Cell("行政事业性收费"), Cell(figure(p["fees"]["previous"], v), label=False),
                 Cell(figure(p["fees"]["change"], v, signed=True), colspan=2, label=False)))
    block("第二十条第（九）项")
    rows.append((Cell("信息内容"), Cell("采购项目数量"), Cell("采购总金额（万元）", colspan=2)))
    rows.append((Cell("政府集中采购"), *_value_cells([p["procurement"]["items"]], v),
                 *_value_cells([p["procurement"]["amount"]], v, span=2)))
    return tuple(rows)


def requests_table(tables: dict[str, Any], template: str, v: Variant) -> tuple[tuple[Cell, ...], ...]:
    r = tables["requests"]
    single_other = "other" in r
    result_rows = REQUEST_LABELS_2019 + (OTHER_2019 if template == "2019" or single_other else OTHER_2021)
    rows: list[tuple[Cell, ...]] = [
        (Cell("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", rowspan=3, colspan=3),
         Cell("申请人情况", colspan=7)),
        (Cell("自然人", rowspan=2), Cell("法人或其他组织", colspan=5), Cell("总计", rowspan=2)),
        tuple(Cell(_label(t, v)) for t in ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")),
    ]

    def values(key: str) -> list[Cell]:
        return _value_cells([r[key][c] for c in APPLICANT_COLUMNS], v)

    rows.append((Cell(_label("一、本年新收政府信息公开申请数量", v), colspan=3), *values("new")))
    rows.append((Cell(_label("二、上年结转政府信息公开申请数量", v), colspan=3), *values("carried_over")))
    group_sizes: dict[str, int] = {}
    for _, group, _ in result_rows:
        if group:
            group_sizes[group] = group_sizes.get(group, 0) + 1
    seen: set[str] = set()
    for index, (key, group, label) in enumerate(result_rows):
        cells: list[Cell] = []
        if index == 0:
            cells.append(Cell(_label("三、本年度办理结果", v), rowspan=len(result_rows) + 1))
        if group is None:
            cells.append(Cell(_label(label, v), colspan=2))
        else:
            if group not in seen:
                seen.add(group)
                cells.append(Cell(_label(group, v), rowspan=group_sizes[group]))
            cells.append(Cell(_label(label, v)))
        rows.append((*cells, *values(key)))
    rows.append((Cell(_label("（七）总计", v), colspan=2), *values("total")))
    rows.append((Cell(_label("四、结转下年度继续办理", v), colspan=3), *values("carried_forward")))
    return tuple(rows)


def review_table(tables: dict[str, Any], v: Variant) -> tuple[tuple[Cell, ...], ...]:
    review = tables["review"]
    heads = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
    return (
        (Cell("行政复议", colspan=5), Cell("行政诉讼", colspan=10)),
        (*(Cell(_label(h, v), rowspan=2) for h in heads), Cell("未经复议直接起诉", colspan=5),
         Cell("复议后起诉", colspan=5)),
        tuple(Cell(_label(h, v)) for h in heads * 2),
        tuple(Cell(figure(review[b][c], v), label=False) for b in REVIEW_BLOCKS for c in REVIEW_COLUMNS),
    )


def layout(spec: ReportSpec) -> list[Block]:
    record = spec.record
    v = spec.variant
    assert record.template is not None and record.title is not None
    title = record.title
    blocks: list[Block] = []
    if v.title_split and record.agency and title.startswith(record.agency):
        blocks.append(Block("title", record.agency))
        blocks.append(Block("title", title[len(record.agency):]))
    else:
        blocks.append(Block("title", title))
    tables = {"proactive": proactive_table(record.tables, record.template, v),
              "requests": requests_table(record.tables, record.template, v),
              "review": review_table(record.tables, v)}
    for key, heading in SECTION_HEADINGS.items():
        if not record.sections.get(key, True):
            continue
        blocks.append(Block("heading", heading))
        blocks.extend(Block("paragraph", text) for text in spec.paragraphs.get(key, []))
        if key in tables:
            blocks.append(Block("table", rows=tables[key]))
    if record.agency:
        blocks.append(Block("signature", record.agency))
    if spec.signed_line:
        blocks.append(Block("signature", spec.signed_line))
    return blocks
