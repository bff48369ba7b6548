"""The simulated world: agencies, their sites (platform, encoding, failure mode) and their reports'
publication schedules, all derived from one seed."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from checks.deadlines import infer_kind, load_calendar

from ..reportgen.model import AGENCY_BODIES

CHINA = ZoneInfo("Asia/Shanghai")
PLATFORMS = ("trs", "hanweb", "jsapi", "challenge", "plain")
FORMATS = ("html", "pdf", "docx", "html", "pdf", "scan", "doc")
FAILURES = ("flaky500", "slow", "deadlink", "redirectloop", "none")
PLACES = (("北京市西城区", "110102"), ("淮安市洪泽区", "320813"), ("广州市番禺区", "440113"),
          ("成都市武侯区", "510107"), ("杭州市西湖区", "330106"), ("武汉市江汉区", "420103"),
          ("西安市雁塔区", "610113"), ("南京市鼓楼区", "320106"), ("铁岭市银州区", "211202"),
          ("上海市浦东新区", "310115"), ("福州市鼓楼区", "350102"), ("济南市历下区", "370102"))
PLANTED = (None, None, None, "T3-BALANCE", "T4-BLOCK", "NARRATIVE-TABLE", "T3-RESULTS")


@dataclass
class SandboxReport:
    site: str
    year: int
    seed: int
    format: str
    publish_at: datetime | None  # None: never published (MISSING)
    planted: str | None = None
    doc_id: int = 0
    revision: int = 0
    removed: bool = False

    @property
    def local_publish_at(self) -> datetime:
        """The publication time as the agency's CMS prints it: Beijing time."""
        assert self.publish_at is not None
        return self.publish_at.astimezone(CHINA)

    @property
    def published(self) -> bool:
        return self.publish_at is not None and not self.removed


@dataclass
class SandboxSite:
    key: str
    agency: str
    region: str
    kind: str
    platform: str
    encoding: str
    failure: str
    reports: list[SandboxReport] = field(default_factory=list)
    index: int = 0
    # jsapi/challenge lists: which URL and which JSON shape the page's script reads (changed by the control API)
    api_url_version: int = 1
    api_shape_version: int = 1
    # challenge sites: the WAF's clearance generation (rotating it voids every cookie) and the cookie's lifetime
    challenge_generation: int = 0
    cookie_max_age: int = 1800
    static_list: bool = False  # a challenge site whose list is plain HTML behind the challenge (no API)


@dataclass
class World:
    sites: dict[str, SandboxSite]
    start: datetime
    lock: threading.RLock = field(default_factory=threading.RLock)
    _anchor: float = field(default_factory=time.monotonic)

    @property
    def now(self) -> datetime:
        """The world's clock: it starts at `start` and runs at real speed until set again."""
        return self.start + timedelta(seconds=time.monotonic() - self._anchor)

    @now.setter
    def now(self, value: datetime) -> None:
        self.start, self._anchor = value.astimezone(UTC), time.monotonic()

    def visible(self, site: SandboxSite) -> list[SandboxReport]:
        return sorted((r for r in site.reports if r.published and r.publish_at and r.publish_at <= self.now),
                      key=lambda r: r.publish_at or self.now, reverse=True)

    def publish_next(self, key: str) -> SandboxReport | None:
        """Publish the site's earliest unpublished (or future) report now."""
        with self.lock:
            site = self.sites[key]
            pending = [r for r in site.reports if r.publish_at is None or r.publish_at > self.now]
            if not pending:
                return None
            report = min(pending, key=lambda r: r.year)
            report.publish_at = self.now
            return report


def build_world(count: int, seed: int, now: datetime | None = None, *, years: int = 4,
                formats: tuple[str, ...] | None = None, browser_share: float | None = None) -> World:
    """`count` sites mixing every platform; reports for the years before `now`'s year (published after the
    year ended, a few late), and the current deadline's reports due soon: some published, some late, some
    never. `formats` limits the report formats, `browser_share` sets the share of JavaScript sites (by
    default the platforms simply take turns)."""
    rng = random.Random(seed)
    now = (now or datetime(2025, 3, 28, 9, tzinfo=UTC)).astimezone(UTC)
    calendar = load_calendar()
    sites: dict[str, SandboxSite] = {}
    doc_id = 1000
    for index in range(count):
        place, region = PLACES[index % len(PLACES)]
        body = AGENCY_BODIES[(index // len(PLACES) + index) % len(AGENCY_BODIES)]
        agency = f"{place}{body}"
        if any(s.agency == agency for s in sites.values()):
            agency = f"{place}{body}（{index}）" if index >= len(PLACES) * len(AGENCY_BODIES) else agency
        key = f"site{index:04d}"
        kind = infer_kind(agency)
        platform = PLATFORMS[index % len(PLATFORMS)]
        if browser_share is not None:
            browser = rng.random() < browser_share
            platform = ("jsapi", "challenge")[index % 2] if browser else ("trs", "hanweb", "plain")[index % 3]
        site = SandboxSite(key=key, agency=agency, region=region, kind=kind, platform=platform,
                           encoding="gbk" if index % 3 == 1 else "utf-8",
                           failure=FAILURES[(index - len(PLATFORMS)) % len(FAILURES)]
                           if index >= len(PLATFORMS) else "none", index=index,
                           api_url_version=1 + (index // len(PLATFORMS)) % 2,
                           api_shape_version=1 + (index // len(PLATFORMS)) % 3,
                           static_list=platform == "challenge" and (index // len(PLATFORMS)) % 2 == 1)
        last_year = now.year - 1
        for year in range(last_year - years + 1, last_year + 1):
            due = calendar.due(year, kind, region).date
            due_at = datetime(due.year, due.month, due.day, 9, tzinfo=UTC)
            roll = rng.random()
            if year < last_year:
                publish_at: datetime | None = due_at - timedelta(days=rng.randint(1, 25))
                if roll < 0.1:
                    publish_at = due_at + timedelta(days=rng.randint(3, 40))
            else:
                # the current season: most on time, some late, some never
                publish_at = due_at - timedelta(days=rng.randint(1, 20)) if roll < 0.6 else (
                    due_at + timedelta(days=rng.randint(1, 10)) if roll < 0.85 else None)
            doc_id += 1
            fmt = FORMATS[(index + year) % len(FORMATS)] if year == last_year else ("html", "pdf", "docx")[
                (index + year) % 3]
            if formats is not None and fmt not in formats:
                fmt = formats[(index + year) % len(formats)]
            site.reports.append(SandboxReport(
                site=key, year=year, seed=seed * 100_000 + index * 10 + year % 10, format=fmt,
                publish_at=publish_at, planted=PLANTED[rng.randrange(len(PLANTED))], doc_id=doc_id))
        sites[key] = site
    return World(sites=sites, start=now)
