"""Storage on SQLite and PostgreSQL: migrations, ingest (idempotent, versioned), removal, decisions,
concurrency and the export."""

from __future__ import annotations

import csv
import io
import multiprocessing
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, inspect, select
from storage_fixtures import database_url  # noqa: F401  (the fixture)

from checks.deadlines import load_calendar
from parser import Record
from sandbox.reportgen import generate, render_html, render_pdf
from sandbox.reportgen.plant import PLANTS
from storage import Archive, Origin, ingest, make_engine, mark_removed, session_factory, upgrade
from storage.models import Document, DocumentVersion, Event, FindingRow, Report
from storage.queries import decide, export_cells, list_findings, list_reports, write_export

T0 = datetime(2024, 1, 20, 8, tzinfo=UTC)


def _store(url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    upgrade(engine)
    return engine, session_factory(engine), Archive(tmp_path / "archive")


def _count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _events(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return [e.kind for e in session.scalars(select(Event).order_by(Event.id))]


def test_migrations_from_empty(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    engine, _, _ = _store(database_url, tmp_path)
    tables = set(inspect(engine).get_table_names())
    assert {"agencies", "sites", "crawl_runs", "fetches", "documents", "document_versions", "reports", "findings",
            "events", "subscriptions", "deliveries", "alembic_version"} <= tables
    upgrade(engine)  # again: nothing to do, no error


def test_ingest_is_idempotent_and_round_trips(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    specs = [generate(random.Random(seed), agency="洪泽区某局") for seed in range(6)]
    files = [(f"https://site.example/{i}.htm", render_html(spec)) for i, spec in enumerate(specs)]
    for _ in range(2):
        for url, data in files:
            ingest(sessions, archive, data, Origin(agency="洪泽区某局", url=url, seen_at=T0))
    assert _count(sessions, DocumentVersion) == 6 and _count(sessions, Document) == 6
    assert _events(sessions).count("NEW") == 6
    with sessions() as session:
        stored = session.scalars(select(Report).order_by(Report.id)).all()
        for report, spec in zip(stored, specs, strict=True):
            assert report.record is not None
            record = Record.from_json(report.record)
            assert record.tables == spec.record.tables and record.year == spec.record.year
        version = session.scalars(select(DocumentVersion)).first()
        assert version is not None and archive.get(version.archive_path) == files[0][1]


def test_changed_file_adds_a_version_and_one_revised_event(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    clean = generate(random.Random(3), template="2021")
    broken = PLANTS["T4-BLOCK"](clean, random.Random(3))
    assert broken is not None
    url = "https://site.example/t20240120_1.htm"
    first = ingest(sessions, archive, render_html(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    assert first.events == ["NEW", "FINDING"]
    again = ingest(sessions, archive, render_html(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    assert again.events == [] and not again.created
    fixed = ingest(sessions, archive, render_html(clean), Origin(agency="某局", url=url,
                                                                 seen_at=T0 + timedelta(days=3)))
    assert fixed.events == ["REVISED"]
    assert _count(sessions, DocumentVersion) == 2
    with sessions() as session:
        statuses = [f.status for f in session.scalars(select(FindingRow))]
        revised = session.scalars(select(Event).where(Event.kind == "REVISED")).one()
    assert statuses == ["resolved"]
    assert any(c.get("row") == broken.row for c in revised.payload["changes"])


def test_the_same_problem_in_a_new_version_is_not_alerted_twice(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    broken = PLANTS["T3-RESULTS"](generate(random.Random(8)), random.Random(8))
    assert broken is not None
    url = "https://site.example/report.pdf"
    ingest(sessions, archive, render_pdf(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    # the same report re-exported (different bytes, same content): a version, no new FINDING event
    ingest(sessions, archive, render_html(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    assert _events(sessions).count("FINDING") == _count(sessions, FindingRow) // 2


def test_dismissed_finding_stays_dismissed_and_silent(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    broken = PLANTS["T4-BLOCK"](generate(random.Random(5)), random.Random(5))
    assert broken is not None
    url = "https://site.example/a.htm"
    ingest(sessions, archive, render_html(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    with sessions() as session, session.begin():
        fingerprint = session.scalars(select(FindingRow)).one().fingerprint
        assert decide(session, fingerprint[:10], "dismissed", note="表格印刷错误，已核实", by="tester", at=T0) == 1
    result = ingest(sessions, archive, render_pdf(broken.spec), Origin(agency="某局", url=url, seen_at=T0))
    assert result.events == ["REVISED"]
    with sessions() as session:
        assert {f.status for f in session.scalars(select(FindingRow))} == {"dismissed"}
        assert list_findings(session, status="open") == []


def test_removed_document_is_kept_and_reported_once(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    url = "https://site.example/b.htm"
    ingest(sessions, archive, render_html(generate(random.Random(1))), Origin(agency="某局", url=url, seen_at=T0))
    assert mark_removed(sessions, url, T0 + timedelta(days=1))
    assert not mark_removed(sessions, url, T0 + timedelta(days=2))
    assert _events(sessions) == ["NEW", "REMOVED"]
    with sessions() as session:
        assert list_reports(session) == []  # removed reports leave the current listing, not the database
        assert session.scalars(select(Document)).one().removed_at is not None


def test_late_from_the_page_date(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    spec = generate(random.Random(2), template="2021", year=2023, agency="某市教育局")
    result = ingest(sessions, archive, render_html(spec),
                    Origin(agency="某市教育局", url="https://x.example/late.htm", seen_at=T0 + timedelta(days=30),
                           published=datetime(2024, 2, 5).date()), calendar=load_calendar())
    assert "LATE" in result.events


def _ingest_all(url: str, root: str, files: list[tuple[str, bytes]]) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    archive = Archive(Path(root))
    for name, data in files:
        ingest(sessions, archive, data, Origin(agency="并发测试局", url=name, seen_at=T0))
    engine.dispose()


def test_two_processes_ingesting_at_once(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    engine, sessions, _ = _store(database_url, tmp_path)
    engine.dispose()
    files = [(f"https://c.example/{i}.htm", render_html(generate(random.Random(100 + i), agency="并发测试局")))
             for i in range(8)]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_ingest_all, args=(database_url, str(tmp_path / "archive"), order))
               for order in (files, list(reversed(files)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert _count(sessions, DocumentVersion) == 8
    assert _events(sessions).count("NEW") == 8


def test_export_opened_back_equals_stored_cells(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    _, sessions, archive = _store(database_url, tmp_path)
    for i in range(3):
        ingest(sessions, archive, render_html(generate(random.Random(i))),
               Origin(agency=f"导出局{i}", url=f"https://e.example/{i}.htm", seen_at=T0, region="320813"))
    with sessions() as session:
        cells = list(export_cells(session))
        as_csv = write_export(iter(cells), "csv")
        as_xlsx = write_export(iter(cells), "xlsx")
    assert len(cells) > 3 * 150
    rows = list(csv.DictReader(io.StringIO(as_csv.decode("utf-8-sig"))))
    assert [(r["agency"], r["table"], r["row"], r["column"], r["value"]) for r in rows] == [
        (c["agency"], c["table"], c["row"], c["column"] or "", "" if c["value"] is None else str(c["value"]))
        for c in cells]
    sheet = load_workbook(io.BytesIO(as_xlsx), read_only=True)["cells"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("report_id", "agency", "region", "year")
    assert [(v[1], v[5], v[6], v[7], v[8]) for v in values[1:]] == [
        (c["agency"], c["table"], c["row"], c["column"], c["value"]) for c in cells]


@pytest.mark.corpus
def test_corpus_ingested_twice_leaves_one_version_per_file(shared: Path, database_url: str,  # noqa: F811
                                                           tmp_path: Path) -> None:
    from corpus import document_path, labelled_names

    _, sessions, archive = _store(database_url, tmp_path)
    names = labelled_names()
    for _ in range(2):
        for name in names:
            path = document_path(shared, name)
            ingest(sessions, archive, path.read_bytes(), Origin(agency=f"agency-of-{name}", url=path.as_uri(),
                                                                seen_at=T0))
    assert _count(sessions, DocumentVersion) == len(names)
    with sessions() as session:
        assert all(r.error is None for r in session.scalars(select(Report)))
