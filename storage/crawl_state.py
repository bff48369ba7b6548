"""What the crawler remembers between polls: the sites, HTTP validators for conditional GET, what each
list showed and when (the evidence for REMOVED and BACKDATED), and each site's health."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checks.deadlines import ListCheck, Sighting, backdated
from domain.redact import redact
from domain.regions import region_from_agency_name
from domain.vocabulary import EventKind

from .events import record_event
from .ingest import mark_removed
from .models import Agency, Document, HttpValidator, ListCheckRow, Site


@dataclass(frozen=True)
class SiteProfileRow:
    key: str
    agency: str
    region: str | None
    kind: str | None
    platform: str
    list_urls: list[str]
    profile: dict[str, Any]


def sync_sites(sessions: sessionmaker[Session], profiles: Iterable[SiteProfileRow], now: datetime) -> dict[str, int]:
    """Create or update the sites (and their agencies) named by a registry. Returns site key → id."""
    ids: dict[str, int] = {}
    with sessions() as session, session.begin():
        for profile in profiles:
            agency = session.scalar(select(Agency).where(Agency.name == profile.agency))
            if agency is None:
                from checks.deadlines import infer_kind

                agency = Agency(name=profile.agency, region_code=profile.region,
                                kind=profile.kind or infer_kind(profile.agency), created_at=now)
                session.add(agency)
                session.flush()
            if not agency.region_code and (inferred := region_from_agency_name(profile.agency)) is not None:
                agency.region_code = inferred.code  # a registry entry without `region`: read it from the name
            site = session.scalar(select(Site).where(Site.key == profile.key))
            if site is None:
                site = Site(key=profile.key, agency_id=agency.id, platform=profile.platform,
                            list_urls=profile.list_urls, profile=profile.profile)
                session.add(site)
                session.flush()
            else:
                site.agency_id, site.platform = agency.id, profile.platform
                site.list_urls, site.profile = profile.list_urls, profile.profile
            ids[profile.key] = site.id
    return ids


def validator(sessions: sessionmaker[Session], url: str) -> HttpValidator | None:
    with sessions() as session:
        return session.scalar(select(HttpValidator).where(HttpValidator.url == url))


def validators(sessions: sessionmaker[Session], urls: Iterable[str]) -> dict[str, HttpValidator]:
    wanted = list(urls)
    with sessions() as session:
        if not wanted:
            return {}
        return {row.url: row for row in session.scalars(select(HttpValidator).where(HttpValidator.url.in_(wanted)))}


def save_validator(sessions: sessionmaker[Session], url: str, *, etag: str | None, last_modified: str | None,
                   sha256: str | None, at: datetime, links: list[str] | None = None) -> None:
    with sessions() as session, session.begin():
        row = session.scalar(select(HttpValidator).where(HttpValidator.url == url))
        if row is None:
            row = HttpValidator(url=url)
            session.add(row)
        row.etag, row.last_modified, row.checked_at = etag, last_modified, at
        if sha256 is not None:
            row.sha256 = sha256
        if links is not None:
            row.links = links


def validators_of(sessions: sessionmaker[Session], urls: Iterable[str]) -> dict[str, HttpValidator]:
    wanted = sorted(set(urls))
    found: dict[str, HttpValidator] = {}
    with sessions() as session:
        for start in range(0, len(wanted), 500):
            found.update((row.url, row) for row in session.scalars(
                select(HttpValidator).where(HttpValidator.url.in_(wanted[start:start + 500]))))
    return found


def record_list_check(sessions: sessionmaker[Session], site_id: int, at: datetime, links: list[str],
                      complete: bool) -> None:
    with sessions() as session, session.begin():
        session.add(ListCheckRow(site_id=site_id, at=at, links=sorted(set(links)), complete=complete))


def first_list_links(sessions: sessionmaker[Session], site_id: int) -> list[str] | None:
    """What the site's list showed at its first complete read: what was there before the monitor watched."""
    with sessions() as session:
        row = session.scalar(select(ListCheckRow).where(ListCheckRow.site_id == site_id,
                                                        ListCheckRow.complete.is_(True))
                             .order_by(ListCheckRow.id).limit(1))
        return list(row.links) if row else None


def last_list_links(sessions: sessionmaker[Session], site_id: int) -> list[str] | None:
    """What the site's list showed at its last complete read."""
    with sessions() as session:
        row = session.scalar(select(ListCheckRow).where(ListCheckRow.site_id == site_id,
                                                        ListCheckRow.complete.is_(True))
                             .order_by(ListCheckRow.id.desc()).limit(1))
        return list(row.links) if row else None


