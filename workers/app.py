"""The procrastinate application: the connector, the queues, and every task with its schedule.

Why procrastinate (see README "Several machines"): PostgreSQL is already required for several machines, so the
queue adds no service; periodic jobs are deduplicated by a unique constraint (every worker defers them, one
runs per period); `lock` / `queueing_lock` keep one poll per group of sites; a killed worker's jobs are found
through its stale heartbeat and retried (`retry_stalled_jobs`, scheduled here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from monitor.config import Settings

from . import tasks

log = logging.getLogger("nianbao.workers")

QUEUES = ("poll", "parse", "alerts", "maintenance")
PARSE_TASK = "nianbao.parse_document"
POLL_TASK = "nianbao.poll_sites"
# a job whose worker sent no heartbeat for this long is stalled and is run again
STALLED_AFTER_HEARTBEATS = 5


def conninfo(database_url: str) -> str:
    """A libpq connection string from the SQLAlchemy URL (`postgresql+psycopg://…` → `postgresql://…`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"nianbao: workers need PostgreSQL (NIANBAO_DATABASE_URL is {url.get_backend_name()}); "
                         "on one machine use `nianbao run`")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def every(seconds: float) -> str:
    """A cron expression (with procrastinate's optional seconds column) for roughly every `seconds`."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"*/{seconds} * * * * *"
    if seconds < 3600:
        return f"*/{max(1, seconds // 60)} * * * *"
    if seconds < 86400:
        return f"0 */{max(1, seconds // 3600)} * * *"
    return "0 3 * * *"  # daily, at a quiet hour (UTC)


def heartbeat_seconds(settings: Settings) -> float:
    return settings.worker_heartbeat


def build_app(settings: Settings, *, pool_size: int = 4) -> App:
    """The app for `settings`: the same task names and schedules in every process (the crawl child too,
    which only defers parse jobs)."""
    connector = PsycopgConnector(conninfo=conninfo(settings.database_url),
                                 min_size=1, max_size=pool_size)
    app = App(connector=connector, periodic_defaults={"max_delay": max(600.0, settings.tick * 3)})
    retry = RetryStrategy(max_attempts=5, exponential_wait=3)

    app.task(name=POLL_TASK, queue="poll", retry=RetryStrategy(max_attempts=3, wait=30))(tasks.poll_sites)
    app.task(name=PARSE_TASK, queue="parse", retry=retry)(tasks.parse_document)

    def periodic(name: str, queue: str, seconds: float, body: Callable[[App], Awaitable[Any]]) -> None:
        """Every worker defers it; procrastinate's unique constraint keeps one job per period — but only
        against the latest period (it deletes older ones), so a lagging worker can defer an older period
        again: `claim_period` lets only one job run per period, and none for a period older than one run."""

        async def run(context: Any, timestamp: int) -> Any:
            if not await asyncio.to_thread(tasks.claim_period, name, timestamp, context.job.id):
                return None
            return await body(context.app)

        task = app.task(name=f"nianbao.{name}", queue=queue, queueing_lock=name, lock=name, pass_context=True)(run)
        app.periodic(cron=every(seconds), periodic_id=name)(task)

    stalled_after = heartbeat_seconds(settings) * STALLED_AFTER_HEARTBEATS
    periodic("plan_polls", "poll", settings.tick, tasks.plan_polls)  # the planner: once per tick in all
    periodic("dispatch", "alerts", settings.dispatch_interval, lambda _: asyncio.to_thread(tasks.dispatch))
    periodic("digest", "alerts", settings.digest_interval, lambda _: asyncio.to_thread(tasks.digest))
    periodic("sweep", "maintenance", settings.sweep_interval, lambda _: asyncio.to_thread(tasks.sweep))
    periodic("maintenance", "maintenance", settings.maintenance_interval, tasks.maintenance)
    periodic("retry_stalled_jobs", "maintenance", heartbeat_seconds(settings),
             lambda app: retry_stalled_jobs(app, stalled_after))
    return app


async def retry_stalled_jobs(app: App, seconds_since_heartbeat: float) -> int:
    """Jobs of workers whose heartbeat stopped (killed, frozen, cut off) are run again by another worker."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    count = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
            log.warning("job %s (%s) was running on a worker that stopped; running it again", job.id, job.task_name)
        except UniqueViolation:
            # an identical job waits already (same queueing lock, e.g. the next poll of the same sites, which
            # re-reads what is still due): that one does the work; this run is given up, not run twice
            await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
            log.warning("job %s (%s) was running on a worker that stopped; the waiting job %s replaces it",
                        job.id, job.task_name, job.queueing_lock)
        count += 1
    return count
