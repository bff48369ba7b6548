"""The reach gaps closed from the command line and the dispatcher: `nianbao subscribe` for work-chat robots
(the web sign-up's rules, against the robot emulators), `nianbao digest --send` with RFC 8058 one-click
unsubscribe (real SMTP, aiosmtpd, and the live dashboard the link points at), and the dashboard link in
Telegram and console alerts exactly when NIANBAO_PUBLIC_URL is set."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Clock
from sqlalchemy import select

from monitor.cli import main
from monitor.config import Settings
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.plant import PLANTS
from sandbox.workchat import RobotServer
from storage import Archive, make_engine, session_factory
from storage.ingest import Origin, ingest
from storage.models import Subscription


@pytest.fixture
def robots() -> Iterator[RobotServer]:
    server = RobotServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("NIANBAO_CONFIG", "NIANBAO_DATABASE_URL", "NIANBAO_PUBLIC_URL", "NIANBAO_WEB_SECRET",
                 "NIANBAO_SMTP_HOST", "NIANBAO_WEBHOOK_ALLOWED_HOSTS", "NIANBAO_NOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NIANBAO_DATA_DIR", str(tmp_path / "data"))
    assert main(["db", "upgrade"]) == 0
    return tmp_path / "data"


def stored(data_dir: Path) -> list[Subscription]:
    engine = make_engine(f"sqlite:///{data_dir / 'nianbao.db'}")
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Subscription).order_by(Subscription.id)))
    finally:
        engine.dispose()


def test_cli_robot_subscription_is_active_only_when_the_platform_accepted_the_test(
        data_dir: Path, robots: RobotServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    signed = robots.add("dingtalk", "ding-1", secret="SECright")
    lark = robots.add("feishu", "lark-1", secret="SEClark")
    wecom = robots.add("wecom", "wecom-1")

    # as in production: 127.0.0.1 is private, refused before anything is sent
    with pytest.raises(SystemExit, match="private"):
        main(["subscribe", "--channel", "wecom", "--address", wecom, "--region", "淮安市"])
    assert robots.requests == 0 and stored(data_dir) == []
    monkeypatch.setenv("NIANBAO_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")

    with pytest.raises(SystemExit, match="not a"):  # a 飞书 URL given as 钉钉
        main(["subscribe", "--channel", "dingtalk", "--address", lark])
    with pytest.raises(SystemExit, match="淮按"):  # a bad region: refused before the test message
        main(["subscribe", "--channel", "wecom", "--address", wecom, "--region", "淮按市"])
    assert robots.requests == 0

    # the platform refuses the test (wrong signing secret, unknown key): nothing is stored, not even the key
    assert main(["subscribe", "--channel", "dingtalk", "--address", signed, "--secret", "SECwrong"]) == 2
    assert "310000" in capsys.readouterr().err
    assert main(["subscribe", "--channel", "wecom", "--address", robots.url("wecom", "no-such-key")]) == 2
    assert "93000" in capsys.readouterr().err
    assert stored(data_dir) == [] and robots.received("dingtalk", "ding-1") == []

    assert main(["subscribe", "--channel", "dingtalk", "--address", signed, "--secret", "SECright",
                 "--region", "淮安市", "--kinds", "errors"]) == 0
    out = capsys.readouterr().out
    assert "test message accepted" in out and "SECright" not in out and "ding-1" not in out
    assert main(["subscribe", "--channel", "feishu", "--address", lark, "--secret", "SEClark",
                 "--agency", "淮安市洪泽区财政局"]) == 0
    # the same robot and scope again replaces the first, so nothing arrives twice
    assert main(["subscribe", "--channel", "dingtalk", "--address", signed, "--secret", "SECright",
                 "--region", "3208", "--kinds", "errors,warnings"]) == 0
    assert "订阅测试" in str(robots.received("dingtalk", "ding-1")[0])
    assert "订阅测试" in str(robots.received("feishu", "lark-1")[0])
    active = [s for s in stored(data_dir) if s.active]
    assert [(s.channel, s.kinds, s.scope) for s in active] == [
        ("feishu", ["new", "errors", "warnings", "deadlines", "changes"],
         {"regions": [], "agencies": ["淮安市洪泽区财政局"]}),
        ("dingtalk", ["errors", "warnings"], {"regions": ["3208"], "agencies": []})]
    assert all(s.token_nonce and s.confirmed_at and s.origin == "cli" for s in active)
    assert active[1].address.endswith("#secret=SECright")
    assert main(["subscriptions"]) == 0  # the list shows robots masked: their key and secret are credentials
    listed = capsys.readouterr().out
    assert "dingtalk:http://127.0.0.1/…" in listed and "ding-1" not in listed and "SECright" not in listed


T0 = datetime(2025, 2, 10, 9, tzinfo=UTC)


def _publish(sessions, archive: Archive, agency: str, region: str, seed: int, published=None):  # type: ignore[no-untyped-def]
    spec = generate(random.Random(seed), agency=agency, year=2024)
    planted = PLANTS["T3-BALANCE"](spec, random.Random(seed))
    assert planted is not None
    result = ingest(sessions, archive, render_html(planted.spec, published="2025-01-15"),
                    Origin(agency=agency, region=region, url=f"https://gov.example/{region}/{seed}.htm",
                           seen_at=T0 + timedelta(days=1), published=published))
    assert result.report_id is not None
    return result.report_id


def test_dispatched_telegram_and_console_alerts_carry_the_dashboard_link_only_with_a_public_url(
        tmp_path: Path) -> None:
    from notifier.channels import ConsoleChannel
    from notifier.outbox import dispatch
    from notifier.subscriptions import subscribe
    from notifier.telegram_bot import TelegramChannel
    from sandbox.telegram import TelegramEmulator
    from storage import upgrade

    emulator = TelegramEmulator("123:abc").start()
    try:
        for public_url in ("https://nianbao.example.org/watch", None):
            folder = tmp_path / ("public" if public_url else "private")
            env = {"NIANBAO_DATA_DIR": str(folder), **({"NIANBAO_PUBLIC_URL": public_url} if public_url else {})}
            settings = Settings.from_env(env)
            folder.mkdir()
            engine = make_engine(settings.database_url)
            upgrade(engine)
            sessions, archive = session_factory(engine), Archive(folder / "archive")
            chat = 4242 if public_url else 4343
            with sessions() as session, session.begin():
                subscribe(session, channel="telegram", address=str(chat), kinds=["errors"], now=T0)
                subscribe(session, channel="console", address="desk", kinds=["errors"], now=T0)
            report_id = _publish(sessions, archive, "淮安市洪泽区财政局", "320813", 7)
            out = io.StringIO()
            channels = {"telegram": TelegramChannel("123:abc", emulator.base_url), "console": ConsoleChannel(out)}
            result = dispatch(sessions, channels, Clock(T0 + timedelta(days=2)), links=settings.public_links())
            assert result.sent >= 2 and not result.failed
            telegram = "\n".join(emulator.messages_to(chat))
            for shown in (telegram, out.getvalue()):
                assert "【错误】淮安市洪泽区财政局" in shown and "链接：https://gov.example/320813/7.htm" in shown
                if public_url:
                    assert f"监测详情：{public_url}/reports/{report_id}" in shown, shown
                else:
                    assert "监测详情" not in shown and "/reports/" not in shown, shown
            engine.dispose()
    finally:
        emulator.shutdown()
        emulator.server_close()


def test_cli_digest_send_carries_the_signed_one_click_unsubscribe(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time

    import httpx
    import uvicorn
    from aiosmtpd.controller import Controller
    from conftest import Inbox, free_port

    from monitor.web_thread import dashboard_app
    from notifier.subscriptions import subscribe

    inbox, smtp_port, web_port = Inbox(), free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    monkeypatch.setenv("NIANBAO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NIANBAO_SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("NIANBAO_SMTP_FROM", "digest@nianbao.example")
    monkeypatch.setenv("NIANBAO_PUBLIC_URL", base)
    settings = Settings.from_env()  # no NIANBAO_WEB_SECRET: the key the dashboard keeps in the data directory
    engine = make_engine(settings.database_url)
    sessions, archive = session_factory(engine), Archive(data_dir / "archive")
    with sessions() as session, session.begin():
        for kinds in (["errors"], ["new"]):  # one click stops both, as the monitor's digest link does
            subscribe(session, channel="email", address="office@example.org", regions=["3208"], kinds=kinds,
                      now=T0 - timedelta(days=3), origin="web", nonce="n1")
    report_id = _publish(sessions, archive, "淮安市洪泽区财政局", "320813", 11)
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    server = uvicorn.Server(uvicorn.Config(dashboard_app(settings, sessions, Clock(T0)), host="127.0.0.1",
                                           port=web_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        # a one-off to someone not subscribed: sent, but with no header promising an unsubscribe
        assert main(["digest", "--week", "2025-W07", "--to", "nobody@example.org", "--send"]) == 0
        assert "no e-mail subscription" in capsys.readouterr().err
        assert inbox.messages[0]["List-Unsubscribe"] is None
        assert main(["digest", "--week", "2025-W07", "--to", "office@example.org", "--send"]) == 0
        mail = inbox.messages[1]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = mail["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(f"{base}/unsubscribe?t=") and "mailto:" not in mail["List-Unsubscribe"]
        text = mail.get_body(preferencelist=("plain",)).get_content()
        assert "淮安市洪泽区财政局" in text and f"{base}/reports/{report_id}" in text
        assert f"一键退订：{unsubscribe}" in text and f"{base}/subscribe/manage?t=" in text
        # RFC 8058: the mail client POSTs to it, no login; the dashboard verifies it with its own kept key
        assert httpx.post(unsubscribe[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"}).status_code == 404
        assert httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        with sessions() as session:
            assert [s.active for s in session.scalars(select(Subscription))] == [False, False]
    finally:
        server.should_exit = True
        thread.join(10)
        controller.stop()
        engine.dispose()