def known_page_urls(sessions: sessionmaker[Session], site_id: int) -> dict[str, datetime]:
    """Report pages already stored for a site, with when they were last seen."""
    with sessions() as session:
        rows = session.execute(select(Document.page_url, Document.last_seen)
                               .where(Document.site_id == site_id, Document.removed_at.is_(None)))
        return {url: seen for url, seen in rows if url}


def documents_for_page(sessions: sessionmaker[Session], page_url: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Document.url).where(Document.page_url == page_url)))


def touch_page(sessions: sessionmaker[Session], page_url: str, at: datetime) -> None:
    """The list still shows a stored report whose page did not change: it was seen again."""
    with sessions() as session, session.begin():
        for document in session.scalars(select(Document).where(Document.page_url == page_url)):
            document.last_seen = max(document.last_seen, at)


def mark_missing_from_list(sessions: sessionmaker[Session], site_id: int, current: set[str], at: datetime) -> list[str]:
    """After a complete read of a site's list: stored reports it no longer shows are REMOVED."""
    removed = []
    for page_url in known_page_urls(sessions, site_id):
        if page_url not in current:
            for url in documents_for_page(sessions, page_url):
                if mark_removed(sessions, url, at):
                    removed.append(url)
    return removed


def check_backdated(sessions: sessionmaker[Session], site_id: int, document_url: str, page_url: str,
                    published: date | None, first_seen: datetime) -> bool:
    """BACKDATED: the page's date is earlier than a list check that did not show it."""
    if published is None:
        return False
    with sessions() as session, session.begin():
        checks_ = [ListCheck(url="", at=row.at, links=frozenset(row.links or []))
                   for row in session.scalars(select(ListCheckRow).where(ListCheckRow.site_id == site_id,
                                                                          ListCheckRow.complete.is_(True)))]
        document = session.scalar(select(Document).where(Document.url == document_url))
        if document is None:
            return False
        site = session.get(Site, site_id)
        agency = session.get(Agency, document.agency_id)
        finding = backdated(agency.name if agency else None, published.year - 1,
                            Sighting(url=page_url, first_seen=first_seen, published=published), checks_)
        if finding is None:
            return False
        return record_event(session, EventKind.BACKDATED, f"BACKDATED:{document.id}", {
            "agency": agency.name if agency else None, "url": document_url, "site": site.key if site else None,
            **finding.to_json()}, first_seen, agency_id=document.agency_id, document_id=document.id)


def site_result(sessions: sessionmaker[Session], site_id: int, at: datetime, *, ok: bool, entries: int,
                error: str | None = None) -> str | None:
    """Record a poll's outcome. A list that was read but showed no report at all marks the site broken
    (SPIDER_BROKEN, once per breakage) — never confused with a report being missing. Returns the event kind."""
    had_reports = bool(last_list_links(sessions, site_id)) or bool(known_page_urls(sessions, site_id))
    with sessions() as session, session.begin():
        site = session.get(Site, site_id)
        assert site is not None
        site.last_poll_at = at
        if ok and entries > 0:
            site.last_success_at, site.broken_since, site.last_error = at, None, error  # e.g. a cut-off pass
            return None
        if not ok:
            site.last_error = redact(error or "") or "the list could not be fetched"
            return None  # an outage is retried on the next poll; only a list that reads as empty is "broken"
        if not had_reports:
            site.last_success_at, site.last_error = at, None
            return None  # a list that never showed a report yet (a new column) is empty, not broken
        site.last_error = redact(error or "") or "the list page showed no annual report"
        if site.broken_since is None:
            site.broken_since = at
            agency = session.get(Agency, site.agency_id)
            record_event(session, EventKind.SPIDER_BROKEN, f"SPIDER_BROKEN:{site.key}:{at.isoformat()}",
                   {"site": site.key, "agency": agency.name if agency else None, "error": site.last_error},
                   at, agency_id=site.agency_id)
            return "SPIDER_BROKEN"
        return None


@dataclass(frozen=True)
class SiteStatus:
    key: str
    agency: str
    platform: str
    status: str  # ok / error / broken / never
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None


def site_statuses(session: Session) -> list[SiteStatus]:
    """Every watched site with its health, by key (`nianbao sites`)."""
    rows = session.execute(select(Site, Agency).join(Agency, Site.agency_id == Agency.id).order_by(Site.key))
    return [SiteStatus(key=site.key, agency=agency.name, platform=site.platform,
                       status="broken" if site.broken_since else "never" if site.last_poll_at is None else
                       "error" if site.last_error else "ok",
                       last_poll_at=site.last_poll_at, last_success_at=site.last_success_at,
                       last_error=site.last_error) for site, agency in rows]
