"""Random records that obey every rule of the national formats (a clean report), plus the narrative that
states their figures, and the printing variants real agencies use."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from parser.labels import APPLICANT_COLUMNS, REVIEW_BLOCKS, REVIEW_COLUMNS
from parser.record import SECTION_KEYS, Dates, Record

RESULT_ROWS_2019 = (
    "granted", "partially_granted", "withheld_state_secret", "withheld_law_prohibited", "withheld_three_safeties",
    "withheld_third_party", "withheld_internal_affairs", "withheld_process_info", "withheld_enforcement_file",
    "withheld_admin_query", "unavailable_not_held", "unavailable_needs_creation", "unavailable_unclear",
    "not_processed_petition", "not_processed_duplicate", "not_processed_publication", "not_processed_excessive",
    "not_processed_confirmation", "other",
)
RESULT_ROWS_2021 = (*RESULT_ROWS_2019[:-1], "other_no_correction", "other_fee_unpaid", "other_misc")

AGENCY_PLACES = ("北京市西城区", "淮安市洪泽区", "平潭综合实验区", "广州市番禺区", "河北省", "铁岭市银州区",
                 "上海市浦东新区",
                 "成都市武侯区", "杭州市西湖区", "武汉市江汉区", "西安市雁塔区", "南京市鼓楼区")
AGENCY_BODIES = ("人民政府", "人民政府办公室", "教育局", "财政局", "生态环境局", "市场监督管理局", "卫生健康委员会",
                 "人力资源和社会保障局", "住房和城乡建设局", "广安门外街道办事处", "石壁街道办事处", "交通运输局")


@dataclass(frozen=True)
class Variant:
    """How the report is printed — the label and layout variants real reports show."""

    half_width_brackets: bool = False
    spaced_labels: bool = False          # "不予 公开", "结 果 维 持"
    label_typos: bool = False            # "其他法律行政止公开", "内容事务"
    single_other_row: bool = False       # 2021 format with （六）其他处理 as one row
    sign_words: bool = False             # 增5 / 减2 instead of +5 / -2
    thousands: bool = False              # 1,234
    title_split: bool = False            # agency on its own line above "2023年…报告"
    blanks: bool = False                 # some cells printed empty
    misnumbered_block: bool = False      # 第二十条第（八）项 printed as a second （六）


@dataclass(frozen=True)
class ReportSpec:
    record: Record
    paragraphs: dict[str, list[str]] = field(default_factory=dict)  # section key → its paragraphs
    variant: Variant = field(default_factory=Variant)
    signed_line: str | None = None
    style: int = 0

    def with_record(self, record: Record) -> ReportSpec:
        return replace(self, record=record)


def _split(rng: random.Random, total: int, parts: int, *, skew: float = 0.6) -> list[int]:
    """`total` spread over `parts` buckets, most landing in the first few (as real tables look)."""
    out = [0] * parts
    for _ in range(total if total < 400 else 0):
        index = 0
        while index < parts - 1 and rng.random() > skew:
            index += 1
        out[index] += 1
    if total >= 400:
        remaining = total
        for i in range(parts - 1):
            share = int(remaining * rng.uniform(0.3, 0.8)) if remaining else 0
            out[i] = share
            remaining -= share
        out[-1] += remaining
    return out


def _requests(rng: random.Random, template: str, single_other: bool, big: bool,
              carried_over: dict[str, int] | None = None) -> dict[str, Any]:
    rows = list(RESULT_ROWS_2021 if template == "2021" and not single_other else RESULT_ROWS_2019)
    table: dict[str, dict[str, int | None]] = {key: {} for key in
                                              ("new", "carried_over", *rows, "total", "carried_forward")}
    for column in APPLICANT_COLUMNS[:-1]:
        scale = 40 if column == "natural_person" else 4
        if big and column == "natural_person":
            scale = 20000
        new = rng.randint(0, scale) if rng.random() < 0.8 else 0
        carried = rng.randint(0, max(scale // 8, 1)) if rng.random() < 0.4 else 0
        if carried_over is not None:
            carried = carried_over[column]
        forward = rng.randint(0, min(new + carried, max(scale // 8, 1))) if rng.random() < 0.4 else 0
        handled = new + carried - forward
        spread = _split(rng, handled, len(rows))
        rng.shuffle(spread[2:])
        table["new"][column] = new
        table["carried_over"][column] = carried
        for key, value in zip(rows, spread, strict=True):
            table[key][column] = value
        table["total"][column] = handled
        table["carried_forward"][column] = forward
    for row in table.values():
        row["total"] = sum(v or 0 for v in row.values())
    return {k: {c: v[c] for c in APPLICANT_COLUMNS} for k, v in table.items()}


def _review(rng: random.Random) -> dict[str, Any]:
    table = {}
    for block in REVIEW_BLOCKS:
        parts = [rng.randint(0, 6) if rng.random() < 0.5 else 0 for _ in range(4)]
        table[block] = dict(zip(REVIEW_COLUMNS, [*parts, sum(parts)], strict=True))
    return table


def _proactive(rng: random.Random, template: str, in_force: dict[str, int] | None = None) -> dict[str, Any]:
    def count(high: int) -> int:
        return rng.randint(0, high) if rng.random() < 0.8 else 0

    if template == "2021":
        table: dict[str, Any] = {}
        for key in ("rules", "normative_documents"):
            issued = count(60)
            before = in_force[key] if in_force is not None else count(600)
            repealed = min(count(30), before)
            table[key] = {"issued": issued, "repealed": repealed, "in_force": before + issued - repealed}
        for key in ("licensing", "punishment", "coercion"):
            table[key] = {"decisions": count(9000)}
        table["fees"] = {"amount": round(rng.uniform(0, 30000), rng.choice((0, 2, 4))) if rng.random() < 0.8 else 0}
        if table["fees"]["amount"] == int(table["fees"]["amount"]):
            table["fees"]["amount"] = int(table["fees"]["amount"])
        return table
    table = {}
    for key in ("rules", "normative_documents"):
        made = count(90)
        published = min(made, count(90))
        table[key] = {"made": made, "published": published, "total": published + count(900)}
    for key in ("licensing", "other_services", "punishment", "coercion"):
        previous = count(3000)
        table[key] = {"previous": previous, "change": rng.randint(-min(previous, 50), 200) if rng.random() < 0.5
                      else 0, "decisions": count(900)}
    table["fees"] = {"previous": count(40), "change": rng.randint(-3, 5) if rng.random() < 0.3 else 0}
    amount = round(rng.uniform(0, 90000), 4) if rng.random() < 0.7 else 0
    table["procurement"] = {"items": count(300), "amount": int(amount) if amount == int(amount) else amount,
                            "amount_unit": "万元"}
    return table


def _blank_some(rng: random.Random, tables: dict[str, Any]) -> None:
    for table_key in ("requests", "review"):
        for row in tables[table_key].values():
            for column in row:
                if rng.random() < 0.03:
                    row[column] = None


OVERVIEW_OPENINGS = (
    "{year}年，{agency}坚持以习近平新时代中国特色社会主义思想为指导，认真贯彻落实《条例》各项规定，持续深化政务公开。",
    "{year}年，{agency}深入贯彻党中央、国务院关于全面推进政务公开的决策部署，围绕中心工作，不断提升公开质量。",
    "{year}年度，{agency}严格执行《条例》，健全公开制度，拓展公开渠道，政府信息公开工作取得新进展。",
    "一年来，{agency}以公开促落实、以公开促规范、以公开促服务，扎实推进政府信息公开各项工作。",
    "{year}年，{agency}聚焦群众关切，加强平台建设和政策解读，推动政务公开标准化规范化。",
)
PLATFORM_SENTENCES = (
    "加强政府网站和政务新媒体日常监管，实行信息发布审核制度，确保信息准确、及时、规范。",
    "优化门户网站信息公开专栏设置，及时更新政府信息公开指南和目录，方便公众查询。",
    "依托政务服务大厅设立政府信息查阅点，提供免费查阅和咨询服务。",
    "建立健全保密审查机制，坚持先审后发，全年未发生泄密事件。",
    "组织开展政务公开业务培训，提升工作人员依法公开意识和能力。",
)
PROBLEM_SENTENCES = (
    "一是公开内容的深度和广度还有待提升；二是工作人员业务能力有待加强。下一步将加强培训，规范办理流程。",
    "政策解读形式较为单一，回应关切的及时性有待提高。下一步将丰富解读形式，完善舆情回应机制。",
    "依申请公开办理的规范化水平仍需提升。下一步将优化办理流程，加强法律审核，提高答复质量。",
    "基层政务公开标准化建设推进不够均衡。下一步将加强指导督促，推动公开事项清单动态调整。",
    "政务新媒体内容更新不够及时。下一步将落实专人管理，定期检查通报，提升服务水平。",
)


def _paragraphs(record: Record, rng: random.Random, style: int) -> dict[str, list[str]]:
    year = record.year
    requests = record.tables["requests"]
    review = record.tables["review"]
    agency = record.agency or ""
    received = requests["new"]["total"]
    litigation = (review["litigation_direct"]["total"] or 0) + (review["litigation_after_review"]["total"] or 0)
    platform = [PLATFORM_SENTENCES[(style + i) % len(PLATFORM_SENTENCES)] for i in range(2)]
    overview = [
        f"本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）要求编制。报告中所列数据统计期限自{year}年1月1日起至"
        f"{year}年12月31日止。如对本报告有疑问，请与{agency}联系。",
        OVERVIEW_OPENINGS[style % len(OVERVIEW_OPENINGS)].format(year=year, agency=agency),
        f"（一）主动公开情况。全年通过门户网站主动公开政府信息{rng.randint(100, 5000)}条。" + platform[0],
        f"（二）依申请公开情况。{year}年共收到政府信息公开申请{received}件，均在法定期限内答复。" + platform[1],
    ]
    other = ["本年度未收取信息处理费。"] if record.template == "2021" else ["无其他需要报告的事项。"]
    review_text = [f"全年共发生政府信息公开行政复议{review['review']['total']}件，行政诉讼{litigation}件。"]
    return {
        "overview": overview,
        "proactive": [],
        "requests": [],
        "review": review_text,
        "problems": [PROBLEM_SENTENCES[style % len(PROBLEM_SENTENCES)]],
        "other": other,
    }


def generate(rng: random.Random, *, template: str | None = None, year: int | None = None,
             agency: str | None = None, variant: Variant | None = None, big: bool = False,
             previous: Record | None = None, style: int | None = None) -> ReportSpec:
    """A clean report: every table adds up, the text agrees with the tables, dates are in order. With
    `previous` (the same agency's report for the year before), this year's 上年结转 and 现行有效件数 follow
    on from it."""
    template = template or rng.choice(("2019", "2021"))
    if year is None:
        year = rng.choice((2019, 2020)) if template == "2019" else rng.randint(2021, 2025)
    agency = agency or rng.choice(AGENCY_PLACES) + rng.choice(AGENCY_BODIES)
    if variant is None:
        variant = Variant(
            half_width_brackets=rng.random() < 0.3, spaced_labels=rng.random() < 0.3,
            label_typos=rng.random() < 0.2, single_other_row=template == "2021" and rng.random() < 0.2,
            sign_words=rng.random() < 0.3, thousands=rng.random() < 0.2, title_split=rng.random() < 0.4,
            blanks=rng.random() < 0.15,
        )
    carried_over = in_force = None
    if previous is not None:
        carried_over = {c: v or 0 for c, v in previous.tables["requests"]["carried_forward"].items()}
        if previous.template == "2021" and template == "2021":
            in_force = {k: previous.tables["proactive"][k]["in_force"] for k in ("rules", "normative_documents")}
    tables = {
        "proactive": _proactive(rng, template, in_force),
        "requests": _requests(rng, template, variant.single_other_row, big, carried_over),
        "review": _review(rng),
    }
    if variant.blanks and previous is None:
        _blank_some(rng, tables)
    signed_day = rng.randint(5, 28)
    signed = f"{year + 1}-01-{signed_day:02d}"
    record = Record(
        title=f"{agency}{year}年政府信息公开工作年度报告",
        agency=agency,
        year=year,
        template=template,
        dates=Dates(signed=signed, published=None, period_start=f"{year}-01-01", period_end=f"{year}-12-31"),
        sections=dict.fromkeys(SECTION_KEYS, True),
        tables=tables,
    )
    style = rng.randrange(1000) if style is None else style
    return ReportSpec(record=record, paragraphs=_paragraphs(record, rng, style), variant=variant,
                      signed_line=f"{year + 1}年1月{signed_day}日", style=style)


def generate_series(rng: random.Random, *, agency: str, years: range, template: str = "2021",
                    variant: Variant | None = None) -> list[ReportSpec]:
    """Consecutive clean reports of one agency: each year's 上年结转 is the last year's 结转下年度, and
    documents in force follow on; the wording differs from year to year."""
    series: list[ReportSpec] = []
    for index, year in enumerate(years):
        previous = series[-1].record if series else None
        series.append(generate(rng, template=template, year=year, agency=agency,
                               variant=variant or Variant(), previous=previous, style=index))
    return series
