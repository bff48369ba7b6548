"""The spider's side of learned shortcuts: what a site has learned (its list API per list URL, its challenge
clearance), learning them from a browser visit, and recording when they stop holding."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any

from .apishortcut import ApiShortcut, CapturedResponse, learn
from .cookies import clearance, cookie_header, is_challenge
from .listing import Entry, ListPage, anchors, parse_list
from .state import CrawlState

MAX_CAPTURED_BODY = 2 * 1024 * 1024


@dataclass
class BrowserVisit:
    """What a browser visit of a list showed besides the rendered page: its XHR/fetch answers, whether one
    of its navigations was a cookie challenge, and the HTML its last navigation was answered with."""

    exchanges: list[CapturedResponse] = field(default_factory=list)
    challenged: bool = False
    document: bytes | None = None
    document_validators: tuple[str | None, str | None] = (None, None)  # its ETag and Last-Modified


async def captured_exchanges(responses: list[Any]) -> BrowserVisit:
    """Read the answers a page got (playwright Response objects) while the page is still open."""
    visit = BrowserVisit()
    out = visit.exchanges
    for response in responses:
        request = response.request
        if request.resource_type == "document":
            # the page's own navigations: the challenge (412 and a script) comes before the reload
            if response.status in (412, 521):
                visit.challenged = True
            elif response.status == 200 and request.frame.parent_frame is None:
                with contextlib.suppress(Exception):  # a navigation replaced before its body was read
                    visit.document = await response.body()
                    visit.document_validators = (response.headers.get("etag"), response.headers.get("last-modified"))
            continue
        if request.resource_type not in ("xhr", "fetch"):
            continue
        try:
            body = await response.body()
        except Exception:  # a redirect or an aborted request has no body: not a candidate
            continue
        if len(body) > MAX_CAPTURED_BODY:
            continue
        headers = response.headers
        out.append(CapturedResponse(url=response.url, method=request.method, post_data=request.post_data,
                                    request_content_type=request.headers.get("content-type"),
                                    status=response.status, content_type=headers.get("content-type", ""),
                                    body=body, etag=headers.get("etag"), last_modified=headers.get("last-modified")))
    return visit


def why_failed(status: int, body: bytes, page: ListPage | None) -> str:
    if is_challenge(status, body):
        return "challenged"
    if status != 200:
        return f"HTTP {status}"
    if page is None:
        return "the answer no longer has the learned shape"
    return "the answer lists no report any more"


@dataclass
class Learned:
    key: str
    api: dict[str, ApiShortcut] = field(default_factory=dict)  # list URL → its API
    static: set[str] = field(default_factory=set)  # list URLs whose HTML lists the reports without JavaScript
    cookie: dict[str, Any] | None = None
    challenged: bool = False  # the site has answered with a challenge before
    last_failure: dict[str, str] = field(default_factory=dict)  # kind → why it stopped holding this pass

    @classmethod
    def load(cls, state: CrawlState, key: str) -> Learned:
        rows = state.shortcuts(key)
        api_row, cookie_row, static_row = rows.get("api"), rows.get("cookie"), rows.get("static")
        api = {url: ApiShortcut.from_json(data) for url, data in api_row.data.get("lists", {}).items()} \
            if api_row is not None and api_row.holds else {}
        static = set(static_row.data.get("lists", [])) if static_row is not None and static_row.holds else set()
        return cls(key=key, api=api, static=static,
                   cookie=cookie_row.data if cookie_row is not None and cookie_row.holds else None,
                   challenged=cookie_row is not None)

    def api_for(self, list_url: str) -> ApiShortcut | None:
        return self.api.get(list_url)

    def cookie_for(self, url: str, now: float) -> str | None:
        return cookie_header(self.cookie, url, now) if self.cookie else None

    def held(self, state: CrawlState, kind: str = "api") -> None:
        state.mark_shortcut(self.key, kind, holds=True)
        if self.cookie is not None:
            state.mark_shortcut(self.key, "cookie", holds=True)

    def failed(self, state: CrawlState, kind: str, why: str) -> None:
        state.mark_shortcut(self.key, kind, holds=False, note=why)
        self.last_failure[kind] = why
        if kind == "cookie":
            self.cookie = None
        elif kind == "static":
            self.static.clear()
        else:
            self.api.clear()

    def after_browser(self, state: CrawlState, list_url: str, page_url: str, status: int,
                      captured: list[CapturedResponse],
                      browser_cookies: list[dict[str, Any]], rendered: list[Entry],
                      shown: dict[str, str], document: bytes | None = None,
                      document_validators: tuple[str | None, str | None] = (None, None)) -> list[str]:
        """Learn from a browser visit of a list: its clearance (if the site challenged) and its JSON API —
        or, where its HTML lists the reports as rendered, that no browser is needed past the challenge."""
        events = []
        if status in (412, 521) or self.challenged or "cookie" in self.last_failure:
            self.cookie, self.challenged = clearance(browser_cookies), True
            state.save_shortcut(self.key, "cookie", self.cookie)
            if "cookie" in self.last_failure:
                state.mark_shortcut(self.key, "cookie", holds=True, note=f"renewed ({self.last_failure['cookie']})")
            events.append("cookie_learned")
        api = learn(captured, page_url, rendered, shown)
        if api is None and document is not None and self.challenged and shown and \
                set(anchors(page_url, document)) >= set(shown) and \
                {e.url for e in parse_list("auto", page_url, document).entries} == {e.url for e in rendered}:
            # the HTML the server sent already shows every link the rendered page shows: no JavaScript needed
            self.static.add(list_url)
            state.save_shortcut(self.key, "static", {"lists": sorted(self.static)})
            state.remember(list_url, *document_validators, hashlib.sha256(document).hexdigest(),
                           links=[entry.url for entry in rendered])
            if "static" in self.last_failure:
                state.mark_shortcut(self.key, "static", holds=True,
                                    note=f"re-learned ({self.last_failure['static']})")
            events.append("static_learned")
            return events
        if api is None:
            if self.api or shown:
                events.append("api_not_found")
            if state.shortcuts(self.key).get("api") is not None:
                state.mark_shortcut(self.key, "api", holds=False, note="no JSON answer matched the rendered list")
            self.api.clear()
            return events
        self.api[list_url] = api
        state.save_shortcut(self.key, "api", {"lists": {url: a.to_json() for url, a in self.api.items()}})
        if "api" in self.last_failure:
            state.mark_shortcut(self.key, "api", holds=True, note=f"re-learned ({self.last_failure['api']})")
        exchange = next(c for c in captured if c.url == api.url)
        # the browser's answer carries the API's validators: the next poll can already be conditional
        state.remember(api.url, exchange.etag, exchange.last_modified, hashlib.sha256(exchange.body).hexdigest(),
                       links=[entry.url for entry in rendered])
        events.append("api_learned")
        return events
