"""The admin login's defences: a throttle per client and per account whose delay doubles with every failure
beyond a few, and server-side sessions (the cookie holds only a random token; the row can be revoked and
expires)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from storage.models import WebSession

log = logging.getLogger(__name__)
SESSION_LIFETIME = timedelta(hours=8)
ACCOUNT = "admin"


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last: float = 0.0
    refusal_logged: float = 0.0  # the blocked_until whose refusals were logged (once per wait)


class LoginThrottle:
    """After `free` failures a key (a client address, or the account) must wait `base` seconds, then twice as
    long after each further failure, up to `cap`; a success clears the client's and the account's record.
    The account allows more failures than a client, so one guesser does not lock the admin out at once."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, free_per_client: int = 5,
                 free_per_account: int = 20, base: float = 1.0, cap: float = 900.0, forget_after: float = 3600.0,
                 max_keys: int = 10_000) -> None:
        self.clock = clock
        self.free = {"client": free_per_client, "account": free_per_account}
        self.base, self.cap, self.forget_after, self.max_keys = base, cap, forget_after, max_keys
        self.failures: dict[tuple[str, str], _Failures] = {}
        self.lock = threading.Lock()

    def wait(self, client: str, account: str = ACCOUNT) -> float:
        """Seconds until this client may try again for this account (0: now)."""
        now = self.clock()
        with self.lock:
            waits = [f.blocked_until - now for key in (("client", client), ("account", account))
                     if (f := self.failures.get(key)) is not None]
        return max([0.0, *waits])

    def refused(self, client: str, wait: float) -> None:
        """Log a throttled attempt: once per wait and client, not once per request of a flood."""
        with self.lock:
            record = self.failures.get(("client", client)) or self.failures.get(("account", ACCOUNT))
            if record is None or record.refusal_logged == record.blocked_until:
                return
            record.refusal_logged = record.blocked_until
        log.warning("dashboard login from %s refused: throttled for %.0f s more", client, wait)

    def failed(self, client: str, account: str = ACCOUNT) -> float:
        now = self.clock()
        delay = 0.0
        with self.lock:
            self._forget(now)
            for key in (("client", client), ("account", account)):
                record = self.failures.setdefault(key, _Failures())
                record.count += 1
                record.last = now
                beyond = record.count - self.free[key[0]]
                if beyond > 0:
                    record.blocked_until = now + min(self.base * 2 ** (beyond - 1), self.cap)
                    delay = max(delay, record.blocked_until - now)
            counts = (self.failures[("client", client)].count, self.failures[("account", account)].count)
        log.warning("dashboard login failed from %s for %s (%d failures from it, %d for the account); next "
                    "attempt allowed in %.0f s", client, account, counts[0], counts[1], delay)
        return delay

    def succeeded(self, client: str, account: str = ACCOUNT) -> None:
        with self.lock:
            self.failures.pop(("client", client), None)
            self.failures.pop(("account", account), None)

    def _forget(self, now: float) -> None:
        if len(self.failures) < self.max_keys:
            return
        for key, record in list(self.failures.items()):
            if now - record.last > self.forget_after and record.blocked_until <= now:
                del self.failures[key]
        while len(self.failures) >= self.max_keys:  # under a flood of addresses: the oldest are dropped
            del self.failures[min(self.failures, key=lambda k: self.failures[k].last)]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Admin sessions in the database: the cookie carries a random token, the table its digest."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime],
                 lifetime: timedelta = SESSION_LIFETIME) -> None:
        self.sessions = sessions
        self.clock = clock
        self.lifetime = lifetime

    def open(self, client: str | None, account: str = ACCOUNT) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.sessions() as session, session.begin():
            session.execute(delete(WebSession).where(WebSession.expires_at < now - timedelta(days=30)))
            session.add(WebSession(id=_digest(token), account=account, created_at=now, expires_at=now + self.lifetime,
                                   client=(client or "")[:64]))
        return token

    def valid(self, token: object) -> bool:
        if not isinstance(token, str) or not token or len(token) > 100:
            return False
        with self.sessions() as session:
            row = session.get(WebSession, _digest(token))
            return row is not None and row.revoked_at is None and row.expires_at > self.clock()

    def revoke(self, token: object) -> None:
        if isinstance(token, str) and token:
            with self.sessions() as session, session.begin():
                session.execute(update(WebSession).where(WebSession.id == _digest(token))
                                .values(revoked_at=self.clock()))

    def revoke_all(self, account: str = ACCOUNT) -> int:
        with self.sessions() as session, session.begin():
            result = session.execute(update(WebSession).where(WebSession.account == account,
                                                              WebSession.revoked_at.is_(None))
                                     .values(revoked_at=self.clock()))
            return int(result.rowcount)  # type: ignore[attr-defined]
