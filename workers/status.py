"""What `nianbao status` says about the workers and the job queue (PostgreSQL with procrastinate's schema)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from storage.models import MonitorState

SILENT_AFTER_BEATS = 3
FORGET_AFTER = timedelta(days=2)


def has_queue(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql" and inspect(bind).has_table("procrastinate_jobs")


def worker_lines(session: Session, now: datetime) -> list[str]:
    if not has_queue(session):
        return []
    lines: list[str] = []
    rows = list(session.scalars(select(MonitorState).where(MonitorState.name.like("worker:%"))
                                .order_by(MonitorState.name)))
    shown = [r for r in rows if now - r.updated_at < FORGET_AFTER]

    def silent_after(value: dict[str, object]) -> timedelta:
        return timedelta(seconds=SILENT_AFTER_BEATS * float(value.get("heartbeat") or 10))  # type: ignore[arg-type]

    alive = [r for r in shown if "stopped_at" not in r.value and now - r.updated_at <= silent_after(r.value)]
    lines.append(f"workers: {len(alive)} alive" + (f", {len(shown) - len(alive)} stopped or silent"
                                                   if len(shown) > len(alive) else ""))
    for row in shown:
        value = row.value
        age = (now - row.updated_at).total_seconds()
        state = ("stopped" if "stopped_at" in value else "alive" if now - row.updated_at <= silent_after(value)
                 else "SILENT")
        lines.append(f"  {row.name.removeprefix('worker:'):<28} {state:<7} queues {','.join(value.get('queues', []))}"
                     f" ×{value.get('concurrency')}  last heartbeat {age:.0f} s ago")
    beats = session.execute(text("SELECT count(*), max(last_heartbeat) FROM procrastinate_workers")).one()
    depths = session.execute(text(
        "SELECT queue_name, status, count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing', 'failed') "
        "GROUP BY queue_name, status ORDER BY queue_name, status")).all()
    by_queue: dict[str, dict[str, int]] = {}
    for queue, status, count in depths:
        by_queue.setdefault(queue, {})[status] = count
    lines.append("job queue: " + (", ".join(
        f"{queue} {counts.get('todo', 0)} waiting/{counts.get('doing', 0)} running"
        for queue, counts in sorted(by_queue.items())) or "empty")
        + f" ({beats[0]} registered worker(s))")
    stalled = session.execute(text(
        "SELECT count(*) FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id "
        "WHERE j.status = 'doing' AND (w.id IS NULL OR w.last_heartbeat < now() - interval '60 seconds')")).scalar()
    failed = session.execute(text(
        "SELECT task_name, count(*) FROM procrastinate_jobs WHERE status = 'failed' GROUP BY task_name "
        "ORDER BY task_name")).all()
    lines.append(f"stalled jobs: {stalled or 0}; failed jobs: "
                 + (", ".join(f"{n} {task.removeprefix('nianbao.')}" for task, n in failed) or "none"))
    return lines
