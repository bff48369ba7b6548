"""The sandbox HTTP server (127.0.0.1 only): every simulated site under /s/<site>/, the control API under
/__sandbox__/. Supports conditional GET (ETag / Last-Modified) like a well-behaved CMS."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import pages, portal
from .world import SandboxReport, SandboxSite, World


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.per_site: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "bytes": 0,
                                                                       "not_modified": 0, "errors": 0})

    def add(self, site: str, status: int, size: int) -> None:
        with self.lock:
            entry = self.per_site[site]
            entry["requests"] += 1
            entry["bytes"] += size
            if status == 304:
                entry["not_modified"] += 1
            if status >= 500:
                entry["errors"] += 1


class Sandbox(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox listens on the loopback address only")
        super().__init__((host, port), Handler)
        self.world = world
        self.stats = Stats()
        self.list_hits: dict[str, int] = defaultdict(int)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def registry(self) -> dict[str, Any]:
        return {"sites": [
            {"key": s.key, "agency": s.agency, "region": s.region, "kind": s.kind, "platform": s.platform,
             "list_urls": [self.base_url + pages.list_path(s)],
             "browser": s.platform in ("jsapi", "challenge"), "robots": True}
            for s in self.world.sites.values()]}

    def portals(self) -> list[dict[str, Any]]:
        """Every agency's portal home page and where its annual-report column is (for discovery's tests)."""
        out: list[dict[str, Any]] = [
            {"key": s.key, "agency": s.agency, "region": s.region, "platform": s.platform,
             "portal_url": f"{self.base_url}/s/{s.key}/", "column_name": portal.column_name(s),
             "column_depth": portal.column_depth(s), "column_url": self.base_url + portal.column_path(s),
             "list_url": self.base_url + pages.list_path(s)}
            for s in self.world.sites.values()]
        out.append({"key": portal.PORTAL_WITHOUT_COLUMN, "agency": portal.AGENCY_WITHOUT_COLUMN, "region": "211202",
                    "platform": None, "portal_url": f"{self.base_url}/s/{portal.PORTAL_WITHOUT_COLUMN}/",
                    "column_name": None, "column_depth": None, "column_url": None, "list_url": None})
        return out

    def manifest(self) -> list[dict[str, Any]]:
        out = []
        for site in self.world.sites.values():
            for report in self.world.visible(site):
                detail = self.base_url + pages.detail_path(site, report)
                attachments = [] if report.format == "html" else [self.base_url + pages.attachment_path(site, report)]
                out.append({"site": site.key, "agency": site.agency, "region": site.region, "year": report.year,
                            "format": report.format, "planted": report.planted, "detail_url": detail,
                            "attachment_urls": attachments, "revision": report.revision,
                            "published_at": report.publish_at.isoformat() if report.publish_at else None})
        return out


class Handler(BaseHTTPRequestHandler):
    server: Sandbox
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the stats endpoint counts requests
        pass

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes, content_type: str = "text/html", *, site: str = "-",
              headers: dict[str, str] | None = None, modified: datetime | None = None,
              weak_etag: bool = False) -> None:
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"' if status == 200 else None
        if etag and weak_etag:  # what nginx's gzip makes of an API's strong ETag
            etag = "W/" + etag
        matches = bool(etag and self.headers.get("If-None-Match") == etag)
        if matches or (status == 200 and modified is not None and not self.headers.get("If-None-Match")
                       and _not_modified_since(self.headers.get("If-Modified-Since"), modified)):
            status, body = 304, b""
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
        if modified is not None and status in (200, 304):
            self.send_header("Last-Modified", format_datetime(modified, usegmt=True))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.stats.add(site, status, len(body))

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False, default=str).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return dict(json.loads(raw))
        except ValueError:
            return {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    # ------------------------------------------------------------------ control API
    def do_POST(self) -> None:
        world = self.server.world
        path = urlsplit(self.path).path
        data = self._body()
        with world.lock:
            if path == "/__sandbox__/publish":
                report = world.publish_next(str(data.get("site")))
                self._json({"published": report.year if report else None})
            elif path == "/__sandbox__/clock":
                world.now = datetime.fromisoformat(str(data["now"]))
                self._json({"now": world.now.isoformat()})
            elif path in ("/__sandbox__/remove", "/__sandbox__/revise"):
                site = world.sites[str(data["site"])]
                report = next(r for r in site.reports if r.year == int(data["year"]))
                if path.endswith("remove"):
                    report.removed = True
                else:
                    report.revision += 1
                self._json({"ok": True})
            elif path == "/__sandbox__/api":
                # the site's list script moves to another API URL, or its API answers in another shape
                site = world.sites[str(data["site"])]
                if data.get("change") == "url":
                    site.api_url_version += 1
                else:
                    site.api_shape_version += 1
                self._json({"api": pages.api_path(site), "shape": list(pages.api_shape(site)[0])})
            elif path == "/__sandbox__/challenge":
                # the WAF voids every clearance cookie it gave (and may give shorter-lived ones from now on)
                site = world.sites[str(data["site"])]
                site.challenge_generation += 1
                if data.get("max_age") is not None:
                    site.cookie_max_age = int(data["max_age"])
                self._json({"generation": site.challenge_generation, "max_age": site.cookie_max_age})
            else:
                self._send(404, b"not found")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        world = self.server.world
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
            return
        if path.startswith("/__sandbox__/"):
            with world.lock:
                if path == "/__sandbox__/sites.yaml":
                    self._send(200, yaml.safe_dump(self.server.registry(), allow_unicode=True).encode("utf-8"),
                               "application/yaml; charset=utf-8")
                elif path == "/__sandbox__/portals":
                    self._json(self.server.portals())
                elif path == "/__sandbox__/manifest":
                    self._json(self.server.manifest())
                elif path == "/__sandbox__/stats":
                    self._json(dict(self.server.stats.per_site))
                elif path == "/__sandbox__/clock":
                    now = world.now
                    self._json({"now": now.isoformat(),
                                "offset_seconds": (now - datetime.now(now.tzinfo)).total_seconds()})
                else:
                    self._send(404, b"not found")
            return
        match = re.match(r"^/s/([\w-]+)(/.*)$", path)
        site = world.sites.get(match.group(1)) if match else None
        if match and match.group(1) == portal.PORTAL_WITHOUT_COLUMN:
            body = portal.without_column(match.group(2))
            self._send(200 if body else 404, body or b"not found", "text/html; charset=utf-8", site=match.group(1))
            return
        if site is None or match is None:
            self._send(404, b"not found")
            return
        # no lock here: pages only read the world (the control API's changes are single assignments), and a
        # slow site must not hold up the others
        self._site(site, match.group(2), parts.query)

    # ------------------------------------------------------------------ the sites
    def _site(self, site: SandboxSite, path: str, query: str) -> None:
        world = self.server.world
        html = f"text/html; charset={'gb2312' if site.encoding == 'gbk' else 'utf-8'}"
        if site.platform == "challenge" and not path.startswith("/files/") and \
                not pages.challenge_cookie_valid(site, self.headers.get("Cookie") or "", time.time()):
            self._send(412, pages.challenge_page(site), "text/html; charset=utf-8", site=site.key)
            return
        is_list = path in ("/zfxxgknb/index.html", "/zfxxgknb/", "/module/web/jpage/dataproxy.jsp", "/nb/",
                           "/gk/ndbg.html", "/api/list.json") or re.match(r"^/zfxxgknb/index_\d+\.html$", path) \
            or re.match(r"^/api/v\d+/articles$", path)
        if is_list:
            with world.lock:
                self.server.list_hits[site.key] += 1
                hits = self.server.list_hits[site.key]
            if site.failure == "flaky500" and hits % 4 == 1:  # one answer in four is a 500
                self._send(500, b"<h1>500 Internal Server Error</h1>", site=site.key)
                return
            if site.failure == "slow":
                time.sleep(1.0)
        visible = world.visible(site)
        latest = max((r.publish_at for r in visible if r.publish_at), default=None)
        if path in ("/zfxxgknb/index.html", "/zfxxgknb/") or re.match(r"^/zfxxgknb/index_\d+\.html$", path):
            index = int(re.findall(r"\d+", path)[0]) if "_" in path else 0
            body = pages.trs_list(world, site, index)
            if body is None:
                self._send(404, b"not found", site=site.key)
            else:
                self._send(200, body, html, site=site.key, modified=latest)
            return
        if path == "/module/web/jpage/dataproxy.jsp":
            self._send(200, pages.hanweb_xml(world, site), "text/xml; charset=utf-8", site=site.key, modified=latest)
            return
        if path == "/nb/":
            if site.static_list:
                self._send(200, pages.static_list_page(world, site), "text/html; charset=utf-8", site=site.key,
                           modified=latest)
            else:
                self._send(200, pages.js_list_page(site), "text/html; charset=utf-8", site=site.key)
            return
        if path == "/api/list.json" or re.match(r"^/api/v\d+/articles$", path):
            if site.platform not in ("jsapi", "challenge") or path != pages.api_path(site).split("?")[0]:
                self._send(404, b'{"code":404,"msg":"not found"}', "application/json; charset=utf-8", site=site.key)
                return
            self._send(200, pages.js_list_json(world, site), "application/json; charset=utf-8", site=site.key,
                       modified=latest, weak_etag=True)
            return
        if path == "/gk/ndbg.html":
            self._send(200, pages.plain_list(world, site), html, site=site.key, modified=latest)
            return
        if path == "/loop/a.htm" or path == "/loop/b.htm":
            other = "/loop/b.htm" if path.endswith("a.htm") else "/loop/a.htm"
            self._send(302, b"", site=site.key, headers={"Location": f"/s/{site.key}{other}"})
            return
        if path == "/files/huge.pdf":
            # a download that never ends in time (a "2 GB" attachment): streamed until the client gives up
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(2 * 1024 ** 3))
            self.end_headers()
            chunk = b"%PDF-1.4\n" + b"0" * (1024 * 1024 - 9)
            try:
                for _ in range(2048):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.server.stats.add(site.key, 200, 0)
            self.close_connection = True
            return
        if path == "/huge-list.html":
            link = f'<a href="/s/{site.key}/files/huge.pdf">{site.agency}2024年政府信息公开工作年度报告</a>'
            body = pages.page("年报", link, "utf-8")
            self._send(200, body, "text/html; charset=utf-8", site=site.key)
            return
        if path == "/redirect-out.htm":
            self._send(302, b"", site=site.key, headers={"Location": "http://10.0.0.1/internal/report.pdf"})
            return
        if path in ("/", "/index.html"):
            self._send(200, portal.home(site), html, site=site.key)
            return
        if path == "/zwgk/index.html":
            self._send(200, portal.section(site), html, site=site.key)
            return
        if path == "/zwgk/fdzdgknr/index.html":
            self._send(200, portal.statutory(site), html, site=site.key)
            return
        if path == "/col/col123/index.html" and site.platform == "hanweb":
            records = pages.hanweb_xml(world, site).decode("utf-8")
            inner = records[records.index("<recordset>") + 11:records.index("</recordset>")]
            self._send(200, portal.hanweb_column(site, inner), html, site=site.key, modified=latest)
            return
        if path.endswith("/index.html") and re.match(r"^/(xwdt|zwfw|hdjl|zjbd|wzdt|lxwm|zwgk)/", path):
            self._send(200, portal.blank(site, "栏目"), html, site=site.key)
            return
        if path == "/zfxxgknb/notice.htm":
            self._send(200, pages.page("通知", "<p>关于印发政务公开工作要点的通知</p>", site.encoding), html,
                       site=site.key)
            return
        report = self._report_for(site, path)
        if report is None:
            self._send(404, b"<h1>404</h1>", site=site.key)
            return
        if path.startswith("/files/"):
            self._send(200, pages.document(site, report), pages.CONTENT_TYPES[report.format], site=site.key,
                       modified=report.publish_at)
        else:
            self._send(200, pages.detail_page(world, site, report), html, site=site.key, modified=report.publish_at)

    def _report_for(self, site: SandboxSite, path: str) -> SandboxReport | None:
        match = re.search(r"(?:_|/P0|/)(\d{4,})\.(?:htm|html|pdf|docx|doc)$", path)
        if not match:
            return None
        doc_id = int(match.group(1))
        for report in self.server.world.visible(site):
            if report.doc_id == doc_id:
                return report
        return None


def _not_modified_since(header: str | None, modified: datetime) -> bool:
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and modified.replace(microsecond=0) <= since


def serve(world: World, port: int = 0) -> Sandbox:
    server = Sandbox(world, port=port)
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    return server
