"""In a crawl child started by a worker: a downloaded file is archived (durably) and a parse job is deferred
for it, by sha256 — the parse runs on whichever worker serves the `parse` queue (OCR nodes need no web
access). The archive write comes first, so a job never names bytes that are not stored."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from procrastinate import App

_app: App | None = None
_lock = threading.Lock()


def _opened_app(settings: Any) -> App:
    global _app
    with _lock:
        if _app is None:
            from .app import build_app

            _app = build_app(settings, pool_size=2).open()
        return _app


def parse_job_lock(url: str) -> str:
    """Versions of one URL are parsed one at a time, in the order they were fetched."""
    return "document:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def hand_off(state: Any, item: dict[str, Any]) -> str:
    """Archive `item`'s body and defer its parse; returns the sha256. `state` is the crawl's CrawlState."""
    from .app import PARSE_TASK

    digest, relative = state.archive.put(item["body"])
    site = item["site"]
    origin = {"agency": item["agency"], "url": item["url"], "seen_at": state.now().isoformat(),
              "region": item.get("region"), "kind": item.get("kind"), "published": item.get("published"),
              "content_type": item.get("content_type"), "site_id": state.site_ids.get(site),
              "page_url": item.get("page_url"), "first_read": state.found_on_first_read(item), "site": site}
    _opened_app(state.settings).configure_task(PARSE_TASK, queue="parse", lock=parse_job_lock(item["url"])).defer(
        sha256=digest, relative=relative, origin=origin)
    return digest


def close() -> None:
    global _app
    with _lock:
        if _app is not None:
            _app.close()
            _app = None
