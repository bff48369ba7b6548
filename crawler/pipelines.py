"""The item pipeline: every report file found goes through storage's ingest (archive → parse → check →
store, with events), in a pool of its own threads (`NIANBAO_INGEST_THREADS`) so that parsing never stalls
the crawl. Only then are the file's HTTP validators saved: a crawl that dies between download and store asks
for the file in full next time."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from scrapy import Spider
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

log = logging.getLogger(__name__)

T = TypeVar("T")


class IngestPipeline:
    def __init__(self) -> None:
        self.crawler: Any = None
        self.pool: ThreadPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> IngestPipeline:
        pipeline = cls()
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self, spider: Spider | None = None) -> None:
        self.pool = ThreadPool(minthreads=0, maxthreads=self.crawler.settings.getint("NIANBAO_INGEST_THREADS", 2),
                               name="nianbao-ingest")
        self.pool.start()

    def _in_pool(self, work: Callable[[], Any]) -> Any:
        from twisted.internet import reactor

        assert self.pool is not None
        return deferred_to_future(deferToThreadPool(reactor, self.pool, work))

    async def process_item(self, item: dict[str, Any], spider: Spider | None = None) -> Any:
        state = self.crawler.nianbao_state
        handoff = self.crawler.settings.get("NIANBAO_DOCUMENT_HANDOFF")
        if handoff:  # a worker's crawl: archive, and a parse job for the rest (the callable comes from settings)
            hand_off = load_object(handoff)
            await self._in_pool(partial(_then_remember, partial(hand_off, state, item), state, item))
            self.crawler.stats.inc_value("nianbao/handed_off")
            return _shown(item) | {"events": []}
        result = await self._in_pool(partial(_then_remember, partial(state.ingest, item), state, item))
        stats = self.crawler.stats
        stats.inc_value("nianbao/stored" if result.created else "nianbao/unchanged")
        for event in result.events:
            stats.inc_value(f"nianbao/events/{event}")
        if result.error:
            stats.inc_value("nianbao/unreadable")
            log.warning("%s: stored, but could not be read: %s", item["url"], result.error)
        return _shown(item) | {"events": result.events}

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.pool is not None:
            self.pool.stop()
        state = getattr(self.crawler, "nianbao_state", None)
        if state is not None:
            state.close()


def _then_remember(store: Callable[[], T], state: Any, item: dict[str, Any]) -> T:
    """`store()`, and only once it returned, the item's validators (a 304 next time means "stored")."""
    result = store()
    digest = hashlib.sha256(item["body"]).hexdigest()  # also clears a dead link's mark
    for url, (etag, last_modified) in (item.get("validators") or {}).items():
        state.remember(url, etag, last_modified, digest)
    return result


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("body", "validators")}
