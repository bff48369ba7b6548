"""The generic annual-report spider: for every site in the registry, read its list (conditional GET; a
browser only where the profile says so), follow new report entries to their detail pages and attachments,
and hand each report file to the ingest pipeline. A poll with nothing new costs one request per site."""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import scrapy
from scrapy import signals
from scrapy.http import Response
from twisted.python.failure import Failure

from .. import shortcuts
from ..apishortcut import ApiShortcut, read_api
from ..cookies import is_challenge
from ..listing import ListPage, anchors, attachments, parse_list
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
        self.learned: dict[str, shortcuts.Learned] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> AnnualReportSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    def request_dropped(self, request: scrapy.Request, spider: Any = None) -> None:
        """A report link that redirects in a circle ends here (the redirect back is a duplicate): a dead link,
        tried again after the revisit interval like any other."""
        if self.state is not None and "entry" in request.meta and request.url in request.meta.get("redirect_urls", []):
            self.crawler.stats.inc_value("nianbao/document_errors")
            for url in _asked(request):
                self.state.mark_dead(url, "redirect loop")
            self.logger.warning("report %s redirects in a circle", request.meta["redirect_urls"][0])

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
            self.learned[profile.key] = shortcuts.Learned.load(self.state, profile.key)
            for url in profile.list_urls:
                yield self._first_list_request(profile, url)

    def _first_list_request(self, profile: SiteProfile, url: str) -> scrapy.Request:
        """A browser site's list through its learned JSON API (with its clearance cookie if it has a
        challenge) when it has one; the browser (which learns them) otherwise."""
        learned = self.learned[profile.key]
        api = learned.api_for(url) if profile.browser else None
        cookie = learned.cookie_for(url, time.time())
        if learned.challenged and cookie is None:
            return self._list_request(profile, url, first=True)
        if api is None and url in learned.static and profile.browser:
            return self._list_request(profile, url, first=True, browser=False, cookie=cookie)
        if api is None:
            return self._list_request(profile, url, first=True)
        self.pending[profile.key] += 1
        headers = {"Accept": "application/json, text/javascript, */*; q=0.01", "X-Requested-With": "XMLHttpRequest",
                   "Referer": url}
        if api.body_content_type:
            headers["Content-Type"] = api.body_content_type
        meta: dict[str, Any] = {"site": profile.key, "list_url": url, "first_list_page": True, "api": api,
                                "handle_httpstatus_list": [304, 403, 404, 410, 412, 521],
                                "dont_obey_robotstxt": not profile.robots, **self._slot(profile.key)}
        if cookie:
            headers["Cookie"] = cookie
            meta["dont_merge_cookies"] = True
        return scrapy.Request(api.url, method=api.method, body=api.body, headers=headers, callback=self.parse_api,
                              errback=self.api_failed, meta=meta, dont_filter=True)

    def _list_request(self, profile: SiteProfile, url: str, *, first: bool, browser: bool | None = None,
                      cookie: str | None = None) -> scrapy.Request:
        self.pending[profile.key] += 1
        meta: dict[str, Any] = {"site": profile.key, "list_url": url, "first_list_page": first,
                                "handle_httpstatus_list": [304], "dont_obey_robotstxt": not profile.robots,
                                **self._slot(profile.key)}
        if profile.browser and browser is False:
            # a list that is plain HTML past the challenge: over HTTP, with the kept clearance
            meta.update(static_shortcut=True, handle_httpstatus_list=[304, 403, 412, 521])
            headers = {"Cookie": cookie} if cookie else {}
            if cookie:
                meta["dont_merge_cookies"] = True
            return scrapy.Request(url, callback=self.parse_list, errback=self.api_failed, meta=meta, headers=headers,
                                  dont_filter=True)
        if profile.browser:
            from scrapy_playwright.page import PageMethod

            # the browser's XHR/fetch answers are recorded: the one that fills the list becomes the shortcut
            captured: list[Any] = []

            def record(answer: Any) -> None:  # a plain function: playwright tags its handlers
                captured.append(answer)

            meta.update(playwright=True, handle_httpstatus_list=[304, 412], playwright_page_methods=[
                PageMethod("wait_for_selector", profile.option("ready_selector", "a"), timeout=20_000)],
                playwright_include_page=True, playwright_page_event_handlers={"response": record},
                captured=captured)
            self.crawler.stats.inc_value("nianbao/browser_lists")
            return scrapy.Request(url, callback=self.parse_browser_list, errback=self.browser_list_failed, meta=meta,
                                  dont_filter=True)
        return scrapy.Request(url, callback=self.parse_list, errback=self.list_failed, meta=meta, dont_filter=True)

    # ------------------------------------------------------------------ learned shortcuts
    async def parse_browser_list(self, response: Response) -> Any:
        page = response.meta.pop("playwright_page", None)
        visit = shortcuts.BrowserVisit()
        cookies: list[Any] = []
        if page is not None:
            try:
                visit = await shortcuts.captured_exchanges(response.meta.get("captured", []))
                cookies = await page.context.cookies([response.url])
            finally:
                await page.close()
        key = response.meta["site"]
        assert self.state is not None
        page_read = parse_list(self.profiles[key].platform, response.url, response.body, None)
        status = 412 if visit.challenged or self.profiles[key].platform == "challenge" else response.status
        for event in self.learned[key].after_browser(self.state, response.meta["list_url"], response.url,
                                                     status, visit.exchanges, cookies, page_read.entries,
                                                     anchors(response.url, response.body), visit.document,
                                                     visit.document_validators):
            self.crawler.stats.inc_value(f"nianbao/shortcuts/{event}")
        for output in self.parse_list(response):
            yield output

    async def browser_list_failed(self, failure: Failure) -> None:
        page = failure.request.meta.pop("playwright_page", None)  # type: ignore[attr-defined]
        if page is not None:
            await page.close()
        self.list_failed(failure)

    def parse_api(self, response: Response) -> Iterator[Any]:
        key = response.meta["site"]
        profile = self.profiles[key]
        api: ApiShortcut = response.meta["api"]
        learned = self.learned[key]
        assert self.state is not None
        try:
            if response.status == 304:
                self.crawler.stats.inc_value("nianbao/shortcuts/api_used")
                learned.held(self.state)
                yield from self._unchanged_list(profile, api.url, response)
                return
            page = read_api(api, response.body) if response.status == 200 else None
            had_links = bool(self.state.unchanged_list_links(key, api.url))
            if page is None or (not page.entries and had_links):
                why = shortcuts.why_failed(response.status, response.body, page)
                self.crawler.stats.inc_value("nianbao/shortcuts/fallback")
                self.logger.info("site %s: the learned list API no longer holds (%s); back to the browser", key, why)
                learned.failed(self.state, "cookie" if why == "challenged" else "api", why)
                yield self._list_request(profile, response.meta["list_url"], first=True)
                return
            self.crawler.stats.inc_value("nianbao/shortcuts/api_used")
            learned.held(self.state)
            # under the request's URL, which the next poll asks for (whatever it redirected to)
            self.state.remember(api.url, _header(response, "ETag"), _header(response, "Last-Modified"),
                                hashlib.sha256(response.body).hexdigest(), links=[e.url for e in page.entries])
            yield from self._entries_read(profile, page)
        finally:
            self._list_done(key)

    def api_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        request = failure.request  # type: ignore[attr-defined]
        key = request.meta["site"]
        assert self.state is not None
        self.crawler.stats.inc_value("nianbao/shortcuts/fallback")
        self.learned[key].failed(self.state, "static" if request.meta.get("static_shortcut") else "api",
                                 failure.getErrorMessage()[:200])
        yield self._list_request(self.profiles[key], request.meta["list_url"], first=True)
        self._list_done(key)

    # ------------------------------------------------------------------ lists
    def parse_list(self, response: Response) -> Iterator[Any]:
        key = response.meta["site"]
        profile = self.profiles[key]
        assert self.state is not None
        try:
            static = bool(response.meta.get("static_shortcut"))
            if response.status == 304:
                if static:
                    self.crawler.stats.inc_value("nianbao/shortcuts/static_used")
                    self.learned[key].held(self.state, "static")
                yield from self._unchanged_list(profile, response.url, response)
                return
            page = parse_list(profile.platform, response.url, response.body,
                              (response.headers.get("Content-Type") or b"").decode("latin-1") or None)
            if static and (response.status != 200 or is_challenge(response.status, response.body) or (
                    not page.entries and self.state.unchanged_list_links(key, response.url))):
                why = shortcuts.why_failed(response.status, response.body, page)
                self.crawler.stats.inc_value("nianbao/shortcuts/fallback")
                self.learned[key].failed(self.state, "cookie" if why == "challenged" else "static", why)
                yield self._list_request(profile, response.meta["list_url"], first=True)
                return
            if static:
                self.crawler.stats.inc_value("nianbao/shortcuts/static_used")
                self.learned[key].held(self.state, "static")
            if not response.meta.get("playwright"):
                self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"),
                                    hashlib.sha256(response.body).hexdigest(), links=[e.url for e in page.entries])
            for next_url in page.next_urls:
                yield self._list_request(profile, next_url, first=False)
            yield from self._entries_read(profile, page)
        finally:
            self._list_done(key)

    def _unchanged_list(self, profile: SiteProfile, url: str, response: Response) -> Iterator[scrapy.Request]:
        """The list is as it was: its links are the ones it showed last time; only stored reports due for a
        revisit (to notice silent edits) are asked for, conditionally. A link whose report is not stored (its
        download failed, or the crawl died before storing it) is not left behind: the list is read again in
        full, once, so the report is fetched with the title and date the list gives it."""
        assert self.state is not None
        key = profile.key
        known = self.known.get(key, {})
        links = self.state.unchanged_list_links(key, url)
        unstored = [] if self.lists_only else self.state.unfinished(
            [link for link in links if link not in known], self.revisit)
        again = self._in_full(response) if unstored else None
        if again is not None:
            self.crawler.stats.inc_value("nianbao/lists_read_again")
            self.pending[key] += 1
            yield again
            return
        for link in links:
            self.links[key].add(link)
            seen = known.get(link)
            if link in unstored or (not self.lists_only and seen is not None and
                                    self.state.now() - seen >= self.revisit):
                yield self._detail_request(profile, link, {"site": key, "entry": {
                    "url": link, "title": None, "date": None}})
            else:
                self.state.touch(link)

    @staticmethod
    def _in_full(response: Response) -> scrapy.Request | None:
        """`response`'s request again without validators (once): the server's 304 stands for what was read
        last time, and part of that was never stored."""
        request = response.request
        if request is None or not response.meta.get("conditional", True):
            return None
        headers = request.headers.copy()
        for name in ("If-None-Match", "If-Modified-Since"):
            headers.pop(name, None)
        return request.replace(headers=headers, dont_filter=True, meta={**response.meta, "conditional": False})

    def _entries_read(self, profile: SiteProfile, page: ListPage) -> Iterator[scrapy.Request]:
        assert self.state is not None
        key = profile.key
        self.links[key].update(entry.url for entry in page.entries)
        self.crawler.stats.inc_value("nianbao/entries", len(page.entries))
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

    def request_cut(self, request: scrapy.Request, reason: str) -> None:
        """The poll's budget (crawler.middlewares.CrawlBudgetMiddleware) dropped `request`: the site's list is
        incomplete, the reason is the site's status, and a dropped list page is no longer awaited."""
        key = request.meta["site"]
        self.complete[key] = False
        self.errors.setdefault(key, reason)
        if "list_url" in request.meta:
            self.pending[key] -= 1

    # ------------------------------------------------------------------ reports
    def _slot(self, key: str) -> dict[str, Any]:
        return {"download_slot": f"site:{key}"} if self.slot_per_site else {}

    def _detail_request(self, profile: SiteProfile, url: str, meta: dict[str, Any], *,
                        browser: bool | None = None) -> scrapy.Request:
        meta = {**meta, "handle_httpstatus_list": [304], **self._slot(profile.key)}
        headers: dict[str, str] = {}
        cookie = self.learned[profile.key].cookie_for(url, time.time()) if profile.key in self.learned else None
        if browser is None:
            browser = profile.browser and profile.option("browser_details", True) and cookie is None
        if cookie and not browser:
            # past the challenge over plain HTTP with the kept clearance; a 412 sends it to the browser
            headers["Cookie"] = cookie
            meta.update(dont_merge_cookies=True, handle_httpstatus_list=[304, 412])
        if browser:
            from scrapy_playwright.page import PageMethod

            # behind a JavaScript challenge the first answer is 412 and a script that reloads the page
            meta.update(playwright=True, handle_httpstatus_list=[304, 412], playwright_page_methods=[
                PageMethod("wait_for_load_state", "networkidle")])
        return scrapy.Request(url, callback=self.parse_detail, errback=self.detail_failed, meta=meta, headers=headers,
                              dont_filter=bool(meta.get("challenge_retry")))

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
                self.state.mark_dead(entry["url"], "browser")
                self.logger.warning("report %s: the browser could not load it", entry["url"])
            return
        if response.status == 304:
            # the page is as it was; its files may still have been replaced: ask for them conditionally
            again = self._in_full(response) if self.state.unfinished([entry["url"]], self.revisit) else None
            if again is not None:  # a file it linked was never stored: the page again, for its files and date
                yield again
                return
            self.state.touch(entry["url"])
            for url in self.state.documents_for_page(entry["url"]):
                if url != response.url:
                    yield scrapy.Request(url, callback=self.parse_attachment, errback=self.detail_failed,
                                         meta={"site": key, "entry": entry, "handle_httpstatus_list": [304],
                                               "published": None, **self._slot(key)})
            return
        if response.status == 412 and not response.meta.get("playwright") and not response.meta.get("challenge_retry"):
            # the kept clearance ran out: this page through the browser (which passes the challenge again)
            yield self._detail_request(self.profiles[key], entry["url"], {"site": key, "entry": entry,
                                                                          "challenge_retry": True}, browser=True)
            return
        if response.status == 412 and (not response.meta.get("playwright") or _still_challenged(response.body)):
            self.crawler.stats.inc_value("nianbao/document_errors")
            for url in _asked(response):
                self.state.mark_dead(url, "challenge")
            self.logger.warning("report %s: the site's JavaScript challenge was not passed", response.url)
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        if _is_document(response.body, content_type):
            yield self._item(key, entry, response, content_type, entry.get("date"))
            return
        published = _published(response.body, content_type) or entry.get("date")
        files = attachments(response.url, response.body, content_type)
        if not files:
            yield self._item(key, entry, response, content_type, published)
            return
        for url in files:
            yield scrapy.Request(url, callback=self.parse_attachment, errback=self.detail_failed,
                                 meta={"site": key, "entry": entry, "published": published,
                                       "handle_httpstatus_list": [304], **self._slot(key)})
        self.state.remember(response.url, _header(response, "ETag"), _header(response, "Last-Modified"),
                            hashlib.sha256(response.body).hexdigest(), links=files)

    def parse_attachment(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        yield self._item(response.meta["site"], response.meta["entry"], response, content_type,
                         response.meta.get("published"))

    def detail_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.crawler.stats.inc_value("nianbao/document_errors")
        response = getattr(failure.value, "response", None)
        if self.state is not None:
            for url in _asked(request):
                self.state.mark_dead(url, str(response.status) if response is not None else
                                     type(failure.value).__name__)
        self.logger.warning("report %s failed: %s", request.url, failure.getErrorMessage())

    def _item(self, key: str, entry: dict[str, Any], response: Response, content_type: str,
              published: str | None) -> dict[str, Any]:
        """A report file found. Its validators travel with it: the pipeline saves them once the file is stored
        (or handed off), so a crawl killed in between fetches it in full next time instead of hearing 304."""
        profile = self.profiles[key]
        self.crawler.stats.inc_value("nianbao/reports_found")
        validators = {url: (_header(response, "ETag"), _header(response, "Last-Modified"))
                      for url in _asked(response)}
        return {"site": key, "agency": profile.agency, "region": profile.region, "kind": profile.kind,
                "url": response.url, "page_url": entry["url"], "title": entry["title"], "published": published,
                "body": response.body, "content_type": content_type or None, "validators": validators}


def _asked(answered: Response | scrapy.Request) -> list[str]:
    """The URLs a request went through: the one a page linked, every redirect, the one that answered."""
    return list(dict.fromkeys([*answered.meta.get("redirect_urls", []), answered.url]))


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
