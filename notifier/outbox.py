"""The dispatcher: sends pending deliveries with retries and exponential backoff, and records receipts.

Exactly-once, as far as it can be had: a delivery is claimed (status `sending`, with a lease) and committed
before it is sent, then marked `sent` after. A crash after the send and before that last commit leaves it
`sending`; when the lease expires it is sent again — the one window in which a duplicate is possible (a
message cannot be un-sent). A crash anywhere else loses nothing: the row is still pending or leased.

Several dispatchers (two `nianbao dispatch`, or one beside `nianbao run`) may run at once, on every backend:
the claim is one `UPDATE … WHERE id IN (SELECT … due …) RETURNING id` that stamps a fresh lease token. On
SQLite that statement takes the write lock before it reads (pysqlite runs a lone SELECT outside any
transaction, so a read-then-write claim let two dispatchers lease the same rows); on PostgreSQL the inner
SELECT skips rows another claim has locked and the outer WHERE re-checks them. Every later step first locks
the row with a write that matches the token, so a dispatcher whose lease was taken over finishes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from domain.redact import redact
from storage.models import Delivery, Event, FindingRow, Subscription

from .channels import Channel, SendFailed
from .links import PublicLinks
from .messages import render_event

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 12
log = logging.getLogger(__name__)


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
             *, limit: int = 200, links: PublicLinks | None = None) -> DispatchResult:
    """Send what is due. `links` (NIANBAO_PUBLIC_URL) puts the dashboard's report link into every alert."""
    result = DispatchResult()
    token = secrets.token_hex(16)
    for delivery_id in _claim(sessions, now(), limit, token):
        with sessions() as session, session.begin():
            delivery = _held(session, delivery_id, token)
            if delivery is None:
                continue
            event = session.get(Event, delivery.event_id)
            subscription = session.get(Subscription, delivery.subscription_id)
            assert event is not None and subscription is not None
            finding = session.get(FindingRow, event.finding_id) if event.finding_id else None
            if finding is not None and finding.status in ("dismissed", "resolved"):
                # a person dismissed it (or a revision fixed it) before it went out: it is not alerted
                delivery.status, delivery.last_error = "cancelled", f"finding {finding.status}"
                delivery.lease_token = None
                result.cancelled += 1
                continue
            channel = channels.get(subscription.channel)
            text = render_event(session, event, subscription, links)
            address = subscription.address
        try:
            if channel is None:
                raise SendFailed(f"channel {subscription.channel!r} is not configured")
            receipt = channel.send(address, text)
        except SendFailed as exc:
            with sessions() as session, session.begin():
                delivery = _held(session, delivery_id, token)
                if delivery is None:
                    continue
                delivery.lease_token = None
                if record_failure(delivery, exc, now()):
                    result.deferred += 1
                else:
                    result.failed += 1
            continue
        with sessions() as session, session.begin():
            delivery = _held(session, delivery_id, token)
            if delivery is None:
                continue
            delivery.lease_token = None
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


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int, token: str) -> list[int]:
    """Lease due deliveries (pending, or left `sending` by a crash whose lease ran out) in one statement."""
    due = (or_(Delivery.status == "pending", Delivery.status == "sending"), Delivery.next_attempt_at <= now)
    candidates = (select(Delivery.id).where(*due).order_by(Delivery.id).limit(limit)
                  .with_for_update(skip_locked=True))  # ignored by SQLite, whose UPDATE holds the write lock
    with sessions() as session, session.begin():
        claimed = session.execute(
            update(Delivery).where(Delivery.id.in_(candidates.scalar_subquery()), *due)
            .values(status="sending", next_attempt_at=now + LEASE, lease_token=token)
            .returning(Delivery.id).execution_options(synchronize_session=False)).scalars().all()
    return sorted(claimed)


def _held(session: Session, delivery_id: int, token: str) -> Delivery | None:
    """The delivery, locked for this transaction, if this dispatcher's lease on it still stands: the first
    statement is a write matching the token, so SQLite takes its write lock (PostgreSQL the row lock) before
    anything is read."""
    locked = session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.lease_token == token)
                             .values(lease_token=token).execution_options(synchronize_session=False))
    if locked.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("delivery %s: lease lost to another dispatcher, left to it", delivery_id)
        return None
    return session.get(Delivery, delivery_id, populate_existing=True)
