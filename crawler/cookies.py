"""A challenge site's clearance cookies, kept with their expiry so that the site is polled over plain HTTP
until it asks again (pure: the browser's cookies in, a Cookie header out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

# a clearance that runs out within this many seconds is renewed rather than risked
EXPIRY_MARGIN_SECONDS = 60.0


def clearance(browser_cookies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What to keep of the cookies the browser holds for a site after passing its challenge."""
    kept: list[dict[str, Any]] = [
        {"name": str(c["name"]), "value": str(c["value"]), "domain": str(c.get("domain") or ""),
         "path": str(c.get("path") or "/"), "expires": float(c.get("expires") or -1)}
        for c in browser_cookies if c.get("name")]
    expiring = [float(c["expires"]) for c in kept if float(c["expires"]) > 0]
    return {"cookies": kept, "expires": min(expiring) if expiring else None}


def _applies(cookie: dict[str, Any], url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    domain = cookie["domain"].lstrip(".").lower()
    if domain and host != domain and not host.endswith("." + domain):
        return False
    path = cookie["path"] or "/"
    return (parts.path or "/").startswith(path.rstrip("/") + "/") or (parts.path or "/") == path.rstrip("/") \
        or path == "/"


def cookie_header(kept: dict[str, Any], url: str, now: float) -> str | None:
    """The Cookie header for `url`, or None when the clearance has expired (or none of it applies): then
    the browser must pass the challenge again."""
    expires = kept.get("expires")
    if expires is not None and float(expires) <= now + EXPIRY_MARGIN_SECONDS:
        return None
    pairs = [f"{c['name']}={c['value']}" for c in kept.get("cookies", []) if _applies(c, url)]
    return "; ".join(pairs) or None


def is_challenge(status: int, body: bytes) -> bool:
    """The answer of a JavaScript cookie challenge (a WAF's 412/521/403 or 200 page that sets a cookie and
    reloads), not the content asked for."""
    if len(body) > 16_000:
        return False
    scripted = b"document.cookie" in body and (b"location.reload" in body or b"location.href" in body
                                                or b"location.replace" in body)
    return scripted and status in (200, 202, 403, 412, 503, 521)
