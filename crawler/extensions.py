"""A progress line while crawling (sites done / total, reports found, errors) and a summary at the end."""

from __future__ import annotations

import sys
from typing import Any

from scrapy import signals
from twisted.internet import task


class Progress:
    def __init__(self, crawler: Any, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        extension = cls(crawler, crawler.settings.getfloat("NIANBAO_PROGRESS_INTERVAL", 5.0))
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def line(self) -> str:
        stats = self.crawler.stats
        return (f"sites {stats.get_value('nianbao/sites_done', 0)}/{stats.get_value('nianbao/sites_total', 0)}, "
                f"reports found {stats.get_value('nianbao/reports_found', 0)}, "
                f"stored {stats.get_value('nianbao/stored', 0)}, "
                f"errors {stats.get_value('nianbao/list_errors', 0) + stats.get_value('nianbao/document_errors', 0)}")

    def opened(self, spider: Any) -> None:
        if self.interval > 0:
            self.loop = task.LoopingCall(lambda: print("crawl: " + self.line(), file=sys.stderr, flush=True))
            self.loop.start(self.interval, now=False)

    def closed(self, spider: Any, reason: str) -> None:
        if self.loop and self.loop.running:
            self.loop.stop()
        stats = self.crawler.stats
        # scrapy-playwright starts chromium only when a request needs it: 0 in a pass served by shortcuts
        print(f"crawl: browser launches {stats.get_value('playwright/browser_count', 0)}, "
              f"browser pages {stats.get_value('playwright/page_count', 0)}, "
              f"lists via learned API {stats.get_value('nianbao/shortcuts/api_used', 0)}, "
              f"shortcut fallbacks {stats.get_value('nianbao/shortcuts/fallback', 0)}, "
              f"APIs learned {stats.get_value('nianbao/shortcuts/api_learned', 0)}, "
              f"cookies learned {stats.get_value('nianbao/shortcuts/cookie_learned', 0)}, "
              f"lists past a challenge over HTTP {stats.get_value('nianbao/shortcuts/static_used', 0)}, "
              f"learned {stats.get_value('nianbao/shortcuts/static_learned', 0)}", file=sys.stderr, flush=True)
