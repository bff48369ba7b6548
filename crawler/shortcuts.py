"""The spider's side of learned shortcuts: what a site has learned (its list API per list URL, its challenge
clearance), learning them from a browser visit, and recording when they stop holding."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .apishortcut import ApiShortcut, CapturedResponse, learn
from .cookies import clearance, cookie_header, is_challenge
from .listing import Entry, ListPage
from .state import CrawlState

MAX_CAPTURED_BODY = 2 * 1024 * 1024


async def captured_exchanges(responses: list[Any]) -> tuple[list[CapturedResponse], bool]:
    """The XHR/fetch answers a page got (playwright Response objects), read while the page is still open,
    and whether one of its navigations was answered with a cookie challenge."""
    out: list[CapturedResponse] = []
    challenged = False
    for response in responses:
        request = response.request
        if request.resource_type == "document":
            # the page's own navigations: the challenge (412 and a script) comes before the reload
            if response.status in (412, 521):
                challenged = True
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
    return out, challenged


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
    cookie: dict[str, Any] | None = None
    challenged: bool = False  # the site has answered with a challenge before
    last_failure: dict[str, str] = field(default_factory=dict)  # kind → why it stopped holding this pass

    @classmethod
    def load(cls, state: CrawlState, key: str) -> Learned:
        rows = state.shortcuts(key)
        api_row, cookie_row = rows.get("api"), rows.get("cookie")
        api = {url: ApiShortcut.from_json(data) for url, data in api_row.data.get("lists", {}).items()} \
            if api_row is not None and api_row.holds else {}
        return cls(key=key, api=api, cookie=cookie_row.data if cookie_row is not None and cookie_row.holds else None,
                   challenged=cookie_row is not None)

    def api_for(self, list_url: str) -> ApiShortcut | None:
        return self.api.get(list_url)

    def cookie_for(self, url: str, now: float) -> str | None:
        return cookie_header(self.cookie, url, now) if self.cookie else None

    def held(self, state: CrawlState) -> None:
        state.mark_shortcut(self.key, "api", holds=True)
        if self.cookie is not None:
            state.mark_shortcut(self.key, "cookie", holds=True)

    def failed(self, state: CrawlState, kind: str, why: str) -> None:
        state.mark_shortcut(self.key, kind, holds=False, note=why)
        self.last_failure[kind] = why
        if kind == "cookie":
            self.cookie = None
        else:
            self.api.clear()

    def after_browser(self, state: CrawlState, list_url: str, page_url: str, status: int,
                      captured: list[CapturedResponse],
                      browser_cookies: list[dict[str, Any]], rendered: list[Entry],
                      shown: dict[str, str]) -> list[str]:
        """Learn from a browser visit of a list: its clearance (if the site challenged) and its JSON API."""
        events = []
        if status in (412, 521) or self.challenged or "cookie" in self.last_failure:
            self.cookie, self.challenged = clearance(browser_cookies), True
            state.save_shortcut(self.key, "cookie", self.cookie)
            if "cookie" in self.last_failure:
                state.mark_shortcut(self.key, "cookie", holds=True, note=f"renewed ({self.last_failure['cookie']})")
            events.append("cookie_learned")
        api = learn(captured, page_url, rendered, shown)
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
