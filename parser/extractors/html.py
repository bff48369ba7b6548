"""HTML pages of government CMSs: the article body, its tables as grids, the page's own metadata."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from domain.time import iso_date

from ..cells import squash
from ..document import Document, Row
from ..errors import CorruptDocument
from .encoding import decode
from .grid import expand

# Body containers of common CMSs, most specific first.
_CONTENT_XPATHS = (
    '//*[contains(concat(" ", normalize-space(@class), " "), " TRS_Editor ")]',
    '//*[@id="zoom"]',
    '//*[@id="UCAP-CONTENT"]',
    '//*[contains(@class, "article-content")]',
    '//*[contains(@class, "article_content")]',
    '//*[contains(@class, "TRS_UEDITOR")]',
    '//*[@id="content"]',
    '//*[contains(@class, "pages_content")]',
    "//article",
)
_SKIP = {"script", "style", "noscript", "head", "iframe", "select", "button", "nav", "form"}
_BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "section", "article", "ul", "ol",
          "dl", "dt", "dd", "center", "blockquote", "pre", "hr"}
_PUBLISHED_META = ("pubdate", "publishdate", "firstpublishedtime", "og:release_date", "dc.date", "createdate")
_DATE_IN_TEXT = re.compile(r"(?:发布时间|发布日期|发文日期|成文日期|日期)\s*[:：]?\s*"
                           r"(\d{4})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_DATE = re.compile(r"(\d{4})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")


def _cell_text(el: lxml.html.HtmlElement) -> str:
    parts: list[str] = []
    for node in el.iter():
        if node.tag in _SKIP:
            continue
        if node.tag == "br":
            parts.append("\n")
        if node.text and node.tag not in _SKIP:
            parts.append(node.text)
        if node is not el and node.tail:
            parts.append(node.tail)
    return squash("".join(parts))


def _span(el: lxml.html.HtmlElement, name: str) -> int:
    try:
        return max(1, min(int(re.sub(r"\D", "", el.get(name, "1")) or 1), 200))
    except ValueError:
        return 1


def _table_rows(table: lxml.html.HtmlElement) -> list[list[str | None]]:
    raw: list[list[tuple[str, int, int]]] = []
    for tr in table.iter("tr"):
        if tr.getparent() is not None and _nearest_table(tr) is not table:
            continue
        cells = [(_cell_text(td), _span(td, "rowspan"), _span(td, "colspan"))
                 for td in tr if isinstance(td.tag, str) and td.tag in ("td", "th")]
        raw.append(cells)
    return expand(raw)


def _nearest_table(el: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    parent = el.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent


class _Walker:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.line: list[str] = []
        self.tables = 0

    def flush(self) -> None:
        text = squash("".join(self.line))
        if text:
            self.rows.append(Row((text,)))
        self.line = []

    def walk(self, el: lxml.html.HtmlElement) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _SKIP or not tag:
            return
        if tag == "table" and not el.xpath(".//table"):
            self.flush()
            index = self.tables
            self.tables += 1
            for cells in _table_rows(el):
                if any(c for c in cells):
                    self.rows.append(Row(tuple(cells), table=index))
            return
        block = tag in _BLOCK or tag in ("td", "th", "table")
        if block:
            self.flush()
        if el.text:
            self.line.append(el.text)
        for child in el:
            self.walk(child)
            if child.tail:
                self.line.append(child.tail)
        if block:
            self.flush()


def _content_root(doc: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    for xpath in _CONTENT_XPATHS:
        found = [e for e in doc.xpath(xpath) if len(_cell_text(e)) > 200]
        if found:
            return max(found, key=lambda e: len(e.xpath(".//td")) * 50 + len(e.text_content()))
    body = doc.find("body")
    return body if body is not None else doc


def _iso(match: re.Match[str]) -> str | None:
    y, m, d = (int(g) for g in match.groups()[:3])
    return iso_date(f"{y:04d}-{m:02d}-{d:02d}")  # None for a printed 2023-02-30: no date is better than a wrong one


def _published(doc: lxml.html.HtmlElement) -> str | None:
    for meta in doc.iter("meta"):
        name = (meta.get("name") or meta.get("property") or "").lower()
        if name in _PUBLISHED_META:
            match = _DATE.search(meta.get("content") or "")
            if match:
                return _iso(match)
    body = doc.find("body")
    text = squash(body.text_content()) if body is not None else ""
    match = _DATE_IN_TEXT.search(text)
    return _iso(match) if match else None


def _titles(doc: lxml.html.HtmlElement) -> list[str]:
    titles = []
    for meta in doc.iter("meta"):
        if (meta.get("name") or "").lower() in ("articletitle", "title", "og:title"):
            titles.append(squash(meta.get("content") or ""))
    title_el = doc.find(".//title")
    if title_el is not None and title_el.text:
        titles.append(squash(re.split(r"[_|｜]| - ", title_el.text)[0]))
    return [t for t in titles if t]


def extract_html(data: bytes, content_type: str | None = None) -> Document:
    text = decode(data, content_type)
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise CorruptDocument(f"HTML could not be read: {exc}") from exc
    root = _content_root(doc)
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    meta: dict[str, str] = {}
    published = _published(doc)
    if published:
        meta["published"] = published
    titles = _titles(doc)
    if titles:
        meta["title"] = titles[0]
    return Document(format="html", rows=walker.rows, meta=meta)


def page_published(data: bytes, content_type: str | None = None) -> str | None:
    """The 发布时间 a web page shows for itself (meta tags first, then the visible text), ISO, or None."""
    try:
        doc = lxml.html.document_fromstring(decode(data, content_type))
    except (etree.ParserError, ValueError):
        return None
    return _published(doc)
