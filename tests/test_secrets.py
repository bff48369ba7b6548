"""No secret in any output (issue 14): a wrong or revoked Telegram token never appears in a traceback, a log
line, a retry log, `deliveries.last_error` or `nianbao status`; a base URL without `/bot` does not put the
token into an "Invalid port" message; a password in NIANBAO_SITES is never logged."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, Clock, free_port
from sqlalchemy import select

from domain.redact import RedactingFilter, redact
from notifier.channels import SendFailed
from notifier.outbox import dispatch
from notifier.subscriptions import subscribe
from notifier.telegram_bot import TelegramChannel
from sandbox.telegram import TelegramEmulator
from storage import make_engine, session_factory, upgrade
from storage.crawl_state import SiteProfileRow, site_result, sync_sites
from storage.events import record_event
from storage.models import Delivery

REVOKED = "555000111:AAF-revoked-token-0123456789abcdefghij"
SITES_PASSWORD = "regi5try-Pa55"


def nianbao(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_nianbao_bot_with_a_revoked_token_says_so_without_the_token(tmp_path: Path) -> None:
    emulator = TelegramEmulator("555000111:the-current-token").start()
    env = {"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_TELEGRAM_TOKEN": REVOKED,
           "NIANBAO_TELEGRAM_BASE_URL": emulator.base_url}
    try:
        assert nianbao("db", "upgrade", env=env).returncode == 0
        result = nianbao("bot", env=env)
    finally:
        emulator.shutdown()
    assert result.returncode != 0 and "rejected" in result.stderr
    assert REVOKED not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_revoked_token_is_not_in_stored_errors_or_status(tmp_path: Path) -> None:
    emulator = TelegramEmulator("555000111:the-current-token").start()
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    clock = Clock()
    with sessions() as session, session.begin():
        subscribe(session, channel="telegram", address="1001", now=clock.now - timedelta(days=1))
        record_event(session, "NEW", "NEW:test", {"agency": "某局", "title": "年报"}, clock.now)
    # the revoked token, and a base URL without /bot (the token used to run into the port: "Invalid port")
    channels = [TelegramChannel(REVOKED, emulator.base_url), TelegramChannel(REVOKED, emulator.base_url[:-4]),
                TelegramChannel(REVOKED, f"http://127.0.0.1:{free_port()}")]  # and an unreachable one
    try:
        for channel in channels:
            with pytest.raises(SendFailed) as caught:
                channel.send("1001", "测试")
            assert REVOKED not in str(caught.value) and "Invalid port" not in str(caught.value)
            assert caught.value.__cause__ is None or REVOKED not in str(caught.value.__cause__)
        result = dispatch(sessions, {"telegram": channels[0]}, clock)
    finally:
        for channel in channels:
            channel.close()
        emulator.shutdown()
    assert result.deferred == 1
    with sessions() as session:
        errors = [d.last_error or "" for d in session.scalars(select(Delivery))]
    assert errors and all(REVOKED not in e for e in errors) and all("rejected" in e for e in errors)
    status = nianbao("status", env={"NIANBAO_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
                                    "NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_TELEGRAM_TOKEN": REVOKED})
    assert status.returncode == 0 and REVOKED not in status.stdout + status.stderr


def test_log_records_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("nianbao.test-secrets")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"Invalid port: '8081{REVOKED}' at http://127.0.0.1:8081/bot{REVOKED}/getMe")
        except RuntimeError:
            logger.exception("bot failed with %s", f"https://api.telegram.org/bot{REVOKED}/getUpdates")
        logger.warning("registry %s unreadable", f"https://reader:{SITES_PASSWORD}@example.org/sites.yaml")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError" in text and "reader:***@example.org" in text
    assert REVOKED not in text and SITES_PASSWORD not in text


def test_a_password_in_the_sites_url_is_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from monitor.config import Settings
    from monitor.daemon import registry_keys

    location = f"http://reader:{SITES_PASSWORD}@127.0.0.1:{free_port()}/sites.yaml"
    with caplog.at_level(logging.INFO):
        assert registry_keys(location)() == []
    assert "unreadable" in caplog.text and SITES_PASSWORD not in caplog.text
    assert SITES_PASSWORD not in str(Settings.from_env({"NIANBAO_SITES": location}).describe())
    result = nianbao("crawl", "--once", env={"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_SITES": location})
    assert result.returncode != 0 and "site registry" in result.stderr and "Traceback" not in result.stderr
    assert SITES_PASSWORD not in result.stderr + result.stdout


def test_a_sites_stored_error_is_redacted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    ids = sync_sites(sessions, [SiteProfileRow(key="s", agency="淮安市洪泽区人民政府", region=None, kind=None,
                                                platform="trs", list_urls=["http://x.example/"], profile={})], now)
    site_result(sessions, ids["s"], now, ok=False, entries=0,
                error=f"GET http://u:{SITES_PASSWORD}@x.example/list: 500")
    from storage.crawl_state import site_statuses
    from storage.models import Agency

    with sessions() as session:
        rows = site_statuses(session)
        agency = session.scalars(select(Agency)).one()
    assert rows[0].last_error and SITES_PASSWORD not in rows[0].last_error
    assert agency.region_code == "320813"  # a registry entry without `region`: read from the agency's name
    from starlette.testclient import TestClient

    from dashboard.app import create_app
    from storage import Archive

    app = create_app(sessions, Archive(tmp_path / "archive"), clock=lambda: now, admin_password=None,
                     secret_key="k" * 32)
    with TestClient(app) as client:
        page = client.get("/")
        detail = client.get(f"/agencies/{agency.id}")
    assert page.status_code == 200 and "x.example/list" in page.text and SITES_PASSWORD not in page.text
    assert detail.status_code == 200 and SITES_PASSWORD not in detail.text


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "2026-01-31 09:00:00 poll: 3/3 sites, 127.0.0.1:8765 ok; 结转下年度 12 件"
    assert redact(text) == text
