"""The composition root and the small bugs of issue 14: the crawl child speaks JSON, a registry that is a list
is a clear message, `nianbao … | head` does not end in BrokenPipeError, dates are validated before use,
reportlab is a runtime dependency, subscriptions to cities and counties match their agencies, one time zone."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT
from sqlalchemy import select

from domain.time import iso_date, local_zone, parse_date, use_timezone
from domain.vocabulary import LIVE_STATUSES, SEVERITY_LABELS, Severity, is_live
from monitor.crawl_runner import CrawlSummary
from notifier.matching import RegionNotFound
from notifier.subscriptions import describe, subscribe
from storage import make_engine, session_factory, upgrade
from storage.events import record_event
from storage.models import Agency, Delivery


def nianbao(*args: str, env: dict[str, str] | None = None, stdout: int | None = subprocess.PIPE
            ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, env={**base, **(env or {})},
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, check=False)


def test_crawl_summary_round_trips_through_json_among_other_output() -> None:
    summary = CrawlSummary.from_stats({"nianbao/sites_done": 3, "nianbao/sites_total": 4, "nianbao/stored": 2,
                                       "nianbao/events/NEW": 2, "nianbao/list_errors": 1,
                                       "finish_reason": "finished"})
    output = "2026-01-31 WARNING something\n" + summary.to_json() + "\n{not json\n"
    assert CrawlSummary.from_output(output) == summary
    assert summary.describe().startswith("crawl: 3/4 sites") and "NEW 2" in summary.describe()
    assert CrawlSummary.from_output("crawl: 3/4 sites, a sentence") is None  # no more parsing of prose


def test_a_registry_whose_top_level_is_a_list_is_a_clear_message(tmp_path: Path) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text("- key: a\n  agency: 某局\n  list_urls: [http://x.example/]\n", encoding="utf-8")
    result = nianbao("crawl", "--once", "--sites", str(registry), env={"NIANBAO_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "`sites:` list" in result.stderr and "a list" in result.stderr


def test_output_into_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "db", "upgrade"], cwd=ROOT,
                               env={**os.environ, "NIANBAO_DATA_DIR": str(tmp_path)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -0`: the reader is gone before the first line
    err = process.stderr.read().decode()
    assert process.wait(60) == 0 and "BrokenPipeError" not in err and "Exception ignored" not in err


def test_ingest_refuses_a_date_that_is_not_one(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html>年报</html>", encoding="utf-8")
    env = {"NIANBAO_DATA_DIR": str(tmp_path)}
    assert nianbao("db", "upgrade", env=env).returncode == 0
    result = nianbao("ingest", str(report), "--agency", "某局", "--published", "2023-02-30", env=env)
    assert result.returncode != 0 and "not a date" in result.stderr and "Traceback" not in result.stderr


def test_dates_and_the_time_zone_have_one_helper_each() -> None:
    assert parse_date("2023-02-30") is None and parse_date("2024-02-29") == date(2024, 2, 29)
    assert parse_date("") is None and parse_date(None) is None and parse_date("2024-13-01") is None
    assert iso_date(datetime(2024, 1, 2, 3, tzinfo=UTC)) == "2024-01-02"
    assert iso_date("2024-01-02 09:00") == "2024-01-02"
    try:
        assert str(use_timezone("Asia/Urumqi")) == "Asia/Urumqi" and str(local_zone()) == "Asia/Urumqi"
        with pytest.raises(ValueError):
            use_timezone("Mars/Olympus")
    finally:
        use_timezone("Asia/Shanghai")


def test_one_vocabulary() -> None:
    assert SEVERITY_LABELS == {"error": "错误", "warning": "疑点", "notice": "提示"}
    assert Severity.WARNING.label == "疑点"
    assert LIVE_STATUSES == ("open", "confirmed") and is_live("confirmed") and not is_live("dismissed")
    from monitor.render import SEVERITY_LABELS as terminal
    from notifier.messages import SEVERITY

    assert terminal == SEVERITY == SEVERITY_LABELS  # the terminal used to say 警告 where the rest say 疑点


def test_reportlab_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.startswith("reportlab") for d in project["dependencies"])  # `nianbao sandbox`, `run --demo`
    assert isinstance(project["license"], str)  # SPDX: no setuptools deprecation screens at set-up


@pytest.mark.parametrize("region", ["淮安", "淮安市", "江苏省淮安市", "洪泽区", "320813", "3208", "江苏"])
def test_subscriptions_to_a_city_or_county_alert_on_its_reports(tmp_path: Path, region: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    with sessions() as session, session.begin():
        row = subscribe(session, channel="console", address="me", regions=[region], now=now - timedelta(days=1))
        assert "地区江苏省" in describe(row) and "地区32" not in describe(row)  # names, not codes
        elsewhere = subscribe(session, channel="console", address="nanjing", regions=["南京市"],
                              now=now - timedelta(days=1))
        agency = Agency(name="淮安市洪泽区教育局", region_code="320813", kind="department", created_at=now)
        session.add(agency)
        session.flush()
        record_event(session, "NEW", "NEW:x", {"agency": agency.name}, now, agency_id=agency.id)
        deliveries = session.scalars(select(Delivery)).all()
        assert [d.subscription_id for d in deliveries] == [row.id] and elsewhere.id != row.id


def test_unknown_regions_and_empty_scopes_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        with pytest.raises(RegionNotFound, match="您是不是要找"):
            subscribe(session, channel="console", address="me", regions=["淮按"], now=datetime.now(UTC))
        for empty in ({"agencies": [""]}, {"regions": [" "]}):
            with pytest.raises(ValueError, match="empty"):
                subscribe(session, channel="console", address="me", now=datetime.now(UTC), **empty)
    result = nianbao("subscribe", "--channel", "console", "--address", "x", "--region", "淮按",
                     env={"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"})
    assert result.returncode != 0 and "找不到地区" in result.stderr and "Traceback" not in result.stderr


def test_a_page_date_that_is_not_a_date_is_none() -> None:
    from parser.extractors.html import page_published

    page = '<html><head><meta name="PubDate" content="2023-02-30 09:00"></head><body>年报</body></html>'
    assert page_published(page.encode()) is None
    assert page_published(page.replace("02-30", "02-28").encode()) == "2023-02-28"


def test_the_dashboards_region_filter_survives_an_unknown_region() -> None:
    from dashboard.app import _region

    assert _region("淮安") == "3208" and _region("洪泽区") == "320813"
    assert _region("淮按") == "淮按"  # no such region: matches nothing, never an HTTP 500
