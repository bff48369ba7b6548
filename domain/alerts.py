"""Who gets which alert (pure): a subscription's scope — regions (行政区划代码 prefixes, subordinate agencies
included), agencies (by name or part of it), or everything — and the alert kinds it chose. Domain rules, so
the outbox can be filled in the transaction that stores an event without storage calling up into the
notifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .regions import RegionNotFound, resolve_region
from .vocabulary import alert_kind


def region_prefix(text: str) -> str:
    """A stored region as the code prefix that covers it: 320800 → 3208, 320000 → 32, 3208 → 3208; a name
    stored by an older version (江苏, 淮安市) → its prefix; what cannot be resolved stays as it is (and so
    matches nothing)."""
    text = text.strip()
    if text.isdigit() and len(text) == 6:
        return text[:2] if text.endswith("0000") else text[:4] if text.endswith("00") else text
    if text.isdigit():
        return text
    try:
        return resolve_region(text).prefix
    except RegionNotFound:
        return text


@dataclass(frozen=True)
class Scope:
    regions: tuple[str, ...] = ()  # 行政区划代码 prefixes
    agencies: tuple[str, ...] = ()  # names or parts of names (never empty)

    @property
    def everything(self) -> bool:
        return not self.regions and not self.agencies

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        regions = tuple(region_prefix(str(r)) for r in data.get("regions", ()) if str(r).strip())
        agencies = tuple(str(a).strip() for a in data.get("agencies", ()) if str(a).strip())
        if (data.get("regions") or data.get("agencies")) and not regions and not agencies:
            return cls(("\0none",), ())  # only empty entries were stored: it follows nothing, not everything
        return cls(regions, agencies)

    def covers(self, agency: str | None, region: str | None) -> bool:
        if self.everything:
            return True
        if agency and any(a == agency or a in agency for a in self.agencies if a):
            return True
        return region is not None and any(region.startswith(code) for code in self.regions if code)


def matches(scope: dict[str, Any], kinds: list[str], event_kind: str, payload: dict[str, Any],
            agency: str | None, region: str | None) -> bool:
    kind = alert_kind(event_kind, payload.get("severity"))
    return kind is not None and kind.value in kinds and Scope.from_json(scope).covers(agency, region)
