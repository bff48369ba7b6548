"""The generic annual-report spider: for every site in the registry, read its list (conditional GET; a
browser only where the profile says so), follow new report entries to their detail pages and attachments,
and hand each report file to the ingest pipeline. A poll with nothing new costs one request per site."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from ..listing import attachments, parse_list
from ..registry import SiteProfile, load_registry
from ..state import CrawlState

DOCUMENT_TYPES = ("application/pdf", "application/msword", "application/vnd.openxmlformats", "application/octet",
                  "application/vnd.ms-word", "application/wps")


def _published(body: bytes, content_type: str | None) -> str | None:
    from parser.extractors.html import page_published

    return page_published(body, content_type)


def _site_keys(value: str) -> set[str]:
    """`key`, `key1,key2`, or `@path` of a file with one key per line (the scheduler's batches)."""
    if value.startswith("@"):
        with open(value[1:], encoding="utf-8") as handle:
            value = handle.read().replace("\n", ",")
    return {key.strip() for key in value.split(",") if key.strip()}


class AnnualReportSpider(scrapy.Spider):
    name = "annual_reports"

    def __init__(self, sites: str = "", site: str = "", lists_only: str = "", revisit_hours: str = "24",
                 slot_per_site: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # politeness is per host; simulated sites sharing one host ask for a slot (and delays) of their own
        self.slot_per_site = slot_per_site in ("1", "true", "yes")
        self.registry_location = sites
        self.only_sites = _site_keys(site)
        self.lists_only = lists_only in ("1", "true", "yes")
        self.revisit = timedelta(hours=float(revisit_hours))
        self.state: CrawlState | None = None
        self.profiles: dict[str, SiteProfile] = {}
        self.pending: dict[str, int] = defaultdict(int)
        self.links: dict[str, set[str]] = defaultdict(set)
        self.complete: dict[str, bool] = defaultdict(lambda: True)
        self.errors: dict[str, str] = {}
        self.known: dict[str, dict[str, Any]] = {}
        self.finished: set[str] = set()

    # ------------------------------------------------------------------ start
    async def start(self) -> Any:  # Scrapy ≥ 2.13
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[scrapy.Request]:
        settings = self.crawler.settings.get("NIANBAO_SETTINGS")
        if settings is None:
            raise RuntimeError("the NIANBAO_SETTINGS Scrapy setting is missing: crawl through `nianbao crawl`")
        self.state = self.crawler.nianbao_state = CrawlState(settings)  # type: ignore[attr-defined]
        profiles = load_registry(self.registry_location)
        if self.only_sites:
            profiles = [p for p in profiles if p.key in self.only_sites]
            if not profiles:
                raise ValueError(f"no site {', '.join(sorted(self.only_sites))} in {self.registry_location}")
        self.profiles = {p.key: p for p in profiles}
        self.state.sync(profiles)
        self.crawler.stats.set_value("nianbao/sites_total", len(profiles))
        for profile in profiles:
            self.known[profile.key] = self.state.known_pages(profile.key)
            for url in profile.list_urls:
                yield self._list_request(profile, url, first=True)

    def _list_request(self, profile: SiteProfile, url: str, *, first: bool) -> scrapy.Request:
        self.pending[profile.key] += 1
        meta: dict[str, Any] = {"site": profile.key, "list_url": url, "first_list_page": first,
                                "handle_httpstatus_list": [304], "dont_obey_robotstxt": not profile.robots,
                                **self._slot(profile.key)}
        if profile.browser:
            from scrapy_playwright.page import PageMethod

            meta.update(playwright=True, handle_httpstatus_list=[304, 412], playwright_page_methods=[
                PageMethod("wait_for_selector", profile.option("ready_selector", "a"), timeout=20_000)])
        return scrapy.Request(url, callback=self.parse_list, errback=self.list_failed, meta=meta, dont_filter=True)

    # ------------------------------------------------------------------ lists
    def parse_list(self, response: Response) -> Iterator[Any]:
        key = response.meta["site"]
        profile = self.profiles[key]
        assert self.state is not None
        try:
            if response.status == 304:
                # the list is as it was: its links are the ones it showed last time; only stored reports due
                # for a revisit (to notice silent edits) are asked for, conditionally
                known = self.known.get(key, {})
                for link in self.state.unchanged_list_links(key, response.url):
                    self.links[key].add(link)
                    seen = known.get(link)
                    if self.lists_only or seen is None or self.state.now() - seen < self.revisit:
                        self.state.touch(link)
                    else:
                        yield self._detail_request(profile, link, {"site": key, "entry": {
                            "url": link, "title": None, "date": None}})
                return
            page = parse_list(profile.platform, response.url, response.body,
                              (response.headers.get("Content-Type") or b"").decode("latin-1") or None)
            urls = [entry.url for entry in page.entries]
            self.links[key].update(urls)
            if not profile.browser:
                self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"),
                                    hashlib.sha256(response.body).hexdigest(), links=urls)
            self.crawler.stats.inc_value("nianbao/entries", len(page.entries))
            for next_url in page.next_urls:
                yield self._list_request(profile, next_url, first=False)
            if self.lists_only:
                return
            known = self.known.get(key, {})
            for entry in page.entries:
                seen = known.get(entry.url)
                if seen is not None and self.state.now() - seen < self.revisit:
                    self.state.touch(entry.url)  # stored and seen lately: not fetched again
                    continue
                if self.state.recently_dead(entry.url, self.revisit):
                    continue  # a dead link the list keeps showing: tried again after the revisit interval
                yield self._detail_request(profile, entry.url, {"site": key, "entry": entry.__dict__})
        finally:
            self._list_done(key)

    def list_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        key = request.meta["site"]
        self.complete[key] = False
        self.errors[key] = f"{request.url}: {failure.getErrorMessage()}"
        self.crawler.stats.inc_value("nianbao/list_errors")
        self.logger.warning("list of %s failed: %s", key, self.errors[key])
        self._list_done(key)

    def _list_done(self, key: str) -> None:
        self.pending[key] -= 1
        if self.pending[key] > 0 or key in self.finished:
            return
        self.finished.add(key)
        assert self.state is not None
        ok = key not in self.errors or bool(self.links[key])
        events = self.state.finish_site(key, sorted(self.links[key]), complete=self.complete[key], ok=ok,
                                        error=self.errors.get(key))
        for event in events:
            self.crawler.stats.inc_value(f"nianbao/events/{event}")
        self.crawler.stats.inc_value("nianbao/sites_done")

    # ------------------------------------------------------------------ reports
    def _slot(self, key: str) -> dict[str, Any]:
        return {"download_slot": f"site:{key}"} if self.slot_per_site else {}

    def _detail_request(self, profile: SiteProfile, url: str, meta: dict[str, Any]) -> scrapy.Request:
        meta = {**meta, "handle_httpstatus_list": [304], **self._slot(profile.key)}
        if profile.browser and profile.option("browser_details", True):
            from scrapy_playwright.page import PageMethod

            # behind a JavaScript challenge the first answer is 412 and a script that reloads the page
            meta.update(playwright=True, handle_httpstatus_list=[304, 412], playwright_page_methods=[
                PageMethod("wait_for_load_state", "networkidle")])
        return scrapy.Request(url, callback=self.parse_detail, errback=self.detail_failed, meta=meta)

    def parse_detail(self, response: Response) -> Iterator[Any]:
        key = response.meta["site"]
        entry = response.meta["entry"]
        assert self.state is not None
        if response.url.startswith("chrome-error:"):
            # the browser's navigation failed (a challenge's reload raced it): once more, then give up for now
            if not response.meta.get("browser_retry"):
                yield response.request.replace(url=entry["url"], dont_filter=True,  # type: ignore[union-attr]
                                               meta={**response.meta, "browser_retry": True})
            else:
                self.crawler.stats.inc_value("nianbao/document_errors")
                self.logger.warning("report %s: the browser could not load it", entry["url"])
            return
        if response.status == 304:
            # the page is as it was; its files may still have been replaced: ask for them conditionally
            self.state.touch(entry["url"])
            for url in self.state.documents_for_page(entry["url"]):
                if url != response.url:
                    yield scrapy.Request(url, callback=self.parse_attachment, errback=self.detail_failed,
                                         meta={"site": key, "entry": entry, "handle_httpstatus_list": [304],
                                               "published": None, **self._slot(key)})
            return
        if response.status == 412 and (not response.meta.get("playwright") or _still_challenged(response.body)):
            self.crawler.stats.inc_value("nianbao/document_errors")
            self.logger.warning("report %s: the site's JavaScript challenge was not passed", response.url)
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        if _is_document(response.body, content_type):
            yield self._item(key, entry, response.url, response.body, content_type, entry.get("date"))
            self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"), None)
            return
        published = _published(response.body, content_type) or entry.get("date")
        files = attachments(response.url, response.body, content_type)
        if not files:
            yield self._item(key, entry, response.url, response.body, content_type, published)
        for url in files:
            yield scrapy.Request(url, callback=self.parse_attachment, errback=self.detail_failed,
                                 meta={"site": key, "entry": entry, "published": published,
                                       "handle_httpstatus_list": [304], **self._slot(key)})
        self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"), None)

    def parse_attachment(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        yield self._item(response.meta["site"], response.meta["entry"], response.url, response.body, content_type,
                         response.meta.get("published"))
        assert self.state is not None
        self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"), None)

    def detail_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.crawler.stats.inc_value("nianbao/document_errors")
        response = getattr(failure.value, "response", None)
        if self.state is not None:
            self.state.mark_dead(request.url, str(response.status) if response is not None else
                                 type(failure.value).__name__)
        self.logger.warning("report %s failed: %s", request.url, failure.getErrorMessage())

    def _item(self, key: str, entry: dict[str, Any], url: str, body: bytes, content_type: str,
              published: str | None) -> dict[str, Any]:
        profile = self.profiles[key]
        self.crawler.stats.inc_value("nianbao/reports_found")
        return {"site": key, "agency": profile.agency, "region": profile.region, "kind": profile.kind, "url": url,
                "page_url": entry["url"], "title": entry["title"], "published": published, "body": body,
                "content_type": content_type or None}


def _still_challenged(body: bytes) -> bool:
    """The browser's final page is still the challenge (a short page whose script reloads itself)."""
    return len(body) < 8000 and b"location.reload" in body


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _is_document(body: bytes, content_type: str) -> bool:
    head = body[:8]
    return content_type.startswith(DOCUMENT_TYPES) or head.startswith((b"%PDF", b"PK\x03\x04",
                                                                        b"\xd0\xcf\x11\xe0")) or \
        bool(re.match(rb"\s*%PDF", head))
