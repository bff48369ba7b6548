"""Cheap polling of JavaScript and challenge sites (learned JSON APIs, kept clearance cookies) and discovery of
registry entries from portals: the pure parts, then the sandbox crawled for real (chromium, Scrapy in a
subprocess), then the frozen real Pingtan list served over HTTP."""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from sqlalchemy import select

from crawler.apishortcut import CapturedResponse, learn, read_api
from crawler.cookies import clearance, cookie_header, is_challenge
from crawler.discovery import Fetcher, agency_from_page, discover, link_kind, recognise_column, site_key
from crawler.listing import Entry, parse_list
from crawler.registry import parse_registry
from monitor.sites_discover import read_agencies
from sandbox.sites import pages
from sandbox.sites.server import Sandbox, serve
from sandbox.sites.world import SandboxReport, build_world
from storage import make_engine, session_factory
from storage.models import Document, Event

ROOT = Path(__file__).resolve().parent.parent
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
BASE = "http://gov.example/s/a/nb/"


# ---------------------------------------------------------------- pure parts

def _exchange(url: str, body: object, status: int = 200) -> CapturedResponse:
    return CapturedResponse(url=url, method="GET", post_data=None, request_content_type=None, status=status,
                            content_type="application/json", body=json.dumps(body, ensure_ascii=False).encode())


RENDERED = [Entry("某局2024年政府信息公开工作年度报告", "http://gov.example/s/a/nb/1002.html", "2025-01-20"),
            Entry("某局2023年政府信息公开工作年度报告", "http://gov.example/s/a/nb/1001.html", "2024-01-19")]
RECORDS = [{"id": 7, "docTitle": "某局2024年政府信息公开工作年度报告", "docUrl": "/s/a/nb/1002.html",
            "pubDate": "2025-01-20 09:00:00", "channel": "年报"},
           {"id": 6, "docTitle": "某局2023年政府信息公开工作年度报告", "docUrl": "/s/a/nb/1001.html",
            "pubDate": "2024-01-19 09:00:00", "channel": "年报"},
           {"id": 5, "docTitle": "关于印发政务公开工作要点的通知", "docUrl": "/s/a/nb/notice.html",
            "pubDate": "2024-04-01 09:00:00", "channel": "通知"}]


def test_the_api_that_fills_the_list_is_learned_and_read_until_its_shape_changes() -> None:
    captured = [_exchange("http://gov.example/api/menu.json", {"menu": [{"name": "首页", "url": "/"}]}),
                _exchange("http://gov.example/api/stats", {"visits": 12}),
                _exchange("http://gov.example/s/a/api/v2/articles?pageNo=1",
                          {"code": 200, "data": {"total": 3, "records": RECORDS}})]
    shown = {e.url: e.title for e in RENDERED} | {
        "http://gov.example/s/a/nb/notice.html": "关于印发政务公开工作要点的通知", "http://gov.example/": "首页"}
    shortcut = learn(captured, BASE, RENDERED, shown)
    assert shortcut is not None
    assert (shortcut.url, shortcut.items_path, shortcut.title_key, shortcut.url_key, shortcut.date_key) == (
        "http://gov.example/s/a/api/v2/articles?pageNo=1", ("data", "records"), "docTitle", "docUrl", "pubDate")
    again = read_api(shortcut, json.dumps({"code": 200, "data": {"records": RECORDS[:1]}}).encode())
    assert again is not None and [(e.url, e.date) for e in again.entries] == [
        ("http://gov.example/s/a/nb/1002.html", "2025-01-20")]
    # the same URL now answers in another shape, or with an HTML error page: the shortcut no longer holds
    moved = [{"name": r["docTitle"], "link": r["docUrl"], "time": r["pubDate"]} for r in RECORDS]
    assert read_api(shortcut, json.dumps({"result": {"list": moved}}).encode()) is None
    assert read_api(shortcut, b"<html><body>404</body></html>") is None
    # an answer that misses links the rendered page shows as reports is no shortcut
    assert learn([_exchange("http://gov.example/api/x", {"items": RECORDS[2:]})], BASE, RENDERED, shown) is None
    assert learn(captured, BASE, [], {}) is None
    # a column that lists no report yet: its API is learned from the links it does show
    empty = learn([_exchange("http://gov.example/api/x", {"items": RECORDS[2:]})], BASE, [], shown)
    assert empty is not None and read_api(empty, json.dumps({"items": RECORDS[2:]}).encode()) is not None


