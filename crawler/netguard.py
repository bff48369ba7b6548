"""The crawler's network guard: no connection — Scrapy's or the browser's, first request or any redirect hop,
subresource, iframe, fetch, WebSocket, popup or service worker — to an address that is not globally routable.

Three layers, each checking the address a name resolves to (never the name):
- `check_url` / the downloader middleware: refuses early, with a reason in the log and the crawl stats.
- `PinningResolver` (Scrapy's TWISTED_DNS_RESOLVER): resolves a name once per poll, refuses it unless every
  address is global, and hands exactly the checked address to the connection (no second lookup a rebinding
  DNS server could answer differently).
- `GuardProxy`, through which the browser sends every connection (plain HTTP, CONNECT for HTTPS and
  WebSockets): Playwright's request routing never sees a redirect's later hops, and the browser would
  resolve names again by itself, so the proxy checks and pins each connection where it is made.
`crawler.browser.GuardedPlaywrightHandler` wires the browser: the proxy, routing on every context (popups
included), WebSockets and service workers refused, new windows blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from domain.addresses import PIN_SECONDS, ForbiddenAddress, allowed_hosts, check_url, refusal, resolve_checked

__all__ = ["PIN_SECONDS", "ForbiddenAddress", "GuardProxy", "PinningResolver", "allowed_hosts", "check_url",
           "refusal", "resolve_checked"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- Scrapy's DNS
class PinningResolver:
    """Scrapy's TWISTED_DNS_RESOLVER: every name Scrapy connects to (pages, redirects, attachments) resolves
    through `resolve_checked`, so the connection goes to the checked address and a refused one never opens."""

    def __init__(self, reactor: Any, allowed: frozenset[str], timeout: float) -> None:
        self.reactor = reactor
        self.allowed = allowed
        self.timeout = timeout

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PinningResolver:
        return cls(reactor, allowed_hosts(crawler.settings.getlist("NIANBAO_ALLOWED_HOSTS")),
                   crawler.settings.getfloat("DNS_TIMEOUT", 60))

    def install_on_reactor(self) -> None:
        from twisted.internet.interfaces import IResolverSimple
        from zope.interface import directlyProvides

        directlyProvides(self, IResolverSimple)
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:
        from twisted.internet import threads
        from twisted.internet.error import DNSLookupError

        def lookup() -> str:
            try:
                return resolve_checked(name, 0, self.allowed)[0]
            except ForbiddenAddress as exc:
                log.warning("refused: %s", exc)
                raise DNSLookupError(f"refused: {exc}") from exc

        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), lookup)


# ---------------------------------------------------------------------------------------------- the browser
class GuardProxy:
    """A forward proxy on 127.0.0.1 for the browser alone: CONNECT (HTTPS, WebSockets) and plain HTTP, each
    connection checked and pinned with `resolve_checked`. Plain HTTP is one request per connection
    (`Connection: close`), so every request's host is checked."""

    def __init__(self, allowed: frozenset[str], on_refused: Callable[[str], None] | None = None) -> None:
        self.allowed = allowed
        self.on_refused = on_refused or (lambda target: None)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            await self._serve(head, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        loop = asyncio.get_running_loop()
        try:
            addresses = await loop.run_in_executor(None, resolve_checked, host, port, self.allowed)
        except ForbiddenAddress as exc:
            self.on_refused(f"{host}:{port}")
            log.warning("browser refused: %s", exc)
            return None
        return await asyncio.wait_for(asyncio.open_connection(addresses[0], port), 30)

    async def _serve(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, _, rest = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await self._open(host, int(port))
            if upstream is None:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _pipe_both(reader, writer, *upstream)
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = await self._open(parts.hostname, parts.port or 80)
        if upstream is None:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [line for line in rest.split(b"\r\n") if line and not line.lower().startswith(
            (b"proxy-connection:", b"proxy-authorization:", b"connection:", b"keep-alive:"))]
        upstream[1].write(f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers) +
                          b"\r\nConnection: close\r\n\r\n")
        await _pipe_both(reader, writer, *upstream)


async def _pipe_both(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    try:
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
    finally:
        with contextlib.suppress(Exception):
            upstream_writer.close()


@contextlib.contextmanager
def guard_proxy_thread(allowed: frozenset[str]) -> Iterator[int]:
    """A `GuardProxy` on its own event loop in a thread, for a synchronous browser (discovery passing a cookie
    challenge): yields the proxy's port, closes it on exit."""
    loop = asyncio.new_event_loop()
    proxy = GuardProxy(allowed)
    thread = threading.Thread(target=loop.run_forever, name="guard-proxy", daemon=True)
    thread.start()
    try:
        port = asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        yield port
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
