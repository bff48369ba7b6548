"""Discovery: from an agency's portal home page (or its 政府信息公开 page, or the column itself) to registry
entries for its annual-report column(s) — following the navigation a visitor would (政府信息公开 → 法定主动公开内容
→ 政府信息公开年报 / 年度报告, two or three levels), recognising the platform and the pagination, and taking the
agency's name from the page and its 行政区划代码 from the name.

The pure part (link vocabulary and scoring, platform and pagination recognition, the agency's name, the
entry) takes pages and returns findings; `discover` is the thin fetching part: a bounded number of requests,
robots.txt obeyed, the SSRF guard on every URL and redirect, and a browser only to pass a cookie challenge."""

from __future__ import annotations

import heapq
import html as html_lib
import re
import time
import urllib.error
import urllib.request
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html

from parser.extractors.encoding import decode

from .apishortcut import load_json
from .cookies import clearance, cookie_header, is_challenge
from .listing import Entry, is_report_title, parse_list
from .ssrf import ForbiddenAddress, check_url

# ---------------------------------------------------------------- vocabulary (pure)

# the column itself, as portals name it (no year: a title with a year is a report, not a column)
_COLUMN = re.compile(r"^(政府|政务)?(信息公开|政务公开|信息)?(工作)?(年度报告|年报)(专栏|栏目)?$")
# other annual reports a portal lists beside the one we want
_OTHER_REPORTS = re.compile(r"法治|预决算|决算|预算|统计|审计|环境|国有资产|国资|社会责任|工作报告|建议|提案|人大|政协")
# the way there: the information-disclosure section, and its statutory-content sub-section
_SECTION = {"政府信息公开", "信息公开", "政务公开", "政务信息公开", "政府信息公开专栏", "政府信息公开目录",
            "信息公开目录", "政务公开专栏", "政府信息公开平台", "信息公开专栏"}
_SUBSECTION = {"法定主动公开内容", "主动公开", "法定主动公开", "主动公开内容", "法定公开内容", "主动公开目录",
               "政府信息主动公开", "基础信息公开", "重点领域信息公开", "公开年报"}
_COLUMN_PATH_HINT = re.compile(r"(zfxxgknb|xxgknb|gknb|ndbg|xxgkndbg|zwgknb|/nb/)", re.I)
_SECTION_PATH_HINT = re.compile(r"(zwgk|xxgk|zfxxgk|gkml|fdzdgknr)", re.I)
_YEAR = re.compile(r"(19|20)\d{2}")
_AGENCY = re.compile(r"(人民政府|政府办公室|办公厅|办公室|委员会|管委会|管理委员会|工委|局|厅|委|署|办|中心|院|"
                     r"街道办事处|办事处|人民政府\S*|政府)$")
_SITE_SUFFIX = re.compile(r"(门户网站|政府网站|官方网站|官网|网站|首页|欢迎您|主页)$")

COLUMN_SCORE, SECTION_SCORE, SUBSECTION_SCORE = 100, 50, 40


def _clean(text: str) -> str:
    return re.sub(r"[\s\u3000\xa0>›»]+", "", text or "")


def link_kind(text: str, url: str) -> tuple[str | None, int]:
    """What a navigation link leads to — ("column", …) the annual-report column, ("section", …) the
    information-disclosure section, ("subsection", …) its statutory content — and how promising it is."""
    name = _clean(text)
    if not name or len(name) > 20 or _YEAR.search(name):
        return None, 0
    hint = 10 if _COLUMN_PATH_HINT.search(url) else 0
    if _COLUMN.match(name) and not _OTHER_REPORTS.search(name):
        return "column", COLUMN_SCORE + hint
    if name in _SECTION:
        return "section", SECTION_SCORE + (5 if name == "政府信息公开" else 0) + (
            5 if _SECTION_PATH_HINT.search(url) else 0)
    if name in _SUBSECTION:
        return "subsection", SUBSECTION_SCORE
    return None, 0


def is_column_name(text: str) -> bool:
    return link_kind(text, "")[0] == "column"


@dataclass(frozen=True)
class Link:
    text: str
    url: str


def page_links(url: str, body: bytes, content_type: str | None = None) -> list[Link]:
    text = decode(body, content_type)
    if not text.strip():
        return []
    try:
        root = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError):
        return []
    links = []
    for anchor in root.xpath("//a[@href]"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "#", "mailto:", "tel:")):
            continue
        target = urljoin(url, href).split("#")[0]
        if target.startswith(("http://", "https://")):
            links.append(Link(_clean(anchor.text_content() or anchor.get("title") or ""), target))
    return links


