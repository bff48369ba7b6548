"""`nianbao run` end to end, offline: the real daemon process polls sandbox sites over HTTP, alerts a chat on
the Bot API emulator, sends the weekly digest to a real SMTP server (aiosmtpd), survives faults, stops
gracefully on SIGTERM, and survives kill -9 without losing or doubling an alert or a job."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from conftest import Inbox
from conftest import free_port as _free_port
from monitor_harness import CHAT, CHINA, Harness, make_harness
from sqlalchemy import func, or_, select, text

from notifier.messages import render_event
from notifier.subscriptions import subscribe
from sandbox.sites.world import SandboxReport
from storage.models import Delivery, Event, MonitorState, Site, Subscription

POLL = 4.0


def _pending(harness: Harness, year: int, *, healthy: bool = False) -> list[tuple[str, SandboxReport]]:
    """Reports of `year` not published yet (late or never), by site; `healthy`: on sites without a failure
    mode (a dead-link site never shows its reports)."""
    out = []
    for site in harness.world.sites.values():
        if healthy and site.failure != "none":
            continue
        for report in site.reports:
            if report.year == year and (report.publish_at is None or report.publish_at > harness.world.now):
                out.append((site.key, report))
    return out


def _subscribe(harness: Harness, channel: str, address: str, kinds: list[str] | None = None) -> None:
    with harness.sessions() as session, session.begin():
        subscribe(session, channel=channel, address=address, kinds=kinds, now=harness.world.now)


def test_run_end_to_end(tmp_path: Path) -> None:
    smtp_port = _free_port()
    start = datetime(2026, 1, 31, 22, 0, tzinfo=CHINA)  # two hours before the departments' deadline passes
    harness = make_harness(tmp_path, sites=8, now=start, poll_seconds=POLL, smtp_port=smtp_port)
    _subscribe(harness, "telegram", str(CHAT))
    _subscribe(harness, "email", "office@example.org")
    try:
        harness.start()
        first = harness.wait_for(lambda: any("【新报告】" in m for m in harness.messages()), 90)
        assert first, harness.output()[-3000:]

        # a report published on a site reaches the chat within one poll interval + 60 s, with its error
        key, report = _pending(harness, 2025, healthy=True)[0]
        report.format, report.planted = "html", "T3-BALANCE"
        agency = harness.world.sites[key].agency
        published = time.monotonic()
        harness.world.publish_next(key)

        def arrived(word: str) -> bool:
            return any(agency in m and "2025" in m and word in m for m in harness.messages())

        assert harness.wait_for(lambda: arrived("【新报告】"), POLL + 60), harness.output()[-3000:]
        assert time.monotonic() - published <= POLL + 60
        assert harness.wait_for(lambda: arrived("表三勾稽关系不平"), 30)  # the rule by its Chinese name

        # the Bot API fails for a while: the alert is retried with backoff (1, 2 min) and arrives once
        harness.telegram.fail_next(502, calls=2)
        key2, _ = next((k, r) for k, r in _pending(harness, 2025, healthy=True) if k != key)
        agency2 = harness.world.sites[key2].agency
        harness.world.publish_next(key2)
        assert harness.wait_for(lambda: _failed_telegram_attempts(harness) >= 2, POLL + 120), harness.output()[-3000:]
        harness.world.now = harness.world.now + timedelta(minutes=4)
        assert harness.wait_for(lambda: any(agency2 in m and "【新报告】" in m and "2025" in m
                                            for m in harness.messages()), 60), harness.output()[-3000:]

        # the deadline passes with agencies silent: MISSING to the subscriber, the day after
        silent = {harness.world.sites[k].agency for k, r in _pending(harness, 2025)
                  if harness.world.sites[k].kind == "department"}
        assert silent
        harness.world.now = datetime(2026, 2, 1, 0, 0, 30, tzinfo=CHINA)
        assert harness.wait_for(lambda: all(any("【逾期未发布】" in m and a in m for m in harness.messages())
                                            for a in silent), POLL + 60), harness.output()[-3000:]

        # Monday 09:00: the weekly digest; SMTP is down at first, then comes up and the digest arrives once
        harness.world.now = datetime(2026, 2, 2, 9, 0, 30, tzinfo=CHINA)
        assert harness.wait_for(lambda: _digest_attempts(harness) >= 1, 30)
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            harness.world.now = harness.world.now + timedelta(minutes=3)  # past the retry's backoff
            def digests() -> list[Any]:
                return [m for m in inbox.messages if "周报" in m["Subject"]]

            assert harness.wait_for(lambda: len(digests()) >= 1, 60), harness.output()[-3000:]
            time.sleep(3)
            assert len(digests()) == 1 and "年报监测周报 2026-W05" in digests()[0]["Subject"]
            # the alerts held back while SMTP was down arrive too (their backoff has run out by now)
            assert harness.wait_for(lambda: any("新报告" in m["Subject"] for m in inbox.messages), 30), \
                [m["Subject"] for m in inbox.messages]
        finally:
            controller.stop()

        # SIGTERM: a clean stop
        assert harness.stop(60) == 0
        assert "monitor stopped" in harness.output()
        messages = harness.messages()
        assert len(messages) == len(set(messages)), "an alert was sent twice"
        status = subprocess.run([sys.executable, "-m", "monitor.cli", "status"], env=harness.env,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert "monitor: stopped" in status.stdout and "job store: 7 jobs" in status.stdout, status.stdout
        assert "never polled" not in status.stdout
    finally:
        harness.close()


def _failed_telegram_attempts(harness: Harness) -> int:
    with harness.sessions() as session:
        return int(session.execute(text("SELECT coalesce(max(attempts), 0) FROM deliveries "
                                        "WHERE last_error LIKE 'Telegram%'")).scalar() or 0)


def _digest_attempts(harness: Harness) -> int:
    with harness.sessions() as session:
        return int(session.execute(text("SELECT coalesce(sum(attempts), 0) FROM digest_sends")).scalar() or 0)


def test_kill_9_restarts_lose_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(5)
    start = datetime(2026, 1, 20, 10, 0, tzinfo=CHINA)
    harness = make_harness(tmp_path, sites=12, now=start, poll_seconds=2.0, seed=23, years=2,
                           extra_env={"NIANBAO_TICK": "0.5", "NIANBAO_DISPATCH_INTERVAL": "0.3"})
    _subscribe(harness, "telegram", str(CHAT), kinds=["new", "errors", "warnings", "deadlines", "changes"])
    first_receipts: dict[str, float] = {}
    kills: list[float] = []
    restarts = 20
    try:
        for round_ in range(restarts):
            harness.start()
            pending = _pending(harness, 2025, healthy=True)
            if pending and round_ % 3 == 0:  # keep things happening
                harness.world.publish_next(pending[0][0])
            time.sleep(rng.uniform(0.5, 6.0))
            kills.append(time.time())
            harness.kill()
            _note_receipts(harness, first_receipts)
        # the last start runs until all is delivered; the 5-minute lease of a delivery cut off mid-send runs
        # out when the clock is moved on
        harness.start()
        harness.world.now = harness.world.now + timedelta(minutes=6)
        final_start = harness.world.now

        def polled_since_restart() -> bool:  # every site read again after the last start (a slow start-up
            with harness.sessions() as session:  # must not end the test before the monitor did anything)
                stale = session.scalar(select(func.count()).select_from(Site).where(
                    or_(Site.last_poll_at.is_(None), Site.last_poll_at < final_start)))
            return stale == 0

        assert harness.wait_for(polled_since_restart, 180), harness.output()[-3000:]

        def settled() -> bool:
            with harness.sessions() as session:
                open_ = session.scalar(select(Delivery.id).where(Delivery.status.in_(("pending", "sending")))
                                       .limit(1))
            return open_ is None

        assert harness.wait_for(settled, 120), harness.output()[-3000:]
        time.sleep(2 * 2.0 + 2)  # a full poll cycle more: nothing new should come
        assert harness.wait_for(settled, 60)
        assert harness.stop(60) == 0
        _note_receipts(harness, first_receipts)

        with harness.sessions() as session:
            rows = session.execute(select(Event, Delivery).join(Delivery, Delivery.event_id == Event.id)
                                   .join(Subscription, Subscription.id == Delivery.subscription_id)
                                   .where(Delivery.status != "cancelled")).all()
            expected = [render_event(session, event) for event, _ in rows]
            jobs = [r[0] for r in session.execute(text("SELECT id FROM apscheduler_jobs ORDER BY id"))]
            state = session.get(MonitorState, "daemon")
        assert len(expected) >= 10, "too little happened to test anything"
        sent = harness.messages()
        lost = [m for m in expected if m not in sent]
        assert not lost, f"{len(lost)} alert(s) lost, e.g. {lost[0][:200]}"
        doubled = {m for m in sent if sent.count(m) > 1}
        # the one documented window: a kill after the send and before its record (re-sent after the lease)
        outside = [m for m in doubled
                   if not any(0 <= k - first_receipts[m] <= 2.0 for k in kills)]
        assert not outside, f"{len(outside)} alert(s) sent twice outside the documented window"
        assert len(doubled) <= 2
        assert jobs == sorted(["poll", "dispatch", "sweep", "digest", "digest-on-time", "maintenance", "heartbeat"])
        assert state is not None and "stopped_at" in state.value
    finally:
        harness.close()


def _note_receipts(harness: Harness, first: dict[str, float]) -> None:
    with harness.telegram.state.lock:
        for message in harness.telegram.state.sent:
            first.setdefault(message["text"], float(message["received_at"]))
