"""Alert texts, in Chinese, that a person can act on: what happened, the agency and year, the numbers behind a
finding (the printed and the expected value, the cell by its printed Chinese names), the rule in plain words,
the link to the original and to the report on the dashboard. One event → one `Alert`, shown as plain text
(console, Telegram, the e-mail's text part) or HTML (the e-mail's HTML part); the work-chat robots make their
cards from it (notifier/workchat.py)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from checks.labels import (
    APPLICANT,
    PROACTIVE_FIELD,
    PROACTIVE_ROW,
    REQUEST_ROW,
    REVIEW_BLOCK,
    REVIEW_COLUMN,
    num,
)

from .matching import alert_kind

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.models import Event, Subscription

    from .links import PublicLinks

from domain.vocabulary import SEVERITY_LABELS, rule_name

TITLES = {
    "NEW": "【新报告】", "REVISED": "【报告被修改】", "REMOVED": "【报告被删除】", "LATE": "【逾期发布】",
    "MISSING": "【逾期未发布】", "BACKDATED": "【发布时间疑似倒填】", "SPIDER_BROKEN": "【站点监测异常】",
}
SEVERITY = SEVERITY_LABELS
TELEGRAM_LIMIT = 4096
TABLES = {"proactive": "表二（主动公开政府信息情况）", "requests": "表三（收到和处理政府信息公开申请情况）",
          "review": "表四（政府信息公开行政复议、行政诉讼情况）"}
TABLE_SHORT = {"proactive": "表二", "requests": "表三", "review": "表四"}

# what each rule checks, for someone who has never read the format's instructions
RULES = {
    "T3-BALANCE": "表三各列应满足：本年新收申请数＋上年结转数＝办理结果总计＋结转下年度继续办理数。",
    "T3-ROWSUM": "表三每一行的“总计”应等于六类申请人（自然人、商业企业、科研机构、社会公益组织、法律服务机构、"
                 "其他法人或组织）之和。",
    "T3-RESULTS": "表三“（七）总计”应等于办理结果（一）至（六）各项之和。",
    "T3-BLANK": "表三的单元格应填写数字，没有的填0，不应留空。",
    "T4-BLOCK": "表四中行政复议、行政诉讼各部分的“总计”应等于结果维持、结果纠正、其他结果、尚未审结之和。",
    "T2-2019-TOTAL": "表二（2019版格式）中对外公开总数量不应小于本年新公开数量。",
    "VALUE-RANGE": "表格中的件数、金额不能为负数，也不应大得不合常理。",
    "NARRATIVE-TABLE": "报告正文中写出的数字应与表格中对应的数字一致。",
    "YEAR-MISMATCH": "报告标题、正文和表格所说的年度应一致。",
    "DATE-ORDER": "年度报告只能在该年度结束后形成，落款日期不应早于报告年度的12月31日。",
    "TEMPLATE-OUTDATED": "2021年度起的报告应使用国务院办公厅政府信息与政务公开办公室2021年印发的新格式。",
    "SECTIONS-MISSING": "年度报告应包含格式规定的六个部分（总体情况至其他需要报告的事项）。",
    "FEE-NOT-REPORTED": "按规定，报告应说明收取信息处理费的情况。",
    "LABEL-MISNUMBERED": "表格各项的序号和名称应与国家规定的格式一致。",
    "OCR-UNCERTAIN": "扫描件上的数字由文字识别读出，可能有误，请以原件为准。",
    "CARRY-OVER": "本年报告的“上年结转”应等于上一年度报告的“结转下年度继续办理”。",
    "IN-FORCE-DRIFT": "现行有效件数的变化应与本年制发、废止件数相符。",
    "DUPLICATE-CONTENT": "年度报告应反映本年度情况，不应与往年报告内容雷同。",
    "LATE": "《政府信息公开条例》第五十条：各级人民政府部门应于每年1月31日前、各级人民政府应于每年3月31日前公布"
            "本机关上一年度政府信息公开工作年度报告。",
    "MISSING": "《政府信息公开条例》第五十条：各级人民政府部门应于每年1月31日前、各级人民政府应于每年3月31日前公布"
               "本机关上一年度政府信息公开工作年度报告。",
    "BACKDATED": "页面标注的发布时间应为报告实际公开的时间。",
    "LEGACY-SUM": "2008版统计表中的合计数应等于各分项之和。",
}


def cell_name(table: str | None, row: str | None, column: str | None) -> str | None:
    """A cell by its printed names: 表三「（七）总计」行 ×「法律服务机构」列."""
    if not table:
        return None
    rows = {"requests": REQUEST_ROW, "review": REVIEW_BLOCK, "proactive": PROACTIVE_ROW}.get(table, {})
    columns = {"requests": APPLICANT, "review": REVIEW_COLUMN, "proactive": PROACTIVE_FIELD}.get(table, {})
    parts = [TABLE_SHORT.get(table, table)]
    if row:
        parts.append(f"「{rows.get(row, row)}」{'行' if table != 'review' else ''}")
    if column:
        parts.append(f"「{columns.get(column, column)}」{'列' if table != 'proactive' else ''}")
    return parts[0] + " × ".join(parts[1:]) if len(parts) > 1 else parts[0]


@dataclass
class Alert:
    """One event, ready to be shown in any channel."""

    kind: str  # the event kind (NEW, FINDING, LATE, …)
    tag: str  # 【错误】
    agency: str
    year: int | None
    title: str
    summary: str  # what happened, one or two sentences
    facts: list[tuple[str, str]] = field(default_factory=list)  # the numbers: (label, value)
    rule: str | None = None  # the rule in plain words (errors and warnings)
    details: list[str] = field(default_factory=list)
    original_url: str | None = None
    report_id: int | None = None
    agency_id: int | None = None
    event_id: int | None = None
    created_at: datetime | None = None
    alert_kind: str | None = None

    @property
    def headline(self) -> str:
        year = f" {self.year}年度报告" if self.year else ""
        return f"{self.tag}{self.agency}{year}"

    def dashboard_url(self, links: PublicLinks | None) -> str | None:
        return links.report(self.report_id) if links is not None else None

    def link_lines(self, links: PublicLinks | None) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.original_url and self.original_url.startswith(("http://", "https://")):
            out.append(("原文", self.original_url))
        dashboard = self.dashboard_url(links)
        if dashboard:
            out.append(("监测详情", dashboard))
        elif links is not None and self.agency_id:
            agency = links.agency(self.agency_id)
            if agency:
                out.append(("机关页面", agency))
        return out

    def text(self, links: PublicLinks | None = None) -> str:
        lines = [self.headline]
        if self.title:
            lines.append(f"《{self.title}》")
        lines.append(self.summary)
        lines += [f"{label}：{value}" for label, value in self.facts]
        lines += self.details
        if self.rule:
            lines.append(f"规则：{self.rule}")
        lines += [f"{'链接' if label == '原文' else label}：{url}" for label, url in self.link_lines(links)]
        if self.report_id:
            lines.append(f"报告编号：{self.report_id}（Telegram 机器人中发送 /report {self.report_id} 查看详情）")
        return "\n".join(line for line in lines if line)

    def html(self, links: PublicLinks | None = None) -> str:
        e = html.escape
        facts = "".join(f"<tr><th style=\"text-align:left;padding:2px 12px 2px 0;color:#555;font-weight:normal;"
                        f"white-space:nowrap\">{e(label)}</th><td style=\"padding:2px 0\"><b>{e(value)}</b></td></tr>"
                        for label, value in self.facts)
        parts = [f"<p style=\"font-size:16px;font-weight:bold;margin:0 0 6px\">{e(self.headline)}</p>"]
        if self.title:
            parts.append(f"<p style=\"margin:0 0 6px\">《{e(self.title)}》</p>")
        parts.append(f"<p style=\"margin:0 0 8px\">{e(self.summary)}</p>")
        if facts:
            parts.append(f"<table style=\"font-size:14px;border-collapse:collapse;margin:0 0 8px\">{facts}</table>")
        parts += [f"<p style=\"margin:0 0 4px;color:#333\">{e(d)}</p>" for d in self.details]
        if self.rule:
            parts.append(f"<p style=\"margin:0 0 8px;color:#555\">规则：{e(self.rule)}</p>")
        if links_ := self.link_lines(links):
            parts.append("<p>" + "　".join(f"<a href=\"{e(url)}\">{e(label)}</a>" for label, url in links_) + "</p>")
        return "\n".join(parts)


def compose(kind: str, payload: dict[str, Any], *, url: str | None = None, report_id: int | None = None,
            agency_id: int | None = None, event_id: int | None = None,
            created_at: datetime | None = None) -> Alert:
    agency = str(payload.get("agency") or "（未知机关）")
    year = payload.get("year") if isinstance(payload.get("year"), int) else None
    title = str(payload.get("title") or "")
    alert = Alert(kind=kind, tag=TITLES.get(kind, f"【{kind}】"), agency=agency, year=year, title=title, summary="",
                  original_url=url or payload.get("url"), report_id=report_id, agency_id=agency_id,
                  event_id=event_id, created_at=created_at, alert_kind=alert_kind(kind, payload))
    if kind == "FINDING":
        _finding(alert, payload)
    elif kind == "NEW":
        alert.summary = "发布了新的政府信息公开工作年度报告。"
        if payload.get("error"):
            alert.summary += f"文件无法读取（{payload['error']}），未能核对，请查看原文。"
    elif kind == "REVISED":
        changes = payload.get("changes") or []
        alert.summary = f"已发布的报告内容发生变化（{len(changes)}处，新旧版本均已存档）。"
        for change in changes[:8]:
            where = cell_name(change.get("table"), change.get("row"), change.get("column")) or \
                {"title": "标题", "year": "年度", "template": "表格格式"}.get(change.get("field"), change.get("field"))
            alert.details.append(f"· {where}：{num(change.get('before'))} → {num(change.get('after'))}")
        if len(changes) > 8:
            alert.details.append(f"……共{len(changes)}处变化")
    elif kind == "REMOVED":
        alert.summary = "此前公开的年度报告已从网站栏目中撤下（原文件已存档）。"
    elif kind == "LATE":
        alert.summary = str(payload.get("message") or "年度报告逾期发布。")
        alert.facts += [("实际发布", num(payload.get("printed"))), ("法定期限", num(payload.get("expected")))]
        alert.rule = RULES["LATE"]
    elif kind == "MISSING":
        alert.summary = str(payload.get("message") or "年度报告逾期未发布。")
        alert.facts.append(("法定期限", num(payload.get("expected"))))
        if payload.get("text"):
            alert.details.append(str(payload["text"]))
        alert.rule = RULES["MISSING"]
    elif kind == "BACKDATED":
        alert.summary = str(payload.get("message") or "")
        alert.facts += [("页面标注发布时间", num(payload.get("printed")))]
        if payload.get("text"):
            alert.details.append(f"监测记录：{payload['text']}")
        alert.rule = RULES["BACKDATED"]
    elif kind == "SPIDER_BROKEN":
        alert.tag = f"{TITLES[kind]}{payload.get('site')} "
        alert.summary = f"网站年报栏目无法正常读取：{payload.get('error') or '未知原因'}"
    else:
        alert.summary = str(payload.get("message") or "")
    return alert


def _finding(alert: Alert, payload: dict[str, Any]) -> None:
    severity = str(payload.get("severity") or "")
    alert.tag = f"【{SEVERITY.get(severity, '问题')}】"
    rule = str(payload.get("rule") or "")
    message = str(payload.get("message") or "")
    alert.summary = f"{rule_name(rule)}：{message}" if rule and rule_name(rule) != rule else message
    where = cell_name(payload.get("table"), payload.get("row"), payload.get("column"))
    if where:
        alert.facts.append(("位置", where))
    if payload.get("page"):
        alert.facts.append(("页码", f"第{payload['page']}页"))
    if rule == "T3-BALANCE":
        alert.facts += [("办理结果总计（填报）", num(payload.get("printed"))),
                        ("本年新收＋上年结转－结转下年度", num(payload.get("expected")))]
    elif rule == "T3-BLANK":
        alert.facts.append(("报告填报", "空"))
    elif payload.get("table") and ("printed" in payload or "expected" in payload):
        alert.facts.append(("报告填报", num(payload.get("printed"))))
        if payload.get("expected") is not None:
            alert.facts.append(("按规则应为", num(payload.get("expected"))))
    elif payload.get("printed") is not None and payload.get("expected") is not None:
        alert.facts += [("报告所写", num(payload.get("printed"))), ("应为", num(payload.get("expected")))]
    quote = str(payload.get("text") or "")
    if quote and quote != str(payload.get("printed")):
        alert.details.append(f"原文摘录：“{quote[:200]}”")
    if severity in ("error", "warning") and rule in RULES:
        alert.rule = RULES[rule]


def render(kind: str, payload: dict[str, Any]) -> str:
    """The plain text of an event from its payload alone (no links beyond the original's)."""
    return compose(kind, payload).text()


class AlertText(str):
    """The plain text of an alert, as every channel takes it, with the alert itself attached for the channels
    that can show more (e-mail parts and headers, work-chat cards) and the subscription it goes to (for its
    unsubscribe link)."""

    alert: Alert
    subscription_id: int | None
    nonce: str | None

    def __new__(cls, alert: Alert, links: PublicLinks | None = None, *, subscription_id: int | None = None,
                nonce: str | None = None) -> AlertText:
        made = super().__new__(cls, alert.text(links))
        made.alert, made.subscription_id, made.nonce = alert, subscription_id, nonce
        return made


def alert_of(session: Session, event: Event) -> Alert:
    """The alert for a stored event, with the links its payload does not carry (the original's address, the
    report on the dashboard)."""
    from storage.models import Document

    url = None
    if event.document_id is not None:
        document = session.get(Document, event.document_id)
        url = document.url if document is not None else None
    return compose(event.kind, event.payload, url=url, report_id=event.report_id, agency_id=event.agency_id,
                   event_id=event.id, created_at=event.created_at)


def render_event(session: Session, event: Event, subscription: Subscription | None = None,
                 links: PublicLinks | None = None) -> AlertText:
    """What the outbox hands a channel: the text (with the dashboard link when `links` says where the
    dashboard is public) and, attached, the alert and the subscription."""
    return AlertText(alert_of(session, event), links,
                     subscription_id=subscription.id if subscription is not None else None,
                     nonce=subscription.token_nonce if subscription is not None else None)


def split(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Messages longer than a channel's limit, split at line ends."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts
