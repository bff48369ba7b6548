"""The dashboard in a real browser (Playwright driving Debian's chromium) over a live server, with a database
filled from generated reports (planted errors, several years, a hostile agency name) and, where present, the
real-report corpus: pages render, charts and highlighted cells are there, crawled text stays inert, the JSON
API answers, and a finding dismissed by a logged-in admin is not alerted."""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import Clock, corpus_root
from conftest import free_port as _free_port
from sqlalchemy import select

from dashboard.app import create_app
from notifier.outbox import dispatch
from notifier.subscriptions import subscribe
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.plant import PLANTS
from storage import Archive, make_engine, session_factory, upgrade
from storage.ingest import Origin, ingest
from storage.models import Delivery, Event, FindingRow

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '坏人局<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
PASSWORD = "correct horse battery staple"
T0 = datetime(2025, 2, 10, 9, tzinfo=UTC)


class Capture:
    name = "console"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, address: str, text: str) -> str:
        self.texts.append(text)
        return "ok"


def _report(agency: str, year: int, seed: int, planted: str | None = None) -> bytes:
    spec = generate(random.Random(seed), agency=agency, year=year)
    if planted:
        result = PLANTS[planted](spec, random.Random(seed))
        assert result is not None
        spec = result.spec
    return render_html(spec, published=f"{year + 1}-01-{10 + seed % 15:02d}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("dashboard")
    engine = make_engine(f"sqlite:///{tmp / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    archive = Archive(tmp / "archive")
    with sessions() as session, session.begin():
        subscribe(session, channel="console", address="watcher", kinds=["errors", "warnings"],
                  now=T0 - timedelta(days=30))
    agencies = [("淮安市洪泽区财政局", "320813"), ("杭州市西湖区教育局", "330106"), (HOSTILE, "110102")]
    seed = 0
    for name, region in agencies:
        for year in (2022, 2023, 2024):
            seed += 1
            planted = ("T3-BALANCE", "T4-BLOCK", None)[seed % 3]
            ingest(sessions, archive, _report(name, year, seed, planted),
                   Origin(agency=name, region=region, url=f"https://gov.example/{region}/{year}.htm",
                          seen_at=T0 + timedelta(minutes=seed), published=datetime(year + 1, 1, 15).date()))
    corpus = 0
    shared = corpus_root()
    if (shared / "corpus").is_dir():  # real reports too, where the corpus is present (optional here)
        for path in sorted((shared / "corpus").rglob("*.pdf"))[:3]:
            ingest(sessions, archive, path.read_bytes(),
                   Origin(agency=f"语料机关{corpus}", region="320000", url=f"https://corpus.example/{path.name}",
                          seen_at=T0))
            corpus += 1
    app = create_app(sessions, archive, clock=Clock(datetime(2025, 4, 10, 9, tzinfo=UTC)),
                     admin_password=PASSWORD, secret_key="test-secret")
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield {"base": f"http://127.0.0.1:{port}", "sessions": sessions, "browser": browser, "corpus": corpus}
        finally:
            browser.close()
            server.should_exit = True
            thread.join(10)


def _page(site: dict[str, Any]) -> Any:
    page = site["browser"].new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


def test_pages_render_with_charts_and_highlighted_cells(site: dict[str, Any]) -> None:
    page = _page(site)
    base = site["base"]
    assert page.goto(base + "/").status == 200
    assert page.locator("#chart-region svg rect.bar").count() >= 2
    assert page.locator("#chart-kind svg rect.bar").count() >= 1
    assert "概览" in page.title()

    assert page.goto(base + "/reports?errors=1").status == 200
    rows = page.locator("#reports tr").count() - 1
    assert rows >= 4
    page.locator("#reports a[href^='/reports/']").first.click()
    page.wait_for_load_state()
    flagged = page.locator("td.flagged")
    assert flagged.count() >= 1
    number = flagged.first.get_attribute("data-findings")
    assert number and page.locator(f"#n{number.split(',')[0]}").count() == 1  # the cell points at its finding
    assert page.locator("#table-requests").count() == 1 and page.locator("#versions tr").count() >= 2
    style = flagged.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert style not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted, not just marked

    assert page.goto(base + "/findings?severity=error").status == 200
    assert page.locator("li.finding").count() >= 3
    assert page.goto(base + "/agencies").status == 200
    page.locator("#agencies a").first.click()
    page.wait_for_load_state()
    assert page.locator("#chart-received svg rect.bar").count() == 3
    assert page.locator("#carry tr").count() == 3  # 2023 and 2024 against the year before
    assert page.goto(base + "/api").status == 200
    assert not page.errors


def test_hostile_crawled_text_is_inert(site: dict[str, Any]) -> None:
    page = _page(site)
    page.goto(site["base"] + "/agencies?q=坏人局")
    link = page.locator("#agencies a").first
    assert "<script>" in link.inner_text()  # shown as text
    link.click()
    page.wait_for_load_state()
    assert "<script>window.pwned=1</script>" in page.locator("h1").inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.goto(site["base"] + "/reports?q=坏人局")
    assert page.evaluate("typeof window.pwned") == "undefined"
    with urllib.request.urlopen(site["base"] + "/reports?q=" + quote("坏人局")) as response:
        html = response.read().decode("utf-8")
        assert "<script>window" not in html and "&lt;script&gt;" in html
        assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script
        assert response.headers["X-Frame-Options"] == "DENY"


def test_json_api(site: dict[str, Any]) -> None:
    def get(path: str) -> Any:
        with urllib.request.urlopen(site["base"] + quote(path, safe="/?=&")) as response:
            assert response.headers["Content-Type"].startswith("application/json")
            return json.load(response)

    listing = get("/api/reports?region=江苏&year=2024")
    assert listing["total"] == 1 and listing["reports"][0]["agency"] == "淮安市洪泽区财政局"
    one = get(f"/api/reports/{listing['reports'][0]['id']}")
    assert one["record"]["schema"] == "nianbao.report/1" and one["record"]["year"] == 2024
    findings = get("/api/findings?severity=error")
    assert findings["total"] >= 3 and all(f["severity"] == "error" for f in findings["findings"])
    agencies = get("/api/agencies")
    assert agencies["total"] == 3 + site["corpus"]
    agency = get(f"/api/agencies/{agencies['agencies'][0]['id']}")
    assert agency["figures"][0]["label"] == "本年新收申请"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(site["base"] + "/api/reports/99999")
    assert missing.value.code == 404


def test_actions_need_login_and_csrf(site: dict[str, Any]) -> None:
    with site["sessions"]() as session:
        finding_id = session.scalars(select(FindingRow.id)).first()
    request = urllib.request.Request(f"{site['base']}/findings/{finding_id}/decide", method="POST",
                                     data=b"action=dismiss&note=x&csrf=forged")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    page = _page(site)
    page.goto(site["base"] + "/login")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "密码不正确" in page.content()
    # logged in, but a form whose token was tampered with is refused
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r"/findings"))
    form = page.locator("form.decide").first
    form.locator("input[name=csrf]").evaluate("e => e.value = 'tampered'")
    form.locator("input[name=note]").fill("测试")
    form.locator("button[value=dismiss]").click()
    page.wait_for_load_state()
    assert "CSRF" in page.content()


