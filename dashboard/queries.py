"""What the dashboard and its JSON API show, read from storage in a few set-based queries (pages stay fast
with tens of thousands of reports). Plain data out: dicts and dataclasses, no HTML."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from checks.deadlines import KIND_NAMES, Calendar
from domain.regions import provinces, region_label
from domain.time import local_zone
from domain.vocabulary import LIVE_STATUSES
from storage.models import Agency, Document, DocumentVersion, Event, FindingRow, Report, Site

CHINA = local_zone()  # the reporting zone (NIANBAO_TIMEZONE), set by the composition root before this import
PROVINCE_OF = {region.prefix: region.short_name for region in provinces()}
LIVE = LIVE_STATUSES  # findings that count (dismissed and resolved do not)
PAGE = 50


def _current_versions() -> Any:
    """The newest version of every document still online."""
    return (select(func.max(DocumentVersion.id).label("vid"))
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.removed_at.is_(None)).group_by(DocumentVersion.document_id).subquery())


def _finding_counts() -> Any:
    live = FindingRow.status.in_(LIVE)
    return (select(FindingRow.report_id.label("rid"),
                   func.sum(case((and_(live, FindingRow.severity == "error"), 1), else_=0)).label("errors"),
                   func.sum(case((and_(live, FindingRow.severity == "warning"), 1), else_=0)).label("warnings"),
                   func.sum(case((and_(live, FindingRow.severity == "notice"), 1), else_=0)).label("notices"))
            .group_by(FindingRow.report_id).subquery())


@dataclass
class ReportFilters:
    region: str | None = None  # 行政区划代码 prefix
    agency: str | None = None  # part of the name
    agency_id: int | None = None
    year: int | None = None
    template: str | None = None
    has_errors: bool = False
    q: str | None = None  # in the title or the agency's name
    page: int = 1


def report_rows(session: Session, filters: ReportFilters, per_page: int = PAGE) -> tuple[list[dict[str, Any]], int]:
    current, counts = _current_versions(), _finding_counts()
    errors = func.coalesce(counts.c.errors, 0)
    query = (select(Report.id, Report.year, Report.template, Report.title, Report.error, Agency.id.label("agency_id"),
                    Agency.name.label("agency"), Agency.region_code, Document.url, Document.published_on,
                    errors.label("errors"), func.coalesce(counts.c.warnings, 0).label("warnings"))
             .join(current, current.c.vid == Report.version_id)
             .join(DocumentVersion, DocumentVersion.id == Report.version_id)
             .join(Document, Document.id == DocumentVersion.document_id)
             .join(Agency, Agency.id == Report.agency_id)
             .outerjoin(counts, counts.c.rid == Report.id))
    if filters.region:
        query = query.where(Agency.region_code.startswith(filters.region))
    if filters.agency:
        query = query.where(Agency.name.contains(filters.agency))
    if filters.agency_id is not None:
        query = query.where(Agency.id == filters.agency_id)
    if filters.year is not None:
        query = query.where(Report.year == filters.year)
    if filters.template:
        query = query.where(Report.template == filters.template)
    if filters.has_errors:
        query = query.where(errors > 0)
    if filters.q:
        query = query.where(or_(Report.title.contains(filters.q), Agency.name.contains(filters.q)))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.execute(query.order_by(Document.published_on.desc().nulls_last(), Report.id.desc())
                           .limit(per_page).offset(max(filters.page - 1, 0) * per_page)).mappings().all()
    return [dict(r) for r in rows], total


def choices(session: Session) -> dict[str, Any]:
    """Values for the filter menus."""
    years = [y for (y,) in session.execute(select(Report.year).distinct().order_by(Report.year.desc())) if y]
    templates = [t for (t,) in session.execute(select(Report.template).distinct().order_by(Report.template)) if t]
    codes = {c[:2] for (c,) in session.execute(select(Agency.region_code).distinct()) if c}
    regions = sorted((code, PROVINCE_OF.get(code, code)) for code in codes)
    return {"years": years, "templates": templates, "regions": regions}


def report_detail(session: Session, report_id: int) -> dict[str, Any] | None:
    report = session.get(Report, report_id)
    if report is None:
        return None
    version = report.version
    document = version.document
    agency = session.get(Agency, report.agency_id)
    assert agency is not None
    versions = []
    for other in document.versions:
        revised = session.scalar(select(Event).where(Event.kind == "REVISED", Event.document_id == document.id,
                                                     Event.key == f"REVISED:{other.id}"))
        versions.append({"id": other.id, "seen_at": other.seen_at, "sha256": other.sha256, "size": other.size,
                         "content_type": other.content_type, "report_id": other.report.id if other.report else None,
                         "changes": (revised.payload.get("changes") if revised else None) or [],
                         "current": other.id == version.id})
    latest = document.versions[-1].id if document.versions else version.id
    return {"report": report, "agency": agency, "document": document, "version": version, "versions": versions,
            "findings": list(report.findings), "is_latest": version.id == latest}


def finding_rows(session: Session, *, status: str | None = "open", severity: str | None = None,
                 rule: str | None = None, region: str | None = None, page: int = 1,
                 per_page: int = PAGE) -> tuple[list[dict[str, Any]], int]:
    current = _current_versions()
    query = (select(FindingRow, Report.title, Report.year, Agency.name.label("agency"), Agency.id.label("agency_id"))
             .join(Report, Report.id == FindingRow.report_id)
             .join(current, current.c.vid == Report.version_id)
             .join(Agency, Agency.id == Report.agency_id))
    if status:
        query = query.where(FindingRow.status == status)
    if severity:
        query = query.where(FindingRow.severity == severity)
    if rule:
        query = query.where(FindingRow.rule == rule)
    if region:
        query = query.where(Agency.region_code.startswith(region))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    order = case((FindingRow.severity == "error", 0), (FindingRow.severity == "warning", 1), else_=2)
    rows = session.execute(query.order_by(order, FindingRow.id.desc()).limit(per_page)
                           .offset(max(page - 1, 0) * per_page)).all()
    return [{"finding": f, "title": t, "year": y, "agency": a, "agency_id": aid} for f, t, y, a, aid in rows], total


# ---------------------------------------------------------------------- the overview
@dataclass
class Overview:
    year: int  # the reporting year in season (reports about it are due this spring)
    counts: dict[str, int] = field(default_factory=dict)
    on_time_by_region: list[tuple[str, float, int]] = field(default_factory=list)  # name, rate, agencies
    on_time_by_kind: list[tuple[str, float, int]] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    broken_sites: list[dict[str, Any]] = field(default_factory=list)
    season_reports: int = 0


def overview(session: Session, calendar: Calendar, now: datetime) -> Overview:
    today = now.astimezone(local_zone()).date()
    result = Overview(year=today.year - 1)
    current, counts = _current_versions(), _finding_counts()
    result.counts = {
        "agencies": int(session.scalar(select(func.count()).select_from(Agency)) or 0),
        "sites": int(session.scalar(select(func.count()).select_from(Site)) or 0),
        "reports": int(session.scalar(select(func.count()).select_from(Report)
                                      .join(current, current.c.vid == Report.version_id)) or 0),
        "errors": int(session.scalar(select(func.coalesce(func.sum(counts.c.errors), 0))
                                     .join(Report, Report.id == counts.c.rid)
                                     .join(current, current.c.vid == Report.version_id)) or 0),
        "warnings": int(session.scalar(select(func.coalesce(func.sum(counts.c.warnings), 0))
                                       .join(Report, Report.id == counts.c.rid)
                                       .join(current, current.c.vid == Report.version_id)) or 0),
    }
    first_published: dict[tuple[int, int], date | None] = {}
    for agency_id, year, published in session.execute(
            select(Report.agency_id, Report.year, func.min(Document.published_on))
            .join(current, current.c.vid == Report.version_id)
            .join(DocumentVersion, DocumentVersion.id == Report.version_id)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Report.year.is_not(None)).group_by(Report.agency_id, Report.year)):
        if year is not None:
            first_published[(agency_id, year)] = published
    season_start = date(today.year, 1, 1)
    result.season_reports = sum(1 for p in first_published.values() if p and p >= season_start)

    monitored = {agency_id for (agency_id,) in session.execute(select(Site.agency_id).distinct())}
    by_region: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    agencies = list(session.scalars(select(Agency)))
    for agency in agencies:
        due = calendar.due(result.year, agency.kind, agency.region_code or "")
        key = (agency.id, result.year)
        published = first_published.get(key)
        if key in first_published:
            on_time = published is None or published <= due.date  # no page date: no claim of lateness
            if published is not None and published > due.date:
                result.late.append({"agency": agency, "published": published, "due": due.date,
                                    "days": (published - due.date).days})
        elif due.date < today and agency.id in monitored:
            on_time = False
            result.missing.append({"agency": agency, "due": due.date, "days": (today - due.date).days})
        else:
            continue  # not due yet, or never watched: no claim
        region = PROVINCE_OF.get((agency.region_code or "")[:2], "其他")
        by_region[region].append(on_time)
        by_kind[KIND_NAMES.get(agency.kind, agency.kind)].append(on_time)
    result.on_time_by_region = sorted(((r, sum(v) / len(v), len(v)) for r, v in by_region.items()),
                                      key=lambda t: (-t[1], t[0]))
    result.on_time_by_kind = sorted(((k, sum(v) / len(v), len(v)) for k, v in by_kind.items()),
                                    key=lambda t: (-t[1], t[0]))
    result.late.sort(key=lambda item: -item["days"])
    result.missing.sort(key=lambda item: -item["days"])
    for site, agency in session.execute(select(Site, Agency).join(Agency, Agency.id == Site.agency_id)
                                        .where(or_(Site.broken_since.is_not(None), Site.last_error.is_not(None)))
                                        .order_by(Site.key)):
        result.broken_sites.append({"site": site, "agency": agency})
    return result


# ---------------------------------------------------------------------- an agency
KEY_FIGURES = (
    ("requests", "new", "total", "本年新收申请"),
    ("requests", "carried_over", "total", "上年结转"),
    ("requests", "granted", "total", "予以公开"),
    ("requests", "carried_forward", "total", "结转下年度"),
    ("review", "review", "total", "行政复议"),
    ("review", "litigation_direct", "total", "行政诉讼（直接）"),
)


def cell(record: dict[str, Any] | None, table: str, row: str, column: str) -> Any:
    value = ((record or {}).get("tables") or {}).get(table) or {}
    value = value.get(row) if isinstance(value, dict) else None
    return value.get(column) if isinstance(value, dict) else None


def agency_detail(session: Session, agency_id: int) -> dict[str, Any] | None:
    agency = session.get(Agency, agency_id)
    if agency is None:
        return None
    rows, _ = report_rows(session, ReportFilters(agency_id=agency_id), per_page=1000)
    by_year: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["year"] or 0, r["id"])):
        if row["year"]:
            by_year[row["year"]] = row  # the latest document per year wins
    records = {year: session.get(Report, row["id"]).record for year, row in by_year.items()}  # type: ignore[union-attr]
    figures = [{"label": label, "values": {y: cell(records[y], t, r, c) for y in by_year}}
               for t, r, c, label in KEY_FIGURES]
    # the verdict is the CARRY-OVER check's own (stored at ingest), not worked out again here
    broken = set(session.scalars(select(FindingRow.report_id).where(
        FindingRow.report_id.in_([row["id"] for row in by_year.values()]), FindingRow.rule == "CARRY-OVER",
        FindingRow.status.in_(LIVE))))
    carry = []
    for year in sorted(by_year):
        if year - 1 in by_year:
            before = cell(records[year - 1], "requests", "carried_forward", "total")
            after = cell(records[year], "requests", "carried_over", "total")
            carry.append({"year": year, "forward": before, "over": after,
                          "ok": None if before is None or after is None else by_year[year]["id"] not in broken})
    sites = list(session.scalars(select(Site).where(Site.agency_id == agency_id)))
    return {"agency": agency, "reports": rows, "years": sorted(by_year), "figures": figures, "carry": carry,
            "sites": sites, "region": region_label(agency.region_code) or None}


def agency_rows(session: Session, *, q: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
    current = _current_versions()
    reports = (select(Report.agency_id.label("aid"), func.count().label("n"), func.max(Report.year).label("latest"))
               .join(current, current.c.vid == Report.version_id).group_by(Report.agency_id).subquery())
    query = (select(Agency, func.coalesce(reports.c.n, 0), reports.c.latest)
             .outerjoin(reports, reports.c.aid == Agency.id).order_by(Agency.region_code, Agency.name))
    if q:
        query = query.where(Agency.name.contains(q))
    if region:
        query = query.where(Agency.region_code.startswith(region))
    return [{"agency": a, "reports": n, "latest": latest} for a, n, latest in session.execute(query.limit(2000))]
