"""A year of the monitor in seconds: the real jobs (poll, sweep, digest, dispatch) driven by a hand-moved clock,
a scripted world standing in for the crawl child, and a real SMTP server for the weekly digests."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from conftest import Clock, Inbox, free_port
from sqlalchemy import select
from storage_fixtures import database_url  # noqa: F401  (the fixture)

from checks.deadlines import load_calendar
from monitor.config import Settings
from monitor.crawl_runner import CrawlOutcome
from monitor.daemon import Monitor
from monitor.schedule import due_digest_week, in_season, is_due, next_poll
from notifier.channels import SmtpSettings
from notifier.subscriptions import subscribe
from sandbox.sites import pages
from sandbox.sites.world import SandboxReport, SandboxSite, World
from storage import Archive, make_engine, session_factory, upgrade
from storage.crawl_state import SiteProfileRow, site_result, sync_sites
from storage.ingest import Origin, ingest
from storage.models import DigestSend, Event, Site

CHINA = ZoneInfo("Asia/Shanghai")


def beijing(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHINA).astimezone(UTC)


class ScriptedCrawler:
    """What the crawl child does, without HTTP: every report the world shows by now is ingested with its
    page date, and the poll is recorded on the site."""

    def __init__(self, sessions: Any, archive: Archive, world: World, clock: Clock) -> None:
        self.sessions, self.archive, self.world, self.clock = sessions, archive, world, clock
        self.polls: dict[str, list[datetime]] = {key: [] for key in world.sites}
        self.calendar = load_calendar()

    def run(self, keys: Any) -> CrawlOutcome:
        now = self.clock()
        self.world.now = now
        rows = [SiteProfileRow(key=k, agency=self.world.sites[k].agency, region=self.world.sites[k].region,
                               kind=self.world.sites[k].kind, platform="trs", list_urls=[f"https://gov.example/{k}/"],
                               profile={}) for k in keys]
        ids = sync_sites(self.sessions, rows, now)
        for key in keys:
            site = self.world.sites[key]
            visible = self.world.visible(site)
            for report in visible:
                url = "https://gov.example" + pages.detail_path(site, report)
                ingest(self.sessions, self.archive, pages.detail_page(self.world, site, report),
                       Origin(agency=site.agency, url=url, seen_at=now, region=site.region, kind=site.kind,
                              published=report.local_publish_at.date(), site_id=ids[key], page_url=url),
                       calendar=self.calendar)
            site_result(self.sessions, ids[key], now, ok=True, entries=len(visible))
            self.polls[key].append(now)
        return CrawlOutcome(tuple(keys), 0, 0.0, "scripted")

    def stop(self) -> None:
        pass


class CapturingChannel:
    name = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, address: str, text: str) -> str:
        self.sent.append((address, text))
        return f"captured:{len(self.sent)}"


def _report(site: str, year: int, seed: int, at: datetime | None, planted: str | None = None) -> SandboxReport:
    return SandboxReport(site=site, year=year, seed=seed, format="html", publish_at=at, planted=planted,
                         doc_id=5000 + seed)


def test_pure_schedule_rules() -> None:
    season = ((1, 1), (4, 15))
    assert in_season(beijing(2026, 1, 1, 0), season, CHINA) and in_season(beijing(2026, 4, 15, 23), season, CHINA)
    assert not in_season(beijing(2026, 4, 16, 0), season, CHINA)
    assert in_season(beijing(2026, 12, 1), ((11, 15), (4, 15)), CHINA)  # a season across the new year
    rng = random.Random(1)
    now = beijing(2026, 2, 1)
    spread = [next_poll(now, timedelta(hours=10), 0.2, rng) - now for _ in range(200)]
    assert timedelta(hours=8) <= min(spread) and max(spread) <= timedelta(hours=12) and len(set(spread)) > 150
    assert is_due(now, next_poll_at=None, last_poll_at=None, interval=timedelta(hours=1))
    assert not is_due(now, next_poll_at=now + timedelta(hours=5), last_poll_at=now - timedelta(minutes=30),
                      interval=timedelta(hours=1))
    # the season began: a site planned a week ahead is due once its last poll is older than today's interval
    assert is_due(now, next_poll_at=now + timedelta(days=5), last_poll_at=now - timedelta(hours=2),
                  interval=timedelta(hours=1))
    # Monday 09:00 Beijing: the week before; until then, the week before that
    assert due_digest_week(datetime(2025, 3, 24, 9, 0, tzinfo=CHINA), 0, 9, CHINA)[0] == "2025-W12"
    assert due_digest_week(datetime(2025, 3, 24, 8, 59, tzinfo=CHINA), 0, 9, CHINA)[0] == "2025-W11"
    assert due_digest_week(datetime(2025, 3, 30, 23, 0, tzinfo=CHINA), 0, 9, CHINA)[0] == "2025-W12"


class DyingCrawler(ScriptedCrawler):
    """Reads the lists (the sites' polls are recorded), then dies before the pass is through — a worker killed
    with SIGKILL, a power cut."""

    def run(self, keys: Any) -> CrawlOutcome:
        now = self.clock()
        ids = sync_sites(self.sessions, [SiteProfileRow(key=k, agency=self.world.sites[k].agency, region=None,
                                                        kind=None, platform="trs", list_urls=[], profile={})
                                         for k in keys], now)
        for key in keys:
            site_result(self.sessions, ids[key], now, ok=True, entries=1)
        raise RuntimeError("killed half-way through the pass")


def test_a_pass_killed_half_way_leaves_its_sites_due(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    start = beijing(2026, 1, 10)
    clock = Clock(start)
    world = World(sites={"s": SandboxSite("s", "淮安市洪泽区财政局", "320813", "department", "trs", "utf-8", "none",
                                          [_report("s", 2025, 1, beijing(2026, 1, 5, 9))])}, start=start)

    def monitor(crawler: Any, interval_hours: int) -> Monitor:
        settings = Settings.from_env({"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_POLL_JITTER": "0",
                                      "NIANBAO_POLL_INTERVAL": str(interval_hours * 3600)})
        return Monitor(settings, sessions, clock=clock, crawler=crawler, registry=lambda: ["s"], channels={},
                       smtp=None, calendar=load_calendar(), rng=random.Random(1))

    archive = Archive(tmp_path / "archive")
    weekly = ScriptedCrawler(sessions, archive, world, clock)
    assert monitor(weekly, 7 * 24).job_poll().due == ["s"]  # next poll planned a week ahead
    clock.now += timedelta(days=2)  # the interval shrank to a day: due, by its last poll
    assert monitor(DyingCrawler(sessions, archive, world, clock), 24).run_job("poll") is None
    clock.now += timedelta(minutes=5)
    again = ScriptedCrawler(sessions, archive, world, clock)
    assert monitor(again, 24).job_poll().due == ["s"]  # the pass that died is done again, not in a week
    assert again.polls["s"] == [clock.now]


def test_a_year_of_deadlines_polls_and_digests(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    archive = Archive(tmp_path / "archive")
    start = beijing(2026, 1, 1, 0)
    clock = Clock(start)
    sites = {
        "ontime": SandboxSite("ontime", "淮安市洪泽区财政局", "320813", "department", "trs", "utf-8", "none",
                              [_report("ontime", 2025, 1, beijing(2026, 1, 20, 9))]),
        "late": SandboxSite("late", "淮安市洪泽区教育局", "320813", "department", "trs", "utf-8", "none",
                            [_report("late", 2025, 2, beijing(2026, 2, 10, 9))]),
        "silent": SandboxSite("silent", "淮安市洪泽区人民政府", "320813", "government", "trs", "utf-8", "none", []),
        "wrong": SandboxSite("wrong", "淮安市洪泽区交通运输局", "320813", "department", "trs", "utf-8", "none",
                             [_report("wrong", 2025, 4, beijing(2026, 1, 15, 9), planted="T3-BALANCE")]),
    }
    world = World(sites=sites, start=start)
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="all", now=start - timedelta(days=1))
        subscribe(session, channel="email", address="office@example.org", now=start - timedelta(days=1))
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = Settings.from_env({"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_POLL_INTERVAL": str(86400),
                                  "NIANBAO_POLL_INTERVAL_OFFSEASON": str(7 * 86400), "NIANBAO_POLL_JITTER": "0.1"})
    crawler = ScriptedCrawler(sessions, archive, world, clock)
    channel = CapturingChannel()
    monitor = Monitor(settings, sessions, clock=clock, crawler=crawler, registry=lambda: list(sites),
                      channels={"console": channel}, smtp=SmtpSettings(host="127.0.0.1", port=port, timeout=5),
                      calendar=load_calendar(), rng=random.Random(7))
    try:
        while clock.now < beijing(2026, 12, 31, 23):
            for job in ("poll", "sweep", "digest", "dispatch"):
                assert monitor.run_job(job) is not None or job == "digest", monitor.last_results.get(job)
                assert monitor.last_results[job]["ok"], monitor.last_results[job]
            clock.now += timedelta(hours=6)
    finally:
        controller.stop()

    with sessions() as session:
        events = list(session.scalars(select(Event).order_by(Event.id)))
        sends = list(session.scalars(select(DigestSend)))
        next_polls = [s.next_poll_at for s in session.scalars(select(Site))]
    kinds = Counter(e.kind for e in events)
    missing = {e.payload["agency"]: e.created_at.astimezone(CHINA).date() for e in events if e.kind == "MISSING"}
    # the day after each deadline, once: the late department on 1 February, the silent government on 1 April
    assert missing == {"淮安市洪泽区教育局": datetime(2026, 2, 1).date(),
                       "淮安市洪泽区人民政府": datetime(2026, 4, 1).date()}
    late = [e for e in events if e.kind == "LATE"]
    assert [e.payload.get("agency") for e in late] == ["淮安市洪泽区教育局"] and "10" in late[0].payload["message"]
    assert any(e.kind == "FINDING" and e.payload.get("rule") == "T3-BALANCE" for e in events)
    assert kinds["NEW"] == 3
    # denser polling in the season: daily until mid-April, weekly after
    for key in ("ontime", "silent"):
        polls = crawler.polls[key]
        in_season_polls = [p for p in polls if p < beijing(2026, 4, 16, 0)]
        off_season = [p for p in polls if p >= beijing(2026, 4, 16, 0)]
        assert 95 <= len(in_season_polls) <= 115, len(in_season_polls)
        assert 30 <= len(off_season) <= 45, len(off_season)
    assert all(n is not None for n in next_polls)
    # one digest every Monday, each once: 2026-W01's (on 5 January) through 2026-W52's (on 28 December); the
    # one due on 29 December 2025 was before the subscription
    weeks = sorted(s.week for s in sends)
    assert weeks == [f"2026-W{n:02d}" for n in range(1, 53)] and all(s.status == "sent" for s in sends)
    subjects = [str(m["Subject"]) for m in inbox.messages]
    assert len(subjects) == 52 and len(set(subjects)) == 52
    # every event a console subscriber chose was sent exactly once
    texts = [text for _, text in channel.sent]
    assert len(texts) == len(set(texts)) == sum(kinds[k] for k in ("NEW", "FINDING", "LATE", "MISSING"))


@pytest.mark.parametrize("bad", ["NIANBAO_POLL_INTERVAL=soon", "NIANBAO_SEASON=spring", "NIANBAO_DIGEST_HOUR=25"])
def test_bad_configuration_is_refused_with_its_name(bad: str) -> None:
    from monitor.config import ConfigError

    name, value = bad.split("=")
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_config_file_under_environment(tmp_path: Path) -> None:
    config = tmp_path / "nianbao.toml"
    config.write_text('poll_interval = 600\nsmtp_host = "mail.example.org"\nweb = true\n'
                      'allowed_hosts = ["127.0.0.1", "10.0.0.5"]\n', encoding="utf-8")
    settings = Settings.from_env({"NIANBAO_CONFIG": str(config), "NIANBAO_POLL_INTERVAL": "900"})
    assert settings.poll_interval == 900 and settings.web and settings.allowed_hosts == ("127.0.0.1", "10.0.0.5")
    assert settings.environment["NIANBAO_SMTP_HOST"] == "mail.example.org"
    assert "token" not in str(settings.describe()).lower() or settings.describe()["telegram"] == "off"


def test_job_store_keeps_jobs_across_restarts(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    from sqlalchemy import text

    from monitor.daemon import start_scheduler

    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)

    def started(tick: str) -> tuple[Any, dict[str, Any]]:
        settings = Settings.from_env({"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_TICK": tick,
                                      "NIANBAO_SWEEP_INTERVAL": "7200"})
        monitor = Monitor(settings, sessions, clock=Clock(), crawler=None, registry=None, channels={}, smtp=None,
                          calendar=load_calendar())
        scheduler = start_scheduler(monitor, engine)
        jobs = {job.id: job for job in scheduler.get_jobs()}
        scheduler.shutdown(wait=True)
        return scheduler, jobs

    _, first = started("30")
    assert sorted(first) == ["digest", "digest-on-time", "dispatch", "heartbeat", "maintenance", "poll", "sweep"]
    _, again = started("30")  # a restart: the same jobs, once each, their planned runs kept
    assert sorted(again) == sorted(first)
    assert again["sweep"].next_run_time == first["sweep"].next_run_time
    _, changed = started("60")  # a changed interval replaces only that job
    assert str(changed["poll"].trigger) == "interval[0:01:00]"
    assert changed["sweep"].next_run_time == first["sweep"].next_run_time
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == 7


def test_one_monitor_per_data_directory(tmp_path: Path) -> None:
    from monitor.daemon import data_dir_lock

    held = data_dir_lock(tmp_path / "monitor.lock")
    try:
        with pytest.raises(SystemExit, match="another monitor is running"):
            data_dir_lock(tmp_path / "monitor.lock")
    finally:
        held.close()
    data_dir_lock(tmp_path / "monitor.lock").close()  # released with its holder
