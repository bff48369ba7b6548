"""Ingest: bytes and where they came from → archive → parse → checks (with the agency's history from the
database) → rows and events, in one transaction. Idempotent: the same bytes again add nothing; changed
bytes at the same URL add a version, re-run the checks and record REVISED."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import checks
from checks.deadlines import Calendar
from domain.regions import region_from_agency_name
from domain.time import local_zone
from domain.vocabulary import DECIDED_STATUSES, EventKind, FindingStatus
from parser import ParseError, Record

from .archive import Archive, sha256
from .events import enqueue, record_event
from .models import Agency, Document, DocumentVersion, FindingRow, Report

_event = record_event  # the name this module's callers used
__all__ = ["IngestResult", "Origin", "enqueue", "ingest", "is_backlog", "mark_removed", "record_event"]

Parser = Callable[[bytes, str | None], Record]


@dataclass(frozen=True)
class Origin:
    """Where a file came from."""

    agency: str
    url: str
    seen_at: datetime
    region: str | None = None
    kind: str | None = None
    published: date | None = None  # the page's 发布时间, when the crawler read one
    content_type: str | None = None
    site_id: int | None = None
    page_url: str | None = None  # the list entry the document was reached from
    first_read: bool = False  # found on the site's first successful read (see `is_backlog`)


@dataclass
class IngestResult:
    document_id: int
    version_id: int | None
    report_id: int | None
    created: bool  # a new version was stored
    events: list[str] = field(default_factory=list)
    error: str | None = None


def _parse_guarded(data: bytes, content_type: str | None) -> Record:
    from parser.guard import parse_guarded

    return parse_guarded(data, content_type=content_type)


def _agency(session: Session, origin: Origin, now: datetime) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.name == origin.agency))
    if agency is None:
        agency = Agency(name=origin.agency, region_code=origin.region or _region_from_name(origin.agency),
                        kind=origin.kind or checks.deadlines.infer_kind(origin.agency), created_at=now)
        session.add(agency)
        session.flush()
    else:
        if origin.region and not agency.region_code:
            agency.region_code = origin.region
        if origin.kind and agency.kind != origin.kind:
            agency.kind = origin.kind
    return agency


def _region_from_name(agency: str) -> str | None:
    """The 行政区划代码 an agency's name implies (淮安市洪泽区教育局 → 320813), for sources that leave it out."""
    region = region_from_agency_name(agency)
    return region.code if region else None


def agency_history(session: Session, agency_id: int, exclude_year: int | None) -> list[Record]:
    """The latest readable record of each other year of an agency."""
    rows = session.execute(
        select(Report).where(Report.agency_id == agency_id, Report.record.is_not(None)).order_by(Report.id)
    ).scalars()
    latest: dict[int, Report] = {}
    for report in rows:
        if report.year is not None and report.year != exclude_year:
            latest[report.year] = report
    return [Record.from_json(r.record) for _, r in sorted(latest.items()) if r.record]


def is_backlog(origin: Origin, year: int | None) -> bool:
    """A report about a year before the one being reported on now, found when the monitor first read its
    site: history, stored and checked (the dashboard shows it) but not alerted — adding sites must not flood
    subscribers with years of old reports."""
    current = origin.seen_at.astimezone(local_zone()).year - 1
    return origin.first_read and year is not None and year < current


