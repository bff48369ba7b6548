"""`nianbao status`: what the monitor watches and how it is doing, readable in a terminal."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from domain.redact import redact
from domain.vocabulary import FindingStatus
from storage.models import Delivery, DigestSend, FindingRow, MonitorState, Report, Site

JOB_TABLE = "apscheduler_jobs"  # APScheduler's job store, in the project's database
HEARTBEAT_SECONDS = 15.0  # how often `nianbao run` records that it is alive


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


def monitor_lines(session: Session, now: datetime) -> list[str]:
    row = session.get(MonitorState, "daemon")
    if row is None:
        lines = ["monitor: never started with this database (nianbao run)"]
    else:
        age = (now - row.updated_at).total_seconds()
        value = row.value
        if "stopped_at" in value:  # a heartbeat after a restart rewrites the value without it
            state = f"stopped at {value['stopped_at'][:19]} UTC"
        elif age <= 3 * HEARTBEAT_SECONDS:
            state = f"running (pid {value.get('pid')} on {value.get('host')}, heartbeat {age:.0f} s ago)"
        else:
            state = f"not responding (last heartbeat {age / 60:.0f} min ago, pid {value.get('pid')})"
        lines = [f"monitor: {state}"]
        for name, job in sorted((value.get("jobs") or {}).items()):
            outcome = "ok" if job.get("ok") else f"FAILED: {redact(str(job.get('error')))}"
            lines.append(f"  job {name:<12} last run {job.get('at', '')[:19]} UTC  {outcome}")
    if not inspect(session.get_bind()).has_table(JOB_TABLE):
        lines.append("job store: empty (the scheduler has not run)")
        return lines
    jobs = session.execute(text(f"SELECT id, next_run_time FROM {JOB_TABLE} ORDER BY next_run_time")).all()
    upcoming = ", ".join(f"{job_id} {datetime.fromtimestamp(when, UTC):%H:%M:%S}" for job_id, when in jobs
                         if when is not None)
    lines.append(f"job store: {len(jobs)} jobs" + (f" — next: {upcoming}" if upcoming else ""))
    return lines


def status_text(session: Session, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    sites = list(session.scalars(select(Site)))
    states = Counter("broken" if s.broken_since else "never polled" if s.last_poll_at is None else
                     "error" if s.last_error else "ok" for s in sites)
    last = max((s.last_poll_at for s in sites if s.last_poll_at), default=None)
    planned = [s.next_poll_at for s in sites if s.next_poll_at]
    by_year = session.execute(select(Report.year, func.count()).group_by(Report.year).order_by(Report.year)).all()
    findings = session.execute(select(FindingRow.severity, func.count())
                               .where(FindingRow.status == FindingStatus.OPEN.value)
                               .group_by(FindingRow.severity)).all()
    deliveries = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    digests = session.execute(select(DigestSend.status, func.count()).group_by(DigestSend.status)).all()
    lines = [
        *monitor_lines(session, now),
        f"sites: {len(sites)} watched — " + (", ".join(f"{n} {k}" for k, n in sorted(states.items())) or "none"),
        f"last poll: {_when(last)}; next poll due: {_when(min(planned)) if planned else 'when the monitor runs'}"
        " (monitor clock)",
        "reports by year: " + (", ".join(f"{y or '?'}: {n}" for y, n in by_year) or "none"),
        "open findings: " + (", ".join(f"{n} {s}" for s, n in findings) or "none"),
        "alert deliveries: " + (", ".join(f"{n} {s}" for s, n in deliveries) or "none"),
        "weekly digests: " + (", ".join(f"{n} {s}" for s, n in digests) or "none"),
    ]
    broken = [s for s in sites if s.broken_since or s.last_error]
    for site in broken[:20]:
        lines.append(f"  ! {site.key}: {redact(site.last_error or '') or 'broken since ' + _when(site.broken_since)}")
    if len(broken) > 20:
        lines.append(f"  … and {len(broken) - 20} more (nianbao sites)")
    return redact("\n".join(lines))