def test_clearance_cookies_apply_to_their_site_until_they_expire() -> None:
    kept = clearance([{"name": "__nbwaf_a", "value": "123.456", "domain": "127.0.0.1", "path": "/s/a/",
                       "expires": 10_000.0}, {"name": "sid", "value": "x", "domain": "127.0.0.1", "path": "/",
                                              "expires": -1}])
    assert kept["expires"] == 10_000.0
    assert cookie_header(kept, "http://127.0.0.1:8765/s/a/nb/", 5_000) == "__nbwaf_a=123.456; sid=x"
    assert cookie_header(kept, "http://127.0.0.1:8765/s/b/nb/", 5_000) == "sid=x"
    assert cookie_header(kept, "http://other.example/s/a/", 5_000) is None
    assert cookie_header(kept, "http://127.0.0.1:8765/s/a/nb/", 9_990) is None  # about to expire: renew
    challenge = b"<script>document.cookie='k=1; path=/';location.reload();</script>"
    assert is_challenge(412, challenge) and is_challenge(521, challenge) and not is_challenge(412, b"<p>x</p>")


def test_navigation_vocabulary() -> None:
    for name in ("政府信息公开年报", "信息公开年报", "年度报告", "政府信息公开工作年度报告", "政务公开年报"):
        assert link_kind(name, "http://x/")[0] == "column", name
    for name in ("2024年度法治政府建设年度报告", "法治政府建设年度报告", "政府信息公开指南", "预决算公开",
                 "某局2023年政府信息公开工作年度报告"):
        assert link_kind(name, "http://x/")[0] is None, name
    assert link_kind("政府信息公开", "http://x/zwgk/")[0] == "section"
    assert link_kind("法定主动公开内容", "http://x/")[0] == "subsection"
    page = ('<html><head><title>首页_淮安市洪泽区人民政府</title></head><body>'
            '<p>主办单位：淮安市洪泽区人民政府办公室</p></body></html>').encode()
    assert agency_from_page(page) == ("淮安市洪泽区人民政府", "title")
    assert site_key("https://www.pingtan.gov.cn/zwgk/") == "pingtan"
    assert site_key("http://127.0.0.1:8765/s/site0003/") == "site0003"
    script = b"<ul id='list'></ul><script>fetch('/s/a/api/list.json').then(r => r.json())</script>"
    column = recognise_column("http://x/s/a/nb/", 200, script)
    assert (column.platform, column.api_url) == ("jsapi", "http://x/s/a/api/list.json")


def test_agencies_csv_rows() -> None:
    rows = read_agencies("agency,portal,region,kind\n某局,https://a.gov.cn/,淮安,department\n\n乙局,ftp://x,,\n")
    assert [(r.line, r.agency, r.url, r.region, r.kind) for r in rows] == [
        (2, "某局", "https://a.gov.cn/", "淮安", "department"), (4, "乙局", "ftp://x", None, None)]


# ---------------------------------------------------------------- the sandbox, crawled for real

@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # one site per platform, HTML reports only (the formats are tested elsewhere): fast to crawl
    server = serve(build_world(5, seed=7, years=2, formats=("html",)))
    yield server
    server.shutdown()


