"""Alert texts, in Chinese, with the numbers and the link: one event → one message."""

from __future__ import annotations

from typing import Any

from domain.vocabulary import SEVERITY_LABELS, rule_name

TITLES = {
    "NEW": "【新报告】", "REVISED": "【报告被修改】", "REMOVED": "【报告被删除】", "LATE": "【逾期发布】",
    "MISSING": "【逾期未发布】", "BACKDATED": "【发布时间疑似倒填】", "SPIDER_BROKEN": "【站点监测异常】",
}
SEVERITY = SEVERITY_LABELS
TELEGRAM_LIMIT = 4096


def render(kind: str, payload: dict[str, Any]) -> str:
    agency = payload.get("agency") or "（未知机关）"
    title = payload.get("title") or (f"{payload.get('year')}年度报告" if payload.get("year") else "年度报告")
    url = payload.get("url")
    lines: list[str]
    if kind == "FINDING":
        lines = [f"【{SEVERITY.get(payload.get('severity', ''), '问题')}】{agency}", f"《{title}》",
                 f"{rule_name(payload.get('rule'))}：{payload.get('message')}"]
        if payload.get("page"):
            lines.append(f"位置：第{payload['page']}页")
        if payload.get("text"):
            lines.append(f"原文：{str(payload['text'])[:200]}")
    elif kind == "NEW":
        lines = [f"{TITLES[kind]}{agency}", f"《{title}》"]
        if payload.get("error"):
            lines.append(f"（文件无法解析：{payload['error']}）")
    elif kind == "REVISED":
        changes = payload.get("changes") or []
        lines = [f"{TITLES[kind]}{agency}", f"《{title}》内容发生变化（新旧版本均已存档）"]
        for change in changes[:8]:
            where = "/".join(str(change.get(k)) for k in ("table", "row", "column") if change.get(k))
            lines.append(f"· {where or change.get('field')}: {change.get('before')} → {change.get('after')}")
        if len(changes) > 8:
            lines.append(f"……共{len(changes)}处变化")
    elif kind == "SPIDER_BROKEN":
        lines = [f"{TITLES[kind]}{payload.get('site')}（{agency}）", str(payload.get("error") or "")]
    else:
        lines = [f"{TITLES.get(kind, kind)}{agency}", f"《{title}》" if payload.get("title") else "",
                 str(payload.get("message") or "")]
    if url:
        lines.append(f"链接：{url}")
    if payload.get("report_id"):
        lines.append(f"报告编号：{payload['report_id']}（在机器人中发送 /report {payload['report_id']} 查看详情）")
    return "\n".join(line for line in lines if line)


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
