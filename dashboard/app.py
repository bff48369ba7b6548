"""The dashboard: server-rendered pages in Chinese (Starlette + Jinja2, charts as inline SVG, no JavaScript)
and a read-only JSON API over the same queries. Read-only for everyone; confirming or dismissing a finding
needs the admin password (NIANBAO_ADMIN_PASSWORD) and a CSRF token. Crawled text is always escaped and the
archived originals are served as downloads, never rendered in the dashboard's origin."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from checks.deadlines import KIND_NAMES, Calendar, load_calendar
from checks.labels import SECTION
from notifier.matching import region_code
from storage.archive import Archive
from storage.models import DocumentVersion, FindingRow
from storage.queries import decide

from . import charts, queries
from .api import api_routes
from .reach import reach_routes
from .tables import grids

HERE = Path(__file__).resolve().parent
SEVERITY_LABELS = {"error": "错误", "warning": "疑点", "notice": "提示"}
STATUS_LABELS = {"open": "待处理", "confirmed": "已确认", "dismissed": "已驳回", "resolved": "已修正"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class Dashboard:
    def __init__(self, sessions: sessionmaker[Session], archive: Archive, *, clock: Callable[[], datetime],
                 admin_password: str | None, calendar: Calendar | None = None) -> None:
        self.sessions = sessions
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
        context = {"admin": bool(request.session.get("admin")), "csrf": csrf_token(request),
                   "can_login": self.admin_password is not None, "path": request.url.path, **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def _page(self, request: Request) -> int:
        try:
            return max(int(request.query_params.get("page") or 1), 1)
        except ValueError:
            return 1

    # ------------------------------------------------------------------ pages
    async def overview(self, request: Request) -> Response:
        with self.sessions() as session:
            data = queries.overview(session, self.calendar, self.clock())
        return self.render(request, "overview.html", {
            "o": data,
            "region_chart": charts.rate_bars(data.on_time_by_region, title=f"{data.year}年度报告按时发布率（按地区）"),
            "kind_chart": charts.rate_bars(data.on_time_by_kind, title=f"{data.year}年度报告按时发布率（按机关类型）"),
        })

    async def reports(self, request: Request) -> Response:
        filters = report_filters(request)
        with self.sessions() as session:
            rows, total = queries.report_rows(session, filters)
            options = queries.choices(session)
        return self.render(request, "reports.html", {"rows": rows, "total": total, "f": filters, "options": options,
                                                      **pages(request, filters.page, total)})

    async def report(self, request: Request) -> Response:
        with self.sessions() as session:
            detail = queries.report_detail(session, int(request.path_params["report_id"]))
            if detail is None:
                raise HTTPException(404, "没有这份报告")
            numbered = [{**(f.evidence or {}), "number": n, "finding": f, "severity": f.severity}
                        for n, f in enumerate(detail["findings"], start=1)]
            shown = [f for f in numbered if f["finding"].status in queries.LIVE]
            tables = grids(detail["report"].record, shown)
        return self.render(request, "report.html", {"d": detail, "findings": numbered, "tables": tables})

    async def findings(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status", "open") or None
        page = self._page(request)
        with self.sessions() as session:
            rows, total = queries.finding_rows(session, status=status, severity=params.get("severity") or None,
                                               rule=params.get("rule") or None,
                                               region=_region(params.get("region")), page=page)
        return self.render(request, "findings.html", {"rows": rows, "total": total, "status": status or "",
                                                       "params": params, **pages(request, page, total)})

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        if not request.session.get("admin"):
            raise HTTPException(403, "需要管理员登录")
        check_csrf(request, str(form.get("csrf") or ""))
        action = str(form.get("action") or "")
        status = {"confirm": "confirmed", "dismiss": "dismissed", "reopen": "open"}.get(action)
        if status is None:
            raise HTTPException(400, "未知操作")
        note = str(form.get("note") or "").strip()[:1000]
        if status == "dismissed" and not note:
            raise HTTPException(400, "驳回需要填写理由")
        with self.sessions() as session, session.begin():
            finding = session.get(FindingRow, int(request.path_params["finding_id"]))
            if finding is None:
                raise HTTPException(404, "没有这个问题")
            decide(session, finding.fingerprint, status, note=note, by="dashboard-admin", at=datetime.now(UTC))
            report_id = finding.report_id
        back = str(form.get("back") or "")
        target = back if back.startswith("/") and not back.startswith("//") else f"/reports/{report_id}"
        return RedirectResponse(target, status_code=303)

    async def agencies(self, request: Request) -> Response:
        q = request.query_params.get("q") or None
        region = _region(request.query_params.get("region"))
        with self.sessions() as session:
            rows = queries.agency_rows(session, q=q, region=region)
            options = queries.choices(session)
        return self.render(request, "agencies.html", {"rows": rows, "q": q or "", "options": options,
                                                       "region": request.query_params.get("region") or ""})

    async def agency(self, request: Request) -> Response:
        with self.sessions() as session:
            detail = queries.agency_detail(session, int(request.path_params["agency_id"]))
        if detail is None:
            raise HTTPException(404, "没有这个机关")
        received = next(f for f in detail["figures"] if f["label"] == "本年新收申请")
        chart = charts.series_columns([(f"{y}年", received["values"].get(y)) for y in detail["years"]],
                                      title="历年收到的政府信息公开申请")
        return self.render(request, "agency.html", {"d": detail, "chart": chart})

    async def original(self, request: Request) -> Response:
        """The archived original, as a download (crawled HTML must never run in the dashboard's origin)."""
        with self.sessions() as session:
            version = session.get(DocumentVersion, int(request.path_params["version_id"]))
            if version is None:
                raise HTTPException(404, "没有这个文件")
            relative, content_type = version.archive_path, version.content_type or "application/octet-stream"
        data = self.archive.get(relative)
        extension = {"application/pdf": "pdf", "text/html": "html"}.get(content_type.split(";")[0].strip(), "bin")
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="nianbao-{request.path_params["version_id"]}.{extension}"',
            "Content-Security-Policy": "sandbox"})

    async def api_docs(self, request: Request) -> Response:
        return self.render(request, "api.html", {})

    # ------------------------------------------------------------------ login
    async def login(self, request: Request) -> Response:
        if self.admin_password is None:
            message = "未设置管理员密码（NIANBAO_ADMIN_PASSWORD），仪表盘只读。"
            return self.render(request, "login.html", {"error": message}, status=403)
        if request.method == "GET":
            return self.render(request, "login.html", {"error": None})
        form = await request.form()
        check_csrf(request, str(form.get("csrf") or ""))
        given = str(form.get("password") or "").encode()
        if not hmac.compare_digest(given, self.admin_password.encode()):
            return self.render(request, "login.html", {"error": "密码不正确"}, status=403)
        request.session.clear()  # a fresh session (and CSRF token) after logging in
        request.session["admin"] = True
        return RedirectResponse("/findings", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        check_csrf(request, str(form.get("csrf") or ""))
        request.session.clear()
        return RedirectResponse("/", status_code=303)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def check_csrf(request: Request, given: str) -> None:
    expected = request.session.get("csrf")
    if not expected or not hmac.compare_digest(str(expected), given):
        raise HTTPException(403, "表单已失效（CSRF 校验失败），请刷新页面后重试")


def _region(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return region_code(value)
    except ValueError:
        return value


def report_filters(request: Request) -> queries.ReportFilters:
    params = request.query_params

    def number(name: str) -> int | None:
        try:
            return int(params[name]) if params.get(name) else None
        except ValueError:
            return None

    return queries.ReportFilters(region=_region(params.get("region")), agency=params.get("agency") or None,
                                 agency_id=number("agency_id"), year=number("year"),
                                 template=params.get("template") or None, has_errors=params.get("errors") == "1",
                                 q=params.get("q") or None, page=number("page") or 1)


def pages(request: Request, page: int, total: int, per_page: int = queries.PAGE) -> dict[str, Any]:
    last = max((total + per_page - 1) // per_page, 1)
    params = {k: v for k, v in request.query_params.items() if k != "page"}

    def link(number: int) -> str:
        return "?" + urlencode({**params, "page": number})

    return {"page": page, "last_page": last, "prev_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < last else None}


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(sessions: sessionmaker[Session], archive: Archive, *, clock: Callable[[], datetime],
               admin_password: str | None, secret_key: str, https_only: bool = False) -> Starlette:
    from starlette.middleware.base import BaseHTTPMiddleware

    board = Dashboard(sessions, archive, clock=clock, admin_password=admin_password)
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
        Middleware(SessionMiddleware, secret_key=secret_key, session_cookie="nianbao_session", same_site="strict",
                   https_only=https_only, max_age=8 * 3600),
        Middleware(BaseHTTPMiddleware, dispatch=_security_headers),
    ], exception_handlers={HTTPException: board_error(board)})
    return app


def board_error(board: Dashboard) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return board.render(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                            status=exc.status_code)

    return handler


def secret_key(data_dir: Path, configured: str | None) -> str:
    """NIANBAO_WEB_SECRET, or one made once and kept (0600) in the data directory, so sessions survive a
    restart and several processes agree."""
    if configured:
        return configured
    path = data_dir / "web-secret"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(value)
        return value
