"""`nianbao run`: the continuous monitor. APScheduler 3 (jobs kept in the project's database) runs a few
jobs, each a reconciliation against the clock that is safe to repeat and to miss:

- poll: every `tick`, the sites that are due (each has its own next poll, denser in the reporting season,
  with jitter) are crawled in one child process; a deadline sweep follows each pass;
- dispatch: the outbox is sent (console, e-mail, Telegram, webhooks);
- sweep: MISSING for agencies whose deadline passed without a report (also after every poll);
- digest: the latest weekly digest whose time (Monday 09:00 Asia/Shanghai) has come, once per address;
- maintenance: old fetch logs pruned, abandoned archive temp files removed, SQLite checkpointed;
- heartbeat: the monitor's pid and last job results, for `nianbao status`.

The Telegram bot (when a token is set) and the dashboard (when enabled) run beside them in threads.
Because every job asks the clock what is due rather than being told, a restart after a crash resumes where
the database says things stand, and tests drive a year of deadlines by moving an injected clock."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from checks.deadlines import Calendar
from domain.redact import redact, redact_url
from notifier.channels import Channel, ConsoleChannel, EmailChannel, SmtpSettings, WebhookChannel
from notifier.digest import DigestRun, deliver_digests
from notifier.outbox import DispatchResult, dispatch
from storage.models import Fetch, ListCheckRow, MonitorState, Site
from storage.sweeps import sweep_deadlines

from . import schedule
from .config import Settings
from .crawl_runner import CrawlOutcome
from .status import HEARTBEAT_SECONDS, JOB_TABLE

log = logging.getLogger("nianbao.monitor")

UNKNOWN_SITE_RETRY = timedelta(minutes=5)
ARCHIVE_TEMP_MAX_AGE = 3600.0
KEEP_LIST_CHECKS = timedelta(days=400)  # BACKDATED needs last season's list reads


class Crawler(Protocol):
    def run(self, keys: Sequence[str]) -> CrawlOutcome: ...

    def stop(self) -> None: ...


@dataclass
class PollResult:
    due: list[str] = field(default_factory=list)
    outcome: CrawlOutcome | None = None
    missing: list[str] = field(default_factory=list)


class Monitor:
    """The jobs, with everything they touch injected (the clock, the crawler, the channels, the registry)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, clock: Callable[[], datetime],
                 crawler: Crawler | None, registry: Callable[[], list[str]] | None, channels: dict[str, Channel],
                 smtp: SmtpSettings | None, calendar: Calendar, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.crawler = crawler
        self.registry = registry
        self.channels = channels
        self.smtp = smtp
        self.calendar = calendar
        self.tz = ZoneInfo(settings.timezone)  # the same zone domain.time.local_zone() gives every layer
        self.rng = rng or random.Random()
        self.started_at = datetime.now(UTC)
        self.stopping = threading.Event()
        self._locks: dict[str, threading.Lock] = {}
        self._unknown_until: dict[str, datetime] = {}
        self.last_results: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ running a job
    def run_job(self, name: str) -> Any:
        """Run one job by name, one at a time per name; a failure is logged and recorded, never raised (the
        scheduler must keep going)."""
        lock = self._locks.setdefault(name, threading.Lock())
        if self.stopping.is_set() or not lock.acquire(blocking=False):
            return None
        began = time.monotonic()
        try:
            result = getattr(self, f"job_{name}")()
            self.last_results[name] = {"at": datetime.now(UTC).isoformat(), "ok": True,
                                       "seconds": round(time.monotonic() - began, 3), "result": _brief(result)}
            return result
        except Exception as exc:
            log.exception("job %s failed", name)
            self.last_results[name] = {"at": datetime.now(UTC).isoformat(), "ok": False,
                                       "error": redact(f"{type(exc).__name__}: {exc}")[:500]}
            return None
        finally:
            lock.release()

    # ------------------------------------------------------------------ the jobs
    def job_poll(self) -> PollResult:
        result = PollResult()
        if self.crawler is None or self.registry is None:
            return result
        now = self.clock()
        interval = self.interval(now)
        keys = self.registry()
        with self.sessions() as session:
            sites = {s.key: s for s in session.scalars(select(Site).where(Site.key.in_(keys)))} if keys else {}
        for key in keys:
            site = sites.get(key)
            if site is None:
                if self._unknown_until.get(key, now) <= now:
                    result.due.append(key)
            elif schedule.is_due(now, next_poll_at=site.next_poll_at, last_poll_at=site.last_poll_at,
                                 interval=interval):
                result.due.append(key)
        if not result.due:
            return result
        log.info("poll: %d site(s) due", len(result.due))
        with self.sessions() as session, session.begin():
            # until this pass is through, its sites stay due: one killed half-way is polled again at once
            for site in session.scalars(select(Site).where(Site.key.in_(result.due))):
                site.next_poll_at = None
        outcome = self.crawler.run(result.due)
        result.outcome = outcome
        log.info("poll: %s (%.1f s)", outcome.summary, outcome.seconds)
        if outcome.returncode is None and not outcome.timed_out:
            return result  # abandoned at shutdown: the sites stay due for the next start
        finished = self.clock()
        retry = interval if outcome.ok else min(interval, UNKNOWN_SITE_RETRY * 3)
        with self.sessions() as session, session.begin():
            known = {s.key: s for s in session.scalars(select(Site).where(Site.key.in_(result.due)))}
            for key in result.due:
                site = known.get(key)
                if site is None:
                    self._unknown_until[key] = finished + UNKNOWN_SITE_RETRY
                else:
                    site.next_poll_at = schedule.next_poll(finished, retry, self.settings.poll_jitter, self.rng)
        result.missing = self.job_sweep()
        return result

    def job_sweep(self) -> list[str]:
        found = sweep_deadlines(self.sessions, self.calendar, self.clock())
        if found:
            log.info("sweep: %d report(s) newly missing", len(found))
        return found

    def job_dispatch(self) -> DispatchResult:
        result = dispatch(self.sessions, self.channels, self.clock, links=self.settings.public_links())
        if result.sent or result.deferred or result.failed:
            log.info("dispatch: %d sent, %d to retry, %d given up", result.sent, result.deferred, result.failed)
        return result

    def job_digest(self) -> DigestRun | None:
        if self.smtp is None:
            return None
        week, moment = schedule.due_digest_week(self.clock(), self.settings.digest_weekday,
                                                self.settings.digest_hour, self.tz)
        result = deliver_digests(self.sessions, week, moment, self.calendar, self.smtp, self.clock,
                                 links=getattr(self.channels.get("email"), "links", None))
        if result.sent or result.deferred or result.failed:
            log.info("digest %s: %d sent, %d to retry, %d given up", week, result.sent, result.deferred,
                     result.failed)
        return result

    def job_maintenance(self) -> dict[str, int]:
        now = self.clock()
        done = {"fetches_pruned": 0, "list_checks_pruned": 0, "temp_files_removed": 0}
        with self.sessions() as session, session.begin():
            pruned = session.execute(delete(Fetch).where(
                Fetch.fetched_at < now - timedelta(days=self.settings.keep_fetch_days)))
            done["fetches_pruned"] = getattr(pruned, "rowcount", 0) or 0
            pruned = session.execute(delete(ListCheckRow).where(ListCheckRow.at < now - KEEP_LIST_CHECKS))
            done["list_checks_pruned"] = getattr(pruned, "rowcount", 0) or 0
        archive = self.settings.archive_root
        if archive.is_dir():
            for temporary in archive.rglob(".incoming-*"):  # left by a writer killed mid-write
                try:
                    if time.time() - temporary.stat().st_mtime > ARCHIVE_TEMP_MAX_AGE:
                        temporary.unlink()
                        done["temp_files_removed"] += 1
                except OSError:
                    pass
        with self.sessions() as session:
            if session.get_bind().dialect.name == "sqlite":
                session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                session.execute(text("PRAGMA optimize"))
        log.info("maintenance: %s", done)
        return done

    def job_heartbeat(self) -> None:
        value = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": self.started_at.isoformat(),
                 "clock": self.clock().isoformat(), "jobs": self.last_results}
        with self.sessions() as session, session.begin():
            row = session.get(MonitorState, "daemon")
            if row is None:
                session.add(MonitorState(name="daemon", value=value, updated_at=datetime.now(UTC)))
            else:
                row.value, row.updated_at = value, datetime.now(UTC)

    # ------------------------------------------------------------------ helpers
    def interval(self, now: datetime) -> timedelta:
        return schedule.poll_interval(now, self.settings.season, self.tz,
                                      in_season_seconds=self.settings.poll_interval,
                                      offseason_seconds=self.settings.poll_interval_offseason)

    def mark_stopped(self) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(MonitorState, "daemon")
            if row is not None:
                row.value = dict(row.value, stopped_at=datetime.now(UTC).isoformat())
                row.updated_at = datetime.now(UTC)


