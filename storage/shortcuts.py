"""The crawler's learned shortcuts per site (a list's JSON API, a challenge's clearance cookies): load, save,
and record whether they still held when used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .models import Site, SiteShortcut


@dataclass(frozen=True)
class Shortcut:
    kind: str
    data: dict[str, Any]
    learned_at: datetime
    checked_at: datetime | None
    holds: bool
    note: str | None


def _row(row: SiteShortcut) -> Shortcut:
    return Shortcut(row.kind, dict(row.data), row.learned_at, row.checked_at, row.holds, row.note)


def load_shortcuts(sessions: sessionmaker[Session], site_id: int) -> dict[str, Shortcut]:
    with sessions() as session:
        return {row.kind: _row(row) for row in session.scalars(select(SiteShortcut)
                                                                .where(SiteShortcut.site_id == site_id))}


def shortcuts_by_site_key(sessions: sessionmaker[Session]) -> dict[str, dict[str, Shortcut]]:
    with sessions() as session:
        out: dict[str, dict[str, Shortcut]] = {}
        for row, key in session.execute(select(SiteShortcut, Site.key).join(Site, Site.id == SiteShortcut.site_id)):
            out.setdefault(key, {})[row.kind] = _row(row)
        return out


def save_shortcut(sessions: sessionmaker[Session], site_id: int, kind: str, data: dict[str, Any],
                  at: datetime) -> None:
    """A shortcut (re)learned: it holds as of now."""
    with sessions() as session, session.begin():
        row = session.scalar(select(SiteShortcut).where(SiteShortcut.site_id == site_id, SiteShortcut.kind == kind))
        if row is None:
            row = SiteShortcut(site_id=site_id, kind=kind)
            session.add(row)
        row.data, row.learned_at, row.checked_at, row.holds, row.note = data, at, at, True, None


def mark_shortcut(sessions: sessionmaker[Session], site_id: int, kind: str, *, holds: bool, at: datetime,
                  note: str | None = None) -> None:
    with sessions() as session, session.begin():
        row = session.scalar(select(SiteShortcut).where(SiteShortcut.site_id == site_id, SiteShortcut.kind == kind))
        if row is not None:
            row.holds, row.checked_at = holds, at
            if note is not None:  # the last failure (or re-learning) stays on record while the shortcut holds
                row.note = note
