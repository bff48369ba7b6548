"""The project's words, each defined once: finding severities and statuses, event kinds, alert kinds — as
enums whose values are what the database and the JSON carry, with the Chinese label a person reads."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the document contradicts itself or the law
    WARNING = "warning"  # likely wrong
    NOTICE = "notice"  # worth a look

    @property
    def label(self) -> str:
        return SEVERITY_LABELS[self.value]


# the checks spec's words (../shared/spec/checks.md): 错误 / 疑点 / 提示
SEVERITY_LABELS: dict[str, str] = {"error": "错误", "warning": "疑点", "notice": "提示"}


def severity_label(value: str | None) -> str:
    return SEVERITY_LABELS.get(value or "", "问题")


class FindingStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"  # a person said: yes, this is wrong
    DISMISSED = "dismissed"  # a person said: not a problem (never alerted again)
    RESOLVED = "resolved"  # gone in a later version of the report

    @property
    def label(self) -> str:
        return {"open": "待核实", "confirmed": "已确认", "dismissed": "已驳回", "resolved": "已消除"}[self.value]


# "live" findings — the ones that count in listings, counts and alerts — defined here and nowhere else
LIVE_STATUSES: tuple[str, ...] = (FindingStatus.OPEN.value, FindingStatus.CONFIRMED.value)
DECIDED_STATUSES: tuple[str, ...] = (FindingStatus.DISMISSED.value, FindingStatus.CONFIRMED.value)


def is_live(status: str | None) -> bool:
    return status in LIVE_STATUSES


class EventKind(StrEnum):
    NEW = "NEW"
    REVISED = "REVISED"
    REMOVED = "REMOVED"
    FINDING = "FINDING"
    LATE = "LATE"
    MISSING = "MISSING"
    BACKDATED = "BACKDATED"
    SPIDER_BROKEN = "SPIDER_BROKEN"

    @property
    def label(self) -> str:
        return EVENT_LABELS[self.value]


EVENT_LABELS: dict[str, str] = {
    "NEW": "新报告", "REVISED": "报告被修改", "REMOVED": "报告被删除", "FINDING": "发现问题", "LATE": "逾期发布",
    "MISSING": "逾期未发布", "BACKDATED": "发布时间疑似倒填", "SPIDER_BROKEN": "站点监测异常",
}


class AlertKind(StrEnum):
    """What a subscriber chooses to hear about."""

    NEW = "new"
    ERRORS = "errors"
    WARNINGS = "warnings"
    DEADLINES = "deadlines"
    CHANGES = "changes"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ALERT_KIND_LABELS[self.value]


ALERT_KIND_LABELS: dict[str, str] = {
    "new": "新报告发布", "errors": "报告存在错误", "warnings": "报告存在疑点", "deadlines": "逾期或未发布",
    "changes": "报告被修改或删除", "admin": "站点监测异常（管理员）",
}
DEFAULT_ALERT_KINDS: tuple[str, ...] = tuple(k.value for k in AlertKind if k is not AlertKind.ADMIN)


def alert_kind(event_kind: str, severity: str | None = None) -> AlertKind | None:
    """The alert kind an event belongs to (a FINDING by its severity)."""
    if event_kind == EventKind.NEW:
        return AlertKind.NEW
    if event_kind == EventKind.FINDING:
        return AlertKind.ERRORS if severity == Severity.ERROR else AlertKind.WARNINGS
    if event_kind in (EventKind.LATE, EventKind.MISSING):
        return AlertKind.DEADLINES
    if event_kind in (EventKind.REVISED, EventKind.REMOVED, EventKind.BACKDATED):
        return AlertKind.CHANGES
    if event_kind == EventKind.SPIDER_BROKEN:
        return AlertKind.ADMIN
    return None


# the checks' rules (../shared/spec/checks.md) by the name a reader of an alert understands
RULE_NAMES: dict[str, str] = {
    "T3-BALANCE": "表三勾稽关系不平",
    "T3-ROWSUM": "表三各列之和与总计不符",
    "T3-RESULTS": "表三办理结果之和与总计不符",
    "T3-BLANK": "表三应填数字处为空",
    "T4-BLOCK": "表四复议诉讼数字不平",
    "T2-2019-TOTAL": "表二公开总数小于新公开数",
    "VALUE-RANGE": "数值不合理",
    "NARRATIVE-TABLE": "正文数字与表格不一致",
    "YEAR-MISMATCH": "年度不一致",
    "DATE-ORDER": "落款或发布日期早于年度结束",
    "TEMPLATE-OUTDATED": "使用旧版表格格式",
    "SECTIONS-MISSING": "缺少必备部分",
    "FEE-NOT-REPORTED": "未说明信息处理费收取情况",
    "LABEL-MISNUMBERED": "表格栏目编号重复或错序",
    "CARRY-OVER": "上年结转与上年报告不衔接",
    "IN-FORCE-DRIFT": "现行有效件数与上年不衔接",
    "DUPLICATE-CONTENT": "与往年报告内容雷同",
    "LATE": "逾期发布",
    "MISSING": "逾期未发布",
    "BACKDATED": "发布时间疑似倒填",
    "REVISED": "报告被修改",
    "REMOVED": "报告被删除",
    "OCR-UNCERTAIN": "扫描件识别存疑",
    "LEGACY-SUM": "旧版统计表合计不符",
}


def rule_name(rule: str | None) -> str:
    """A rule's Chinese name (the id itself for a rule without one)."""
    return RULE_NAMES.get(rule or "", rule or "")