def _brief(result: Any) -> Any:
    if isinstance(result, PollResult):
        return {"due": len(result.due), "summary": result.outcome.summary if result.outcome else None,
                "missing": len(result.missing)}
    if hasattr(result, "__dataclass_fields__"):
        return {k: v for k, v in result.__dict__.items() if isinstance(v, (int, float, str))}
    if isinstance(result, list):
        return len(result)
    return result if isinstance(result, (dict, int, str, type(None))) else str(result)


# ---------------------------------------------------------------------- the scheduler around a Monitor
_current: Monitor | None = None


def run_job(name: str) -> None:
    """The jobs' entry point as stored in the job store (a module-level name, so it can be persisted)."""
    if _current is not None:
        _current.run_job(name)


def job_triggers(settings: Settings) -> dict[str, Any]:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    triggers: dict[str, Any] = {
        "poll": IntervalTrigger(seconds=settings.tick),
        "dispatch": IntervalTrigger(seconds=settings.dispatch_interval),
        "sweep": IntervalTrigger(seconds=settings.sweep_interval),
        "digest": IntervalTrigger(seconds=settings.digest_interval),
        # on the minute when the clock is real; the interval job above catches up after downtime
        "digest-on-time": CronTrigger(day_of_week=settings.digest_weekday, hour=settings.digest_hour, minute=0,
                                      second=30, timezone=settings.timezone),
        "maintenance": IntervalTrigger(seconds=settings.maintenance_interval),
        "heartbeat": IntervalTrigger(seconds=HEARTBEAT_SECONDS),
    }
    return triggers