def _title(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
    return _clean(html_lib.unescape(match.group(1))) if match else ""


def _meta(text: str, name: str) -> str | None:
    match = re.search(rf'<meta\s+name="{name}"\s+content="([^"]*)"', text, re.I)
    return _clean(html_lib.unescape(match.group(1))) if match and match.group(1).strip() else None


def agency_from_page(body: bytes, content_type: str | None = None) -> tuple[str | None, str]:
    """The agency whose site this is, and where that was read: the SiteName meta of the 政府网站 standard,
    the site's name in the title (its last part), or the 主办单位 in the footer."""
    text = decode(body, content_type)
    site_name = _meta(text, "SiteName")
    if site_name and _AGENCY.search(_SITE_SUFFIX.sub("", site_name)):
        return _SITE_SUFFIX.sub("", site_name), "SiteName"
    for part in reversed(re.split(r"[_|｜\-—–·]+", _title(text))):
        part = _SITE_SUFFIX.sub("", part)
        if len(part) >= 4 and _AGENCY.search(part) and not is_column_name(part) and part not in _SECTION:
            return part, "title"
    host = re.search(r"主办单位\s*[:：]\s*([^\s<　，,]+)", text)
    if host:
        return _clean(host.group(1)), "主办单位"
    return None, "not found"


def other_names(body: bytes, content_type: str | None = None) -> list[str]:
    text = decode(body, content_type)
    names = [_meta(text, "SiteName") or ""]
    host = re.search(r"主办单位\s*[:：]\s*([^\s<　，,]+)", text)
    if host:
        names.append(_clean(host.group(1)))
    return [n for n in names if n]


# ---------------------------------------------------------------- platforms and pagination (pure)

_TRS_DOC = re.compile(r"/t\d{8}_\d+\.s?html?$")
_HANWEB_DOC = re.compile(r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$")
_API_LITERAL = re.compile(r"""(?:fetch|\$\.(?:get|post|ajax|getJSON)|axios(?:\.(?:get|post))?|url)\s*[(:]\s*['"]"""
                          r"""([^'"\s]+)['"]""")
_SCRIPTED_LIST = re.compile(r"fetch\(|XMLHttpRequest|\$\.(?:ajax|get|post|getJSON)\(|axios|listModel\(")


@dataclass(frozen=True)
class ColumnPage:
    """What a candidate column page is: its platform, the URL the crawler should read, the entries it showed
    without a browser, how it pages, and (for a JavaScript list) the API found in its script."""

    platform: str | None  # trs / hanweb / jsapi / plain; None: not a report list
    list_url: str
    entries: tuple[Entry, ...]
    pagination: str
    api_url: str | None = None


def _hanweb_proxy(url: str, text: str) -> str | None:
    match = re.search(r"""(?:href=["']|url\s*:\s*["'])([^"']*dataproxy\.jsp[^"']*)""", text)
    if not match:
        return None
    proxy = urljoin(url, html_lib.unescape(match.group(1)))
    parts = urlsplit(proxy)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(startrecord="1", endrecord="100", perpage=query.get("perpage", "25"))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def _pagination(text: str, list_url: str) -> str:
    pager = re.search(r"createPageHTML\(\s*(\d+)\s*,\s*(\d+)", text)
    if pager:
        return f"TRS createPageHTML: {pager.group(1)} page(s), index.html then index_N.html"
    records = re.search(r"recordCount\s*:\s*'?(\d+)'?", text)
    per_page = re.search(r"prepage\s*:\s*'?(\d+)'?", text)
    if records and per_page:
        return f"TRS listModel: {records.group(1)} records, {per_page.group(1)} per page"
    if re.search(r">\s*下一?页\s*<", text):
        return "a 下一页 link"
    return "one page"


def recognise_column(url: str, status: int, body: bytes, content_type: str | None = None) -> ColumnPage:
    """What a page reached through a column link (or given as the column) is."""
    text = decode(body, content_type)
    lower_url = url.lower()
    if "dataproxy.jsp" in lower_url or "dataproxy.jsp" in text:
        proxy = url if "dataproxy.jsp" in lower_url else _hanweb_proxy(url, text)
        inline = parse_list("hanweb", url, re.sub(rb"^.*?(<datastore)", rb"<?xml version='1.0'?>\1", body, count=1,
                                                  flags=re.S)) if b"<datastore" in body else None
        return ColumnPage("hanweb", proxy or url, tuple(inline.entries if inline else ()),
                          "Hanweb dataproxy startrecord/endrecord")
    page = parse_list("auto", url, body, content_type)
    entries = tuple(page.entries)
    if entries:
        trs = "createPageHTML" in text or any(_TRS_DOC.search(e.url) for e in entries)
        hanweb = any(_HANWEB_DOC.search(e.url) for e in entries)
        platform = "trs" if trs else "hanweb" if hanweb else "plain"
        return ColumnPage(platform, url, entries, _pagination(text, url))
    if "createPageHTML" in text:  # a TRS list that shows no report (yet)
        return ColumnPage("trs", url, (), _pagination(text, url))
    if _SCRIPTED_LIST.search(text):
        api = next((urljoin(url, m.group(1)) for m in _API_LITERAL.finditer(text)
                    if not m.group(1).endswith((".js", ".css", ".html", ".htm"))), None)
        return ColumnPage("jsapi", url, (), "rendered by script" + (f" from {api}" if api else ""), api)
    if _dated_links(text) >= 1:  # a list of dated links, none of them a report (yet)
        return ColumnPage("plain", url, (), _pagination(text, url))
    return ColumnPage(None, url, (), "one page")


def _dated_links(text: str) -> int:
    """Links printed with a date beside them, as list items are."""
    try:
        root = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError):
        return 0
    count = 0
    for anchor in root.xpath("//li[a] | //dl[.//a] | //tr[.//a]"):
        if re.search(r"(19|20)\d{2}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2}", anchor.text_content() or ""):
            count += 1
    return count


def api_entries(api_url: str, body: bytes) -> list[Entry]:
    """Report entries in a JSON answer (any list of records with a report title and a link)."""
    data = load_json(body)
    found: list[Entry] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict):
                    strings = [v for v in item.values() if isinstance(v, str)]
                    title = next((s for s in strings if is_report_title(s)), None)
                    link = next((s for s in strings if s.startswith(("/", "http", "./")) and s != title), None)
                    if title and link:
                        found.append(Entry(_clean(title), urljoin(api_url, link), None))
                        continue
                walk(item, depth + 1)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value, depth + 1)

    walk(data, 0)
    return found


