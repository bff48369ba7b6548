"""The vocabulary of the national formats: which printed labels mean which record keys.

Patterns run on folded text (NFKC, no white space), so full-width brackets read as ASCII ones. They are
tolerant of what real reports print: missing characters, 情形/情况, 内部/内容, OCR confusions.
"""

from __future__ import annotations

import re

APPLICANT_COLUMNS = ("natural_person", "commercial", "research", "social_welfare", "legal_service", "other_org",
                     "total")
REVIEW_COLUMNS = ("upheld", "corrected", "other", "pending", "total")
REVIEW_BLOCKS = ("review", "litigation_direct", "litigation_after_review")

# (key, pattern) in the order rows are printed; `other` and its three 2021 sub-rows are alternatives.
REQUEST_ROWS: tuple[tuple[str, str], ...] = (
    ("new", r"新收|本年新"),
    ("carried_over", r"上年结转|上年度结转"),
    ("granted", r"(?<!不)予以公开|予以公开$"),
    ("partially_granted", r"部分公开"),
    ("withheld_state_secret", r"国家秘密|国家秘"),
    ("withheld_law_prohibited", r"禁止公开|法律行政|行政法规|法律法规|其他法律"),
    ("withheld_three_safeties", r"三安全|一稳定|危及"),
    ("withheld_third_party", r"第三方"),
    ("withheld_internal_affairs", r"内部事务|内容事务|三类内|内部"),
    ("withheld_process_info", r"过程性|四类过程|四类"),
    ("withheld_enforcement_file", r"执法案卷|案卷"),
    ("withheld_admin_query", r"查询事项|行政查询"),
    ("unavailable_not_held", r"不掌握"),
    ("unavailable_needs_creation", r"另行制作|现成信息|没有现成"),
    ("unavailable_unclear", r"不明确|补正后"),
    ("not_processed_petition", r"信访|举报|投诉"),
    ("not_processed_duplicate", r"重复申请"),
    ("not_processed_publication", r"出版物"),
    ("not_processed_excessive", r"大量反复|反复申请|无正当理由大量"),
    ("not_processed_confirmation", r"确认|重新出具"),
    ("other", r"其他处理"),
    ("other_no_correction", r"不补正|逾期不补"),
    ("other_fee_unpaid", r"缴纳费用|收费通知|缴费"),
    ("other_misc", r"^\(?\d?\)?[.、]?其他(情形|情况)?$"),
    ("total", r"总计|合计"),
    ("carried_forward", r"结转下年"),
)
REQUEST_KEYS = tuple(k for k, _ in REQUEST_ROWS)
OTHER_SUBROWS = ("other_no_correction", "other_fee_unpaid", "other_misc")
_REQUEST_PATTERNS = {k: re.compile(p) for k, p in REQUEST_ROWS}


def match_request_row(label: str) -> str | None:
    """The requests-table key a folded row label names, or None. Most specific wins."""
    if not label:
        return None
    for key in ("other_no_correction", "other_fee_unpaid", "unavailable_unclear", "carried_forward",
                "carried_over", "new", "partially_granted"):
        if _REQUEST_PATTERNS[key].search(label):
            return key
    for key in REQUEST_KEYS:
        if key in ("other", "total"):
            continue
        if _REQUEST_PATTERNS[key].search(label):
            return key
    if _REQUEST_PATTERNS["other"].search(label):
        return "other"
    if _REQUEST_PATTERNS["total"].search(label):
        return "total"
    return None


# 表二 rows: key → pattern on the folded row label (exact-ish, the label is short)
PROACTIVE_ROWS: tuple[tuple[str, str], ...] = (
    ("rules", r"^规章$|^规章\W"),
    ("normative_documents", r"规范性文件"),
    ("licensing", r"^行政许可"),
    ("other_services", r"其他对外管理|对外管理服务"),
    ("punishment", r"^行政处罚"),
    ("coercion", r"^行政强制"),
    ("fees", r"事业性收|行政事业"),
    ("procurement", r"集中采购|政府采购"),
)
_PROACTIVE_PATTERNS = [(k, re.compile(p)) for k, p in PROACTIVE_ROWS]
# 表二 row labels as the national formats print them (folded), to rejoin a label broken over two lines
PROACTIVE_LABELS = frozenset({"规章", "规范性文件", "行政规范性文件", "行政许可", "其他对外管理服务事项", "行政处罚",
                              "行政强制", "行政事业性收费", "政府集中采购"})


def match_proactive_row(label: str) -> str | None:
    for key, pattern in _PROACTIVE_PATTERNS:
        if pattern.search(label):
            return key
    return None


# 表二 column headers → field names
PROACTIVE_FIELDS: tuple[tuple[str, str], ...] = (
    ("issued", r"制发件数|本年制发"),
    ("repealed", r"废止件数|本年废止"),
    ("in_force", r"现行有效"),
    ("made", r"新制作"),
    ("published", r"新公开"),
    ("total", r"公开总数|对外公开总"),
    ("previous", r"上一年|上年项目"),
    ("change", r"增/减|增减|增/減|増/減|増/减|本年增"),
    ("items", r"采购项目数"),
    ("amount", r"收费金额|采购总金额|总金额|金额"),
    ("decisions", r"处理决定"),
)
_FIELD_PATTERNS = [(k, re.compile(p)) for k, p in PROACTIVE_FIELDS]


def match_proactive_field(header: str) -> str | None:
    for key, pattern in _FIELD_PATTERNS:
        if pattern.search(header):
            return key
    return None


DEFAULT_PROACTIVE_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "2021": {
        "rules": ("issued", "repealed", "in_force"),
        "normative_documents": ("issued", "repealed", "in_force"),
        "licensing": ("decisions",),
        "punishment": ("decisions",),
        "coercion": ("decisions",),
        "fees": ("amount",),
    },
    "2019": {
        "rules": ("made", "published", "total"),
        "normative_documents": ("made", "published", "total"),
        "licensing": ("previous", "change", "decisions"),
        "other_services": ("previous", "change", "decisions"),
        "punishment": ("previous", "change", "decisions"),
        "coercion": ("previous", "change", "decisions"),
        "fees": ("previous", "change"),
        "procurement": ("items", "amount"),
    },
}

TEMPLATE_2021_MARKERS = re.compile(r"本年制发件数|本年废止件数|现行有效件数|逾期不补正|收费通知要求缴纳")
TEMPLATE_2019_MARKERS = re.compile(r"本年新制作数量|本年新公开数量|对外公开总数量|上一年项目数量")
LEGACY_MARKERS = re.compile(r"统计指标|指标名称|政府信息公开情况统计表|计量单位")

SECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "overview": re.compile(r"总体情况|概述|基本情况"),
    "proactive": re.compile(r"主动公开"),
    "requests": re.compile(r"收到和处理|依申请公开|申请情况"),
    "review": re.compile(r"复议|诉讼"),
    "problems": re.compile(r"存在的(主要)?问题|改进情况|不足"),
    "other": re.compile(r"其他需要报告|其他需报告|其他事项"),
}
