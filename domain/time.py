"""One time zone for the reporting calendar (deadlines, seasons, "this year", digests): China's, or
`NIANBAO_TIMEZONE` — set once by the composition root with `use_timezone` — and one date helper."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
_zone = ZoneInfo(DEFAULT_TIMEZONE)


def use_timezone(name: str) -> ZoneInfo:
    """Make `name` the reporting time zone of this process (raises ValueError for an unknown zone)."""
    global _zone
    try:
        _zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return _zone


def local_zone() -> ZoneInfo:
    """The reporting time zone (Asia/Shanghai unless configured otherwise)."""
    return _zone


def local(moment: datetime) -> datetime:
    return moment.astimezone(_zone)


def iso_date(value: date | datetime | str | None) -> str | None:
    """A date as YYYY-MM-DD, or None when there is none or it is not a real date (2023-02-30)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        return None


def parse_date(value: str | None) -> date | None:
    """A YYYY-MM-DD text as a date, None when it is not one (never raises)."""
    text = iso_date(value)
    return date.fromisoformat(text) if text else None