def nianbao(server: Sandbox, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NIANBAO_DATA_DIR": str(data_dir), "NIANBAO_CLOCK_URL": server.base_url +
           "/__sandbox__/clock", "NIANBAO_DATABASE_URL": f"sqlite:///{data_dir / 'nianbao.db'}"}
    env.pop("NIANBAO_NOW", None)
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def crawl(server: Sandbox, data_dir: Path, registry: Path) -> str:
    result = nianbao(server, data_dir, "crawl", "--once", "--allow-host", "127.0.0.1", "--sites", str(registry))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def control(server: Sandbox, path: str, **data: object) -> object:
    request = urllib.request.Request(server.base_url + path, data=json.dumps(data).encode() if data else None,
                                     method="POST" if data else "GET")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def spent(server: Sandbox, before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    after: dict[str, dict[str, int]] = control(server, "/__sandbox__/stats")  # type: ignore[assignment]
    return {key: {m: after.get(key, {}).get(m, 0) - before.get(key, {}).get(m, 0) for m in ("requests", "bytes")}
            for key in server.world.sites}


def stored_urls(data_dir: Path) -> set[str]:
    with session_factory(make_engine(f"sqlite:///{data_dir / 'nianbao.db'}"))() as session:
        return set(session.scalars(select(Document.url)))


def event_kinds(data_dir: Path) -> list[str]:
    with session_factory(make_engine(f"sqlite:///{data_dir / 'nianbao.db'}"))() as session:
        return [e.kind for e in session.scalars(select(Event).order_by(Event.id))]


def expected_urls(server: Sandbox) -> set[str]:
    return {str(m["attachment_urls"][0]) if m["attachment_urls"] else str(m["detail_url"])  # type: ignore[index]
            for m in control(server, "/__sandbox__/manifest")}  # type: ignore[union-attr]


def test_discovery_is_bounded_polite_and_guarded(sandbox: Sandbox) -> None:
    portal = f"{sandbox.base_url}/s/site0000/"
    refused = discover(portal, Fetcher(frozenset()))  # 127.0.0.1 is not a public address
    assert not refused.columns and refused.requests == 0 and "non-public address" in (refused.why_not or "")
    polite = Fetcher(frozenset({"127.0.0.1"}), max_requests=2)
    assert not polite.allowed_by_robots(f"{sandbox.base_url}/private/zfxxgknb/index.html")  # robots.txt says so
    bounded = discover(f"{sandbox.base_url}/s/site0001/", polite)  # its column is 3 levels down
    assert bounded.requests == 2 and not bounded.columns and "2 requests" in (bounded.why_not or "")


def test_sites_discover_prints_entries_with_evidence_and_says_when_there_is_no_column(sandbox: Sandbox,
                                                                                      tmp_path: Path) -> None:
    trs = f"{sandbox.base_url}/s/site0000/"
    none = f"{sandbox.base_url}/s/nocolumn/"
    result = nianbao(sandbox, tmp_path, "sites", "discover", trs, none, "--json", "--allow-host", "127.0.0.1")
    assert result.returncode == 2, result.stderr[-2000:]
    found = json.loads(result.stdout)
    site = sandbox.world.sites["site0000"]
    [entry] = found["sites"]
    assert (entry["key"], entry["agency"], entry["region"], entry["platform"], entry["list_urls"]) == (
        "site0000", site.agency, site.region, "trs", [sandbox.base_url + pages.list_path(site)])
    assert entry["discovery"]["evidence"][0] == trs and entry["discovery"]["confidence"] >= 0.9
    assert entry["discovery"]["evidence"][-1].startswith("政府信息公开年报 → ")
    assert [row["url"] for row in found["unresolved"]] == [none]
    as_yaml = nianbao(sandbox, tmp_path, "sites", "discover", none, "--allow-host", "127.0.0.1")
    assert as_yaml.stdout.startswith("sites: []") and "# unresolved: " + none in as_yaml.stdout


@pytest.mark.slow
@needs_chromium
def test_discovered_registry_crawls_every_platform_and_repolls_cheaply(sandbox: Sandbox, tmp_path: Path) -> None:
    portals: list[dict[str, str | None]] = control(sandbox, "/__sandbox__/portals")  # type: ignore[assignment]
    agencies = tmp_path / "agencies.csv"
    with agencies.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["agency", "portal_url", "region", "kind"])
        for portal in portals:
            writer.writerow([portal["agency"], portal["portal_url"], "", ""])
    result = nianbao(sandbox, tmp_path, "sites", "import", str(agencies), "--allow-host", "127.0.0.1",
                     "--output", str(tmp_path / "found.yaml"), "--report", str(tmp_path / "unresolved.csv"))
    assert result.returncode == 2, result.stderr[-2000:]  # one portal has no column: reported, not invented
    assert f"[{len(portals)}/{len(portals)}]" in result.stderr
    found = {site.key: site for site in parse_registry((tmp_path / "found.yaml").read_text(encoding="utf-8"))}
    with (tmp_path / "unresolved.csv").open(encoding="utf-8") as handle:
        unresolved = list(csv.DictReader(handle))
    assert [row["portal_url"] for row in unresolved] == [p["portal_url"] for p in portals if p["list_url"] is None]
    assert "no annual-report column" in unresolved[0]["why"]
    for portal in portals:
        if portal["list_url"] is None:
            continue
        site = found[str(portal["key"])]
        assert (site.platform, site.agency, site.region) == (portal["platform"], portal["agency"], portal["region"])
        if site.platform == "hanweb":  # the column page's own dataproxy request, with its parameters
            assert site.list_urls[0].split("?")[0] == str(portal["list_url"]).split("?")[0]
        else:
            assert site.list_urls == (portal["list_url"],)
    assert len(found) == len(sandbox.world.sites)

    # the discovered entries crawl to every published report (what the hand-written registry reads)
    registry = tmp_path / "found.yaml"
    log = crawl(sandbox, tmp_path, registry)
    assert stored_urls(tmp_path) == expected_urls(sandbox)
    assert "APIs learned 2" in log and "cookies learned 1" in log, log

    # an unchanged re-poll: one conditional request per site, a few hundred bytes, and no browser at all
    before = control(sandbox, "/__sandbox__/stats")
    log = crawl(sandbox, tmp_path, registry)
    cost = spent(sandbox, before)  # type: ignore[arg-type]
    assert all(c["requests"] >= 1 for c in cost.values()), cost  # every site was polled
    assert sum(c["requests"] for c in cost.values()) / len(cost) <= 1.05, cost
    assert sum(c["bytes"] for c in cost.values()) / len(cost) <= 2048, cost
    assert "browser launches 0," in log and "lists via learned API 2" in log, log
    kinds = event_kinds(tmp_path)

    # the JS site's API moves (its old URL answers 404) as a report is published: re-learned, nothing lost;
    # the challenge site's API answers in another shape and its WAF voids every clearance: renewed once
    jsapi = next(s for s in sandbox.world.sites.values() if s.platform == "jsapi")
    challenge = next(s for s in sandbox.world.sites.values() if s.platform == "challenge")
    control(sandbox, "/__sandbox__/api", site=jsapi.key, change="url")
    control(sandbox, "/__sandbox__/api", site=challenge.key, change="shape")
    control(sandbox, "/__sandbox__/challenge", site=challenge.key)
    jsapi.reports.append(SandboxReport(site=jsapi.key, year=jsapi.reports[-1].year + 1, seed=99, format="html",
                                       publish_at=sandbox.world.now, doc_id=990_001))
    log = crawl(sandbox, tmp_path, registry)
    assert "shortcut fallbacks 2" in log and "APIs learned 2" in log and "cookies learned 1" in log, log
    assert "browser launches 1," in log, log
    assert stored_urls(tmp_path) == expected_urls(sandbox)
    assert event_kinds(tmp_path)[len(kinds):].count("NEW") == 1
    assert "REMOVED" not in event_kinds(tmp_path)

    # and the next unchanged poll is cheap again, through the re-learned API and the renewed cookie
    before = control(sandbox, "/__sandbox__/stats")
    log = crawl(sandbox, tmp_path, registry)
    cost = spent(sandbox, before)  # type: ignore[arg-type]
    assert cost[jsapi.key]["requests"] == cost[challenge.key]["requests"] == 1, cost
    assert "browser launches 0," in log, log
    assert pages.api_path(jsapi).startswith("/api/v")

    # `sites check` says whether each site's learned shortcuts still hold
    result = nianbao(sandbox, tmp_path, "sites", "check", "--allow-host", "127.0.0.1", "--sites", str(registry))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith((jsapi.key, challenge.key))]
    assert any(" api " in line and "holds" in line and "re-learned (HTTP 404)" in line for line in lines), lines
    assert any(" cookie " in line and "holds" in line and "renewed (challenged)" in line for line in lines), lines


