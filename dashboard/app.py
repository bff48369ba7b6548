"""The dashboard: server-rendered pages in Chinese (Starlette + Jinja2, charts as inline SVG, no JavaScript)
and a read-only JSON API over the same queries. Read-only for everyone; confirming or dismissing a finding
needs the admin password (NIANBAO_ADMIN_PASSWORD) and a CSRF token. Crawled text is always escaped and the
archived originals are served as downloads, never rendered in the dashboard's origin.

Logging in is throttled per client and per account (dashboard/auth.py); admin sessions live in the database
(revoked at logout, expiring after 8 hours; the cookie is `Secure` when NIANBAO_WEB_SECURE_COOKIES is set).
Handlers that touch the database are plain functions, which Starlette runs in its thread pool, so a slow
query never blocks the event loop."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from checks.deadlines import KIND_NAMES, Calendar, load_calendar
from checks.labels import SECTION
from storage.archive import ArchiveDamaged, ArchiveMissing, ArchiveStore
from storage.models import DocumentVersion, FindingRow
from storage.queries import decide

from . import charts, queries
from .api import api_routes
from .auth import LoginThrottle, SessionStore
from .reach import reach_routes
from .tables import grids
from .web import (
    SECURITY_HEADERS,
    SecurityHeaders,
    check_csrf,
    csrf_token,
    page_param,
    path_id,
    region_param,
    report_filters,
    text_param,
)

__all__ = ["check_csrf", "create_app", "csrf_token", "pages", "report_filters", "secret_key"]
HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
SEVERITY_LABELS = {"error": "错误", "warning": "疑点", "notice": "提示"}
STATUS_LABELS = {"open": "待处理", "confirmed": "已确认", "dismissed": "已驳回", "resolved": "已修正"}


class Dashboard:
    def __init__(self, sessions: sessionmaker[Session], archive: ArchiveStore, *, clock: Callable[[], datetime],
                 admin_password: str | None, calendar: Calendar | None = None,
                 throttle: LoginThrottle | None = None, wall_clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.throttle = throttle or LoginThrottle()
        self.logins = SessionStore(sessions, wall_clock or (lambda: datetime.now(UTC)))
        self.archive = archive
        self.clock = clock
        self.admin_password = admin_password
        self.calendar = calendar or load_calendar()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(SEVERITY_LABELS=SEVERITY_LABELS, STATUS_LABELS=STATUS_LABELS, KIND_NAMES=KIND_NAMES,
                           SECTION=SECTION, PROVINCE_OF=queries.PROVINCE_OF)
        env.filters["when"] = lambda v: v.astimezone(queries.CHINA).strftime("%Y-%m-%d %H:%M") if v else "—"
        env.filters["safe_url"] = lambda v: v if isinstance(v, str) and v.startswith(("http://", "https://")) else "#"
        env.filters["num"] = lambda v: "—" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    # ------------------------------------------------------------------ plumbing
    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"admin": self.is_admin(request), "csrf": csrf_token(request),
                   "can_login": self.admin_password is not None, "path": request.url.path, **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def is_admin(self, request: Request) -> bool:
        """Logged in: the cookie's token names a session that is neither revoked nor expired (checked in the
        database, once per request)."""
        known = getattr(request.state, "admin", None)
        if known is None:
            token = request.session.get("sid")
            known = self.admin_password is not None and token is not None and self.logins.valid(token)
            request.state.admin = known
        return bool(known)

    # ------------------------------------------------------------------ pages
    def overview(self, request: Request) -> Response:
        with self.sessions() as session:
            data = queries.overview(session, self.calendar, self.clock())
        return self.render(request, "overview.html", {
            "o": data,
            "region_chart": charts.rate_bars(data.on_time_by_region, title=f"{data.year}年度报告按时发布率（按地区）"),
            "kind_chart": charts.rate_bars(data.on_time_by_kind, title=f"{data.year}年度报告按时发布率（按机关类型）"),
        })

    def reports(self, request: Request) -> Response:
        filters = report_filters(request)
        with self.sessions() as session:
            rows, total = queries.report_rows(session, filters)
            options = queries.choices(session)
        return self.render(request, "reports.html", {"rows": rows, "total": total, "f": filters, "options": options,
                                                      **pages(request, filters.page, total)})

    def report(self, request: Request) -> Response:
        with self.sessions() as session:
            detail = queries.report_detail(session, path_id(request, "report_id"))
            if detail is None:
                raise HTTPException(404, "没有这份报告")
            numbered = [{**(f.evidence or {}), "number": n, "finding": f, "severity": f.severity}
                        for n, f in enumerate(detail["findings"], start=1)]
            shown = [f for f in numbered if f["finding"].status in queries.LIVE]
            tables = grids(detail["report"].record, shown)
        return self.render(request, "report.html", {"d": detail, "findings": numbered, "tables": tables})

    def findings(self, request: Request) -> Response:
        params = request.query_params
        status = text_param(params, "status") if "status" in params else "open"
        page = page_param(params)
        with self.sessions() as session:
            rows, total = queries.finding_rows(session, status=status, severity=text_param(params, "severity"),
                                               rule=text_param(params, "rule"), region=region_param(params),
                                               page=page)
        return self.render(request, "findings.html", {"rows": rows, "total": total, "status": status or "",
                                                       "params": params, **pages(request, page, total)})

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        finding_id = path_id(request, "finding_id")
        if not await run_in_threadpool(self.is_admin, request):
            raise HTTPException(403, "需要管理员登录")
        check_csrf(request, str(form.get("csrf") or ""))
        action = str(form.get("action") or "")
        status = {"confirm": "confirmed", "dismiss": "dismissed", "reopen": "open"}.get(action)
        if status is None:
            raise HTTPException(400, "未知操作")
        note = str(form.get("note") or "").strip()[:1000]
        if status == "dismissed" and not note:
            raise HTTPException(400, "驳回需要填写理由")
        report_id = await run_in_threadpool(self._decide, finding_id, status, note)
        back = str(form.get("back") or "")
        target = back if back.startswith("/") and not back.startswith("//") else f"/reports/{report_id}"
        return RedirectResponse(target, status_code=303)

    def _decide(self, finding_id: int, status: str, note: str) -> int:
        with self.sessions() as session, session.begin():
            finding = session.get(FindingRow, finding_id)
            if finding is None:
                raise HTTPException(404, "没有这个问题")
            decide(session, finding.fingerprint, status, note=note, by="dashboard-admin", at=datetime.now(UTC))
            return finding.report_id

    def agencies(self, request: Request) -> Response:
        q = text_param(request.query_params, "q")
        region = region_param(request.query_params)
        with self.sessions() as session:
            rows = queries.agency_rows(session, q=q, region=region)
            options = queries.choices(session)
        return self.render(request, "agencies.html", {"rows": rows, "q": q or "", "options": options,
                                                       "region": request.query_params.get("region") or ""})

    def agency(self, request: Request) -> Response:
        with self.sessions() as session:
            detail = queries.agency_detail(session, path_id(request, "agency_id"))
        if detail is None:
            raise HTTPException(404, "没有这个机关")
        received = next(f for f in detail["figures"] if f["label"] == "本年新收申请")
        chart = charts.series_columns([(f"{y}年", received["values"].get(y)) for y in detail["years"]],
                                      title="历年收到的政府信息公开申请")
        return self.render(request, "agency.html", {"d": detail, "chart": chart})

    def original(self, request: Request) -> Response:
        """The archived original, as a download (crawled HTML must never run in the dashboard's origin)."""
        with self.sessions() as session:
            version = session.get(DocumentVersion, path_id(request, "version_id"))
            if version is None:
                raise HTTPException(404, "没有这个文件")
            relative, content_type = version.archive_path, version.content_type or "application/octet-stream"
        try:
            data = self.archive.get(relative)
        except (ArchiveDamaged, ArchiveMissing):  # reported by `nianbao db check`; repaired at the next fetch
            raise HTTPException(503, "原件暂时无法提供：存档文件已损坏，正在等待重新下载修复") from None
        extension = {"application/pdf": "pdf", "text/html": "html"}.get(content_type.split(";")[0].strip(), "bin")
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="nianbao-{request.path_params["version_id"]}.{extension}"',
            "Content-Security-Policy": "sandbox"})

    def api_docs(self, request: Request) -> Response:
        return self.render(request, "api.html", {})

    # ------------------------------------------------------------------ login
    async def login(self, request: Request) -> Response:
        if self.admin_password is None:
            message = "未设置管理员密码（NIANBAO_ADMIN_PASSWORD），仪表盘只读。"
            return self.render(request, "login.html", {"error": message}, status=403)
        if request.method == "GET":
            return await run_in_threadpool(self.render, request, "login.html", {"error": None})
        form = await request.form()
        check_csrf(request, str(form.get("csrf") or ""))
        client = request.client.host if request.client else "unknown"
        wait = self.throttle.wait(client)
        if wait > 0:  # the password is not even looked at
            self.throttle.refused(client, wait)
            response = await run_in_threadpool(
                self.render, request, "login.html", {"error": f"尝试次数过多，请 {wait:.0f} 秒后再试"}, 429)
            response.headers["Retry-After"] = str(max(int(wait + 0.999), 1))
            return response
        given = str(form.get("password") or "").encode()
        if not hmac.compare_digest(given, self.admin_password.encode()):
            self.throttle.failed(client)
            return await run_in_threadpool(self.render, request, "login.html", {"error": "密码不正确"}, 403)
        self.throttle.succeeded(client)
        old = request.session.get("sid")
        token = await run_in_threadpool(self._new_session, old, client)
        request.session.clear()  # a fresh session (and CSRF token) after logging in
        request.session["sid"] = token
        log.info("dashboard login from %s", client)
        return RedirectResponse("/findings", status_code=303)

    def _new_session(self, old: object, client: str) -> str:
        self.logins.revoke(old)
        return self.logins.open(client)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        check_csrf(request, str(form.get("csrf") or ""))
        await run_in_threadpool(self.logins.revoke, request.session.get("sid"))
        request.session.clear()
        return RedirectResponse("/", status_code=303)


