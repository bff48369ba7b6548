"""Scrapy settings for the nianbao-watch crawler: polite defaults every site shares. Site differences live in
the registry (data), never here. Nothing here reads the environment: the composition root (`nianbao crawl`)
lays the one `Settings` object over these defaults (`NIANBAO_SETTINGS`, the user agent, size cap, allowed
hosts, browser) — see `browser_settings` and `monitor.config.Settings.scrapy_overrides`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from typing import Any

BOT_NAME = "nianbao-watch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
USER_AGENT = "nianbao-watch/0.1 (annual-report monitor; contact: set NIANBAO_USER_AGENT with your e-mail)"

# polite
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 2
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.5
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_EXCEPTIONS = [
    "twisted.internet.defer.TimeoutError", "twisted.internet.error.TimeoutError",
    "twisted.internet.error.DNSLookupError",
    "twisted.internet.error.ConnectionRefusedError", "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError", "twisted.internet.error.ConnectionLost",
    "twisted.internet.error.TCPTimedOutError", "twisted.web.client.ResponseFailed", OSError,
    "scrapy.core.downloader.handlers.http11.TunnelError",
    "playwright._impl._errors.TimeoutError",  # a JavaScript list that did not render in time
]
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 50 * 1024 * 1024  # larger: cancelled (NIANBAO_DOWNLOAD_MAXSIZE)
DOWNLOAD_WARNSIZE = min(20 * 1024 * 1024, DOWNLOAD_MAXSIZE)
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = True
HTTPCACHE_ENABLED = False

# the SSRF guard: no request to non-public addresses, except hosts listed here (the sandbox, tests)
NIANBAO_ALLOWED_HOSTS: list[str] = []

# the guard's DNS: one lookup per name, checked, and the connection made to the checked address
TWISTED_DNS_RESOLVER = "crawler.netguard.PinningResolver"
# a poll's budget: pages followed per list, requests per site (the rest waits for the next poll)
NIANBAO_MAX_LIST_PAGES = 100
NIANBAO_MAX_REQUESTS_PER_SITE = 2000
SPIDER_MIDDLEWARES = {"crawler.middlewares.CrawlBudgetMiddleware": 950}

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SsrfGuardMiddleware": 50,
    "crawler.middlewares.ConditionalGetMiddleware": 560,
}
ITEM_PIPELINES = {"crawler.pipelines.IngestPipeline": 300}
# files parsed at once (each in its own reader; a scan runs two tesseracts): one per core, in a thread pool
# of their own, so a burst of scans neither exhausts memory nor takes the reactor's threads (DNS)
NIANBAO_INGEST_THREADS = max(1, len(os.sched_getaffinity(0)))
EXTENSIONS = {"crawler.extensions.Progress": 500}
NIANBAO_PROGRESS_INTERVAL = 5.0

# a browser only for profiles that need JavaScript: Debian's chromium, never a downloaded one
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
DOWNLOAD_HANDLERS = {
    "http": "crawler.browser.GuardedPlaywrightHandler",
    "https": "crawler.browser.GuardedPlaywrightHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "executable_path": shutil.which("chromium") or "/usr/bin/chromium",
    "headless": True,
    "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"],
}
PLAYWRIGHT_MAX_CONTEXTS = 2
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000


def abort_request_for(allowed_hosts: Iterable[str]) -> Callable[[object], bool]:
    """The browser's own requests (scripts, XHR) pass the same SSRF guard as Scrapy's."""
    allowed = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())

    def _abort_request(request: object) -> bool:
        from crawler.ssrf import ForbiddenAddress, check_url

        try:
            check_url(getattr(request, "url", ""), allowed)
        except ForbiddenAddress:
            return True
        return getattr(request, "resource_type", "") in ("image", "media", "font")

    return _abort_request


_abort_request = abort_request_for(NIANBAO_ALLOWED_HOSTS)
PLAYWRIGHT_ABORT_REQUEST = _abort_request


def browser_settings(allowed_hosts: Iterable[str], chromium: str | None) -> dict[str, Any]:
    """The browser's part of the settings for one pass: its request guard with this pass's allowed hosts, and
    the chromium to launch."""
    launch = dict(PLAYWRIGHT_LAUNCH_OPTIONS)
    if chromium:
        launch["executable_path"] = chromium
    return {"PLAYWRIGHT_ABORT_REQUEST": abort_request_for(allowed_hosts), "PLAYWRIGHT_LAUNCH_OPTIONS": launch}


LOG_LEVEL = "WARNING"  # NIANBAO_CRAWL_LOG_LEVEL
FEED_EXPORT_ENCODING = "utf-8"
