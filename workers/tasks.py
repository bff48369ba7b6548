"""The jobs a worker runs. Each is idempotent — run twice (a killed worker's job is run again) it does the same
as once: polls re-check what is due, ingest is keyed by URL and sha256, events by their key, the outbox's
claim is atomic, periodic jobs ask the clock what is due.

The jobs reuse the single process's own job bodies (`monitor.daemon.Monitor`), so a worker and `nianbao run`
poll, sweep, dispatch, send digests and maintain in the same way."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from checks.deadlines import Calendar
from monitor.config import Settings
from monitor.daemon import ARCHIVE_TEMP_MAX_AGE, Monitor
from storage.archive import ArchiveStore

log = logging.getLogger("nianbao.workers")

PARSE_ELSEWHERE_ENV = "NIANBAO_PARSE_ELSEWHERE"  # set for a crawl child: archive and defer, do not parse
KEEP_FINISHED_JOBS_HOURS = 7 * 24


@dataclass
class Runtime:
    """What the jobs of one worker process share: settings, database, archive, channels."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    archive: ArchiveStore
    calendar: Calendar
    clock: Callable[[], datetime]
    monitor: Monitor
    registry: Callable[[], list[str]] | None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def init_runtime(settings: Settings) -> Runtime:
    """This process's runtime from the settings the command line read (its --config included)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = build_runtime(settings)
        return _runtime


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = build_runtime(Settings.from_env())
        return _runtime


def build_runtime(settings: Settings) -> Runtime:
    from checks.deadlines import load_calendar
    from monitor.daemon import build_channels, registry_keys
    from storage import make_engine, session_factory
    from storage.archive import archive_for

    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    calendar = load_calendar()
    clock = settings.clock()
    channels, smtp = build_channels(settings)
    monitor = Monitor(settings, sessions, clock=clock, crawler=None, registry=None, channels=channels, smtp=smtp,
                      calendar=calendar)
    return Runtime(settings=settings, engine=engine, sessions=sessions, archive=archive_for(settings),
                   calendar=calendar, clock=clock, monitor=monitor,
                   registry=registry_keys(settings.sites) if settings.sites else None)


def poll_group(key: str, groups: int) -> int:
    """A site's group: stable, so one group's poll job (its `lock`) is the only one that ever polls the site."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % groups


def poll_groups(settings: Settings) -> int:
    return settings.poll_groups


def due_sites(rt: Runtime) -> list[str]:
    """The registry's sites that are due now (as `nianbao run` decides it)."""
    from monitor import schedule
    from storage.models import Site

    if rt.registry is None:
        return []
    keys = rt.registry()
    now = rt.clock()
    interval = rt.monitor.interval(now)
    with rt.sessions() as session:
        sites = {s.key: s for s in session.scalars(select(Site).where(Site.key.in_(keys)))} if keys else {}
    return [key for key in keys if key not in sites or schedule.is_due(
        now, next_poll_at=sites[key].next_poll_at, last_poll_at=sites[key].last_poll_at, interval=interval)]


async def plan_polls(app: Any) -> int:
    """Periodic (one run per tick across all workers): a poll job per group of due sites. A group has at most
    one waiting job (`queueing_lock`) and one running (`lock`), so no site is ever polled twice at once."""
    from procrastinate.exceptions import AlreadyEnqueued

    from .app import POLL_TASK

    rt = runtime()
    due = await asyncio.to_thread(due_sites, rt)
    groups: dict[int, list[str]] = {}
    for key in due:
        groups.setdefault(poll_group(key, poll_groups(rt.settings)), []).append(key)
    deferred = 0
    for group, keys in sorted(groups.items()):
        try:
            await app.configure_task(POLL_TASK, queue="poll", lock=f"poll:{group}",
                                             queueing_lock=f"poll:{group}").defer_async(group=group, keys=keys)
            deferred += 1
        except AlreadyEnqueued:
            pass  # that group's next poll is waiting already; it re-reads what is due when it starts
    if deferred:
        log.info("plan: %d site(s) due, %d poll job(s) deferred", len(due), deferred)
    return deferred