def pages(request: Request, page: int, total: int, per_page: int = queries.PAGE) -> dict[str, Any]:
    last = max((total + per_page - 1) // per_page, 1)
    params = {k: v for k, v in request.query_params.items() if k != "page"}

    def link(number: int) -> str:
        return "?" + urlencode({**params, "page": number})

    return {"page": page, "last_page": last, "prev_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < last else None}


def create_app(sessions: sessionmaker[Session], archive: ArchiveStore, *, clock: Callable[[], datetime],
               admin_password: str | None, secret_key: str, https_only: bool = False,
               throttle: LoginThrottle | None = None, wall_clock: Callable[[], datetime] | None = None) -> Starlette:
    """`https_only`: the session cookie is `Secure` (set it when the dashboard is served over HTTPS)."""
    board = Dashboard(sessions, archive, clock=clock, admin_password=admin_password, throttle=throttle,
                      wall_clock=wall_clock)
    routes = [
        Route("/", board.overview),
        Route("/reports", board.reports),
        Route("/reports/{report_id:int}", board.report),
        Route("/findings", board.findings),
        Route("/findings/{finding_id:int}/decide", board.decide, methods=["POST"]),
        Route("/agencies", board.agencies),
        Route("/agencies/{agency_id:int}", board.agency),
        Route("/files/{version_id:int}", board.original),
        Route("/login", board.login, methods=["GET", "POST"]),
        Route("/logout", board.logout, methods=["POST"]),
        *reach_routes(board, secret_key),
        Route("/api", board.api_docs),
        Mount("/api", routes=api_routes(sessions, clock)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret_key, session_cookie="nianbao_session", same_site="strict",
                   https_only=https_only, max_age=8 * 3600),
    ], exception_handlers={HTTPException: board_error(board), Exception: server_error})
    return app


def board_error(board: Dashboard) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return await run_in_threadpool(board.render, request, "error.html",
                                       {"status": exc.status_code, "message": exc.detail}, exc.status_code)

    return handler


async def server_error(request: Request, exc: Exception) -> Response:
    """A 500 is answered outside every middleware, so it carries the security headers itself."""
    log.error("dashboard: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "internal error"}, status_code=500, headers=SECURITY_HEADERS)
    return PlainTextResponse("服务器内部错误", status_code=500, headers=SECURITY_HEADERS)


def secret_key(data_dir: Path, configured: str | None) -> str:
    """NIANBAO_WEB_SECRET, or one made once and kept (0600) in the data directory, so sessions survive a
    restart and several processes agree (the key that also signs confirmation and unsubscribe links)."""
    from notifier.links import kept_secret

    return configured or kept_secret(data_dir)
