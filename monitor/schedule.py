"""When things are due (pure): the reporting season, a site's next poll with jitter, and which week's digest
is due. Times are aware datetimes from the monitor's clock; calendar questions are asked in `tz`."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MonthDay = tuple[int, int]


def in_season(now: datetime, season: tuple[MonthDay, MonthDay], tz: ZoneInfo) -> bool:
    """True from the season's first to its last day (inclusive), e.g. 1 January – 15 April, when reports are
    due and published; a season may wrap the new year (11-15..04-15)."""
    local = now.astimezone(tz)
    today = (local.month, local.day)
    start, end = season
    return start <= today <= end if start <= end else (today >= start or today <= end)


def poll_interval(now: datetime, season: tuple[MonthDay, MonthDay], tz: ZoneInfo, *, in_season_seconds: float,
                  offseason_seconds: float) -> timedelta:
    return timedelta(seconds=in_season_seconds if in_season(now, season, tz) else offseason_seconds)


def next_poll(now: datetime, interval: timedelta, jitter: float, rng: random.Random) -> datetime:
    """`now` + the interval, spread by ± `jitter` of it so that sites polled together drift apart."""
    return now + interval * (1 + rng.uniform(-jitter, jitter))


def is_due(now: datetime, *, next_poll_at: datetime | None, last_poll_at: datetime | None,
           interval: timedelta) -> bool:
    """Never polled, past its planned time, or — when the season began and intervals shrank — longer ago than
    the current interval."""
    if next_poll_at is None or next_poll_at <= now:
        return True
    return last_poll_at is not None and last_poll_at + interval <= now


def due_digest_week(now: datetime, weekday: int, hour: int, tz: ZoneInfo) -> tuple[str, datetime]:
    """The ISO week (e.g. 2025-W12) of the latest digest whose time (`weekday` 0 = Monday, `hour`, in `tz`)
    has come — the full week before that moment — and the moment. Only the latest is sent after an outage."""
    local = now.astimezone(tz)
    moment = (local - timedelta(days=(local.weekday() - weekday) % 7)).replace(hour=hour, minute=0, second=0,
                                                                               microsecond=0)
    if moment > local:
        moment -= timedelta(days=7)
    covered = moment.date() - timedelta(days=moment.weekday() + 1)  # the Sunday ending the week before
    year, week, _ = covered.isocalendar()
    return f"{year}-W{week:02d}", moment
