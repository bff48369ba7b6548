"""A JavaScript list's JSON API, learned from one browser visit and then polled without a browser (pure).

On the browser visit the spider records every XHR/fetch answer; `learn` picks the JSON answer whose items are
the links the rendered page shows and notes the request (URL, method, body) and the answer's shape (the path
to the items array and which keys hold title, link and date). `read_api` parses later answers with that shape,
and says so (None) when an answer no longer has it — the spider then goes back to the browser and re-learns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from .listing import Entry, ListPage, _iso, is_report_title

Path = tuple[str | int, ...]
_XSSI_PREFIX = re.compile(rb"^\s*(\)\]\}'|while\s*\(1\);|for\s*\(;;\);)\s*")
_JSONP = re.compile(rb"^\s*[\w.$]+\s*\((.*)\)\s*;?\s*$", re.S)


@dataclass(frozen=True)
class CapturedResponse:
    """One XHR/fetch exchange the browser made while rendering a list."""

    url: str
    method: str
    post_data: str | None
    request_content_type: str | None
    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class ApiShortcut:
    url: str
    method: str
    body: str | None
    body_content_type: str | None
    items_path: Path
    title_key: str
    url_key: str
    date_key: str | None
    page_url: str  # the list page: the base its script resolves relative links against

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "method": self.method, "body": self.body, "body_content_type": self.body_content_type,
                "items_path": list(self.items_path), "title_key": self.title_key, "url_key": self.url_key,
                "date_key": self.date_key, "page_url": self.page_url}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiShortcut:
        return cls(url=str(data["url"]), method=str(data.get("method") or "GET"), body=data.get("body"),
                   body_content_type=data.get("body_content_type"), items_path=tuple(data["items_path"]),
                   title_key=str(data["title_key"]), url_key=str(data["url_key"]), date_key=data.get("date_key"),
                   page_url=str(data["page_url"]))

    def describe(self) -> str:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.items_path) or "."
        return f"{self.method} {self.url} → {path} {{{self.title_key}, {self.url_key}, {self.date_key or '-'}}}"


def load_json(body: bytes) -> Any:
    """The JSON in an API answer (also behind an anti-XSSI prefix or in a JSONP call); None if there is none."""
    body = _XSSI_PREFIX.sub(b"", body, count=1)
    for candidate in (body, (_JSONP.match(body) or [None, None])[1]):
        if not candidate:
            continue
        try:
            return json.loads(candidate.decode("utf-8-sig", errors="replace"))
        except ValueError:
            continue
    return None


def _lists_of_records(data: Any, path: Path = (), depth: int = 0) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    if depth > 6:
        return
    if isinstance(data, list):
        records = [item for item in data if isinstance(item, dict)]
        if records and len(records) == len(data):
            yield path, records
        for index, item in enumerate(data[:3]):
            yield from _lists_of_records(item, (*path, index), depth + 1)
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _lists_of_records(value, (*path, str(key)), depth + 1)


def _text(value: Any) -> str:
    return re.sub(r"<[^>]+>|\s+", "", str(value)) if value is not None else ""


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key, value in record.items() if isinstance(value, str)))


def learn(captured: list[CapturedResponse], page_url: str, reports: list[Entry],
          shown: dict[str, str]) -> ApiShortcut | None:
    """The request whose JSON answer is the list the rendered page shows — its records' links are links on
    the page (`shown`: URL → text), their titles the links' texts, and every report entry the page shows is
    among them — with its shape; None when no answer is (the list is not filled from JSON, or not
    recognisably). A column that lists no report yet is learned from its other links."""
    wanted = {entry.url for entry in reports}
    best: tuple[int, ApiShortcut] | None = None
    for exchange in captured:
        if exchange.status != 200:
            continue
        data = load_json(exchange.body)
        if data is None:
            continue
        for path, records in _lists_of_records(data):
            for url_key in _keys(records):
                links = {urljoin(page_url, str(r[url_key])): r for r in records if isinstance(r.get(url_key), str)}
                matched = {url: record for url, record in links.items() if url in shown}
                if not matched or len(matched) < 0.8 * len(records) or \
                        len(wanted & set(links)) < 0.8 * len(wanted):
                    continue
                title_key = max((k for k in _keys(records) if k != url_key), default=None, key=lambda k: sum(
                    _text(r.get(k)) == shown[u] for u, r in matched.items()))
                if title_key is None or sum(_text(r.get(title_key)) == shown[u]
                                            for u, r in matched.items()) < 0.8 * len(matched):
                    continue
                dated = [k for k in _keys(records) if k not in (url_key, title_key)
                         and sum(_iso(str(r.get(k) or "")) is not None for r in records) >= len(records) * 0.8]
                shortcut = ApiShortcut(url=exchange.url, method=exchange.method.upper(), body=exchange.post_data,
                                       body_content_type=exchange.request_content_type, items_path=path,
                                       title_key=title_key, url_key=url_key, date_key=dated[0] if dated else None,
                                       page_url=page_url)
                if best is None or len(matched) > best[0]:
                    best = (len(matched), shortcut)
    return best[1] if best else None


def read_api(shortcut: ApiShortcut, body: bytes) -> ListPage | None:
    """The report entries in an answer of the learned API, or None when the answer no longer has the learned
    shape (not JSON, no items array where it was, items without the learned keys)."""
    data = load_json(body)
    for step in shortcut.items_path:
        found = (isinstance(step, int) and isinstance(data, list) and step < len(data)) or \
            (isinstance(step, str) and isinstance(data, dict) and step in data)
        if found:
            data = data[step]
        else:
            return None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return None
    if data and not all(shortcut.url_key in item and shortcut.title_key in item for item in data):
        return None
    entries: list[Entry] = []
    for item in data:
        title, link = _text(item.get(shortcut.title_key)), item.get(shortcut.url_key)
        if not isinstance(link, str) or not is_report_title(title):
            continue
        url = urljoin(shortcut.page_url, link)
        if url.startswith(("http://", "https://")):
            date = _iso(str(item.get(shortcut.date_key) or "")) if shortcut.date_key else None
            entries.append(Entry(title=title, url=url, date=date))
    return ListPage(list({e.url: e for e in entries}.values()), [], len(data))
