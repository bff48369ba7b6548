"""The crawler: frozen real pages, then real crawls (Scrapy in a subprocess, Debian's chromium for the JS
sites) of the sandbox sites served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
from sqlalchemy import func, select

from crawler.listing import attachments, is_report_title, parse_list
from crawler.registry import parse_registry
from crawler.ssrf import ForbiddenAddress, check_url
from parser.extractors.html import page_published
from sandbox.sites.server import Sandbox, serve
from sandbox.sites.world import build_world
from storage import make_engine, session_factory
from storage.models import Document, DocumentVersion, Event, Site

ROOT = Path(__file__).resolve().parent.parent
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


# ---------------------------------------------------------------- frozen real pages

@pytest.mark.corpus
def test_real_trs_list_page_yields_exactly_the_expected_entries(shared: Path) -> None:
    base = "https://www.pingtan.gov.cn/zwgk/zfxxgk/zfxxgknb/index.html"
    page = parse_list("trs", base, (shared / "corpus" / "pingtan" / "list.html").read_bytes())
    expected = json.loads((shared / "corpus" / "pingtan" / "list.expected.json").read_text(encoding="utf-8"))
    assert [(e.title, e.url, e.date) for e in page.entries] == [
        (x["title"], urljoin(base, x["url"]), x["date"]) for x in expected]


@pytest.mark.corpus
def test_real_report_pages_give_their_publication_date(shared: Path) -> None:
    for path in sorted((shared / "corpus" / "pingtan").glob("pingtan20*.html")):
        published = page_published(path.read_bytes())
        assert published is not None and published > f"{path.stem[-4:]}-12-31"


def test_report_titles() -> None:
    assert is_report_title("北京市西城区人民政府2023年政府信息公开工作年度报告")
    assert is_report_title("2019年上海市人民政府办公厅政府信息公开工作年度报告")
    assert is_report_title("某局2022年度政府信息公开年报")
    assert not is_report_title("关于印发2024年政务公开工作要点的通知")
    assert not is_report_title("政府信息公开年报")  # a column name, no year


def test_hanweb_xml_and_attachments() -> None:
    xml = ('<?xml version="1.0" encoding="utf-8"?><datastore><recordset><record><![CDATA[<li><a href="/art/2024/1/'
           '20/art_1_2.html" title="某局2023年政府信息公开工作年度报告">某局2023年…</a><span>2024-01-20</span></li>]]>'
           "</record></recordset></datastore>").encode()
    page = parse_list("hanweb", "http://x.example/module/web/jpage/dataproxy.jsp", xml)
    assert [(e.url, e.date) for e in page.entries] == [("http://x.example/art/2024/1/20/art_1_2.html", "2024-01-20")]
    html = '<div class="TRS_Editor"><a href="./P0100.pdf">附件</a><a href="/x.htm">x</a></div>'.encode()
    assert attachments("http://x.example/a/t1.htm", html) == ["http://x.example/a/P0100.pdf"]


def test_ssrf_guard_refuses_non_public_addresses() -> None:
    for url in ("http://127.0.0.1/x", "http://10.0.0.1/x", "http://192.168.1.2/", "http://169.254.169.254/meta",
                "http://[::1]/", "http://224.0.0.1/", "file:///etc/passwd", "http://0.0.0.0/"):
        with pytest.raises(ForbiddenAddress):
            check_url(url, frozenset())
    check_url("http://127.0.0.1/x", frozenset({"127.0.0.1"}))


def test_registry_validation() -> None:
    sites = parse_registry("sites:\n- {key: a, agency: 某局, list_urls: ['http://x/'], platform: jsapi}\n")
    assert sites[0].browser and sites[0].option("ready_selector")
    with pytest.raises(ValueError):
        parse_registry("sites:\n- {key: a, agency: 某局, list_urls: ['http://x/'], platform: wordpress}\n")


# ---------------------------------------------------------------- the sandbox, crawled for real

@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = serve(build_world(10, seed=3))
    yield server
    server.shutdown()


def crawl(server: Sandbox, data_dir: Path, *extra: str, registry: str | None = None) -> str:
    env = {**os.environ, "NIANBAO_DATA_DIR": str(data_dir), "NIANBAO_CLOCK_URL": server.base_url +
           "/__sandbox__/clock", "NIANBAO_DATABASE_URL": f"sqlite:///{data_dir / 'nianbao.db'}"}
    env.pop("NIANBAO_NOW", None)
    command = [sys.executable, "-m", "monitor.cli", "crawl", "--once", "--allow-host", "127.0.0.1",
               "--sites", registry or server.base_url + "/__sandbox__/sites.yaml", *extra]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def stats(server: Sandbox) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(server.base_url + "/__sandbox__/stats") as response:
        return dict(json.load(response))


def manifest(server: Sandbox) -> list[dict[str, object]]:
    with urllib.request.urlopen(server.base_url + "/__sandbox__/manifest") as response:
        return list(json.load(response))


def post(server: Sandbox, action: str, **data: object) -> None:
    request = urllib.request.Request(server.base_url + f"/__sandbox__/{action}", data=json.dumps(data).encode(),
                                     method="POST")
    urllib.request.urlopen(request).read()


def backlog(data_dir: Path) -> dict[str, bool]:
    """Each NEW report's URL: whether it was kept as the site's backlog (not alerted)."""
    sessions = session_factory(make_engine(f"sqlite:///{data_dir / 'nianbao.db'}"))
    with sessions() as session:
        return {e.payload["url"]: bool(e.payload.get("backlog")) for e in session.scalars(select(Event))
                if e.kind == "NEW"}


def events(data_dir: Path) -> list[str]:
    sessions = session_factory(make_engine(f"sqlite:///{data_dir / 'nianbao.db'}"))
    with sessions() as session:
        return [e.kind for e in session.scalars(select(Event).order_by(Event.id))]


@needs_chromium
def test_sandbox_crawl_end_to_end(sandbox: Sandbox, tmp_path: Path) -> None:
    crawl(sandbox, tmp_path)
    published = manifest(sandbox)
    expected_urls = {str(m["attachment_urls"][0]) if m["attachment_urls"] else str(m["detail_url"])  # type: ignore[index]
                     for m in published}
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}"))
    with sessions() as session:
        stored = {d.url for d in session.scalars(select(Document))}
        assert stored == expected_urls  # every published report, from every platform, stored
        assert session.scalar(select(func.count()).select_from(DocumentVersion)) == len(expected_urls)  # once
        platforms = {s.platform for s in session.scalars(select(Site)) if s.last_success_at is not None}
        assert platforms == {"trs", "hanweb", "jsapi", "challenge", "plain"}
    first_events = events(tmp_path)
    assert first_events.count("NEW") == len(expected_urls)
    assert "LATE" in first_events and "FINDING" in first_events

    # an unchanged re-poll: one request per plain-HTTP site, a few hundred bytes, nothing downloaded or created
    before = stats(sandbox)
    crawl(sandbox, tmp_path)
    after = stats(sandbox)
    for key, site in sandbox.world.sites.items():
        spent = {m: after[key][m] - before.get(key, {}).get(m, 0) for m in after[key]}
        if site.platform in ("trs", "hanweb", "plain") and site.failure in ("none", "deadlink", "redirectloop"):
            assert spent["requests"] <= 1 and spent["bytes"] <= 2048, (key, site.platform, spent)
    assert events(tmp_path) == first_events

    # a new report is found on the next poll; a removed one yields REMOVED; a changed file yields REVISED
    now = sandbox.world.now
    pending = next(s for s in sandbox.world.sites.values()
                   if any(r.publish_at is None or r.publish_at > now for r in s.reports))
    hanweb = next(s for s in sandbox.world.sites.values() if s.platform == "hanweb" and s is not pending)
    plain = next(s for s in sandbox.world.sites.values() if s.platform == "plain" and s is not pending)
    assert sandbox.world.publish_next(pending.key) is not None
    removed_year = sandbox.world.visible(plain)[-1].year
    post(sandbox, "remove", site=plain.key, year=removed_year)
    post(sandbox, "revise", site=hanweb.key, year=sandbox.world.visible(hanweb)[0].year)
    crawl(sandbox, tmp_path, "--revisit-hours", "0")
    new_events = events(tmp_path)[len(first_events):]
    assert sorted(e for e in new_events if e in ("NEW", "REMOVED", "REVISED")) == ["NEW", "REMOVED", "REVISED"]


@needs_chromium
def test_failures_are_retried_and_broken_sites_and_ssrf_are_reported(sandbox: Sandbox, tmp_path: Path) -> None:
    from sandbox.sites.pages import list_path

    flaky = next(s for s in sandbox.world.sites.values() if s.failure == "flaky500")
    base = sandbox.base_url
    registry = tmp_path / "sites.yaml"

    def write(relaunched_list: str) -> None:
        registry.write_text(f"""sites:
