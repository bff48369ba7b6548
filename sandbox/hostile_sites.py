"""Hostile sites for the crawler's network guard: a site on 127.0.0.1 (allow-listed, as the sandbox is) whose
pages try every path to a canary server on 127.0.0.2 (not allow-listed, so it stands for any internal
address): redirects (one hop and two), scripts, stylesheets, iframes, fetch, XHR, WebSockets, window.open,
a service worker, attachments, an IPv4-mapped address; and a list whose pager claims 2,000,000 pages.
The canary counts every TCP connection it accepts: the guard holds when it counts 0."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CANARY_HOST = "127.0.0.2"
TITLE = "测试局{year}年政府信息公开工作年度报告"


class Canary:
    """A TCP server that counts connections and answers each with a page that looks like a report."""

    def __init__(self) -> None:
        self.listener = socket.create_server((CANARY_HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[str] = []
        self._stop = False
        threading.Thread(target=self._serve, name="canary", daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://{CANARY_HOST}:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    first = connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = "?"
                self.connections.append(first)
                body = ("<html><body><h1>" + TITLE.format(year=2023) + "</h1>内网机密" * 50 +
                        "</body></html>").encode()
                with _suppress():
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                                       b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
                                       + body)

    def close(self) -> None:
        self._stop = True
        self.listener.close()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def _attacks(canary: str) -> str:
    """Every way a page can make the browser connect somewhere."""
    return f"""
<link rel="stylesheet" href="{canary}/style.css">
<script src="{canary}/script.js"></script>
<iframe src="{canary}/frame.htm"></iframe>
<iframe src="/redirect-to-canary"></iframe>
<script>
fetch("{canary}/fetch").catch(function () {{}});
fetch("/redirect-to-canary").catch(function () {{}});
fetch("/hop1").catch(function () {{}});
var x = new XMLHttpRequest(); x.open("GET", "{canary}/xhr"); x.send();
try {{ new WebSocket("ws://{canary.split('://', 1)[1]}/ws"); }} catch (e) {{}}
try {{ window.open("{canary}/popup.htm"); }} catch (e) {{}}
if (navigator.serviceWorker) {{ navigator.serviceWorker.register("/sw.js").catch(function () {{}}); }}
var s = document.createElement("script"); s.src = "/redirect-to-canary"; document.head.appendChild(s);
</script>"""


class HostileSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, canary: Canary) -> None:
        self.canary = canary
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, name="hostile", daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def registry(self) -> str:
        return f"""sites:
- {{key: browser-site, agency: 测试局, platform: jsapi, list_urls: ['{self.base}/js/list.htm']}}
- {{key: plain-site, agency: 测试局二, platform: plain, list_urls: ['{self.base}/plain/list.htm']}}
"""


class _Handler(BaseHTTPRequestHandler):
    server: HostileSite

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
              location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        canary = self.server.canary.base
        path = self.path.split("?", 1)[0]
        self.server.hits.append(path)
        redirects = {"/redirect-to-canary": f"{canary}/report.htm", "/hop1": "/hop2", "/hop2": f"{canary}/hop.htm",
                     "/js/d/redirect.htm": f"{canary}/report.htm", "/js/d/hop1.htm": "/js/d/hop2.htm",
                     "/js/d/hop2.htm": f"{canary}/report2.htm", "/plain/d/redirect.htm": f"{canary}/report3.htm"}
        if path in redirects:
            self._send(302, location=redirects[path])
            return
        if path == "/sw.js":
            self._send(200, f'fetch("{canary}/from-worker");'.encode(), "text/javascript")
            return
        if path == "/js/list.htm":
            entries = "".join(f'<li><a href="{href}">{TITLE.format(year=year)}</a> {year + 1}-01-20</li>'
                              for year, href in ((2023, "/js/d/redirect.htm"), (2022, "/js/d/hop1.htm"),
                                                 (2021, "/js/d/ok.htm")))
            # the list is written by script, as on a JavaScript site
            body = f"""<html><head><title>年报</title></head><body><ul id="list"></ul>{_attacks(canary)}
<script>document.getElementById("list").innerHTML = {entries!r};</script></body></html>"""
            self._send(200, body.encode())
            return
        if path == "/js/d/ok.htm":
            body = f"""<html><body><h1>{TITLE.format(year=2021)}</h1>{'一、总体情况' * 40}{_attacks(canary)}
</body></html>"""
            self._send(200, body.encode())
            return
        if path == "/plain/list.htm":
            mapped = f"http://[::ffff:{CANARY_HOST}]:{self.server.canary.port}/m.htm"
            links = [(2023, "/plain/d/redirect.htm"), (2022, f"{canary}/direct.htm"), (2021, mapped),
                     (2020, f"http://localhost:{self.server.canary.port}/name.htm"), (2019, "/plain/d/att.htm")]
            body = "<html><body><ul>" + "".join(
                f'<li><a href="{href}">{TITLE.format(year=year)}</a> {year + 1}-01-20</li>' for year, href in links)
            body += "</ul></body></html>"
            self._send(200, body.encode())
            return
        if path == "/plain/d/att.htm":
            body = f'<html><body><h1>{TITLE.format(year=2019)}</h1><a href="{canary}/report.pdf">附件</a></body></html>'
            self._send(200, body.encode())
            return
        if path.startswith("/pager/"):
            # a TRS list whose pager claims two million pages
            body = ('<html><body><ul><li><a href="/pager/d.htm">' + TITLE.format(year=2023) +
                    '</a> 2024-01-20</li></ul><script>createPageHTML(2000000, 0, "index", "html");</script>'
                    "</body></html>")
            if path != "/pager/index.html":
                body = body.replace("createPageHTML(2000000, 0", "createPageHTML(2000000, 1")
            self._send(200, body.encode())
            return
        self._send(404, b"not here")


def pager_registry(site: HostileSite) -> str:
    return f"""sites:
- {{key: pager-bomb, agency: 翻页局, platform: trs, list_urls: ['{site.base}/pager/index.html']}}
"""
