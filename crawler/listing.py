"""Reading list pages (pure: bytes in, entries out): TRS static lists, Hanweb dataproxy XML, rendered
JavaScript lists, and a heuristic for unknown hand-made pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from parser.extractors.encoding import decode

_REPORT_TITLE = re.compile(r"(信息公开|政务公开).{0,12}(年度报告|年报|工作报告)|政府信息公开年报|年度报告")
_NOT_A_REPORT = re.compile(r"通知|要点|方案|指南|目录|意见|办法|规定|解读|征求")
_YEAR = re.compile(r"(19|20)\d{2}")
_DATE = re.compile(r"((?:19|20)\d{2})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
DOCUMENT_EXTENSIONS = (".pdf", ".doc", ".docx", ".wps", ".rtf")
MAX_PAGER_PAGES = 1000  # a pager claiming more is lying; the crawl's own bound (NIANBAO_MAX_LIST_PAGES) is lower


@dataclass(frozen=True)
class Entry:
    title: str
    url: str
    date: str | None  # ISO date as the list prints it


@dataclass(frozen=True)
class ListPage:
    entries: list[Entry]
    next_urls: list[str]
    links_seen: int  # every link on the page, so an empty report list can be told from an unreadable page


def is_report_title(title: str) -> bool:
    title = re.sub(r"\s+", "", title)
    return bool(_REPORT_TITLE.search(title) and _YEAR.search(title) and not _NOT_A_REPORT.search(title))


def _iso(text: str) -> str | None:
    match = _DATE.search(text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}"


def _anchor_entries(root: lxml.html.HtmlElement, base_url: str) -> tuple[list[Entry], int]:
    entries: list[Entry] = []
    anchors = root.xpath("//a[@href]")
    for anchor in anchors:
        title = (anchor.get("title") or anchor.text_content() or "").strip()
        if not is_report_title(title):
            continue
        container = anchor.getparent()
        for _ in range(3):  # the date sits beside the link: in its <li>, <dl> or table row
            if container is None or _iso(container.text_content() or ""):
                break
            container = container.getparent()
        date = _iso(container.text_content()) if container is not None else None
        url = urljoin(base_url, anchor.get("href"))
        if not url.startswith(("http://", "https://")):
            continue
        entries.append(Entry(title=re.sub(r"\s+", "", title), url=url, date=date))
    unique = {e.url: e for e in entries}
    return list(unique.values()), len(anchors)


def _trs_next_pages(text: str, base_url: str) -> list[str]:
    match = re.search(r"createPageHTML\(\s*(\d+)\s*,\s*(\d+)\s*,\s*\"(\w+)\"\s*,\s*\"(\w+)\"", text)
    if match:
        pages, current, stem, ext = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
        if current == 0:
            return [urljoin(base_url, f"{stem}_{i}.{ext}") for i in range(1, min(pages, MAX_PAGER_PAGES))]
        return []
    root = lxml.html.document_fromstring(text)
    return [urljoin(base_url, a.get("href")) for a in root.xpath("//a[@href]")
            if (a.text_content() or "").strip() in ("下一页", "下页")][:1]


def parse_list(platform: str, url: str, body: bytes, content_type: str | None = None) -> ListPage:
    if platform == "hanweb" or (body.lstrip().startswith(b"<?xml") and b"<record" in body):
        root = lxml.etree.fromstring(body, parser=lxml.etree.XMLParser(recover=True, resolve_entities=False,
                                                                       no_network=True))
        entries: list[Entry] = []
        links = 0
        for record in root.iter("record"):
            fragment = lxml.html.fragment_fromstring(record.text or "", create_parent="div")
            found, count = _anchor_entries(fragment, url)
            entries += found
            links += count
        return ListPage(entries, [], links)
    text = decode(body, content_type)
    if not text.strip():
        return ListPage([], [], 0)
    root = lxml.html.document_fromstring(text)
    entries, links = _anchor_entries(root, url)
    next_urls = _trs_next_pages(text, url) if platform in ("trs", "auto", "plain") else []
    return ListPage(entries, next_urls, links)


def anchors(url: str, body: bytes, content_type: str | None = None) -> dict[str, str]:
    """Every link on a page (absolute URL → its text): what a rendered list shows, report or not."""
    text = decode(body, content_type)
    if not text.strip():
        return {}
    root = lxml.html.document_fromstring(text)
    found: dict[str, str] = {}
    for anchor in root.xpath("//a[@href]"):
        target = urljoin(url, anchor.get("href") or "")
        if target.startswith(("http://", "https://")):
            found.setdefault(target, re.sub(r"\s+", "", anchor.get("title") or anchor.text_content() or ""))
    return found


def attachments(url: str, body: bytes, content_type: str | None = None) -> list[str]:
    """Links to report files on a detail page (PDF, Word, WPS), in the order printed."""
    text = decode(body, content_type)
    root = lxml.html.document_fromstring(text)
    found = []
    for anchor in root.xpath("//a[@href]"):
        href = anchor.get("href") or ""
        if href.lower().split("?")[0].endswith(DOCUMENT_EXTENSIONS):
            found.append(urljoin(url, href))
    return list(dict.fromkeys(found))
