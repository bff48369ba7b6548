"""The dashboard under attack (in-process over ASGI, a real SQLite database with generated reports): no
parameter gives a 500, every response (errors included) carries the security headers, login is throttled per
client and per account with a growing delay, a logged-out or expired session decides nothing, the cookie is
`Secure` when configured, and handlers do not block the event loop."""

from __future__ import annotations

import ast
import asyncio
import logging
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Clock
from starlette.testclient import TestClient

from dashboard.app import create_app
from dashboard.auth import LoginThrottle
from dashboard.web import SECURITY_HEADERS
from sandbox.reportgen import generate, render_html
from storage import Archive, make_engine, session_factory, upgrade
from storage.ingest import Origin, ingest

PASSWORD = "correct horse battery staple"
HUGE = "99999999999999999999"
T0 = datetime(2025, 2, 10, 9, tzinfo=UTC)
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Archive]:
    tmp = tmp_path_factory.mktemp("board")
    engine = make_engine(f"sqlite:///{tmp / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    archive = Archive(tmp / "archive")
    for seed, year in enumerate((2023, 2024), start=1):
        spec = generate(random.Random(seed), agency="淮安市洪泽区财政局", year=year)
        ingest(sessions, archive, render_html(spec, published=f"{year + 1}-01-15"),
               Origin(agency="淮安市洪泽区财政局", region="320813", url=f"https://gov.example/{year}.htm", seen_at=T0))
    return sessions, archive


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def board(store: tuple[Any, Archive]) -> Iterator[dict[str, Any]]:
    sessions, archive = store
    ticker, wall = Ticker(), Wall()
    app = create_app(sessions, archive, clock=Clock(datetime(2025, 4, 10, tzinfo=UTC)), admin_password=PASSWORD,
                     secret_key="test", throttle=LoginThrottle(clock=ticker), wall_clock=wall)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "app": app, "ticker": ticker, "wall": wall}


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert match
    return match.group(1)


def _login(client: TestClient, password: str) -> httpx.Response:
    return client.post("/login", data={"csrf": _csrf(client), "password": password}, follow_redirects=False)


def _headers_ok(response: httpx.Response) -> bool:
    return all(response.headers.get(name) == value for name, value in SECURITY_HEADERS.items())


BAD = [HUGE, "-1", "0", "abc", "1e5", "²", "１", "\x00", "9" * 400]
PAGES = ["/reports?page={}", "/reports?year={}", "/reports?agency_id={}", "/reports/{}", "/findings?page={}",
         "/agencies/{}", "/files/{}", "/agencies?q={}", "/findings?status={}", "/reports?q={}",
         "/api/reports?page={}", "/api/reports?year={}", "/api/reports?agency_id={}", "/api/reports/{}",
         "/api/findings?page={}", "/api/agencies/{}", "/api/agencies?agency_id={}", "/api/findings?region={}"]


def test_no_parameter_gives_a_500_and_every_answer_has_the_headers(board: dict[str, Any]) -> None:
    client = board["client"]
    statuses = {}
    for template in PAGES:
        for value in BAD:
            response = client.get(template.format(quote(value, safe="")))
            statuses[(template, value)] = response.status_code
            assert response.status_code < 500, (template, value, response.text[:300])
            assert _headers_ok(response), (template, value, dict(response.headers))
    assert statuses[("/reports?page={}", HUGE)] == 400 and statuses[("/api/reports/{}", HUGE)] == 404
    assert statuses[("/reports?year={}", "abc")] == 400 and statuses[("/reports/{}", "abc")] == 404
    response = client.post(f"/findings/{HUGE}/decide", data={"csrf": "x", "action": "confirm"})
    assert response.status_code == 404 and _headers_ok(response)
    for path in ("/", "/reports?page=2&year=2024", "/api/reports?year=2024", "/no/such/page", "/api/nothing"):
        response = client.get(path)
        assert response.status_code in (200, 404) and _headers_ok(response), path


def test_a_server_error_carries_the_headers_too(tmp_path: Path) -> None:
    empty = session_factory(make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}"))  # every query fails
    app = create_app(empty, Archive(tmp_path / "a"), clock=Clock(), admin_password=None, secret_key="x")
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/", "/api/reports"):
            response = client.get(path)
            assert response.status_code == 500 and _headers_ok(response), path
            assert "Traceback" not in response.text


