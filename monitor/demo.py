"""`nianbao run --demo`: the whole monitor, offline, against the bundled sandbox sites. The sandbox's clock
starts shortly before the departments' deadline (31 January, Beijing time), so within a few minutes one sees
reports found, parsed, checked and alerted, agencies that stayed silent reported MISSING the day after, and
reports published late arriving with LATE. Alerts print on the console as they are sent."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
DEADLINE_END = datetime(2026, 2, 1, 0, 0, tzinfo=CHINA)  # the end of 31 January 2026: departments' 2025 reports
LEAD = timedelta(seconds=100)  # the clock starts this long before the deadline passes
DEMO_PASSWORD = "demo"  # the demo's dashboard listens on 127.0.0.1 only

log = logging.getLogger("nianbao.demo")


def demo_environment(base_url: str, data_dir: Path, *, poll_seconds: float, web_port: int) -> dict[str, str]:
    return {
        "NIANBAO_WEB": "1", "NIANBAO_WEB_HOST": "127.0.0.1", "NIANBAO_WEB_PORT": str(web_port),
        "NIANBAO_PUBLIC_URL": f"http://127.0.0.1:{web_port}",  # alerts link to the report on the dashboard
        "NIANBAO_ADMIN_PASSWORD": DEMO_PASSWORD,
        "NIANBAO_DATA_DIR": str(data_dir),
        "NIANBAO_DATABASE_URL": f"sqlite:///{data_dir / 'nianbao.db'}",
        "NIANBAO_SITES": f"{base_url}/__sandbox__/sites.yaml",
        "NIANBAO_CLOCK_URL": f"{base_url}/__sandbox__/clock",
        "NIANBAO_ALLOWED_HOSTS": "127.0.0.1",
        "NIANBAO_SLOT_PER_SITE": "1",
        "NIANBAO_POLL_INTERVAL": str(poll_seconds),
        "NIANBAO_POLL_INTERVAL_OFFSEASON": str(poll_seconds),
        "NIANBAO_POLL_JITTER": "0.1",
        "NIANBAO_TICK": "2",
        "NIANBAO_DISPATCH_INTERVAL": "1",
        "NIANBAO_SWEEP_INTERVAL": "5",
        "NIANBAO_DIGEST_INTERVAL": "30",
        "NIANBAO_REVISIT_HOURS": "1",
    }


class LatePublisher(threading.Thread):
    """After the deadline has passed, a few silent agencies publish after all (late), one at a time."""

    def __init__(self, world: Any, count: int, every: float) -> None:
        super().__init__(name="demo-late-publisher", daemon=True)
        self.world, self.count, self.every = world, count, every
        self._stop_event = threading.Event()

    def run(self) -> None:
        while self.world.now < DEADLINE_END + timedelta(seconds=45):
            if self._stop_event.wait(1.0):
                return
        for site in [s for s in self.world.sites.values() if s.kind == "department"]:
            if self.count <= 0 or self._stop_event.is_set():
                return
            current = [r for r in site.reports if r.year == DEADLINE_END.year - 1]
            if current and current[0].publish_at is not None and current[0].publish_at > self.world.now:
                self.world.publish_next(site.key)
                print(f"[sandbox] {site.agency} has just published its {current[0].year} report, late",
                      flush=True)
                self.count -= 1
                if self._stop_event.wait(self.every):
                    return

    def stop(self) -> None:
        self._stop_event.set()


def run_demo(*, sites: int, port: int, seed: int, data_dir: Path | None, poll_seconds: float) -> int:
    from notifier.subscriptions import subscribe
    from sandbox.sites.server import serve
    from sandbox.sites.world import build_world
    from storage import make_engine, session_factory, upgrade

    from .config import Settings
    from .daemon import data_dir_lock, serve_forever

    start = DEADLINE_END - LEAD
    world = build_world(sites, seed, start.astimezone(UTC), years=2)
    server = serve(world, port=port)
    directory = data_dir or Path(tempfile.mkdtemp(prefix="nianbao-demo-"))
    web_port = port + 1 if port else 8766
    os.environ.update(demo_environment(server.base_url, directory, poll_seconds=poll_seconds, web_port=web_port))
    settings = Settings.from_env()
    lock = data_dir_lock(directory / "monitor.lock")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="demo", regions=None, agencies=None, kinds=None,
                  now=settings.clock()())  # the monitor's time: events before it are not sent
    print(f"""
nianbao-watch demo — offline, nothing leaves this machine
  sandbox: {sites} simulated agency sites at {server.base_url}/ (registry {server.base_url}/__sandbox__/sites.yaml)
  clock:   the sandbox's, now {world.now.astimezone(CHINA):%Y-%m-%d %H:%M:%S} Beijing time — the departments'
           deadline for their 2025 reports passes in {LEAD.seconds} s
  data:    {directory}  (crawl log: {directory / 'logs' / 'crawl.log'})
  alerts:  a console subscription to everything; each alert prints below as it is sent
  web:     the dashboard at http://127.0.0.1:{web_port}/ (admin password "{DEMO_PASSWORD}" to confirm / dismiss)
Sites are polled every {poll_seconds:g} s. Expect: new reports and the errors found in them, then, after the
deadline, MISSING for silent agencies and LATE for those publishing now. Ctrl-C stops.
""", flush=True)
    publisher = LatePublisher(world, count=2, every=20.0)
    try:
        return serve_forever(settings, engine, sessions, extra_threads=[publisher])
    finally:
        server.shutdown()
        lock.close()
