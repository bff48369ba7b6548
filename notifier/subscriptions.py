"""Subscribers and what they follow (stored in the `subscriptions` table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Subscription

from .matching import ALERT_KINDS, Scope, region_code, region_name

CHANNELS = ("console", "email", "telegram", "webhook", "wecom", "dingtalk", "feishu")


def subscribe(session: Session, *, channel: str, address: str, regions: list[str] | None = None,
              agencies: list[str] | None = None, kinds: list[str] | None = None, now: datetime,
              active: bool = True, origin: str | None = None, nonce: str | None = None) -> Subscription:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    chosen = list(kinds or [k for k in ALERT_KINDS if k != "admin"])
    unknown = [k for k in chosen if k not in ALERT_KINDS]
    if unknown:
        raise ValueError(f"unknown alert kinds {unknown} (choose from {', '.join(ALERT_KINDS)})")
    if any(not str(r).strip() for r in regions or []) or any(not str(a).strip() for a in agencies or []):
        raise ValueError("an empty region or agency would follow everything; leave it out to mean everything")
    subscription = Subscription(channel=channel, address=address, kinds=chosen, active=active, created_at=now,
                                origin=origin, token_nonce=nonce,
                                scope={"regions": [region_code(r) for r in regions or []],  # RegionNotFound
                                       "agencies": [str(a).strip() for a in agencies or []]})
    session.add(subscription)
    session.flush()
    return subscription


def unsubscribe(session: Session, channel: str, address: str, subscription_id: int | None = None) -> int:
    query = select(Subscription).where(Subscription.channel == channel, Subscription.address == address,
                                       Subscription.active.is_(True))
    if subscription_id is not None:
        query = query.where(Subscription.id == subscription_id)
    rows = list(session.scalars(query))
    for row in rows:
        row.active = False
    return len(rows)


def active_subscriptions(session: Session, channel: str | None = None, address: str | None = None
                         ) -> list[Subscription]:
    query = select(Subscription).where(Subscription.active.is_(True)).order_by(Subscription.id)
    if channel is not None:
        query = query.where(Subscription.channel == channel)
    if address is not None:
        query = query.where(Subscription.address == address)
    return list(session.scalars(query))


def remove_subscription(session: Session, subscription_id: int) -> bool:
    """Stop one subscription by its number; False when there is no such active one."""
    row = session.get(Subscription, subscription_id)
    return row is not None and bool(unsubscribe(session, row.channel, row.address, row.id))


def describe(subscription: Subscription) -> str:
    scope = subscription.scope or {}
    parts = [f"地区{'、'.join(region_name(str(r)) for r in scope['regions'])}" if scope.get("regions") else "",
             f"机关{'、'.join(scope['agencies'])}" if scope.get("agencies") else ""]
    where = "，".join(p for p in parts if p) or "全部"
    kinds = "、".join(ALERT_KINDS.get(k, k) for k in subscription.kinds)
    address = subscription.address
    if subscription.channel in ("wecom", "dingtalk", "feishu"):  # the webhook's key and secret are credentials
        from .workchat import mask

        address = mask(address)
    return f"#{subscription.id} {subscription.channel}:{address} — 范围：{where}；提醒：{kinds}"


def scope_of(session: Session, channel: str, address: str) -> Scope | None:
    """Everything a subscriber follows, as one scope (None: not subscribed)."""
    rows = list(session.scalars(select(Subscription).where(Subscription.channel == channel,
                                                           Subscription.address == address,
                                                           Subscription.active.is_(True))))
    if not rows:
        return None
    scopes = [Scope.from_json(r.scope or {}) for r in rows]
    if any(s.everything for s in scopes):
        return Scope()
    return Scope(tuple(dict.fromkeys(r for s in scopes for r in s.regions)),
                 tuple(dict.fromkeys(a for s in scopes for a in s.agencies)))


def supersede(session: Session, row: Subscription, now: datetime) -> None:
    """Signing up again for the same scope at the same address replaces the earlier subscription (its kinds
    are the new choice), so nobody gets every alert twice."""
    for other in session.scalars(select(Subscription).where(
            Subscription.channel == row.channel, Subscription.address == row.address,
            Subscription.active.is_(True), Subscription.id != row.id)):
        if (other.scope or {}) == (row.scope or {}):
            stop(other, now)


def stop(row: Subscription, now: datetime) -> None:
    row.active = False
    if row.stopped_at is None:
        row.stopped_at = now
