"""The weekly digest: what happened in a subscriber's scope in one week — new reports, findings by severity,
late and missing reports with days overdue, the on-time rate — as text, HTML with an inline chart, and an
e-mail."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from checks.deadlines import KIND_NAMES, Calendar
from domain.time import local_zone
from domain.vocabulary import SEVERITY_LABELS
from storage.models import Agency, DigestSend, Document, Event, Report, Subscription

from .channels import SendFailed, SmtpSettings, smtp_send
from .links import PublicLinks
from .mail import add_unsubscribe
from .matching import Scope, region_name
from .outbox import LEASE, record_failure, record_sent
from .subscriptions import scope_of

CHINA = local_zone()  # the reporting zone (NIANBAO_TIMEZONE), configured before this module is imported
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "j2"]), trim_blocks=False)
CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """'2025-W12' → Monday 00:00 to the next Monday 00:00, Beijing time."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=CHINA)
    return start, start + timedelta(days=7)


def last_week(now: datetime) -> str:
    iso = (now.astimezone(CHINA) - timedelta(days=7)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


@dataclass
class DigestData:
    week_label: str
    start: str
    end: str
    scope_label: str
    reports: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"error": 0, "warning": 0, "notice": 0})
    late: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    on_time_rate: float | None = None
    on_time_by_kind: dict[str, float] = field(default_factory=dict)
    chart: bytes | None = None
    chart_cid: str = ""
    unsubscribe_url: str | None = None  # one click stops every e-mail subscription of the address
    manage_url: str | None = None

    @property
    def published(self) -> list[dict[str, Any]]:
        """Reports published this week (by the page's 发布时间)."""
        return [r for r in self.reports if r["fresh"]]

    @property
    def older(self) -> list[dict[str, Any]]:
        """Reports first found this week that were published before it (or carry no date)."""
        return [r for r in self.reports if not r["fresh"]]

    @property
    def subject(self) -> str:
        return f"年报监测周报 {self.week_label}：新报告{len(self.reports)}份，错误{self.counts['error']}处"


def collect(session: Session, scope: Scope, week: str, calendar: Calendar,
            links: PublicLinks | None = None) -> DigestData:
    start, end = week_bounds(week)
    agencies = [a for a in session.scalars(select(Agency)) if scope.covers(a.name, a.region_code)]
    ids = {a.id for a in agencies}
    label = "全部" if scope.everything else "、".join([*map(region_name, scope.regions), *scope.agencies])
    data = DigestData(week_label=week, start=start.date().isoformat(),
                      end=(end - timedelta(days=1)).date().isoformat(), scope_label=label)
    documents = session.scalars(select(Document).where(Document.first_seen >= start, Document.first_seen < end)
                                .order_by(Document.first_seen))
    for document in documents:
        if document.agency_id not in ids or not document.versions or document.versions[-1].report is None:
            continue
        report = document.versions[-1].report
        open_findings = [f for f in report.findings if f.status not in ("dismissed", "resolved")]
        severities = [f.severity for f in open_findings]
        published = document.published_on
        fresh = published is not None and start.date() <= published < end.date()
        data.reports.append({"agency": document.agency.name, "title": report.title or document.url,
                             "url": document.url, "errors": severities.count("error"),
                             "warnings": severities.count("warning"), "fresh": fresh,
                             "published": published.isoformat() if published else None,
                             "dashboard": links.report(report.id) if links is not None else None})
        for finding in open_findings:
            data.counts[finding.severity] = data.counts.get(finding.severity, 0) + 1
            if finding.severity in ("error", "warning") and len(data.findings) < 40:
                data.findings.append({"severity_label": SEVERITY_LABELS[finding.severity],
                                      "agency": document.agency.name, "message": finding.message})
    for event in session.scalars(select(Event).where(Event.kind == "LATE", Event.created_at >= start,
                                                     Event.created_at < end)):
        if event.agency_id in ids:
            payload = event.payload
            days = (date.fromisoformat(payload["printed"]) - date.fromisoformat(payload["expected"])).days
            data.late.append({"agency": payload.get("agency"), "year": payload.get("year"), "days": days})
    _deadlines(session, agencies, end, calendar, data)
    data.chart = on_time_chart(data.on_time_by_kind) if data.on_time_by_kind else None
    data.chart_cid = make_msgid(domain="nianbao-watch")[1:-1] if data.chart else ""
    return data


def _deadlines(session: Session, agencies: list[Agency], end: datetime, calendar: Calendar, data: DigestData) -> None:
    """Missing reports and the on-time rate, for the latest reporting year whose deadline has passed."""
    on_time: dict[str, list[bool]] = {}
    for agency in agencies:
        year = end.year - 1
        due = calendar.due(year, agency.kind, agency.region_code or "")
        if due.date >= end.date():
            year -= 1
            due = calendar.due(year, agency.kind, agency.region_code or "")
        reports = session.scalars(select(Report).where(Report.agency_id == agency.id, Report.year == year)).all()
        if not reports:
            data.missing.append({"agency": agency.name, "year": year, "due": due.date.isoformat(),
                                 "days": (end.date() - due.date).days})
            on_time.setdefault(agency.kind, []).append(False)
            continue
        documents = [r.version.document for r in reports]
        published = min((d.published_on or d.first_seen.astimezone(CHINA).date()) for d in documents)
        on_time.setdefault(agency.kind, []).append(published <= due.date)
    flags = [f for values in on_time.values() for f in values]
    data.on_time_rate = sum(flags) / len(flags) if flags else None
    data.on_time_by_kind = {KIND_NAMES.get(kind, kind): sum(v) / len(v) for kind, v in on_time.items() if v}