def start_scheduler(monitor: Monitor, engine: Engine) -> Any:
    """A BackgroundScheduler with its jobs in the project's database. Jobs are kept across restarts (their
    next run times too: a job that came due while the monitor was down runs once at start, coalesced) and
    replaced only when their trigger changed in the configuration; unknown stored jobs are removed."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    global _current
    _current = monitor
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(6)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=monitor.settings.timezone)
    scheduler.start(paused=True)
    wanted = job_triggers(monitor.settings)
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
    for name, trigger in wanted.items():
        existing = scheduler.get_job(name)
        if existing is not None and str(existing.trigger) == str(trigger):
            continue
        first = datetime.now(UTC) if name in ("poll", "heartbeat", "dispatch") else None
        scheduler.add_job(run_job, trigger, args=[name.removesuffix("-on-time")], id=name, name=name,
                          replace_existing=True, **({"next_run_time": first} if first else {}))
    scheduler.resume()
    return scheduler


class BotThread(threading.Thread):
    """The Telegram bot (long polling) in its own event loop; `run_bot` retries while the Bot API is
    unreachable and registers the command menu at every start."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        super().__init__(name="telegram-bot", daemon=True)
        self.settings, self.sessions, self.clock = settings, sessions, clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from notifier.telegram_bot import TelegramBot, TokenRejected, run_bot

        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        self.ready.set()
        assert self.settings.telegram_token is not None
        bot = TelegramBot(self.sessions, self.clock, self.settings.telegram_admins)
        try:
            await run_bot(bot, self.settings.telegram_token.get_secret_value(), self.settings.telegram_base_url,
                          stop=self._stop_event)
        except TokenRejected as exc:
            log.error("telegram bot: %s; the bot is off until the monitor restarts with another token", exc)

    def stop(self) -> None:
        self.ready.wait(5)
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(15)


