"""Downloader middlewares: the SSRF guard and conditional GET; the spider middleware bounding a poll's
requests per list and per site."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from .netguard import ForbiddenAddress, allowed_hosts, check_url

log = logging.getLogger(__name__)


class SsrfGuardMiddleware:
    """No request — redirects and attachment links included, since redirected requests pass through the
    downloader middlewares again — to an address that is not globally routable, checked after DNS resolution
    (the connection then uses that same checked address: crawler.netguard.PinningResolver). A browser
    response whose page ended, after redirects in the browser, on a refused address is dropped, never
    archived. `NIANBAO_ALLOWED_HOSTS` lists exceptions (the sandbox and tests: 127.0.0.1)."""

    def __init__(self, allowed: frozenset[str], stats: Any = None) -> None:
        self.allowed = allowed
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SsrfGuardMiddleware:
        return cls(allowed_hosts(crawler.settings.getlist("NIANBAO_ALLOWED_HOSTS")), crawler.stats)

    def _refuse(self, url: str) -> None:
        try:
            check_url(url, self.allowed)
        except ForbiddenAddress as exc:
            log.warning("refused: %s", exc)
            if self.stats is not None:
                self.stats.inc_value("nianbao/refused_ssrf")
            raise IgnoreRequest(str(exc)) from exc

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        self._refuse(request.url)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        if response.url != request.url:  # the browser followed redirects by itself
            self._refuse(response.url)
        return response


class ConditionalGetMiddleware:
    """If-None-Match / If-Modified-Since from what the last fetch of the URL returned; a 304 then costs a
    few hundred bytes and nothing is downloaded again. Validators are saved by the spider once it has
    used a response (so a failed parse is retried in full next time)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        state = getattr(self.crawler.spider, "state", None)
        if state is None or request.method != "GET" or request.meta.get("playwright") or \
                not request.meta.get("conditional", True):
            return
        known = state.validator(request.url)
        if not known:
            return
        etag, last_modified = known
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Any:
        if response.status == 304 and self.crawler.stats is not None:
            self.crawler.stats.inc_value("nianbao/not_modified")
        return response


class CrawlBudgetMiddleware:
    """A poll follows at most NIANBAO_MAX_LIST_PAGES pages of each list and makes at most
    NIANBAO_MAX_REQUESTS_PER_SITE requests per site (a pager claiming two million pages stops at the bound).
    What is cut is logged once per site and list, counted in the stats (`nianbao/cut_off`, and per site
    `nianbao/cut_off/<site>` with the reason), and the site's list is treated as incomplete (nothing is
    inferred removed from it); the next poll starts again from the first page."""

    def __init__(self, crawler: Crawler, max_list_pages: int, max_requests: int) -> None:
        self.crawler = crawler
        self.max_list_pages = max_list_pages
        self.max_requests = max_requests
        self.list_pages: Counter[tuple[str, str]] = Counter()
        self.requests: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlBudgetMiddleware:
        return cls(crawler, crawler.settings.getint("NIANBAO_MAX_LIST_PAGES", 100),
                   crawler.settings.getint("NIANBAO_MAX_REQUESTS_PER_SITE", 2000))

    def process_spider_output(self, response: Response, result: Iterable[Any],
                              spider: Spider | None = None) -> Iterator[Any]:
        for item in result:
            if not isinstance(item, Request) or self._admit(response, item):
                yield item

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any],
                                          spider: Spider | None = None) -> AsyncIterator[Any]:
        async for item in result:
            if not isinstance(item, Request) or self._admit(response, item):
                yield item

    def _admit(self, response: Response, request: Request) -> bool:
        site = request.meta.get("site")
        if site is None:
            return True
        reason = None
        if "list_url" in request.meta:
            root = response.meta.get("nianbao_list_root") or response.meta.get("list_url") or response.url
            request.meta["nianbao_list_root"] = root
            self.list_pages[(site, root)] += 1
            if self.list_pages[(site, root)] >= self.max_list_pages:  # the first page counts too
                reason = f"list {root} cut off after {self.max_list_pages} pages (NIANBAO_MAX_LIST_PAGES)"
        if reason is None:
            self.requests[site] += 1
            if self.requests[site] > self.max_requests:
                reason = f"{self.max_requests} requests made this poll (NIANBAO_MAX_REQUESTS_PER_SITE)"
        if reason is None:
            return True
        self.cut[site] += 1
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("nianbao/cut_off")
            if stats.get_value(f"nianbao/cut_off/{site}") is None:
                log.warning("site %s: %s; the rest waits for the next poll", site, reason)
                stats.set_value(f"nianbao/cut_off/{site}", reason)
        note = getattr(self.crawler.spider, "request_cut", None)
        if note is not None:
            note(request, reason)
        return False
