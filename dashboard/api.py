"""The read-only JSON API for researchers: reports (with the canonical record), findings and agencies, the same
queries as the pages. Documented at /api and in the README. Handlers are plain functions (Starlette runs
them in its thread pool); parameters are validated by dashboard/web.py (400/404, never 500)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import queries
from .web import MAX_ID, int_param, page_param, path_id, region_param, report_filters, text_param

API_PAGE = 100


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _finding(row: Any) -> dict[str, Any]:
    return {"id": row.id, "report_id": row.report_id, "fingerprint": row.fingerprint, "rule": row.rule,
            "severity": row.severity, "message": row.message, "evidence": row.evidence, "status": row.status,
            "note": row.note, "decided_at": _plain(row.decided_at)}


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        import json

        return json.dumps(content, ensure_ascii=False, default=_plain, separators=(",", ":")).encode("utf-8")


def api_routes(sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> list[Route]:
    def reports(request: Request) -> Response:
        filters = report_filters(request)
        with sessions() as session:
            rows, total = queries.report_rows(session, filters, per_page=API_PAGE)
        return JSON({"total": total, "page": filters.page, "per_page": API_PAGE,
                     "reports": [{k: _plain(v) for k, v in row.items()} for row in rows]})

    def report(request: Request) -> Response:
        with sessions() as session:
            detail = queries.report_detail(session, path_id(request, "report_id"))
            if detail is None:
                raise HTTPException(404, "no such report")
            report = detail["report"]
            body = {"id": report.id, "agency": {"id": detail["agency"].id, "name": detail["agency"].name,
                                                "region_code": detail["agency"].region_code},
                    "url": detail["document"].url, "published_on": _plain(detail["document"].published_on),
                    "is_latest": detail["is_latest"], "parse_error": report.error, "record": report.record,
                    "findings": [_finding(f) for f in detail["findings"]],
                    "versions": [{k: _plain(v) for k, v in version.items()} for version in detail["versions"]]}
        return JSON(body)

    def findings(request: Request) -> Response:
        params = request.query_params
        page = page_param(params)
        with sessions() as session:
            rows, total = queries.finding_rows(session, status=text_param(params, "status"),
                                               severity=text_param(params, "severity"),
                                               rule=text_param(params, "rule"), region=region_param(params),
                                               page=page, per_page=API_PAGE)
            out = [{**_finding(r["finding"]), "agency": r["agency"], "year": r["year"], "title": r["title"]}
                   for r in rows]
        return JSON({"total": total, "page": page, "per_page": API_PAGE, "findings": out})

    def agencies(request: Request) -> Response:
        params = request.query_params
        int_param(params, "agency_id", 1, MAX_ID)  # not a filter here, but never a 500
        with sessions() as session:
            rows = queries.agency_rows(session, q=text_param(params, "q"), region=region_param(params))
            out = [{"id": r["agency"].id, "name": r["agency"].name, "region_code": r["agency"].region_code,
                    "kind": r["agency"].kind, "reports": r["reports"], "latest_year": r["latest"]} for r in rows]
        return JSON({"total": len(out), "agencies": out})

    def agency(request: Request) -> Response:
        with sessions() as session:
            detail = queries.agency_detail(session, path_id(request, "agency_id"))
            if detail is None:
                raise HTTPException(404, "no such agency")
            agency_row = detail["agency"]
            body = {"id": agency_row.id, "name": agency_row.name, "region_code": agency_row.region_code,
                    "kind": agency_row.kind,
                    "reports": [{k: _plain(v) for k, v in row.items()} for row in detail["reports"]],
                    "figures": [{"label": f["label"], "values": {str(y): v for y, v in f["values"].items()}}
                                for f in detail["figures"]],
                    "carry_over": detail["carry"]}
        return JSON(body)

    return [Route("/reports", reports), Route("/reports/{report_id:int}", report), Route("/findings", findings),
            Route("/agencies", agencies), Route("/agencies/{agency_id:int}", agency)]
