"""`nianbao status`: what the monitor watches and how it is doing, readable in a terminal."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Delivery, FindingRow, Report, Site


def status_text(session: Session) -> str:
    sites = list(session.scalars(select(Site)))
    states = Counter("broken" if s.broken_since else "never polled" if s.last_poll_at is None else
                     "error" if s.last_error else "ok" for s in sites)
    last = max((s.last_poll_at for s in sites if s.last_poll_at), default=None)
    by_year = session.execute(select(Report.year, func.count()).group_by(Report.year).order_by(Report.year)).all()
    findings = session.execute(select(FindingRow.severity, func.count()).where(FindingRow.status == "open")
                               .group_by(FindingRow.severity)).all()
    deliveries = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    lines = [
        f"sites: {len(sites)} watched — " + ", ".join(f"{n} {k}" for k, n in sorted(states.items())),
        f"last poll: {last:%Y-%m-%d %H:%M} UTC" if last else "last poll: never",
        "reports by year: " + (", ".join(f"{y or '?'}: {n}" for y, n in by_year) or "none"),
        "open findings: " + (", ".join(f"{n} {s}" for s, n in findings) or "none"),
        "deliveries: " + (", ".join(f"{n} {s}" for s, n in deliveries) or "none"),
    ]
    broken = [s for s in sites if s.broken_since or s.last_error]
    for site in broken[:20]:
        lines.append(f"  ! {site.key}: {site.last_error}")
    return "\n".join(lines)