def poll_sites(group: int, keys: list[str]) -> dict[str, Any]:
    """Crawl the sites of `keys` still due, in a child process (as `nianbao run` does); the child archives
    what it downloads and defers a parse job per file instead of parsing."""
    from monitor.crawl_runner import SubprocessCrawler

    rt = runtime()
    settings = rt.settings
    if not settings.sites:
        return {"due": 0}
    environment = settings.child_environment()
    environment[PARSE_ELSEWHERE_ENV] = "1"
    if settings.allowed_hosts:
        environment["NIANBAO_ALLOWED_HOSTS"] = ",".join(settings.allowed_hosts)
    crawler = SubprocessCrawler(settings.sites, environment=environment,
                                log_path=settings.data_dir / "logs" / f"crawl-worker-{os.getpid()}.log",
                                timeout=settings.crawl_timeout, revisit_hours=settings.revisit_hours,
                                slot_per_site=settings.slot_per_site)
    monitor = Monitor(settings, rt.sessions, clock=rt.clock, crawler=crawler, registry=lambda: list(keys),
                      channels={}, smtp=None, calendar=rt.calendar)
    # procrastinate's `lock` keeps one job of the group running; this session lock (released by PostgreSQL
    # when the holder's connection ends, kill -9 included) also covers a worker that was only frozen long
    # enough for its job to be declared stalled and run again elsewhere. Autocommit: the session holds the
    # lock for the whole crawl without sitting idle in a transaction.
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        key = int(hashlib.sha256(f"nianbao-poll-group:{group}".encode()).hexdigest()[:15], 16)
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            raise GroupBusy(f"poll group {group} is being polled by another worker")
        try:
            result = monitor.job_poll()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    summary = result.outcome.summary if result.outcome else "nothing due"
    log.info("poll group %d: %d due; %s", group, len(result.due), summary)
    if result.outcome is not None and result.outcome.returncode is None and not result.outcome.timed_out:
        raise RuntimeError(f"poll of group {group} abandoned: {summary}")  # the worker is stopping: run it again
    return {"due": len(result.due), "summary": summary}


class GroupBusy(RuntimeError):
    """Another worker still polls this group (the job is retried later)."""


def parse_document(sha256: str, relative: str, origin: dict[str, Any]) -> dict[str, Any]:
    """Parse, check and store one archived document (no web access): what the crawler's pipeline does in one
    process. The bytes are read back from the archive and verified."""
    from storage import Origin, ingest
    from storage import crawl_state as cs

    rt = runtime()
    data = rt.archive.get(relative)
    published = date.fromisoformat(origin["published"]) if origin.get("published") else None
    seen = datetime.fromisoformat(origin["seen_at"])
    site_id = origin.get("site_id")
    result = ingest(rt.sessions, rt.archive, data, Origin(
        agency=origin["agency"], url=origin["url"], seen_at=seen, region=origin.get("region"),
        kind=origin.get("kind"), published=published, content_type=origin.get("content_type"), site_id=site_id,
        page_url=origin.get("page_url"), first_read=bool(origin.get("first_read"))), calendar=rt.calendar)
    if "NEW" in result.events and site_id is not None and cs.check_backdated(
            rt.sessions, site_id, origin["url"], origin.get("page_url") or origin["url"], published, seen):
        result.events.append("BACKDATED")
    if result.error:
        log.warning("%s: stored, but could not be read: %s", origin["url"], result.error)
    return {"report_id": result.report_id, "created": result.created, "events": result.events,
            "sha256": sha256}


def dispatch() -> dict[str, int]:
    result = runtime().monitor.job_dispatch()
    return {"sent": result.sent, "deferred": result.deferred, "failed": result.failed}


def digest() -> dict[str, int] | None:
    result = runtime().monitor.job_digest()
    return None if result is None else {"sent": result.sent, "deferred": result.deferred, "failed": result.failed}


def sweep() -> int:
    return len(runtime().monitor.job_sweep())


async def maintenance(app: Any) -> dict[str, int]:
    rt = runtime()
    done = await asyncio.to_thread(rt.monitor.job_maintenance)
    if rt.archive.describe() != str(rt.settings.archive_root):
        done["temp_files_removed"] += await asyncio.to_thread(rt.archive.remove_stale_temporaries,
                                                              ARCHIVE_TEMP_MAX_AGE)
    await app.job_manager.delete_old_jobs(nb_hours=KEEP_FINISHED_JOBS_HOURS)
    return done


PERIOD_HISTORY = 200


def claim_period(name: str, timestamp: int, job_id: int) -> bool:
    """May this job run the periodic task `name` for the period `timestamp`? Yes unless another job ran it
    for this period or a later one (the same job, run again after its worker died, may). The last periods
    and their jobs are kept in `monitor_state` ("periodic:<name>")."""
    from sqlalchemy.dialects.postgresql import insert

    from storage.models import MonitorState

    rt = runtime()
    key = f"periodic:{name}"
    now = datetime.now(UTC)
    with rt.sessions() as session, session.begin():
        session.execute(insert(MonitorState).values(name=key, value={}, updated_at=now)
                        .on_conflict_do_nothing(index_elements=["name"]))
        row = session.get(MonitorState, key, with_for_update=True, populate_existing=True)
        assert row is not None
        last, last_job = int(row.value.get("timestamp") or 0), row.value.get("job")
        if timestamp < last or (timestamp == last and job_id != last_job):
            log.info("%s for %s: run already (job %s)", name, timestamp, last_job)
            return False
        history = [[timestamp, job_id], *[h for h in row.value.get("history", []) if h[0] != timestamp]]
        row.value = {"timestamp": timestamp, "job": job_id, "history": history[:PERIOD_HISTORY]}
        row.updated_at = now
    return True