# ---------------------------------------------------------------- results

@dataclass
class Column:
    platform: str
    list_url: str
    name: str
    evidence: list[str]
    pagination: str
    reports_seen: int
    confidence: float


@dataclass
class Discovery:
    start_url: str
    agency: str | None = None
    agency_source: str = ""
    other_names: list[str] = field(default_factory=list)  # 主办单位, SiteName: where the region may be named
    columns: list[Column] = field(default_factory=list)
    challenged: bool = False
    requests: int = 0
    seconds: float = 0.0
    why_not: str | None = None  # when no column was found

    def entries(self, *, key: str | None = None, agency: str | None = None, region: str | None = None,
                kind: str | None = None) -> list[dict[str, Any]]:
        """Registry entries (what `parse_registry` reads, plus the evidence under `discovery:`)."""
        from checks.deadlines import infer_kind

        name = agency or self.agency or ""
        code = region or region_code(name, *([] if agency else self.other_names))
        base = key or site_key(self.start_url)
        out = []
        for index, column in enumerate(self.columns):
            platform = "challenge" if self.challenged else column.platform
            entry: dict[str, Any] = {"key": base if index == 0 else f"{base}-{index + 1}", "agency": name,
                                     "region": code, "kind": kind or (infer_kind(name) if name else None),
                                     "platform": platform, "list_urls": [column.list_url]}
            entry["discovery"] = {"confidence": column.confidence, "column": column.name,
                                  "evidence": column.evidence, "pagination": column.pagination,
                                  "reports_seen": column.reports_seen,
                                  "agency_from": self.agency_source if agency is None else "given"}
            out.append(entry)
        return out


def region_code(agency: str, *other_names: str) -> str | None:
    """The 行政区划代码 named at the start of the agency's name (else of the site's other names: the most
    specific one named)."""
    from domain.regions import region_from_agency_name

    for names in ((agency,), other_names):
        regions = [r for r in (region_from_agency_name(n) for n in names if n) if r is not None]
        if regions:
            return max(regions, key=lambda r: len(r.prefix)).code
    return None


_GENERIC_HOST_PARTS = {"www", "gov", "cn", "com", "org", "net", "edu", "zwgk", "xxgk", "http", "https"}


def site_key(url: str) -> str:
    """A registry key from the portal's URL: the host's distinctive labels (www.pingtan.gov.cn → pingtan);
    for a bare address, the last directory of the path (127.0.0.1/s/site0003/ → site0003)."""
    parts = urlsplit(url)
    host = parts.hostname or "site"
    if re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?|localhost", host):
        segments = [s for s in parts.path.split("/") if s and "." not in s]
        return re.sub(r"[^\w-]", "-", segments[-1] if segments else host)
    labels = [label for label in host.split(".") if label not in _GENERIC_HOST_PARTS]
    return "-".join(labels) or host


