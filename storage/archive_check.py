"""`nianbao db check`: every archived file the database refers to is read back and verified against its sha256.

A damaged or missing file is reported (here, and by `nianbao status` from the last check) and queued for
repair: the crawler's validators of its URL are dropped, so the next poll downloads the document in full
instead of asking "modified since?", and ingest's archive write replaces the damaged file with the fresh bytes
(the same bytes: the same name). A file whose document changed since can only be repaired from a copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from .archive import ArchiveDamaged, ArchiveMissing, ArchiveStore
from .models import Document, DocumentVersion, HttpValidator, MonitorState

STATE_NAME = "archive-check"
KEEP_LISTED = 50


@dataclass
class Problem:
    version_id: int
    url: str
    relative: str
    problem: str  # "damaged" | "missing"


@dataclass
class CheckReport:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    refetch_queued: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_archive(sessions: sessionmaker[Session], archive: ArchiveStore, *, queue_refetch: bool = True,
                  now: datetime | None = None) -> CheckReport:
    report = CheckReport()
    with sessions() as session:
        rows = session.execute(select(DocumentVersion.id, DocumentVersion.archive_path, Document.url)
                               .join(Document, Document.id == DocumentVersion.document_id)
                               .order_by(DocumentVersion.id)).all()
    for version_id, relative, url in rows:
        report.checked += 1
        try:
            archive.get(relative)
        except ArchiveDamaged:
            report.problems.append(Problem(version_id, url, relative, "damaged"))
        except ArchiveMissing:
            report.problems.append(Problem(version_id, url, relative, "missing"))
    urls = sorted({p.url for p in report.problems})
    with sessions() as session, session.begin():
        if queue_refetch and urls:
            session.execute(delete(HttpValidator).where(HttpValidator.url.in_(urls)))
            report.refetch_queued = len(urls)
        at = now or datetime.now(UTC)
        value = {"at": at.isoformat(), "checked": report.checked, "damaged": len(report.problems),
                 "archive": archive.describe(),
                 "problems": [{"version_id": p.version_id, "url": p.url, "path": p.relative, "problem": p.problem}
                              for p in report.problems[:KEEP_LISTED]]}
        row = session.get(MonitorState, STATE_NAME)
        if row is None:
            session.add(MonitorState(name=STATE_NAME, value=value, updated_at=at))
        else:
            row.value, row.updated_at = value, at
    return report


def last_check_lines(session: Session) -> list[str]:
    """For `nianbao status`."""
    row = session.get(MonitorState, STATE_NAME)
    if row is None:
        return ["archive: never checked (nianbao db check)"]
    value = row.value
    if not value.get("damaged"):
        return [f"archive: {value.get('checked')} file(s) intact at the last check ({value.get('at', '')[:19]} UTC)"]
    lines = [f"archive: {value['damaged']} of {value.get('checked')} file(s) DAMAGED or missing at the last check "
             f"({value.get('at', '')[:19]} UTC); their URLs are fetched in full at the next poll"]
    lines += [f"  ! {p['problem']}: version {p['version_id']} {p['url']}" for p in value.get("problems", [])[:10]]
    return lines
