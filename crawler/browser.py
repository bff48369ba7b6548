"""The browser behind the network guard (see crawler/netguard.py): scrapy-playwright's download handler with
chromium's every connection going through `GuardProxy`, and Playwright's routing refusing what it can see
earlier (popups' and service workers' requests included)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from .netguard import ForbiddenAddress, GuardProxy, allowed_hosts, check_url

log = logging.getLogger(__name__)


class GuardedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's handler with the browser behind `GuardProxy`, every context routed through the
    same check (pages the spider did not open, such as popups, included), WebSockets refused, service workers
    blocked and new windows closed."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.allowed = allowed_hosts(crawler.settings.getlist("NIANBAO_ALLOWED_HOSTS"))
        self.guard = GuardProxy(self.allowed, self._refused)
        self.abort_request = self._abort  # the check for the spider's own pages, off the event loop

    async def _abort(self, request: Any) -> bool:
        try:
            await asyncio.get_running_loop().run_in_executor(None, check_url, request.url, self.allowed)
        except ForbiddenAddress as exc:
            self._refused(request.url)
            log.warning("browser refused: %s", exc)
            return True
        return bool(request.resource_type in ("image", "media", "font"))

    def _refused(self, target: str) -> None:
        self.stats.inc_value("nianbao/refused_ssrf")

    async def _maybe_launch_browser(self) -> None:
        if not self.guard.port:
            port = await self.guard.start()
            args = list(self.config.launch_options.get("args") or [])
            # no popups; WebRTC may not open UDP around the proxy
            args += [a for a in ("--block-new-web-contents",
                                 "--force-webrtc-ip-handling-policy=disable_non_proxied_udp") if a not in args]
            self.config.launch_options = {**self.config.launch_options, "args": args,
                                          "proxy": {"server": f"http://127.0.0.1:{port}"}}
        await super()._maybe_launch_browser()

    async def _create_browser_context(self, name: str, context_kwargs: dict[str, Any] | None,
                                      spider: Any = None) -> Any:
        wrapper = await super()._create_browser_context(
            name, {**(context_kwargs or {}), "service_workers": "block"}, spider)
        context = wrapper.context
        await context.route("**", self._route)
        if hasattr(context, "route_web_socket"):
            await context.route_web_socket("**", _refuse_web_socket)
        context.on("page", _close_popup)
        return wrapper

    async def _route(self, route: Any, request: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, check_url, request.url, self.allowed)
        except ForbiddenAddress as exc:
            self._refused(request.url)
            log.warning("browser refused: %s", exc)
            await route.abort("blockedbyclient")
            return
        await route.fallback()


async def _refuse_web_socket(socket_route: Any) -> None:
    log.warning("browser refused a WebSocket to %s", socket_route.url)
    await socket_route.close(code=1008, reason="refused by the crawler")


_closing: set[asyncio.Future[None]] = set()


def _close_popup(page: Any) -> None:
    async def close() -> None:
        if await page.opener() is not None:
            log.warning("browser closed a popup to %s", page.url)
            with contextlib.suppress(Exception):
                await page.close()

    task = asyncio.ensure_future(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
