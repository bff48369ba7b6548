"""The dispatcher: sends pending deliveries with retries and exponential backoff, and records receipts.

Exactly-once, as far as it can be had: a delivery is claimed (status `sending`, with a lease) and committed
before it is sent, then marked `sent` after. A crash after the send and before that last commit leaves it
`sending`; when the lease expires it is sent again — the one window in which a duplicate is possible (a
message cannot be un-sent). A crash anywhere else loses nothing: the row is still pending or leased.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from domain.redact import redact
from storage.models import Delivery, Event, FindingRow, Subscription

from .channels import Channel, SendFailed
from .messages import render_event

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … capped at 6 hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    cancelled: int = 0


def dispatch(sessions: sessionmaker[Session], channels: Mapping[str, Channel], now: Callable[[], datetime],
             *, limit: int = 200) -> DispatchResult:
    result = DispatchResult()
    for delivery_id in _claim(sessions, now(), limit):
        with sessions() as session, session.begin():
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            event = session.get(Event, delivery.event_id)
            subscription = session.get(Subscription, delivery.subscription_id)
            assert event is not None and subscription is not None
            finding = session.get(FindingRow, event.finding_id) if event.finding_id else None
            if finding is not None and finding.status in ("dismissed", "resolved"):
                # a person dismissed it (or a revision fixed it) before it went out: it is not alerted
                delivery.status, delivery.last_error = "cancelled", f"finding {finding.status}"
                result.cancelled += 1
                continue
            channel = channels.get(subscription.channel)
            text = render_event(session, event, subscription)
            address = subscription.address
        try:
            if channel is None:
                raise SendFailed(f"channel {subscription.channel!r} is not configured")
            receipt = channel.send(address, text)
        except SendFailed as exc:
            with sessions() as session, session.begin():
                delivery = session.get(Delivery, delivery_id)
                assert delivery is not None
                if record_failure(delivery, exc, now()):
                    result.deferred += 1
                else:
                    result.failed += 1
            continue
        with sessions() as session, session.begin():
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            record_sent(delivery, receipt, now())
        result.sent += 1
    return result


class Attempted(Protocol):
    """A row sent with retries (an alert delivery, a weekly digest)."""

    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    receipt: str | None


def record_failure(row: Attempted, exc: SendFailed, now: datetime, *, give_up: bool = False) -> bool:
    """Count a failed attempt: retry later (True) with the backoff or the time the server asked for, or give
    up (False) after MAX_ATTEMPTS or when `give_up`."""
    row.attempts += 1
    row.last_error = redact(str(exc))[:2000]  # no token or password is ever stored
    if give_up or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return False
    wait = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(row.attempts)
    row.status, row.next_attempt_at = "pending", now + wait
    return True


def record_sent(row: Attempted, receipt: str, now: datetime) -> None:
    row.status, row.sent_at, row.receipt = "sent", now, receipt
    row.attempts += 1


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    """Lease due deliveries (pending, or left `sending` by a crash whose lease ran out)."""
    with sessions() as session, session.begin():
        due = session.scalars(
            select(Delivery).where(or_(Delivery.status == "pending", Delivery.status == "sending"),
                                   Delivery.next_attempt_at <= now)
            .order_by(Delivery.id).limit(limit).with_for_update(skip_locked=True)).all()
        for delivery in due:
            delivery.status, delivery.next_attempt_at = "sending", now + LEASE
        return [d.id for d in due]
