"""Which subscriptions an event goes to (pure): scope by region (行政区划代码 prefix or a province's name,
subordinate agencies included), by agency, or everything; and the kinds of alert chosen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALERT_KINDS: dict[str, str] = {
    "new": "新报告发布",
    "errors": "报告存在错误",
    "warnings": "报告存在疑点",
    "deadlines": "逾期或未发布",
    "changes": "报告被修改或删除",
    "admin": "站点监测异常（管理员）",
}

PROVINCES = {
    "北京": "11", "天津": "12", "河北": "13", "山西": "14", "内蒙古": "15", "辽宁": "21", "吉林": "22", "黑龙江": "23",
    "上海": "31", "江苏": "32", "浙江": "33", "安徽": "34", "福建": "35", "江西": "36", "山东": "37", "河南": "41",
    "湖北": "42", "湖南": "43", "广东": "44", "广西": "45", "海南": "46", "重庆": "50", "四川": "51", "贵州": "52",
    "云南": "53", "西藏": "54", "陕西": "61", "甘肃": "62", "青海": "63", "宁夏": "64", "新疆": "65",
}


def alert_kind(event_kind: str, payload: dict[str, Any]) -> str | None:
    """The alert kind a subscriber chooses that an event belongs to."""
    if event_kind == "NEW":
        return "new"
    if event_kind == "FINDING":
        return "errors" if payload.get("severity") == "error" else "warnings"
    if event_kind in ("LATE", "MISSING"):
        return "deadlines"
    if event_kind in ("REVISED", "REMOVED", "BACKDATED"):
        return "changes"
    if event_kind == "SPIDER_BROKEN":
        return "admin"
    return None


def region_code(text: str) -> str:
    """A region as given by a person: a code (prefix) or a province's name."""
    text = text.strip()
    if text.isdigit():
        return text.rstrip("0") if len(text) == 6 and text.endswith("00") else text
    for name, code in PROVINCES.items():
        if text.startswith(name):
            return code
    return text


@dataclass(frozen=True)
class Scope:
    regions: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not self.regions and not self.agencies

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        return cls(tuple(region_code(r) for r in data.get("regions", ())), tuple(data.get("agencies", ())))

    def covers(self, agency: str | None, region: str | None) -> bool:
        if self.everything:
            return True
        if agency and any(a == agency or a in agency for a in self.agencies):
            return True
        return region is not None and any(region.startswith(code) for code in self.regions if code)


def matches(scope: dict[str, Any], kinds: list[str], event_kind: str, payload: dict[str, Any],
            agency: str | None, region: str | None) -> bool:
    kind = alert_kind(event_kind, payload)
    return kind is not None and kind in kinds and Scope.from_json(scope).covers(agency, region)
