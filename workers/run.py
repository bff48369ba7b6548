"""`nianbao worker`: one worker process on the chosen queues, until SIGTERM/SIGINT (running jobs finish).

Besides procrastinate's own heartbeat (which lets other workers re-run this one's jobs if it dies), the worker
keeps a row in `monitor_state` (`worker:<host>:<pid>`: its queues, concurrency, start, last beat) for
`nianbao status`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from storage.models import MonitorState

from .app import QUEUES, STALLED_AFTER_HEARTBEATS, build_app, heartbeat_seconds
from .tasks import init_runtime

log = logging.getLogger("nianbao.workers")

STATE_PREFIX = "worker:"


def parse_queues(text: str | None) -> list[str]:
    queues = [q.strip() for q in (text or ",".join(QUEUES)).split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise SystemExit(f"nianbao: unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
    return queues


def _beat(sessions: sessionmaker[Session], name: str, value: dict[str, object]) -> None:
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        row = session.get(MonitorState, name)
        if row is None:
            session.add(MonitorState(name=name, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now


class StatusBeat(threading.Thread):
    def __init__(self, sessions: sessionmaker[Session], name: str, value: dict[str, object], every: float) -> None:
        super().__init__(name="worker-status", daemon=True)
        self.sessions, self.state_name, self.value, self.every = sessions, name, value, every
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                _beat(self.sessions, self.state_name, self.value)
            except Exception as exc:  # the database is away for a moment: the next beat tries again
                log.warning("worker status not recorded: %s", exc)
            if self.stopping.wait(self.every):
                return

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        with contextlib.suppress(Exception):
            _beat(self.sessions, self.state_name, dict(self.value, stopped_at=datetime.now(UTC).isoformat()))


def run_worker(settings: Settings, queues: Sequence[str], concurrency: int, name: str | None = None) -> int:
    rt = init_runtime(settings)
    beat_every = heartbeat_seconds(settings)
    host = socket.gethostname()
    worker_name = name or f"{host}:{os.getpid()}"
    app = build_app(settings, pool_size=concurrency + 3)
    status = StatusBeat(rt.sessions, STATE_PREFIX + worker_name, {
        "host": host, "pid": os.getpid(), "queues": list(queues), "concurrency": concurrency, "heartbeat": beat_every,
        "started_at": datetime.now(UTC).isoformat(), "archive": rt.archive.describe()}, beat_every)
    status.start()
    log.info("worker %s: queues %s, concurrency %d, archive %s", worker_name, ",".join(queues), concurrency,
             rt.archive.describe())

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(queues=list(queues), concurrency=concurrency, name=worker_name,
                                       update_heartbeat_interval=beat_every,
                                       stalled_worker_timeout=beat_every * STALLED_AFTER_HEARTBEATS,
                                       fetch_job_polling_interval=min(5.0, max(0.5, beat_every / 2)),
                                       install_signal_handlers=True)

    try:
        asyncio.run(main())
    finally:
        status.stop()
        rt.engine.dispose()
    log.info("worker %s stopped", worker_name)
    return 0
