"""Atom feeds of alerts, for feed readers: `/feeds/alerts.atom?region=淮安市&kinds=errors` (filterable like a
subscription: region by name or code, agency by name, alert kinds) and `/feeds/agencies/{id}.atom`. Entries
are the alerts themselves (the numbers, the cells by name, the links), with ids that never change
(`tag:` URIs from the event ids). Conditional GET: the validator is computed from two indexed aggregates
before anything is rendered, so a reader polling every minute costs a 304 and two small queries."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier.links import PublicLinks
from notifier.matching import ALERT_KINDS, alert_kind
from notifier.messages import Alert, alert_of
from storage.models import Agency, Event, FindingRow

if TYPE_CHECKING:
    from .app import Dashboard

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50
SCAN = 400  # events looked at to fill a page of entries after the filters SQL cannot apply
EVENT_KINDS = {"new": ("NEW",), "errors": ("FINDING",), "warnings": ("FINDING",), "deadlines": ("LATE", "MISSING"),
               "changes": ("REVISED", "REMOVED", "BACKDATED")}
PUBLIC_KINDS = tuple(k for k in ALERT_KINDS if k != "admin")
NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedQuery:
    kinds: tuple[str, ...]
    region_prefix: str | None = None
    region_label: str | None = None
    agency_id: int | None = None
    agency_name: str | None = None

    @property
    def key(self) -> str:
        return f"region={self.region_prefix or ''}&agency={self.agency_id or ''}&kinds={','.join(self.kinds)}"

    @property
    def title(self) -> str:
        where = self.agency_name or self.region_label or "全部地区"
        kinds = "全部提醒" if set(self.kinds) == set(PUBLIC_KINDS) else "、".join(ALERT_KINDS[k] for k in self.kinds)
        return f"年报监测 · {where} · {kinds}"


def clean(text: str) -> str:
    return NOT_XML.sub("", text)


class Feeds:
    def __init__(self, board: Dashboard) -> None:
        self.board = board

    def links(self, request: Request) -> PublicLinks:
        given = getattr(request.app.state, "reach", None)
        base = getattr(given, "public_url", None) or str(request.base_url)
        return PublicLinks(base_url=base)

    def _query(self, session: Session, request: Request, agency_id: int | None) -> FeedQuery:
        params = request.query_params
        raw_kinds = [k.strip() for k in ",".join(params.getlist("kinds")).replace("，", ",").split(",") if k.strip()]
        unknown = [k for k in raw_kinds if k not in PUBLIC_KINDS]
        if unknown:
            raise HTTPException(400, f"未知的提醒类型：{'、'.join(unknown)}（可选：{', '.join(PUBLIC_KINDS)}）")
        kinds = tuple(k for k in PUBLIC_KINDS if k in raw_kinds) or PUBLIC_KINDS
        if agency_id is None and params.get("agency"):
            agency_id = session.scalar(select(Agency.id).where(Agency.name == params["agency"]))
            if agency_id is None:
                raise HTTPException(404, "没有这个机关")
        if agency_id is not None:
            agency = session.get(Agency, agency_id)
            if agency is None:
                raise HTTPException(404, "没有这个机关")
            return FeedQuery(kinds=kinds, agency_id=agency.id, agency_name=agency.name)
        if params.get("region"):
            from domain.regions import RegionNotFound, resolve_region

            try:
                region = resolve_region(params["region"])
            except RegionNotFound as exc:
                raise HTTPException(400, str(exc)) from None
            return FeedQuery(kinds=kinds, region_prefix=region.prefix, region_label=region.full_name)
        return FeedQuery(kinds=kinds)

    def _events(self, session: Session, query: FeedQuery) -> list[Event]:
        kinds = sorted({e for k in query.kinds for e in EVENT_KINDS[k]})
        statement = select(Event).where(Event.kind.in_(kinds)).order_by(Event.id.desc()).limit(SCAN)
        if query.agency_id is not None:
            statement = statement.where(Event.agency_id == query.agency_id)
        elif query.region_prefix:
            statement = statement.join(Agency, Agency.id == Event.agency_id).where(
                Agency.region_code.like(f"{query.region_prefix}%"))
        events = list(session.scalars(statement))
        finding_ids = [e.finding_id for e in events if e.finding_id is not None]
        silenced = set(session.scalars(select(FindingRow.id).where(
            FindingRow.id.in_(finding_ids), FindingRow.status.in_(("dismissed",))))) if finding_ids else set()
        chosen = []
        for event in events:
            payload = event.payload or {}
            if payload.get("backlog") or event.finding_id in silenced:
                continue
            if alert_kind(event.kind, payload) not in query.kinds:
                continue
            chosen.append(event)
            if len(chosen) >= ENTRIES:
                break
        return chosen

    def _validator(self, session: Session, query: FeedQuery) -> tuple[str, datetime]:
        """(ETag, Last-Modified) from the newest event and the newest decision: what can change a feed."""
        newest = session.execute(select(func.max(Event.id), func.max(Event.created_at))).one()
        decided = session.scalar(select(func.max(FindingRow.decided_at)))
        stamp = f"{query.key}|{newest[0]}|{decided.isoformat() if decided else ''}|v1"
        etag = 'W/"' + hashlib.sha256(stamp.encode()).hexdigest()[:32] + '"'
        moments = [m for m in (newest[1], decided) if m is not None]
        modified = max(moments) if moments else EPOCH
        return etag, modified.astimezone(UTC).replace(microsecond=0)

    async def alerts(self, request: Request) -> Response:
        return await self._feed(request, None)

    async def agency(self, request: Request) -> Response:
        return await self._feed(request, int(request.path_params["agency_id"]))

    async def _feed(self, request: Request, agency_id: int | None) -> Response:
        with self.board.sessions() as session:
            query = self._query(session, request, agency_id)
            etag, modified = self._validator(session, query)
            headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
                       "Cache-Control": "public, max-age=60"}
            if not_modified(request, etag, modified):
                return Response(status_code=304, headers=headers)
            links = self.links(request)
            entries = [(event, alert_of(session, event)) for event in self._events(session, query)]
            body = atom(query, entries, links, self_url=str(request.url), updated=modified)
        return Response(body, media_type="application/atom+xml; charset=utf-8", headers=headers)

    async def index(self, request: Request) -> Response:
        from notifier.matching import ALERT_KINDS as KINDS

        return self.board.render(request, "feeds.html", {"kinds": {k: v for k, v in KINDS.items() if k != "admin"},
                                                         "base": str(self.links(request).base_url)})


def not_modified(request: Request, etag: str, modified: datetime) -> bool:
    given = request.headers.get("if-none-match")
    if given is not None:
        return any(tag.strip() in (etag, etag.removeprefix("W/"), "*") for tag in given.split(","))
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def tag_authority(links: PublicLinks) -> str:
    return urlsplit(links.base_url).hostname or "nianbao-watch"


def entry_id(links: PublicLinks, event: Event) -> str:
    """tag:HOST,DATE:event/ID — the same for an event forever (RFC 4151)."""
    return f"tag:{tag_authority(links)},{event.created_at.astimezone(UTC).date().isoformat()}:event/{event.id}"


def atom(query: FeedQuery, entries: list[tuple[Event, Alert]], links: PublicLinks, *, self_url: str,
         updated: datetime) -> bytes:
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = clean(text)
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    sub(feed, "id", f"tag:{tag_authority(links)},2019:feed/alerts?{query.key}")
    sub(feed, "title", query.title)
    sub(feed, "subtitle", "政府信息公开工作年度报告监测：新报告、错误与疑点、逾期、修改与删除")
    sub(feed, "updated", updated.isoformat())
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    alternate = links.agency(query.agency_id) if query.agency_id else links.url("/reports")
    sub(feed, "link", rel="alternate", type="text/html", href=alternate or links.base_url)
    author = sub(feed, "author")
    sub(author, "name", "nianbao-watch")
    sub(feed, "generator", "nianbao-watch")
    for event, alert in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", entry_id(links, event))
        sub(entry, "title", f"{alert.headline}：{alert.summary}"[:200])
        moment = event.created_at.astimezone(UTC).replace(microsecond=0).isoformat()
        sub(entry, "updated", moment)
        sub(entry, "published", moment)
        dashboard = alert.dashboard_url(links)
        original = alert.original_url if alert.original_url and alert.original_url.startswith(
            ("http://", "https://")) else None
        if dashboard:
            sub(entry, "link", rel="alternate", type="text/html", href=dashboard)
        if original:
            sub(entry, "link", rel="related" if dashboard else "alternate", href=original)
        if alert.alert_kind:
            sub(entry, "category", term=alert.alert_kind, label=ALERT_KINDS.get(alert.alert_kind, alert.alert_kind))
        sub(entry, "summary", alert.text(links), type="text")
        sub(entry, "content", alert.html(links), type="html")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def feed_routes(board: Dashboard) -> list[Route]:
    feeds = Feeds(board)
    return [Route("/feeds", feeds.index), Route("/feeds/alerts.atom", feeds.alerts),
            Route("/feeds/agencies/{agency_id:int}.atom", feeds.agency)]