# ---------------------------------------------------------------- fetching (thin)

@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str | None
    body: bytes


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        check_url(newurl, self.allowed)  # a redirect to a private address is refused like any request
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Fetcher:
    """Bounded, polite fetching for discovery: the SSRF guard, robots.txt, a request budget, a size cap,
    and clearance cookies from a browser when a site challenges."""

    def __init__(self, allowed_hosts: frozenset[str] = frozenset(), *, max_requests: int = 30,
                 timeout: float = 20.0, max_bytes: int = 5 * 1024 * 1024, browser: bool = True,
                 user_agent: str | None = None, chromium: str | None = None) -> None:
        self.allowed = allowed_hosts
        self.chromium = chromium
        self.max_requests = max_requests
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.browser = browser
        self.user_agent = user_agent or "nianbao-watch/0.1 (annual-report monitor; contact: set NIANBAO_USER_AGENT)"
        self.requests = 0
        self.browser_launches = 0
        self.refused: list[str] = []
        self.cookies: dict[str, dict[str, Any]] = {}  # origin → clearance
        self.challenged = False
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._opener = urllib.request.build_opener(_GuardedRedirects(allowed_hosts))

    def _origin(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def allowed_by_robots(self, url: str) -> bool:
        origin = self._origin(url)
        if origin not in self._robots:
            parser: urllib.robotparser.RobotFileParser | None = None
            answer = self._raw(origin + "/robots.txt")
            if answer is not None and answer.status == 200:
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(answer.body.decode("utf-8", "replace").splitlines())
            self._robots[origin] = parser
        robots = self._robots[origin]
        return robots is None or robots.can_fetch(self.user_agent, url)

    def _raw(self, url: str) -> Fetched | None:
        if self.requests >= self.max_requests:
            return None
        try:
            check_url(url, self.allowed)
        except ForbiddenAddress as exc:
            self.refused.append(str(exc))
            return None
        self.requests += 1
        headers = {"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        kept = self.cookies.get(self._origin(url))
        cookie = cookie_header(kept, url, time.time()) if kept else None
        if cookie:
            headers["Cookie"] = cookie
        request = urllib.request.Request(url, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Fetched(response.geturl(), response.status, response.headers.get("Content-Type"),
                               response.read(self.max_bytes))
        except urllib.error.HTTPError as exc:
            return Fetched(url, exc.code, exc.headers.get("Content-Type") if exc.headers else None,
                           exc.read(self.max_bytes) if exc.fp else b"")
        except ForbiddenAddress as exc:
            self.refused.append(str(exc))
            return None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def get(self, url: str) -> Fetched | None:
        """A page (None: refused, disallowed by robots.txt, unreachable, or over budget). Behind a cookie
        challenge, the browser passes it once per site and its clearance serves the requests that follow."""
        if not self.allowed_by_robots(url):
            self.refused.append(f"{url}: disallowed by robots.txt")
            return None
        answer = self._raw(url)
        for pause in (0.5, 2.0):  # a server error is retried (twice, backing off) as the crawler does
            if answer is None or answer.status not in (500, 502, 503, 504):
                break
            time.sleep(pause)
            answer = self._raw(url)
        if answer is not None and is_challenge(answer.status, answer.body):
            self.challenged = True
            if self.browser and self.requests < self.max_requests:
                self.cookies[self._origin(url)] = self._pass_challenge(url)
                answer = self._raw(url)
        return answer

    def _pass_challenge(self, url: str) -> dict[str, Any]:
        """Let Debian's chromium run the challenge's script, behind the crawler's guard proxy (every connection,
        redirect hops included, checked and pinned), with every request routed through the same check, no
        popups and no service workers."""
        import shutil

        from playwright.sync_api import sync_playwright

        from .netguard import guard_proxy_thread

        self.browser_launches += 1
        allowed = self.allowed

        def guard(route: Any) -> None:
            try:
                check_url(route.request.url, allowed)
            except ForbiddenAddress:
                route.abort()
                return
            route.continue_()

        with guard_proxy_thread(allowed) as port, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=self.chromium or shutil.which("chromium") or "/usr/bin/chromium",
                headless=True, proxy={"server": f"http://127.0.0.1:{port}"},
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--block-new-web-contents", "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"])
            try:
                context = browser.new_context(user_agent=self.user_agent, service_workers="block")
                context.route("**/*", guard)
                page = context.new_page()
                page.goto(url, timeout=30_000)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:  # the challenge's script sets its cookie and reloads
                    page.wait_for_load_state("load")
                    if not is_challenge(412, page.content().encode("utf-8")):
                        break
                    page.wait_for_timeout(200)
                self.requests += 1
                return clearance(context.cookies([url]))
            finally:
                browser.close()


# ---------------------------------------------------------------- the walk

def discover(start_url: str, fetcher: Fetcher, *, max_depth: int = 3,
             progress: Callable[[str], None] | None = None) -> Discovery:
    """Follow the navigation from `start_url` (best-scored links first, at most `max_depth` levels, within
    the fetcher's request budget, on the start page's host) to the annual-report column(s)."""
    began = time.monotonic()
    result = Discovery(start_url)
    host = urlsplit(start_url).netloc
    # (priority, order, depth, url, what the link said it was, the path of links that led here)
    queue: list[tuple[int, int, int, str, str, tuple[str, ...]]] = [(0, 0, 0, start_url, "start", (start_url,))]
    seen: set[str] = {start_url}
    order = 0
    while queue:
        _, _, depth, url, kind, path = heapq.heappop(queue)
        if result.columns and kind != "column":
            break  # a column is found: only other column links are still worth a request
        answer = fetcher.get(url)
        if answer is None:
            continue
        if depth == 0:
            result.agency, result.agency_source = agency_from_page(answer.body, answer.content_type)
            result.other_names = other_names(answer.body, answer.content_type)
        if answer.status != 200:
            continue
        text = decode(answer.body, answer.content_type)
        starts_at_column = depth == 0 and (is_column_name(_meta(text, "ColumnName") or "")
                                            or is_column_name(re.split(r"[_|\-—]", _title(text))[0] or ""))
        if kind == "column" or starts_at_column:
            name = path[-1].split(" → ")[0] if depth else (_meta(text, "ColumnName") or _title(text))
            column = _verify_column(answer, fetcher, path, name)
            if column is not None:
                result.columns.append(column)
                if progress:
                    progress(f"{start_url}: {column.platform} column at {column.list_url}")
            if starts_at_column:
                break
            continue
        if depth >= max_depth:
            continue
        for link in page_links(answer.url, answer.body, answer.content_type):
            if urlsplit(link.url).netloc != host or link.url in seen:
                continue
            link_type, score = link_kind(link.text, link.url)
            if link_type is None:
                continue
            seen.add(link.url)
            order += 1
            heapq.heappush(queue, (-score + depth * 5, order, depth + 1, link.url, link_type,
                                   (*path, f"{link.text} → {link.url}")))
    result.challenged = fetcher.challenged
    result.requests = fetcher.requests
    result.seconds = time.monotonic() - began
    if not result.columns:
        result.why_not = (f"no annual-report column (政府信息公开年报 / 年度报告) within {max_depth} levels and "
                          f"{fetcher.requests} requests" + (f"; refused: {'; '.join(fetcher.refused[:3])}"
                                                            if fetcher.refused else ""))
    return result


def _verify_column(answer: Fetched, fetcher: Fetcher, evidence: tuple[str, ...], name: str) -> Column | None:
    page = recognise_column(answer.url, answer.status, answer.body, answer.content_type)
    if page.platform is None:
        return None
    entries = list(page.entries)
    confidence = 0.9 if entries else 0.6
    if page.platform == "hanweb" and page.list_url != answer.url:
        proxy = fetcher.get(page.list_url)  # the list the crawler will read: it must answer with reports
        proxied = parse_list("hanweb", page.list_url, proxy.body) if proxy and proxy.status == 200 else None
        if proxied and proxied.entries:
            entries, confidence = proxied.entries, 0.95
    if page.platform == "jsapi" and page.api_url:
        api = fetcher.get(page.api_url)
        if api is not None and api.status == 200 and api_entries(page.api_url, api.body):
            entries, confidence = api_entries(page.api_url, api.body), 0.9
        elif api is not None and api.status == 200 and load_json(api.body) is not None:
            confidence = 0.7  # its API answers JSON, but lists no report yet
    if not entries and not is_column_name(name):
        return None  # a page that lists no report, reached by a link not named like the column
    if is_column_name(name):
        # named like the column: a list that shows no report yet is still the column, with less confidence
        confidence = min(0.99, confidence + 0.05) if entries else min(confidence, 0.5)
    return Column(platform=page.platform, list_url=page.list_url, name=_clean(name), evidence=list(evidence),
                  pagination=page.pagination, reports_seen=len(entries), confidence=round(confidence, 2))
