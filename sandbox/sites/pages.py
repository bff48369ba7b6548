"""What each simulated platform serves: list pages (TRS static, Hanweb dataproxy XML, a JSON API behind
a JavaScript list, a JavaScript cookie challenge, a plain hand-made page), detail pages and documents."""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from functools import lru_cache
from html import escape
from pathlib import Path

from ..reportgen import generate, render_docx, render_html, render_pdf, render_scan
from ..reportgen.model import ReportSpec, Variant
from ..reportgen.plant import PLANTS, _with_tables
from .world import SandboxReport, SandboxSite, World

PAGE_SIZE = 3
EXTENSIONS = {"pdf": "pdf", "docx": "docx", "doc": "doc", "scan": "pdf"}
CONTENT_TYPES = {"pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument."
                 "wordprocessingml.document", "doc": "application/msword", "scan": "application/pdf"}


def spec_for(site: SandboxSite, report: SandboxReport) -> ReportSpec:
    """The report as the agency wrote it: following on from its report of the year before (so carry-overs
    agree), with the error planted for this year if any, and the silent revisions applied."""
    return _spec(site.key, site.agency, tuple((r.year, r.seed, r.planted) for r in site.reports), report.year,
                 report.revision)


@lru_cache(maxsize=4096)
def _spec(key: str, agency: str, years: tuple[tuple[int, int, str | None], ...], year: int,
          revision: int) -> ReportSpec:
    seed, planted = next((s, p) for y, s, p in years if y == year)
    previous = _spec(key, agency, years, year - 1, 0).record if any(y == year - 1 for y, _, _ in years) else None
    template = "2019" if year <= 2020 else "2021"
    rng = random.Random(seed)
    variant = Variant(half_width_brackets=rng.random() < 0.3, spaced_labels=rng.random() < 0.3,
                      sign_words=rng.random() < 0.3, title_split=rng.random() < 0.4)
    spec = generate(rng, template=template, year=year, agency=agency, variant=variant, previous=previous)
    if planted:
        result = PLANTS[planted](spec, random.Random(seed))
        if result is not None:
            spec = result.spec
    if revision:
        # a silent revision: the agency changed its figures after publishing
        tables = json.loads(json.dumps(spec.record.tables))
        tables["review"]["review"]["upheld"] += revision
        tables["review"]["review"]["total"] += revision
        spec = _with_tables(spec, tables, reword=True)
    return spec


def title_of(site: SandboxSite, report: SandboxReport) -> str:
    return f"{site.agency}{report.year}年政府信息公开工作年度报告"


def detail_path(site: SandboxSite, report: SandboxReport) -> str:
    stamp = report.local_publish_at
    if site.platform == "hanweb":
        return f"/s/{site.key}/art/{stamp.year}/{stamp.month}/{stamp.day}/art_123_{report.doc_id}.html"
    if site.platform in ("jsapi", "challenge"):
        return f"/s/{site.key}/nb/{report.doc_id}.html"
    if site.platform == "plain":  # a hand-made page links the file itself, or a page of its own
        own = f"/s/{site.key}/gk/ndbg/{report.doc_id}.html"
        return attachment_path(site, report) if report.format != "html" else own
    return f"/s/{site.key}/zfxxgknb/{stamp:%Y%m}/t{stamp:%Y%m%d}_{report.doc_id}.htm"


def attachment_path(site: SandboxSite, report: SandboxReport) -> str:
    return f"/s/{site.key}/files/{report.local_publish_at:%Y%m}/P0{report.doc_id}.{EXTENSIONS[report.format]}"


def list_path(site: SandboxSite) -> str:
    return {
        "trs": f"/s/{site.key}/zfxxgknb/index.html",
        "hanweb": f"/s/{site.key}/module/web/jpage/dataproxy.jsp?columnid=123&startrecord=1&endrecord=100",
        "jsapi": f"/s/{site.key}/nb/",
        "challenge": f"/s/{site.key}/nb/",
        "plain": f"/s/{site.key}/gk/ndbg.html",
    }[site.platform]


def _entries(world: World, site: SandboxSite) -> list[tuple[str, str, str]]:
    entries = [(title_of(site, r), detail_path(site, r), f"{r.local_publish_at:%Y-%m-%d}") for r in world.visible(site)]
    if site.failure == "deadlink" and entries:
        entries.append((f"{site.agency}2018年政府信息公开工作年度报告", f"/s/{site.key}/zfxxgknb/gone.htm",
                        "2019-01-10"))
    if site.failure == "redirectloop" and entries:
        entries.append((f"{site.agency}2017年政府信息公开工作年度报告", f"/s/{site.key}/loop/a.htm", "2018-01-10"))
    # noise a spider must ignore
    entries.append((f"{site.agency}关于印发政务公开工作要点的通知", f"/s/{site.key}/zfxxgknb/notice.htm", "2024-04-01"))
    return entries