def build_channels(settings: Settings) -> tuple[dict[str, Channel], SmtpSettings | None]:
    channels: dict[str, Channel] = {"console": ConsoleChannel(), "webhook": WebhookChannel()}
    smtp = settings.smtp()
    if smtp is not None:
        channels["email"] = EmailChannel(smtp)
    from notifier.channels import reach_channels
    from notifier.links import PublicLinks

    env = settings.environment or dict(os.environ)
    channels.update(reach_channels(env, smtp, PublicLinks.from_env(env, settings.data_dir)))
    if settings.telegram_token:
        from notifier.telegram_bot import TelegramChannel

        channels["telegram"] = TelegramChannel(settings.telegram_token.get_secret_value(), settings.telegram_base_url)
    return channels, smtp


def registry_keys(location: str) -> Callable[[], list[str]]:
    """The site keys of the registry, read again at every poll (sites can be added while it runs); when the
    registry cannot be read the last keys hold."""
    from crawler.registry import load_registry

    last: list[str] = []

    def keys() -> list[str]:
        nonlocal last
        try:
            last = [p.key for p in load_registry(location)]
        except Exception as exc:
            log.warning("registry %s unreadable (%s); keeping %d known sites", redact_url(location),
                        redact(str(exc)), len(last))
        return last

    return keys


def serve_forever(settings: Settings, engine: Engine, sessions: sessionmaker[Session],
                  *, extra_threads: Sequence[threading.Thread] = (), on_ready: Callable[[], None] | None = None,
                  clock: Callable[[], datetime] | None = None) -> int:
    """Run the monitor until SIGTERM/SIGINT: the scheduler, the bot, the dashboard. Returns the exit status."""
    from checks.deadlines import load_calendar

    from .crawl_runner import SubprocessCrawler

    clock = clock or settings.clock()
    channels, smtp = build_channels(settings)
    crawler = None
    registry = None
    if settings.sites:
        environment = settings.child_environment()
        if settings.allowed_hosts:
            environment["NIANBAO_ALLOWED_HOSTS"] = ",".join(settings.allowed_hosts)
        crawler = SubprocessCrawler(settings.sites, environment=environment,
                                    log_path=settings.data_dir / "logs" / "crawl.log",
                                    timeout=settings.crawl_timeout, revisit_hours=settings.revisit_hours,
                                    slot_per_site=settings.slot_per_site)
        registry = registry_keys(settings.sites)
    else:
        log.warning("no sites to watch (set NIANBAO_SITES to a registry file or URL); alerts and digests only")
    monitor = Monitor(settings, sessions, clock=clock, crawler=crawler, registry=registry, channels=channels,
                      smtp=smtp, calendar=load_calendar())
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s received: finishing in-flight work", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    scheduler = start_scheduler(monitor, engine)
    threads: list[threading.Thread] = list(extra_threads)
    bot = None
    if settings.telegram_token:
        bot = BotThread(settings, sessions, clock)
        bot.start()
    if settings.web:
        from .web_thread import WebThread

        threads.append(WebThread(settings, sessions, clock))
        log.info("dashboard at http://%s:%d/", settings.web_host, settings.web_port)
    for thread in threads:
        if not thread.is_alive():
            thread.start()
    log.info("monitor running (pid %d): %d channel(s), sites from %s", os.getpid(), len(channels),
             redact_url(settings.sites) or "nowhere")
    if on_ready:
        on_ready()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        monitor.stopping.set()
        if crawler is not None:
            crawler.stop()
        scheduler.shutdown(wait=True)  # running jobs finish: a dispatch in flight records its sends
        if bot is not None:
            bot.stop()
        for thread in threads:
            stopper = getattr(thread, "stop", None)
            if callable(stopper):
                stopper()
        for channel in channels.values():
            closer = getattr(channel, "close", None)
            if callable(closer):
                closer()
        monitor.mark_stopped()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("monitor stopped")
    return 0


def data_dir_lock(path: Path) -> Any:
    """One monitor per database: an exclusive lock file (released by the kernel when the process dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 — held open for the life of the monitor
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(f"nianbao: another monitor is running with this data directory ({path})") from None
    return handle
