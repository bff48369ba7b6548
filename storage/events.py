"""Events and the outbox: recording what happened (once per key) and, in the same transaction, a delivery
for every active subscription it matches — so an alert can be neither lost nor made twice. Used by ingest,
the deadline sweep and the crawl state; who gets what is domain vocabulary (`domain.alerts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.alerts import matches

from .models import Agency, Delivery, Event, Subscription


def record_event(session: Session, kind: str, key: str, payload: dict[str, Any], now: datetime, *,
                 quiet: bool = False, **links: Any) -> bool:
    """Record an event unless one with the same key exists (a `quiet` one is kept for the record and the
    dashboard but goes to no subscriber). Returns whether it was new."""
    if session.scalar(select(Event.id).where(Event.key == key)) is not None:
        return False
    # a concurrent writer adding the same key makes the flush fail; `ingest` then retries the whole step
    event = Event(kind=str(kind), key=key, payload=payload, created_at=now, **links)
    session.add(event)
    session.flush()
    if not quiet:
        enqueue(session, event, now)
    return True


def enqueue(session: Session, event: Event, now: datetime) -> int:
    """A delivery for every active subscription the event matches. Subscriptions made later do not receive it
    (no flood of history)."""
    agency = session.get(Agency, event.agency_id) if event.agency_id else None
    count = 0
    for subscription in session.scalars(select(Subscription).where(Subscription.active.is_(True),
                                                                   Subscription.created_at <= now)):
        if matches(subscription.scope, subscription.kinds, event.kind, event.payload,
                   agency.name if agency else None, agency.region_code if agency else None):
            session.add(Delivery(event_id=event.id, subscription_id=subscription.id, status="pending",
                                 attempts=0, next_attempt_at=now))
            count += 1
    return count
