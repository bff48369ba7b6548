"""The database schema (SQLAlchemy 2 typed models). Alembic migrations in `storage/migrations` create it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC on every backend (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)  # GB/T 2260 行政区划代码
    level: Mapped[str | None] = mapped_column(String(20))  # province / city / county / township
    kind: Mapped[str] = mapped_column(String(20), default="department")  # for deadlines
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    list_urls: Mapped[list[Any]] = mapped_column(JSON)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    broken_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # the scheduler's plan


class HttpValidator(Base):
    """What the last fetch of a URL returned, for conditional GET; for list pages also the links they showed."""

    __tablename__ = "http_validators"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str | None] = mapped_column(String(64))
    links: Mapped[list[Any] | None] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ListCheckRow(Base):
    """The crawler looked at a site's list at `at` and saw these report links (evidence for REMOVED and
    BACKDATED)."""

    __tablename__ = "list_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    links: Mapped[list[Any]] = mapped_column(JSON)
    complete: Mapped[bool] = mapped_column(default=True)  # every list page was read


class CrawlRun(Base):
    __tablename__ = "crawl_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")
    requests: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)


class Fetch(Base):
    __tablename__ = "fetches"
    id: Mapped[int] = mapped_column(primary_key=True)
    crawl_run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class Document(Base):
    """A report as a thing at a URL (or a file a researcher ingested); its bytes live in versions."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date | None] = mapped_column(Date)  # the page's 发布时间
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    page_url: Mapped[str | None] = mapped_column(String(1000), index=True)  # the list entry it was found from
    versions: Mapped[list[DocumentVersion]] = relationship(back_populates="document", order_by="DocumentVersion.id")
    agency: Mapped[Agency] = relationship()


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "sha256", name="uq_document_versions_document_sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    archive_path: Mapped[str] = mapped_column(String(300))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[Document] = relationship(back_populates="versions")
    report: Mapped[Report | None] = relationship(back_populates="version")


class Report(Base):
    """One parse of one version: the record and its indexed fields, or why it could not be read."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    template: Mapped[str | None] = mapped_column(String(8), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    parsed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[DocumentVersion] = relationship(back_populates="report")
    findings: Mapped[list[FindingRow]] = relationship(back_populates="report", order_by="FindingRow.id")


class FindingRow(Base):
    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("report_id", "fingerprint", name="uq_findings_report_fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open/confirmed/dismissed/resolved
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    report: Mapped[Report] = relationship(back_populates="findings")


class Event(Base):
    """Something that happened, once: `key` makes the same happening impossible to record twice."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # NEW REVISED REMOVED FINDING LATE MISSING ...
    key: Mapped[str] = mapped_column(String(300), unique=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Subscription(Base):
    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # telegram / email / webhook / console
    address: Mapped[str] = mapped_column(String(300))  # chat id, e-mail address, webhook URL
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"regions": [...], "agencies": [...]} or {} = all
    kinds: Mapped[list[Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # self-service sign-up (dashboard): web sign-ups wait, inactive, for the confirmation click (e-mail) or the
    # robot's test message; `token_nonce` goes into every signed link, so a new nonce revokes the old links
    origin: Mapped[str | None] = mapped_column(String(10))  # web / None (the command line)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    token_nonce: Mapped[str | None] = mapped_column(String(32))


class SignupAttempt(Base):
    """A sign-up asked for on the dashboard, for its rate limits: who asked (a keyed hash of the client
    address) and for which address (a keyed hash) — never the addresses themselves."""

    __tablename__ = "signup_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20))


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("event_id", "subscription_id", name="uq_deliveries_event_subscription"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # pending/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)


class DigestSend(Base):
    """One weekly digest to one e-mail subscription: claimed, then sent (the outbox's discipline)."""

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("subscription_id", "week", name="uq_digest_sends_subscription_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    week: Mapped[str] = mapped_column(String(10))  # ISO week, e.g. 2025-W12
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending/sending/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)


class MonitorState(Base):
    """Small facts the running monitor keeps about itself (heartbeat, pid, last job runs) for `status`."""

    __tablename__ = "monitor_state"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