def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def on_time_chart(rates: dict[str, float]) -> bytes:
    """A small bar chart of on-time rates (PNG), for the e-mail's inline image."""
    from PIL import Image, ImageDraw

    width, bar_height, gap = 560, 26, 14
    height = 40 + len(rates) * (bar_height + gap)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(16), _font(14)
    draw.text((10, 8), "按期发布率", fill="#222222", font=font)
    for index, (label, rate) in enumerate(sorted(rates.items())):
        top = 40 + index * (bar_height + gap)
        draw.text((10, top + 4), label, fill="#444444", font=small)
        length = int(340 * rate)
        draw.rectangle((140, top, 140 + max(length, 1), top + bar_height), fill="#2e7d32" if rate >= 0.9 else
                       "#f9a825" if rate >= 0.6 else "#c62828")
        draw.text((150 + length, top + 4), f"{rate:.0%}", fill="#222222", font=small)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def render(data: DigestData) -> tuple[str, str]:
    return (TEMPLATES.get_template("digest.txt.j2").render(d=data),
            TEMPLATES.get_template("digest.html.j2").render(d=data))


def message(data: DigestData, to: str, sender: str) -> EmailMessage:
    text, html = render(data)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, data.subject
    if data.unsubscribe_url:  # without a subscription there is nothing to stop: no header that promises it
        add_unsubscribe(mail, data.unsubscribe_url)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    if data.chart:
        html_part = mail.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(data.chart, maintype="image", subtype="png", cid=f"<{data.chart_cid}>",
                              filename="on-time.png")
    return mail


def send(data: DigestData, to: str, smtp: SmtpSettings) -> str:
    return smtp_send(smtp, message(data, to, smtp.sender))


@dataclass
class DigestRun:
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def with_links(data: DigestData, links: PublicLinks | None, subscription: Subscription | None) -> DigestData:
    """The digest's one-click unsubscribe (every e-mail subscription of the address) and manage links."""
    if links is not None and links.secret and subscription is not None:
        data.unsubscribe_url = links.unsubscribe_all(subscription.id, subscription.token_nonce)
        data.manage_url = links.manage(subscription.id, subscription.token_nonce)
    return data


def deliver_digests(sessions: sessionmaker[Session], week: str, moment: datetime, calendar: Calendar,
                    smtp: SmtpSettings, now: Callable[[], datetime], links: PublicLinks | None = None) -> DigestRun:
    """Send `week`'s digest once to every e-mail address subscribed before its `moment`, with the outbox's
    discipline: claimed under a lease and committed, sent, then marked sent (a crash in between re-sends after
    the lease; a failure is retried with backoff)."""
    run = DigestRun()
    for send_id, address in _claim_digests(sessions, week, moment, now(), LEASE):
        with sessions() as session:
            scope = scope_of(session, "email", address)
            data = collect(session, scope or Scope(), week, calendar, links) if scope else None
            if data is not None:
                row = session.get(DigestSend, send_id)
                with_links(data, links, session.get(Subscription, row.subscription_id) if row else None)
        try:
            if data is None:
                raise SendFailed("no longer subscribed")
            receipt = send(data, address, smtp)
        except SendFailed as exc:
            with sessions() as session, session.begin():
                row = session.get(DigestSend, send_id)
                assert row is not None
                if record_failure(row, exc, now(), give_up=data is None):
                    run.deferred += 1
                else:
                    run.failed += 1
            continue
        with sessions() as session, session.begin():
            row = session.get(DigestSend, send_id)
            assert row is not None
            record_sent(row, receipt, now())
        run.sent += 1
    return run


def _claim_digests(sessions: sessionmaker[Session], week: str, moment: datetime, now: datetime,
                   lease: timedelta) -> list[tuple[int, str]]:
    claimed: list[tuple[int, str]] = []
    with sessions() as session, session.begin():
        first_by_address: dict[str, Subscription] = {}
        for row in session.scalars(select(Subscription).where(Subscription.channel == "email",
                                                              Subscription.active.is_(True),
                                                              Subscription.created_at <= moment)
                                   .order_by(Subscription.id)):
            first_by_address.setdefault(row.address, row)
        existing = {s.subscription_id: s for s in session.scalars(
            select(DigestSend).where(DigestSend.week == week).with_for_update(skip_locked=True))}
        for address, subscription in first_by_address.items():
            send_row = existing.get(subscription.id)
            if send_row is None:  # a racing claimer inserting the same row fails on the unique key
                send_row = DigestSend(subscription_id=subscription.id, week=week, status="sending", attempts=0,
                                      next_attempt_at=now + lease)
                session.add(send_row)
                session.flush()
                claimed.append((send_row.id, address))
                continue
            if send_row.status in ("sent", "failed") or (send_row.next_attempt_at or now) > now:
                continue
            # take it only if nobody else did since we read it (SQLite ignores SKIP LOCKED): compare and set
            taken = session.execute(
                update(DigestSend)
                .where(DigestSend.id == send_row.id, DigestSend.status == send_row.status,
                       DigestSend.attempts == send_row.attempts,
                       or_(DigestSend.next_attempt_at.is_(None), DigestSend.next_attempt_at <= now))
                .values(status="sending", next_attempt_at=now + lease)
                .execution_options(synchronize_session=False))
            if getattr(taken, "rowcount", 0) == 1:
                claimed.append((send_row.id, address))
    return claimed