def page(title: str, body: str, encoding: str, head: str = "") -> bytes:
    charset = "gb2312" if encoding == "gbk" else "utf-8"
    html = (f'<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"/>'
            f"<title>{escape(title)}</title>{head}</head><body>{body}</body></html>")
    return html.encode("gb18030" if encoding == "gbk" else "utf-8")


def trs_list(world: World, site: SandboxSite, index: int) -> bytes | None:
    entries = _entries(world, site)
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    if index >= pages:
        return None
    chunk = entries[index * PAGE_SIZE:(index + 1) * PAGE_SIZE]
    items = "".join(f'<dl><dt><a href="{escape(href)}" title="{escape(t)}">{escape(t)}</a></dt><dd>{d}</dd></dl>'
                    for t, href, d in chunk)
    pager = f'<script>createPageHTML({pages}, {index}, "index", "html");</script>'
    if index + 1 < pages:
        pager += f'<a href="index_{index + 1}.html">下一页</a>'
    return page("政府信息公开年报", f'<div class="list">{items}</div><div class="page">{pager}</div>', site.encoding)


def hanweb_xml(world: World, site: SandboxSite) -> bytes:
    records = "".join(
        f'<record><![CDATA[<li><a href="{escape(href)}" title="{escape(t)}" target="_blank">{escape(t)}</a>'
        f"<span>{d}</span></li>]]></record>" for t, href, d in _entries(world, site))
    xml = f'<?xml version="1.0" encoding="utf-8"?><datastore><totalrecord>{len(_entries(world, site))}' \
          f"</totalrecord><recordset>{records}</recordset></datastore>"
    return xml.encode("utf-8")


def api_path(site: SandboxSite) -> str:
    """Where the site's list script gets its JSON (relative to /s/<site>); a relaunch moves it."""
    if site.api_url_version == 1:
        return "/api/list.json"
    return f"/api/v{site.api_url_version}/articles?columnId=123&pageNo=1&pageSize=50"


# the JSON shapes real CMS list APIs answer with: where the items are and what their fields are called
API_SHAPES: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("items",), "title", "url", "date"),
    (("data", "records"), "docTitle", "docUrl", "pubDate"),
    (("result", "list"), "name", "link", "time"),
)


def api_shape(site: SandboxSite) -> tuple[tuple[str, ...], str, str, str]:
    return API_SHAPES[(site.api_shape_version - 1) % len(API_SHAPES)]


def js_list_page(site: SandboxSite) -> bytes:
    path, title, url, date = api_shape(site)
    items = "data" + "".join(f"[{json.dumps(p)}]" for p in path)
    script = f"""
<script>
fetch('/s/{site.key}{api_path(site)}').then(r => r.json()).then(data => {{
  const ul = document.getElementById('list');
  for (const item of {items}) {{
    const li = document.createElement('li');
    li.innerHTML = '<a href="' + item.{url} + '">' + item.{title} + '</a><span class="date">' + item.{date} + '</span>';
    ul.appendChild(li);
  }}
  document.getElementById('list').setAttribute('data-loaded', '1');
}});
</script>"""
    return page("年报专栏", f'<h2>政府信息公开年报</h2><ul id="list"></ul>{script}', "utf-8")


def static_list_page(world: World, site: SandboxSite) -> bytes:
    """A list behind a challenge that is plain HTML once past it (the WAF, not the page, needs JavaScript)."""
    items = "".join(f'<li><a href="{escape(href)}">{escape(t)}</a><span class="date">{d}</span></li>'
                    for t, href, d in _entries(world, site))
    return page("年报专栏", f'<h2>政府信息公开年报</h2><ul id="list" data-loaded="1">{items}</ul>', "utf-8")


def js_list_json(world: World, site: SandboxSite) -> bytes:
    path, title, url, date = api_shape(site)
    items = [{"id": i, title: t, url: href, date: f"{d} 09:00:00" if site.api_shape_version % 2 == 0 else d,
              "channel": "政府信息公开年报"} for i, (t, href, d) in enumerate(_entries(world, site))]
    if path == ("items",):
        return json.dumps({"items": items}, ensure_ascii=False).encode("utf-8")
    if path == ("data", "records"):
        body: dict[str, object] = {"code": 200, "msg": "success", "data": {"total": len(items), "pageNo": 1,
                                                                         "pageSize": 50, "records": items}}
    else:
        body = {"success": True, "result": {"list": items, "total": len(items)}}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