@pytest.mark.slow
@needs_chromium
def test_a_static_list_behind_a_challenge_is_polled_over_http_with_the_kept_cookie(sandbox: Sandbox,
                                                                                    tmp_path: Path) -> None:
    site = next(s for s in sandbox.world.sites.values() if s.platform == "challenge")
    site.static_list = True  # past the challenge its list is plain HTML: no API to learn
    registry = tmp_path / "sites.yaml"
    registry.write_text(yaml.safe_dump({"sites": [e for e in sandbox.registry()["sites"] if e["key"] == site.key]},
                                       allow_unicode=True), encoding="utf-8")
    log = crawl(sandbox, tmp_path, registry)
    assert "cookies learned 1" in log and "learned 1" in log.split("over HTTP")[-1], log
    published = {u for u in expected_urls(sandbox) if f"/s/{site.key}/" in u}
    assert published and stored_urls(tmp_path) == published

    before = control(sandbox, "/__sandbox__/stats")
    log = crawl(sandbox, tmp_path, registry)
    assert spent(sandbox, before)[site.key] == {"requests": 1, "bytes": 0}  # a 304, with the cookie
    assert "browser launches 0," in log and "lists past a challenge over HTTP 1" in log, log

    # the WAF voids the clearance and gives only short-lived ones from now on: renewed once, in the browser
    control(sandbox, "/__sandbox__/challenge", site=site.key, max_age=30)
    before = control(sandbox, "/__sandbox__/stats")
    log = crawl(sandbox, tmp_path, registry)
    assert "browser launches 1," in log and "cookies learned 1" in log and "shortcut fallbacks 1" in log, log
    assert spent(sandbox, before)[site.key]["requests"] == 3  # the refused poll, the challenge, the list
    # the new clearance expires within the minute: the next pass does not try it, it goes to the browser
    before = control(sandbox, "/__sandbox__/stats")
    log = crawl(sandbox, tmp_path, registry)
    assert "browser launches 1," in log and "shortcut fallbacks 0" in log, log
    assert spent(sandbox, before)[site.key]["requests"] == 2  # the challenge and the list: no request wasted
    assert stored_urls(tmp_path) == published


