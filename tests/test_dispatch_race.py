"""Two dispatcher processes racing over the same outbox (SQLite and PostgreSQL): every delivery is sent
exactly once, round after round."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage_fixtures import database_url  # noqa: F401  (the fixture)

from storage import make_engine, session_factory, upgrade
from storage.models import Delivery, Event, Subscription

ROUNDS = 6
PER_ROUND = 30
PAST = datetime(2024, 1, 1, tzinfo=UTC)


class AppendingChannel:
    """Records every send as one line, appended atomically (O_APPEND) so both processes share the file."""

    name = "console"

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, address: str, text: str) -> str:
        time.sleep(0.001)  # a real channel takes a while: widens the window a second claim could use
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, f"{address}\n".encode())
        finally:
            os.close(descriptor)
        return "ok"


def _dispatcher(url: str, sent_log: str, start: Any, done: Any, rounds: int) -> None:
    from notifier.outbox import dispatch

    sessions = session_factory(make_engine(url))
    channel = AppendingChannel(sent_log)
    for _ in range(rounds):
        start.wait(60)
        while dispatch(sessions, {"console": channel}, lambda: datetime.now(UTC), limit=7).sent:
            pass
        done.wait(60)


def race(url: str, sent_log: str, rounds: int) -> tuple[Counter[str], list[int | None]]:
    """`rounds` times: PER_ROUND new deliveries, then two dispatcher processes at once. Returns how often each
    address was sent to, and the processes' exit codes."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        subscriptions = [Subscription(channel="console", address=f"s{i}", scope={}, kinds=["new"], created_at=PAST)
                         for i in range(PER_ROUND)]
        session.add_all(subscriptions)
    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(3), context.Barrier(3)
    workers = [context.Process(target=_dispatcher, args=(url, sent_log, start, done, rounds))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for round_number in range(rounds):
            with sessions() as session, session.begin():
                event = Event(kind="NEW", key=f"round-{round_number}", payload={"agency": f"round {round_number}"},
                              created_at=PAST)
                session.add(event)
                session.flush()
                session.add_all(Delivery(event_id=event.id, subscription_id=s.id, status="pending", attempts=0,
                                         next_attempt_at=PAST - timedelta(minutes=1)) for s in subscriptions)
            start.wait(60)
            done.wait(60)
    finally:
        for worker in workers:
            worker.join(60)
        engine.dispose()
    return Counter(Path(sent_log).read_text().split()), [w.exitcode for w in workers]


def test_two_dispatchers_send_each_alert_once(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    sends, exits = race(database_url, str(tmp_path / "sent.log"), ROUNDS)
    assert exits == [0, 0]
    assert sum(sends.values()) == ROUNDS * PER_ROUND
    assert {count for count in sends.values()} == {ROUNDS}, "an alert was sent twice (or never)"
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        statuses = Counter(d.status for d in session.query(Delivery))
    assert statuses == {"sent": ROUNDS * PER_ROUND}
    engine.dispose()