def test_a_dismissed_finding_is_not_alerted(site: dict[str, Any]) -> None:
    sessions = site["sessions"]
    with sessions() as session:
        pending = session.execute(select(FindingRow.id, FindingRow.report_id)
                                  .join(Event, Event.finding_id == FindingRow.id)
                                  .join(Delivery, Delivery.event_id == Event.id)
                                  .where(Delivery.status == "pending", FindingRow.severity == "error")).first()
    assert pending is not None
    finding_id, report_id = pending
    page = _page(site)
    page.goto(site["base"] + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r"/findings"))
    page.goto(f"{site['base']}/reports/{report_id}")
    item = page.locator(f"li[data-finding='{finding_id}']")
    item.locator("input[name=note]").fill("印刷错误，已电话核实")
    item.locator("button[value=dismiss]").click()
    page.wait_for_load_state()
    assert "已驳回" in page.locator(f"li[data-finding='{finding_id}'] .status").inner_text()
    assert "印刷错误" in page.locator(f"li[data-finding='{finding_id}']").inner_text()

    capture = Capture()
    result = dispatch(sessions, {"console": capture}, Clock(T0 + timedelta(hours=1)))
    with sessions() as session:
        finding = session.get(FindingRow, finding_id)
        assert finding is not None and finding.status == "dismissed"
        states = {d.status for d in session.scalars(select(Delivery).join(Event, Event.id == Delivery.event_id)
                                                    .where(Event.finding_id == finding_id))}
    assert states == {"cancelled"} and result.cancelled >= 1 and result.sent >= 1
    assert not any(finding.message in text for text in capture.texts)
