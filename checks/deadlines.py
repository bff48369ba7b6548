"""When a report is due, and LATE / MISSING / BACKDATED from dated evidence. Pure functions: the calendar,
the evidence and "now" come in as values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

import yaml

from .finding import Finding

KINDS = ("department", "government", "township", "other")
KIND_NAMES = {"department": "政府部门", "government": "本级人民政府", "township": "乡镇/街道", "other": "其他机关"}


@dataclass(frozen=True)
class DeadlineRule:
    first_year: int
    last_year: int | None
    kinds: frozenset[str]
    month: int
    day: int
    source: str
    region: str = ""

    def applies(self, year: int, kind: str, region: str) -> bool:
        return (self.first_year <= year and (self.last_year is None or year <= self.last_year)
                and kind in self.kinds and region.startswith(self.region))


@dataclass(frozen=True)
class Due:
    date: date
    source: str


@dataclass(frozen=True)
class Calendar:
    rules: tuple[DeadlineRule, ...]
    township_default: tuple[int, int, str]

    def due(self, year: int, kind: str, region: str = "") -> Due:
        """The due date of the report for `year` by an agency of `kind` in `region` (行政区划代码)."""
        if kind not in KINDS:
            raise ValueError(f"unknown agency kind {kind!r} (one of {', '.join(KINDS)})")
        matching = [(len(rule.region), index, rule) for index, rule in enumerate(self.rules)
                    if rule.applies(year, kind, region)]
        if matching:
            rule = max(matching)[2]
            return Due(date(year + 1, rule.month, rule.day), rule.source)
        if kind == "township":
            month, day, source = self.township_default
            return Due(date(year + 1, month, day), source)
        raise LookupError(f"no deadline rule for {kind} reports of {year}")

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Calendar:
        rules = []
        for entry in data.get("rules", []):
            first, last = entry["years"]
            rules.append(DeadlineRule(first_year=first, last_year=last, kinds=frozenset(entry["kinds"]),
                                      month=entry["month"], day=entry["day"], source=entry["source"],
                                      region=str(entry.get("region", ""))))
        default = data["township_default"]
        return cls(tuple(rules), (default["month"], default["day"], default["source"]))


def load_calendar(text: str | None = None) -> Calendar:
    """The shipped calendar (checks/deadlines.yaml), or one given as YAML text."""
    if text is None:
        text = resources.files("checks").joinpath("deadlines.yaml").read_text(encoding="utf-8")
    return Calendar.from_data(yaml.safe_load(text))


def infer_kind(agency: str | None) -> str:
    """The agency kind for deadlines, from its name when no one has said: 乡镇/街道, a government's own
    report (人民政府, 实验区/新区/开发区 管委会), or a department."""
    if not agency:
        return "other"
    if re.search(r"(街道办事处|街道|[乡镇](人民政府)?)$", agency):
        return "township"
    if re.search(r"(人民政府|政府|实验区|新区|开发区|管委会|管理委员会)$", agency):
        return "government"
    return "department"


@dataclass(frozen=True)
class ListCheck:
    """The crawler looked at a list page at `at` and saw these document URLs."""

    url: str
    at: datetime
    links: frozenset[str]


@dataclass(frozen=True)
class Sighting:
    """What the crawler knows of one report document."""

    url: str
    first_seen: datetime
    published: date | None = None


def late(agency: str | None, year: int, due: Due, *, published: date | None = None,
         first_seen: datetime | None = None, watched_since: datetime | None = None,
         signed: date | None = None) -> Finding | None:
    """LATE from the strongest evidence available: the page's 发布时间; the first time the monitor saw the
    report (only if it was already watching before the deadline); the signing date as a lower bound."""
    evidence: tuple[date, str] | None = None
    if published is not None:
        evidence = (published, f"页面发布时间{published.isoformat()}")
    elif first_seen is not None and watched_since is not None and watched_since.date() <= due.date:
        evidence = (first_seen.date(), f"监测自{watched_since.date().isoformat()}起，首次发现于"
                                       f"{first_seen.date().isoformat()}")
    elif signed is not None:
        evidence = (signed, f"落款日期{signed.isoformat()}（发布不早于此日）")
    if evidence is None or evidence[0] <= due.date:
        return None
    days = (evidence[0] - due.date).days
    return Finding(rule="LATE", severity="error", agency=agency, year=year,
                   message=f"{year}年度报告应于{due.date.isoformat()}前公开（{due.source}），{evidence[1]}，逾期{days}天",
                   printed=evidence[0].isoformat(), expected=due.date.isoformat(), expression="published <= due",
                   text=evidence[1])


def missing(agency: str, year: int, due: Due, *, now: datetime, found_years: Iterable[int],
            last_successful_check: datetime | None) -> Finding | None:
    """MISSING once the deadline has passed, the site was read after it, and no report for the year exists."""
    if year in set(found_years) or now.date() <= due.date:
        return None
    if last_successful_check is None or last_successful_check.date() <= due.date:
        return None  # no successful look at the site since the deadline: not evidence of absence
    days = (now.date() - due.date).days
    return Finding(rule="MISSING", severity="error", agency=agency, year=year,
                   message=f"{agency}{year}年度报告应于{due.date.isoformat()}前公开（{due.source}），"
                           f"截至{now.date().isoformat()}仍未发现，已逾期{days}天",
                   printed=None, expected=due.date.isoformat(), expression="report exists",
                   text=f"最近一次成功检查：{last_successful_check.isoformat(timespec='minutes')}")


def backdated(agency: str | None, year: int, sighting: Sighting, checks: Sequence[ListCheck]) -> Finding | None:
    """BACKDATED: the page says it was published on P, but the monitor read the list after P and it was not
    there."""
    if sighting.published is None:
        return None
    contradicting = [c for c in checks if c.at.date() > sighting.published and sighting.url not in c.links
                     and c.at < sighting.first_seen]
    if not contradicting:
        return None
    latest = max(contradicting, key=lambda c: c.at)
    return Finding(rule="BACKDATED", severity="warning", agency=agency, year=year,
                   message=f"页面发布时间为{sighting.published.isoformat()}，但监测于"
                           f"{latest.at.isoformat(timespec='minutes')}检查该栏目时报告尚未出现，发布时间疑似倒填",
                   printed=sighting.published.isoformat(), expected=f"> {latest.at.date().isoformat()}",
                   text=f"{latest.url} @ {latest.at.isoformat(timespec='minutes')}")