- {{key: {flaky.key}, agency: {flaky.agency}, platform: {flaky.platform}, list_urls: ['{base}{list_path(flaky)}']}}
- {{key: relaunched, agency: 改版局, platform: trs, list_urls: ['{base}{relaunched_list}']}}
- {{key: leaky, agency: 外链局, platform: plain, list_urls: ['{base}/s/site0000/redirect-out.htm']}}
""", encoding="utf-8")

    write(list_path(sandbox.world.sites["site0000"]))
    log = crawl(sandbox, tmp_path, registry=str(registry))
    assert "refused 1" in log  # the redirect to 10.0.0.1 was never followed
    kinds = events(tmp_path)
    assert "SPIDER_BROKEN" not in kinds
    assert kinds.count("NEW") == len(sandbox.world.visible(flaky)) + len(sandbox.world.visible(
        sandbox.world.sites["site0000"]))  # the 500s were retried
    # the site is relaunched: its list no longer shows any report — broken, not "reports missing"
    write("/s/site0000/zfxxgknb/notice.htm")
    crawl(sandbox, tmp_path, registry=str(registry))
    assert events(tmp_path).count("SPIDER_BROKEN") == 1
    crawl(sandbox, tmp_path, registry=str(registry))
    assert events(tmp_path).count("SPIDER_BROKEN") == 1  # said once per breakage
    assert "REMOVED" not in events(tmp_path)  # a broken list is no evidence that reports were removed


def test_an_enormous_download_is_cancelled_and_the_crawl_goes_on(sandbox: Sandbox, tmp_path: Path) -> None:
    registry = tmp_path / "sites.yaml"
    base = sandbox.base_url
    registry.write_text(f"""sites:
- {{key: huge, agency: 巨型附件局, platform: plain, list_urls: ['{base}/s/site0004/huge-list.html']}}
- {{key: site0004, agency: {sandbox.world.sites['site0004'].agency}, platform: plain,
   list_urls: ['{base}/s/site0004/gk/ndbg.html']}}
""", encoding="utf-8")
    os.environ["NIANBAO_DOWNLOAD_MAXSIZE"] = str(8 * 1024 * 1024)
    try:
        log = crawl(sandbox, tmp_path, registry=str(registry))
    finally:
        del os.environ["NIANBAO_DOWNLOAD_MAXSIZE"]
    assert "1 errors" in log
    assert events(tmp_path).count("NEW") == len(sandbox.world.visible(sandbox.world.sites["site0004"]))


def test_a_file_fetched_but_not_stored_is_fetched_in_full_on_the_next_poll(sandbox: Sandbox, tmp_path: Path) -> None:
    """A file's validators are saved only once it is stored. A poll that fetched a file and then died (or, as
    here, could not write the archive) leaves nothing that would make the next poll hear 304 and skip it —
    neither for the file nor for the report page that links it."""
    from sandbox.sites.pages import list_path

    sandbox.world.sites["site0004"].failure = "deadlink"  # its list also shows a report page that is gone
    sandbox.world.sites["site0009"].failure = "redirectloop"
    plain_http = [s for s in sandbox.world.sites.values() if s.platform in ("trs", "hanweb", "plain")
                  and s.failure in ("none", "deadlink", "redirectloop") and sandbox.world.visible(s)]
    registry = tmp_path / "sites.yaml"
    registry.write_text("sites:\n" + "".join(
        f"- {{key: {s.key}, agency: {s.agency}, platform: {s.platform}, "
        f"list_urls: ['{sandbox.base_url}{list_path(s)}']}}\n" for s in plain_http), encoding="utf-8")
    keys = {s.key for s in plain_http}
    published = [m for m in manifest(sandbox) if m["site"] in keys]
    expected = {str(m["attachment_urls"][0]) if m["attachment_urls"] else str(m["detail_url"])  # type: ignore[index]
                for m in published}
    assert any(m["attachment_urls"] for m in published) and any(not m["attachment_urls"] for m in published)

    (tmp_path / "archive").write_text("a file where the archive's directory should be")  # every write fails
    crawl(sandbox, tmp_path, registry=str(registry))
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
    (tmp_path / "archive").unlink()
    crawl(sandbox, tmp_path, registry=str(registry))
    with sessions() as session:
        recovered = {d.url: d.published_on for d in session.scalars(select(Document))}
    assert set(recovered) == expected
    assert events(tmp_path).count("NEW") == len(expected)
    # with the dates the list and the pages give, as a poll that never failed stores them
    clean = tmp_path / "clean"
    clean.mkdir()
    crawl(sandbox, clean, registry=str(registry))
    with session_factory(make_engine(f"sqlite:///{clean / 'nianbao.db'}"))() as session:
        assert recovered == {d.url: d.published_on for d in session.scalars(select(Document))}
    assert any(recovered.values())
    # what the list showed at the first read is backlog (stored, not alerted) however late it was stored
    assert backlog(tmp_path) == backlog(clean) and any(backlog(clean).values()) and not all(backlog(clean).values())
    # and once all is stored, an unchanged poll is one request per site again (a dead link is retried only
    # after the revisit interval, not on every poll)
    before = stats(sandbox)
    crawl(sandbox, tmp_path, registry=str(registry))
    after = stats(sandbox)
    spent = {s.key: after[s.key]["requests"] - before[s.key]["requests"] for s in plain_http}
    assert all(n <= 1 for n in spent.values()), spent