# ---------------------------------------------------------------- the frozen real Pingtan column

@pytest.mark.corpus
def test_discovery_from_the_real_pingtan_column_reads_all_ten_reports(shared: Path, tmp_path: Path) -> None:
    column = tmp_path / "zwgk" / "zfxxgk" / "zfxxgknb"
    column.mkdir(parents=True)
    shutil.copy(shared / "corpus" / "pingtan" / "list.html", column / "index.html")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/zwgk/zfxxgk/zfxxgknb/index.html"
        found = discover(url, Fetcher(frozenset({"127.0.0.1"}), browser=False))
        entries = found.entries()
        assert len(entries) == 1, found.why_not
        entry = entries[0]
        assert (entry["platform"], entry["list_urls"], entry["agency"]) == ("trs", [url], "平潭综合实验区党工委管委会")
        assert entry["discovery"]["reports_seen"] == 10 and entry["discovery"]["confidence"] >= 0.9
        site = parse_registry(yaml.safe_dump({"sites": entries}, allow_unicode=True))[0]
        with urllib.request.urlopen(site.list_urls[0]) as response:
            page = parse_list(site.platform, site.list_urls[0], response.read())
        expected = json.loads((shared / "corpus" / "pingtan" / "list.expected.json").read_text(encoding="utf-8"))
        assert [(e.title, e.url, e.date) for e in page.entries] == [
            (x["title"], urljoin(url, x["url"]), x["date"]) for x in expected]
    finally:
        server.shutdown()