def test_login_is_throttled_per_client_with_a_growing_delay(board: dict[str, Any],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    client, ticker = board["client"], board["ticker"]
    caplog.set_level(logging.WARNING, logger="dashboard")
    for _ in range(5):  # a few mistakes are free
        assert _login(client, "wrong").status_code == 403
    assert _login(client, "wrong").status_code == 403  # the 6th failure starts the delay
    waits = []
    for _ in range(4):
        refused = _login(client, PASSWORD)  # even the right password is not looked at while throttled
        assert refused.status_code == 429 and _headers_ok(refused)
        waits.append(int(refused.headers["Retry-After"]))
        ticker.now += waits[-1]
        assert _login(client, "wrong").status_code == 403
    assert waits == [1, 2, 4, 8]
    assert "dashboard login failed from testclient" in caplog.text and "refused: throttled" in caplog.text
    ticker.now += 16
    assert _login(client, PASSWORD).status_code == 303  # after the wait, the right password works


def test_login_is_throttled_per_account_across_clients() -> None:
    ticker = Ticker()
    throttle = LoginThrottle(clock=ticker)
    for n in range(20):
        assert throttle.wait(f"10.0.0.{n}") == 0
        throttle.failed(f"10.0.0.{n}")
    throttle.failed("10.0.1.1")
    assert throttle.wait("10.9.9.9") == 1  # a client never seen before waits: the account is under attack
    for _ in range(5):
        throttle.failed("10.9.9.9")
    assert throttle.wait("10.9.9.9") == 32  # 26 failures for the account: 2 ** (26 - 20 - 1)
    throttle.succeeded("10.9.9.9")
    assert throttle.wait("10.9.9.9") == 0


def _decide(client: TestClient, cookies: httpx.Cookies | None = None) -> int:
    page = client.get("/findings?status=", cookies=cookies)
    finding = re.search(r'action="/findings/(\d+)/decide"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if finding is None or csrf is None:
        return 403  # not logged in: no decision form on the page at all
    response = client.post(f"/findings/{finding.group(1)}/decide", cookies=cookies, follow_redirects=False,
                           data={"csrf": csrf.group(1), "action": "confirm", "back": "/findings"})
    return response.status_code


def test_a_logged_out_or_expired_session_decides_nothing(board: dict[str, Any]) -> None:
    client, wall = board["client"], board["wall"]
    assert _login(client, PASSWORD).status_code == 303
    stolen = httpx.Cookies(client.cookies)
    assert _decide(client) == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/findings").text)
    assert csrf and client.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False).status_code == 303
    with TestClient(board["app"], raise_server_exceptions=False) as other:
        other.cookies = stolen  # the cookie from before the logout (and its CSRF token), replayed
        page = other.get("/findings?status=")
        assert "退出" not in page.text and "/decide" not in page.text
        response = other.post("/findings/1/decide", data={"csrf": csrf.group(1), "action": "confirm"})
        assert response.status_code == 403 and "需要管理员登录" in response.text
    assert _login(client, PASSWORD).status_code == 303
    assert _decide(client) == 303
    wall.now += timedelta(hours=8, minutes=1)  # the session expires
    assert _decide(client) == 403


def test_the_session_cookie_is_secure_when_configured(store: tuple[Any, Archive]) -> None:
    sessions, archive = store
    app = create_app(sessions, archive, clock=Clock(), admin_password=PASSWORD, secret_key="s", https_only=True)
    with TestClient(app, base_url="https://testserver") as client:
        response = _login(client, PASSWORD)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_handlers_do_not_block_the_event_loop(store: tuple[Any, Archive]) -> None:
    sessions, archive = store

    class SlowSessions:
        """Every database session takes 0.6 s to open, as under a slow disk or a busy server."""

        def __call__(self) -> Any:
            time.sleep(0.6)  # a blocking call, as a synchronous driver makes
            return sessions()

    app = create_app(SlowSessions(), archive, clock=Clock(), admin_password=None,  # type: ignore[arg-type]
                     secret_key="s")

    async def four() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.monotonic()
            answers = await asyncio.gather(client.get("/api/reports"), client.get("/reports"),
                                           client.get("/api/agencies"), client.get("/api/findings"))
            assert [a.status_code for a in answers] == [200] * 4
            return time.monotonic() - started

    assert asyncio.run(four()) < 1.8  # in the thread pool they overlap; on the loop they would take 2.4 s


def test_pages_and_api_do_not_import_each_other() -> None:
    for name in ("api.py", "web.py", "auth.py"):
        tree = ast.parse((DASHBOARD / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("app", "dashboard.app"), f"{name} imports the pages module"
                assert not any(alias.name.startswith("_") for alias in node.names), f"{name}: private import"
    tree = ast.parse((DASHBOARD / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not any(alias.name.startswith("_") for alias in node.names), "app.py: private import"


def test_regions_are_cities_and_counties_too(board: dict[str, Any]) -> None:
    client = board["client"]
    totals = {region: client.get("/api/reports", params={"region": region}).json()["total"]
              for region in ("江苏", "淮安市", "洪泽区", "320813", "北京", "淮按")}
    assert totals == {"江苏": 2, "淮安市": 2, "洪泽区": 2, "320813": 2, "北京": 0, "淮按": 0}