CHALLENGE_COOKIE = "__nbwaf"


def challenge_token(site: SandboxSite, issued: int) -> str:
    return str((sum(ord(c) for c in site.key) * 7919 + site.challenge_generation * 31 + issued) % 100_003)


def challenge_cookie_valid(site: SandboxSite, cookie_header: str, now: float) -> bool:
    """The clearance cookie is `<token>.<issued>`: right for the current generation and not older than its
    lifetime (a WAF expires clearances, and rotates them all at once when it is reconfigured)."""
    prefix = f"{CHALLENGE_COOKIE}_{site.key}="
    for part in cookie_header.split(";"):
        part = part.strip()
        if not part.startswith(prefix):
            continue
        token, _, issued = part[len(prefix):].partition(".")
        if issued.isdigit() and token == challenge_token(site, int(issued)) and \
                int(issued) + site.cookie_max_age >= now:
            return True
    return False


def challenge_page(site: SandboxSite) -> bytes:
    # the browser computes the token the way the server expects it, sets the cookie and reloads; the cookie
    # is scoped to the site's path because the simulated sites share one host (real ones each have their own)
    script = f"""<script>
var k = '{site.key}'; var s = 0; for (var i = 0; i < k.length; i++) {{ s += k.charCodeAt(i); }}
var t = Math.floor(Date.now() / 1000);
var v = ((s * 7919 + {site.challenge_generation} * 31 + t) % 100003) + '.' + t;
document.cookie = '{CHALLENGE_COOKIE}_{site.key}=' + v + '; max-age={site.cookie_max_age}; path=/s/{site.key}/';
location.reload();
</script>"""
    return page("安全验证", f"<p>正在进行安全验证……</p>{script}", "utf-8")


def plain_list(world: World, site: SandboxSite) -> bytes:
    items = "".join(f'<li><a href="{escape(href)}">{escape(t)}</a> ({d})</li>' for t, href, d in _entries(world, site))
    return page("年度报告", f"<h3>信息公开年度报告</h3><ul>{items}</ul><p>联系我们</p>", site.encoding)


def detail_page(world: World, site: SandboxSite, report: SandboxReport) -> bytes:
    published = f"{report.local_publish_at:%Y-%m-%d}"
    if report.format == "html":
        return render_html(spec_for(site, report), published=published, encoding=site.encoding,
                           site_name=f"{site.agency}门户网站")
    title = title_of(site, report)
    link = attachment_path(site, report)
    name = f"{title}.{EXTENSIONS[report.format]}"
    body = (f'<div class="article"><h1>{escape(title)}</h1><div class="info">发布日期：{published}</div>'
            f'<div class="TRS_Editor"><p>现将{escape(title)}予以公开。</p>'
            f'<p>附件：<a href="{escape(link)}" OLDSRC="{escape(link)}">{escape(name)}</a></p></div></div>')
    return page(title, body, site.encoding, head=f'<meta name="PubDate" content="{published} 09:00"/>')


@lru_cache(maxsize=256)
def _document_bytes(key: str, agency: str, years: tuple[tuple[int, int, str | None], ...], year: int,
                    revision: int, fmt: str) -> bytes:
    spec = _spec(key, agency, years, year, revision)
    seed = next(s for y, s, _ in years if y == year)
    if fmt == "pdf":
        return render_pdf(spec)
    if fmt == "docx":
        return render_docx(spec)
    if fmt == "scan":
        return render_scan(spec, random.Random(seed))
    if fmt == "doc":
        return _to_doc(render_docx(spec))
    raise ValueError(fmt)


def document(site: SandboxSite, report: SandboxReport) -> bytes:
    return _document_bytes(site.key, site.agency, tuple((r.year, r.seed, r.planted) for r in site.reports),
                           report.year, report.revision, report.format)


def _to_doc(docx: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "r.docx"
        source.write_bytes(docx)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to",
                        "doc:MS Word 97", "--outdir", tmp, str(source)], check=True, capture_output=True,
                       timeout=180, env={"HOME": tmp, "PATH": "/usr/bin:/bin"})
        return (Path(tmp) / "r.doc").read_bytes()
