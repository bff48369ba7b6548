"""Downloader middlewares: the SSRF guard and conditional GET."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from .ssrf import ForbiddenAddress, check_url

log = logging.getLogger(__name__)


class SsrfGuardMiddleware:
    """No request — redirects and attachment links included, since redirected requests pass through the
    downloader middlewares again — to loopback, private, link-local, multicast or reserved addresses, checked
    after DNS resolution. `NIANBAO_ALLOWED_HOSTS` lists exceptions (the sandbox and tests: 127.0.0.1)."""

    def __init__(self, allowed: frozenset[str], stats: Any = None) -> None:
        self.allowed = allowed
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SsrfGuardMiddleware:
        allowed = frozenset(h.strip().lower() for h in crawler.settings.getlist("NIANBAO_ALLOWED_HOSTS") if h)
        return cls(allowed, crawler.stats)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        try:
            check_url(request.url, self.allowed)
        except ForbiddenAddress as exc:
            log.warning("refused: %s", exc)
            if self.stats is not None:
                self.stats.inc_value("nianbao/refused_ssrf")
            raise IgnoreRequest(str(exc)) from exc


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
