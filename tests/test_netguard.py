"""The crawler's network guard: the address test, DNS pinning, and real crawls (Scrapy, Debian's chromium) of a
hostile site on 127.0.0.1 whose pages try every path to a canary on 127.0.0.2: nothing reaches it. A pager
claiming two million pages stops at the bound."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawler import netguard
from crawler.netguard import ForbiddenAddress, check_url, refusal, resolve_checked
from domain import addresses
from sandbox.hostile_sites import Canary, HostileSite, pager_registry
from storage import make_engine, session_factory
from storage.models import Document, Site

ROOT = Path(__file__).resolve().parent.parent
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")

REFUSED = ["127.0.0.1", "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
           "100.64.0.1", "100.100.100.200", "198.18.0.1", "192.0.0.8", "224.0.0.1", "239.1.2.3", "255.255.255.255",
           "240.0.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12::1", "fec0::1", "2002:c0a8:101::1", "2002:808:808::1",
           "::ffff:127.0.0.1", "::ffff:8.8.8.8", "64:ff9b::10.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b:1::8.8.8.8",
           "2001:db8::1", "ff02::1", "100::1", "::127.0.0.1", "::8.8.8.8", "::ffff:0:7f00:1", "192.0.0.9"]
GLOBAL = ["8.8.8.8", "1.1.1.1", "202.108.22.5", "2606:4700:4700::1111", "2400:3200::1", "64:ff9b::8.8.8.8"]


def test_only_globally_routable_addresses_pass() -> None:
    assert [a for a in REFUSED if refusal(a) is None] == []
    assert [a for a in GLOBAL if refusal(a) is not None] == []
    for url in ("http://100.100.100.200/latest/meta-data", "http://[2002:a00:1::1]/", "http://[fec0::1]/",
                "http://[::ffff:10.0.0.1]/", "http://[64:ff9b::c0a8:101]/", "http://0x7f000001/",
                "http://2130706433/", "ftp://8.8.8.8/", "http://8.8.8.8:99999/"):
        with pytest.raises(ForbiddenAddress):
            check_url(url, frozenset())


def test_a_name_is_resolved_once_and_the_checked_address_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["93.184.216.34", "127.0.0.1"])  # a rebinding server: public first, then loopback

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(addresses, "_pins", {})
    assert check_url("http://rebind.example/a", frozenset()) == "93.184.216.34"
    assert resolve_checked("rebind.example", 80, frozenset()) == ["93.184.216.34"]  # pinned, not asked again
    monkeypatch.setattr(addresses, "_pins", {})
    assert resolve_checked("rebind.example", 80, frozenset({"rebind.example"})) == ["127.0.0.1"]  # allow-listed
    with pytest.raises(ForbiddenAddress, match=r"127\.0\.0\.1"):  # the pinned answer, checked for this caller
        resolve_checked("rebind.example", 80, frozenset())


def test_scrapys_resolver_refuses_and_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.internet import selectreactor
    from twisted.internet.error import DNSLookupError

    monkeypatch.setattr(addresses, "_pins", {})
    reactor = selectreactor.SelectReactor()
    resolver = netguard.PinningResolver(reactor, frozenset({"127.0.0.1"}), 5)
    resolver.install_on_reactor()
    outcomes: list[Any] = []

    def ask() -> None:
        first = reactor.resolve("localhost")  # resolves to loopback and is not allow-listed
        first.addBoth(outcomes.append)
        first.addBoth(lambda _: reactor.resolve("127.0.0.1").addBoth(outcomes.append))
        first.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(ask)
    reactor.run(installSignalHandlers=False)
    reactor.getThreadPool().stop()
    assert isinstance(outcomes[0].value, DNSLookupError) and outcomes[1] == "127.0.0.1"


@pytest.fixture
def hostile() -> Iterator[tuple[HostileSite, Canary]]:
    canary = Canary()
    site = HostileSite(canary)
    with urllib.request.urlopen(canary.base + "/probe", timeout=5) as response:  # the canary is reachable…
        assert response.status == 200
    canary.connections.clear()  # …and counts from zero
    yield site, canary
    site.shutdown()
    canary.close()


def crawl(data_dir: Path, registry: str, **env: str) -> str:
    (data_dir / "sites.yaml").write_text(registry, encoding="utf-8")
    environment = {**os.environ, "NIANBAO_DATA_DIR": str(data_dir), **env,
                   "NIANBAO_DATABASE_URL": f"sqlite:///{data_dir / 'nianbao.db'}", "NIANBAO_CRAWL_LOG_LEVEL": "WARNING"}
    environment.pop("NIANBAO_ALLOWED_HOSTS", None)
    command = [sys.executable, "-m", "monitor.cli", "crawl", "--once", "--allow-host", "127.0.0.1",
               "--sites", str(data_dir / "sites.yaml")]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@needs_chromium
def test_no_path_of_scrapy_or_the_browser_reaches_the_canary(hostile: tuple[HostileSite, Canary],
                                                              tmp_path: Path) -> None:
    site, canary = hostile
    log = crawl(tmp_path, site.registry())
    assert canary.connections == [], canary.connections
    assert "/js/d/ok.htm" in site.hits and "/js/d/hop2.htm" in site.hits  # the browser did crawl the site
    assert "/sw.js" not in site.hits  # service workers are blocked
    assert "browser refused" in log and "refused:" in log
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}"))
    with sessions() as session:
        stored = [d.url for d in session.scalars(select(Document))]
    assert stored == [site.base + "/js/d/ok.htm"]
    assert not [url for url in stored if "127.0.0.2" in url or "/d/redirect" in url or "hop" in url]


def test_a_pager_claiming_two_million_pages_stops_at_the_bound(hostile: tuple[HostileSite, Canary],
                                                                tmp_path: Path) -> None:
    site, _ = hostile
    log = crawl(tmp_path, pager_registry(site), NIANBAO_MAX_LIST_PAGES="4")
    list_pages = [h for h in site.hits if h.startswith("/pager/index")]
    assert len(list_pages) == 4, list_pages
    assert "pager-bomb: list" in log and "cut off after 4 pages" in log
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'nianbao.db'}"))
    with sessions() as session:
        site_row = session.scalars(select(Site)).one()
        assert site_row.key == "pager-bomb" and site_row.last_success_at is not None
        assert site_row.last_error is not None and "cut off after 4 pages" in site_row.last_error


def test_the_budget_bounds_requests_per_site_and_tells_the_spider() -> None:
    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import CrawlBudgetMiddleware

    class Recording(Spider):
        name = "recording"

        def __init__(self) -> None:
            super().__init__()
            self.cut: list[str] = []

        def request_cut(self, request: Request, reason: str) -> None:
            self.cut.append(request.url)

    crawler = get_crawler(Recording, {"NIANBAO_MAX_LIST_PAGES": 3, "NIANBAO_MAX_REQUESTS_PER_SITE": 5})
    crawler.spider = spider = Recording()
    budget = CrawlBudgetMiddleware.from_crawler(crawler)
    first = HtmlResponse("http://gov.example/list.htm", body=b"", request=Request(
        "http://gov.example/list.htm", meta={"site": "a", "list_url": "http://gov.example/list.htm"}))
    pages = [Request(f"http://gov.example/list_{n}.htm", meta={"site": "a", "list_url": f"list_{n}"})
             for n in range(1, 6)]
    details = [Request(f"http://gov.example/d{n}.htm", meta={"site": "a"}) for n in range(6)]
    other = [Request("http://other.example/d.htm", meta={"site": "b"})]
    passed = [r.url for r in budget.process_spider_output(first, [*pages, *details, *other], spider)]
    assert passed == [r.url for r in pages[:2] + details[:3] + other]  # 2 more list pages; 5 requests in all
    assert spider.cut == [r.url for r in pages[2:] + details[3:]]
    assert crawler.stats is not None and crawler.stats.get_value("nianbao/cut_off") == 6
    assert "cut off after 3 pages" in crawler.stats.get_value("nianbao/cut_off/a")
