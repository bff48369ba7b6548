"""What the dashboard's pages (app.py) and its JSON API (api.py) share: parameter validation (bad input is
a 400 or a 404, never a 500), the filters both list reports by, CSRF tokens and the security headers every
response carries — errors included."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.regions import RegionNotFound, resolve_region

from . import queries

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
MAX_PAGE = 100_000
YEARS = (1990, 2100)
MAX_TEXT = 200


def bad_parameter(name: str) -> HTTPException:
    return HTTPException(400, f"参数 {name} 无效")


def path_id(request: Request, name: str) -> int:
    """A numeric path parameter; one no row can have is simply not found."""
    value = request.path_params[name]
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise HTTPException(404, "没有找到")
    return value


def int_param(params: QueryParams, name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if len(raw) > 12 or not raw.isascii() or not raw.lstrip("-").isdigit():
        raise bad_parameter(name)
    value = int(raw)
    if not low <= value <= high:
        raise bad_parameter(name)
    return value


def page_param(params: QueryParams) -> int:
    return int_param(params, "page", 1, MAX_PAGE) or 1


def text_param(params: QueryParams, name: str) -> str | None:
    """Free text (a search, a status): bounded, and without characters no database takes (NUL)."""
    value = params.get(name)
    if not value:
        return None
    if len(value) > MAX_TEXT or "\x00" in value:
        raise bad_parameter(name)
    return value


def region_param(params: QueryParams) -> str | None:
    """A province, city or county by name or code, as the 行政区划代码 prefix that covers it and what lies
    under it; what no region is called is kept as typed (and matches nothing)."""
    value = text_param(params, "region")
    if not value:
        return None
    try:
        return resolve_region(value.strip()).prefix
    except RegionNotFound:
        return value


def report_filters(request: Request) -> queries.ReportFilters:
    params = request.query_params
    return queries.ReportFilters(region=region_param(params), agency=text_param(params, "agency"),
                                 agency_id=int_param(params, "agency_id", 1, MAX_ID),
                                 year=int_param(params, "year", *YEARS), template=text_param(params, "template"),
                                 has_errors=params.get("errors") == "1", q=text_param(params, "q"),
                                 page=page_param(params))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def check_csrf(request: Request, given: str) -> None:
    expected = request.session.get("csrf")
    if not expected or not hmac.compare_digest(str(expected), given):
        raise HTTPException(403, "表单已失效（CSRF 校验失败），请刷新页面后重试")


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response that passes through (a handler's own value wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
                         if name.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def with_security_headers(headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**SECURITY_HEADERS, **(headers or {})}