def _changed_cells(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not before or not after:
        return []
    changes = []
    for table in sorted(set(before.get("tables", {})) | set(after.get("tables", {}))):
        old_rows = before.get("tables", {}).get(table) or {}
        new_rows = after.get("tables", {}).get(table) or {}
        for row in sorted(set(old_rows) | set(new_rows)):
            old, new = old_rows.get(row), new_rows.get(row)
            if isinstance(old, dict) or isinstance(new, dict):
                for column in sorted(set(old or {}) | set(new or {})):
                    a, b = (old or {}).get(column), (new or {}).get(column)
                    if a != b:
                        changes.append({"table": table, "row": row, "column": column, "before": a, "after": b})
            elif old != new:
                changes.append({"table": table, "row": row, "column": None, "before": old, "after": new})
    for key in ("title", "year", "template"):
        if before.get(key) != after.get(key):
            changes.append({"field": key, "before": before.get(key), "after": after.get(key)})
    return changes


def ingest(sessions: sessionmaker[Session], archive: Archive, data: bytes, origin: Origin, *,
           parse: Parser = _parse_guarded, calendar: Calendar | None = None) -> IngestResult:
    digest, relative = archive.put(data)
    with sessions() as session:
        seen = _existing(session, origin.url, digest)
        if seen is not None:
            return _touch(session, seen, origin)
    record: Record | None
    error: str | None = None
    try:
        record = parse(data, origin.content_type)
    except ParseError as exc:
        record, error = None, f"{exc.kind}: {exc.reason}"
    for attempt in range(3):
        try:
            return _store(sessions, data, digest, relative, origin, record, error, calendar)
        except IntegrityError:
            if attempt == 2:
                raise  # another writer kept winning the same rows: give up loudly, nothing half-written
    raise AssertionError("unreachable")


def _existing(session: Session, url: str, digest: str) -> DocumentVersion | None:
    return session.scalar(select(DocumentVersion).join(Document)
                          .where(Document.url == url, DocumentVersion.sha256 == digest))


def _touch(session: Session, version: DocumentVersion, origin: Origin) -> IngestResult:
    document = version.document
    document.last_seen = max(document.last_seen, origin.seen_at) if document.last_seen else origin.seen_at
    reappeared = document.removed_at is not None
    document.removed_at = None
    session.commit()
    report_id = version.report.id if version.report else None
    return IngestResult(document.id, version.id, report_id, created=False,
                        events=["REAPPEARED"] if reappeared else [])


def _store(sessions: sessionmaker[Session], data: bytes, digest: str, relative: str, origin: Origin,
           record: Record | None, error: str | None, calendar: Calendar | None) -> IngestResult:
    with sessions() as session:
        with session.begin():
            seen = _existing(session, origin.url, digest)
            result = None if seen is not None else _new_version(session, data, digest, relative, origin, record,
                                                               error, calendar)
        if seen is not None:
            return _touch(session, seen, origin)
        assert result is not None
        return result


def _new_version(session: Session, data: bytes, digest: str, relative: str, origin: Origin, record: Record | None,
                 error: str | None, calendar: Calendar | None) -> IngestResult:
    now = origin.seen_at
    agency = _agency(session, origin, now)
    document = session.scalar(select(Document).where(Document.url == origin.url))
    first_version = document is None
    if document is None:
        document = Document(agency_id=agency.id, url=origin.url, first_seen=now, last_seen=now,
                            published_on=origin.published, site_id=origin.site_id,
                            page_url=origin.page_url or origin.url)
        session.add(document)
        session.flush()
    previous_version = document.versions[-1] if document.versions else None
    document.last_seen = now
    document.removed_at = None
    if origin.published:
        document.published_on = origin.published
    if record is not None and origin.published and not record.dates.published:
        record = dataclasses.replace(record, dates=dataclasses.replace(
            record.dates, published=origin.published.isoformat()))
    if record is not None:
        document.title = record.title
    version = DocumentVersion(document_id=document.id, sha256=digest, size=len(data),
                              content_type=origin.content_type, archive_path=relative, seen_at=now)
    session.add(version)
    session.flush()
    report = Report(version_id=version.id, agency_id=agency.id, year=record.year if record else None,
                    template=record.template if record else None, title=record.title if record else None,
                    record=record.to_json() if record else None, error=error, parsed_at=now)
    session.add(report)
    session.flush()
    events: list[str] = []
    links: dict[str, Any] = {"agency_id": agency.id, "document_id": document.id, "report_id": report.id}
    summary = {"agency": agency.name, "url": origin.url, "title": report.title, "year": report.year,
               "sha256": digest, "error": error, "report_id": report.id}
    quiet = first_version and is_backlog(origin, report.year)
    if quiet:
        summary["backlog"] = True
    if first_version:
        if record_event(session, EventKind.NEW, f"NEW:{document.id}", summary, now, quiet=quiet, **links):
            events.append(EventKind.NEW)
    else:
        before = previous_version.report.record if previous_version and previous_version.report else None
        payload = {**summary, "previous_sha256": previous_version.sha256 if previous_version else None,
                   "changes": _changed_cells(before, report.record)[:50]}
        if record_event(session, EventKind.REVISED, f"REVISED:{version.id}", payload, now, **links):
            events.append(EventKind.REVISED)
    if record is not None:
        events += _findings(session, record, report, agency, previous_version, calendar, now, links, quiet=quiet,
                            url=origin.url)
    return IngestResult(document.id, version.id, report.id, created=True, events=events, error=error)


def _findings(session: Session, record: Record, report: Report, agency: Agency,
              previous_version: DocumentVersion | None, calendar: Calendar | None, now: datetime,
              links: dict[str, Any], *, quiet: bool = False, url: str | None = None) -> list[str]:
    history = agency_history(session, agency.id, record.year)
    findings = checks.run(record, history=history, calendar=calendar, kind=agency.kind,
                          region=agency.region_code or "")
    decided = {row.fingerprint: row for row in session.scalars(
        select(FindingRow).join(Report).where(Report.agency_id == agency.id, Report.year == record.year,
                                              FindingRow.status.in_(DECIDED_STATUSES)))}
    events: list[str] = []
    for finding in findings:
        earlier = decided.get(finding.fingerprint)
        row = FindingRow(report_id=report.id, fingerprint=finding.fingerprint, rule=finding.rule,
                         severity=finding.severity, message=finding.message, evidence=finding.to_json(),
                         status=earlier.status if earlier else FindingStatus.OPEN.value,
                         decided_by=earlier.decided_by if earlier else None,
                         decided_at=earlier.decided_at if earlier else None, note=earlier.note if earlier else None)
        session.add(row)
        session.flush()
        if earlier is not None and earlier.status == FindingStatus.DISMISSED:
            continue  # a person said it is not a problem: never alert it again
        kind = EventKind.LATE if finding.rule == "LATE" else EventKind.FINDING
        key = f"{kind}:{agency.id}:{record.year}:{finding.fingerprint}"
        payload = {"agency": agency.name, "year": record.year, "title": record.title, "report_id": report.id,
                   "url": url, **finding.to_json()}
        if quiet:
            payload["backlog"] = True
        if record_event(session, kind, key, payload, now, quiet=quiet, finding_id=row.id, **links):
            events.append(kind)
    if previous_version is not None and previous_version.report is not None:
        current = {f.fingerprint for f in findings}
        for old in previous_version.report.findings:
            if old.status == FindingStatus.OPEN and old.fingerprint not in current:
                old.status = FindingStatus.RESOLVED.value
                old.decided_at = now
                old.decided_by = "revision"
    return events


def mark_removed(sessions: sessionmaker[Session], url: str, at: datetime) -> bool:
    """A document the site no longer lists: keep everything, record REMOVED once."""
    with sessions() as session, session.begin():
        document = session.scalar(select(Document).where(Document.url == url))
        if document is None or document.removed_at is not None:
            return False
        document.removed_at = at
        key = f"REMOVED:{document.id}:{sha256(str(document.last_seen).encode())[:12]}"
        return record_event(session, EventKind.REMOVED, key,
                            {"agency": document.agency.name, "url": url, "title": document.title}, at,
                            agency_id=document.agency_id, document_id=document.id)
