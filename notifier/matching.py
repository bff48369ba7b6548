"""Which subscriptions an event goes to. The rules are domain vocabulary (`domain.alerts`,
`domain.vocabulary`); this module turns what a person types into a stored scope."""

from __future__ import annotations

from typing import Any

from domain.alerts import Scope, matches, region_prefix
from domain.regions import RegionNotFound, region_by_code, region_label, resolve_region
from domain.vocabulary import ALERT_KIND_LABELS
from domain.vocabulary import alert_kind as _alert_kind

ALERT_KINDS: dict[str, str] = ALERT_KIND_LABELS

PROVINCES = {
    "北京": "11", "天津": "12", "河北": "13", "山西": "14", "内蒙古": "15", "辽宁": "21", "吉林": "22", "黑龙江": "23",
    "上海": "31", "江苏": "32", "浙江": "33", "安徽": "34", "福建": "35", "江西": "36", "山东": "37", "河南": "41",
    "湖北": "42", "湖南": "43", "广东": "44", "广西": "45", "海南": "46", "重庆": "50", "四川": "51", "贵州": "52",
    "云南": "53", "西藏": "54", "陕西": "61", "甘肃": "62", "青海": "63", "宁夏": "64", "新疆": "65",
}


def alert_kind(event_kind: str, payload: dict[str, Any]) -> str | None:
    """The alert kind a subscriber chooses that an event belongs to."""
    kind = _alert_kind(event_kind, payload.get("severity"))
    return kind.value if kind else None


class UnknownRegion(RegionNotFound, ValueError):
    """RegionNotFound that is also a ValueError, for callers that treat any bad input as a ValueError."""


def region_code(text: str) -> str:
    """A region as a person gives it — any province, city or county, with or without 省/市/区/县, qualified
    (江苏省淮安市) or not, or its code — as the code prefix stored in a subscription. Raises RegionNotFound
    (a Chinese message with suggestions) for what the table does not know."""
    text = text.strip()
    if text.isdigit() and len(text) in (2, 4, 6) and region_by_code(text.ljust(6, "0")) is None:
        raise UnknownRegion(text, [])
    if text.isdigit():
        return region_prefix(text)
    try:
        return resolve_region(text).prefix
    except RegionNotFound as exc:
        raise UnknownRegion(exc.text, exc.suggestions) from None


def region_name(prefix: str) -> str:
    """A stored region prefix as people read it: 3208 → 江苏省淮安市."""
    return region_label(prefix.ljust(6, "0")) if prefix.isdigit() and len(prefix) <= 6 else prefix


__all__ = [
    "ALERT_KINDS",
    "PROVINCES",
    "RegionNotFound",
    "Scope",
    "UnknownRegion",
    "alert_kind",
    "matches",
    "region_code",
    "region_name",
]
