"""The deadline sweep: MISSING once per agency and year, only when the deadline has passed and the site was
read since; alerted through the outbox. And `nianbao status`."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

from conftest import Clock
from sqlalchemy import select

from checks.deadlines import load_calendar
from monitor.status import status_text
from notifier.channels import ConsoleChannel
from notifier.outbox import dispatch
from notifier.subscriptions import subscribe
from sandbox.reportgen import generate, render_html
from storage import Archive, Origin, ingest, make_engine, session_factory, upgrade
from storage.crawl_state import SiteProfileRow, site_result, sync_sites
from storage.models import Event


def test_missing_reports_are_found_once_and_alerted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    calendar = load_calendar()
    before = datetime(2025, 1, 10, tzinfo=UTC)
    ids = sync_sites(sessions, [
        SiteProfileRow("late-dept", "某市教育局", "320100", "department", "trs", ["http://a/"], {}),
        SiteProfileRow("good-dept", "某市财政局", "320100", "department", "trs", ["http://b/"], {}),
        SiteProfileRow("gov", "某市人民政府", "320100", "government", "trs", ["http://c/"], {}),
    ], before)
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="office", regions=["32"], kinds=["deadlines"], now=before)
    spec = generate(random.Random(1), agency="某市财政局", year=2024)
    ingest(sessions, Archive(tmp_path / "a"), render_html(spec),
           Origin(agency="某市财政局", url="http://b/1.htm", seen_at=before, site_id=ids["good-dept"]))
    after = datetime(2025, 2, 3, 9, tzinfo=UTC)  # departments were due on 31 January, governments on 31 March
    for key in ids:
        site_result(sessions, ids[key], after, ok=True, entries=1)
    from storage.sweeps import sweep_deadlines

    assert sweep_deadlines(sessions, calendar, datetime(2025, 1, 31, 12, tzinfo=UTC)) == []  # not yet overdue
    assert sweep_deadlines(sessions, calendar, after) == ["某市教育局/2024"]
    assert sweep_deadlines(sessions, calendar, after) == []  # once
    out = io.StringIO()
    assert dispatch(sessions, {"console": ConsoleChannel(out)}, Clock(after)).sent == 1
    assert "某市教育局" in out.getvalue() and "已逾期3天" in out.getvalue()
    with sessions() as session:
        assert [e.kind for e in session.scalars(select(Event)) if e.kind == "MISSING"] == ["MISSING"]
        text = status_text(session)
    assert "3 watched" in text and "2024: 1" in text and "deliveries: 1 sent" in text
