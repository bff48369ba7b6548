"""The crawler's adapter to storage: one object per crawl, built from the settings the composition root put
into Scrapy's settings (`NIANBAO_SETTINGS`), shared by the spider, the middlewares and the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from checks.deadlines import load_calendar
from domain.time import parse_date
from storage import Origin, ingest, make_engine, session_factory, upgrade
from storage import crawl_state as cs
from storage import shortcuts as learned
from storage.archive import archive_for
from storage.ingest import IngestResult

from .registry import SiteProfile


class StoreSettings(Protocol):
    """What the crawler needs of the settings object (monitor.config.Settings has it; the crawler does not
    import the monitor)."""

    @property
    def database_url(self) -> str: ...

    @property
    def archive_root(self) -> Path: ...

    @property
    def archive_compress(self) -> bool: ...

    def clock(self) -> Callable[[], datetime]: ...


class CrawlState:
    def __init__(self, settings: StoreSettings, *, clock: Any = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.archive = archive_for(settings)
        self.calendar = load_calendar()
        self.site_ids: dict[str, int] = {}
        self.first_read: set[str] = set()
        self.first_links: dict[str, set[str]] = {}
        self._clock = clock or settings.clock()

    def now(self) -> datetime:
        return self._clock()

    def sync(self, profiles: list[SiteProfile]) -> None:
        rows = [cs.SiteProfileRow(key=p.key, agency=p.agency, region=p.region, kind=p.kind, platform=p.platform,
                                  list_urls=list(p.list_urls), profile={"browser": p.browser, **p.options})
                for p in profiles]
        self.site_ids = cs.sync_sites(self.sessions, rows, self.now())
        # never read successfully before: what this pass finds there is the site's backlog
        self.first_read = {key for key, site_id in self.site_ids.items()
                           if cs.last_list_links(self.sessions, site_id) is None}
        # ... and so is what its first read showed, stored later (that pass died, or a download failed)
        self.first_links = {key: set(cs.first_list_links(self.sessions, site_id) or [])
                            for key, site_id in self.site_ids.items() if key not in self.first_read}

    def found_on_first_read(self, item: dict[str, Any]) -> bool:
        site = item["site"]
        return site in self.first_read or item.get("page_url") in self.first_links.get(site, ())

    def validator(self, url: str) -> tuple[str | None, str | None] | None:
        row = cs.validator(self.sessions, url)
        return (row.etag, row.last_modified) if row else None

    def unchanged_list_links(self, site_key: str, url: str) -> list[str]:
        """The links of a list that answered 304: the whole list as last read (its later pages included)."""
        links = cs.last_list_links(self.sessions, self.site_ids[site_key])
        if links is None:
            row = cs.validator(self.sessions, url)
            links = list(row.links) if row and row.links else []
        return links

    def unfinished(self, urls: list[str], retry_dead_after: timedelta) -> list[str]:
        """Of these report links, the ones a poll fetched (or meant to) but never saw through: validators are
        saved for a report file once it is stored, for a dead link when it fails, for a report page once its
        files are asked for. So a link is unfinished when it has none, or when it is a page one of whose files
        has none (a crawl killed between download and store leaves exactly that) — or when it, or a file of
        it, failed longer than `retry_dead_after` ago (tried again then)."""
        now = self.now()

        def settled(row: Any) -> bool:
            return row is not None and not ((row.sha256 or "").startswith("dead:")
                                            and now - row.checked_at >= retry_dead_after)

        rows = cs.validators_of(self.sessions, urls)
        files = cs.validators_of(self.sessions, [f for row in rows.values() for f in row.links or []])
        return [url for url in urls if not settled(rows.get(url))
                or any(not settled(files.get(f)) for f in rows[url].links or [])]

    def remember(self, url: str, etag: str | None, last_modified: str | None, sha256: str | None,
                 links: list[str] | None = None) -> None:
        cs.save_validator(self.sessions, url, etag=etag, last_modified=last_modified, sha256=sha256,
                          at=self.now(), links=links)

    def mark_dead(self, url: str, status: str) -> None:
        cs.save_validator(self.sessions, url, etag=None, last_modified=None, sha256=f"dead:{status}", at=self.now())

    def recently_dead(self, url: str, within: Any) -> bool:
        row = cs.validator(self.sessions, url)
        return bool(row and (row.sha256 or "").startswith("dead:") and self.now() - row.checked_at < within)

    def documents_for_page(self, page_url: str) -> list[str]:
        return cs.documents_for_page(self.sessions, page_url)

    def known_pages(self, site_key: str) -> dict[str, datetime]:
        return cs.known_page_urls(self.sessions, self.site_ids[site_key])

    def touch(self, page_url: str) -> None:
        cs.touch_page(self.sessions, page_url, self.now())

    def finish_site(self, site_key: str, links: list[str], *, complete: bool, ok: bool,
                    error: str | None) -> list[str]:
        site_id = self.site_ids[site_key]
        at = self.now()
        events: list[str] = []
        broken = cs.site_result(self.sessions, site_id, at, ok=ok, entries=len(links), error=error)
        if broken:
            events.append(broken)
        if ok:
            cs.record_list_check(self.sessions, site_id, at, links, complete)
        if ok and complete and links:
            events += ["REMOVED"] * len(cs.mark_missing_from_list(self.sessions, site_id, set(links), at))
        return events

    def ingest(self, item: dict[str, Any]) -> IngestResult:
        site = item["site"]
        published = parse_date(item.get("published"))  # a page's date that is not a real date counts as none
        seen = self.now()
        result = ingest(self.sessions, self.archive, item["body"], Origin(
            agency=item["agency"], url=item["url"], seen_at=seen, region=item.get("region"), kind=item.get("kind"),
            published=published, content_type=item.get("content_type"), site_id=self.site_ids.get(site),
            page_url=item.get("page_url"), first_read=self.found_on_first_read(item)), calendar=self.calendar)
        if "NEW" in result.events and site in self.site_ids and cs.check_backdated(
                self.sessions, self.site_ids[site], item["url"], item.get("page_url") or item["url"], published, seen):
            result.events.append("BACKDATED")
        return result

    # ------------------------------------------------------------------ learned shortcuts (API, cookies)
    def shortcuts(self, site_key: str) -> dict[str, learned.Shortcut]:
        return learned.load_shortcuts(self.sessions, self.site_ids[site_key])

    def save_shortcut(self, site_key: str, kind: str, data: dict[str, Any]) -> None:
        learned.save_shortcut(self.sessions, self.site_ids[site_key], kind, data, self.now())

    def mark_shortcut(self, site_key: str, kind: str, *, holds: bool, note: str | None = None) -> None:
        learned.mark_shortcut(self.sessions, self.site_ids[site_key], kind, holds=holds, at=self.now(), note=note)

    def close(self) -> None:
        self.engine.dispose()
