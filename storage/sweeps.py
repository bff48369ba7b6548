"""Deadline sweeps: after a deadline has passed, every monitored agency whose report for the year has not
been found gets one MISSING event (with days overdue), which the outbox turns into alerts. Only deadlines
that passed while the agency was monitored, and only after its site was read successfully since."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.deadlines import Calendar, missing
from domain.time import local_zone
from domain.vocabulary import EventKind

from .events import record_event
from .models import Agency, Report, Site


def sweep_deadlines(sessions: sessionmaker[Session], calendar: Calendar, now: datetime) -> list[str]:
    """Returns the agencies newly found missing, as 'agency/year'."""
    found: list[str] = []
    zone = local_zone()
    local = now.astimezone(zone)
    with sessions() as session, session.begin():
        monitored = session.execute(select(Agency, Site).join(Site, Site.agency_id == Agency.id)).all()
        last_check: dict[int, tuple[Agency, datetime | None]] = {}
        for agency, site in monitored:
            seen = last_check.get(agency.id, (agency, None))[1]
            if site.last_success_at and (seen is None or site.last_success_at > seen):
                seen = site.last_success_at
            last_check[agency.id] = (agency, seen)
        for agency, checked in last_check.values():
            for year in (local.year - 1, local.year - 2):
                due = calendar.due(year, agency.kind, agency.region_code or "")
                if due.date >= local.date():
                    continue
                if agency.created_at.astimezone(zone).date() > due.date:
                    break  # the monitor did not watch this deadline pass: no claim about that year
                years = set(session.scalars(select(Report.year).where(Report.agency_id == agency.id)))
                finding = missing(agency.name, year, due, now=local, found_years=[y for y in years if y],
                                  last_successful_check=checked.astimezone(zone) if checked else None)
                if finding is not None and record_event(session, EventKind.MISSING, f"MISSING:{agency.id}:{year}",
                                                  {"agency": agency.name, "year": year, **finding.to_json()},
                                                  now, agency_id=agency.id):
                    found.append(f"{agency.name}/{year}")
                break  # only the latest year whose deadline has passed
    return found
