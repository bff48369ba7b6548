"""The Telegram bot as a user meets it, against the Bot API emulator (issues 13 and 14): every message gets an
answer, never a crash; buttons carry ids within Telegram's 64 bytes; replies are bounded; regions are any
province, city or county; the command menu is registered however the bot runs; an unreachable API at start
is retried."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock, free_port
from sqlalchemy import select

from notifier.telegram_bot import TelegramBot, TokenRejected, normalize_base_url, run_bot
from sandbox.reportgen import generate, render_html
from sandbox.telegram import TelegramEmulator
from storage import Archive, Origin, ingest, make_engine, session_factory, upgrade
from storage.models import Agency, Report, Subscription

TOKEN = "123456:TEST-token-for-the-bot"
LONG_AGENCY = "江苏省淮安市洪泽区人民政府办公室政府信息公开与政务服务管理中心"  # 30 characters, 90 bytes


class BotRun:
    """The real bot, through `run_bot`, in a thread of its own."""

    def __init__(self, bot: TelegramBot, base_url: str, token: str = TOKEN, first_delay: float = 2.0) -> None:
        self.stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()

        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            self.ready.set()
            try:
                await run_bot(bot, token, base_url, stop=self.stop, first_delay=first_delay, max_delay=1.0)
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def close(self) -> None:
        assert self.loop is not None and self.stop is not None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    emulator = TelegramEmulator(TOKEN).start()
    bot = TelegramBot(sessions, Clock(datetime.now(UTC)), admins={999})
    run = BotRun(bot, emulator.base_url)
    assert emulator.wait_for(lambda: bool(emulator.state.commands))
    yield {"emulator": emulator, "sessions": sessions, "archive": Archive(tmp_path / "a")}
    run.close()
    emulator.shutdown()


def _reply(emulator: TelegramEmulator, chat: int, says: str, contains: str = "") -> str:
    before = len(emulator.state.sent)
    emulator.user_says(chat, says)
    assert emulator.wait_for(lambda: any(m["chat"]["id"] == chat and contains in m["text"]
                                         for m in emulator.state.sent[before:])), (says, emulator.state.sent[-2:])
    return [m for m in emulator.state.sent[before:] if m["chat"]["id"] == chat and contains in m["text"]][-1]["text"]


def _press(emulator: TelegramEmulator, chat: int, data: str, message_id: int, contains: str) -> dict[str, Any]:
    before = len(emulator.state.sent)
    emulator.user_presses(chat, data, message_id)
    assert emulator.wait_for(lambda: any(m["chat"]["id"] == chat and contains in m["text"]
                                         for m in emulator.state.sent[before:])), (data, emulator.state.sent[-2:])
    return [m for m in emulator.state.sent[before:] if m["chat"]["id"] == chat and contains in m["text"]][-1]


def _last_with(emulator: TelegramEmulator, chat: int, contains: str) -> dict[str, Any]:
    return [m for m in emulator.state.sent if m["chat"]["id"] == chat and contains in m["text"]][-1]


def test_help_unknown_commands_and_free_text_are_answered_and_bounded(world: dict[str, Any]) -> None:
    emulator = world["emulator"]
    assert "/subscribe" in _reply(emulator, 1, "/help", "可用命令")
    assert "/report" in _reply(emulator, 1, "/frobnicate now", "没有“/frobnicate”这个命令")
    assert "/help" in _reply(emulator, 1, "你好", "/help")
    # a 5,000-character answer to "which region?" is refused in a short reply, not echoed back
    emulator.user_says(1, "/subscribe")
    assert emulator.wait_for(lambda: any("请选择关注范围" in m["text"] for m in emulator.state.sent))
    menu = _last_with(emulator, 1, "请选择关注范围")
    _press(emulator, 1, "scope:region", menu["message_id"], "请发送地区名称")
    reply = _reply(emulator, 1, "淮" * 5000, "地区")
    assert len(reply) < 100
    assert "您是不是要找" in _reply(emulator, 1, "淮按", "找不到地区")


def test_subscribe_to_a_city_and_a_long_named_agency_by_buttons(world: dict[str, Any]) -> None:
    emulator, sessions = world["emulator"], world["sessions"]
    with sessions() as session, session.begin():
        session.add(Agency(name=LONG_AGENCY, region_code="320813", kind="other", created_at=datetime.now(UTC)))
    emulator.user_says(2, "/subscribe")
    assert emulator.wait_for(lambda: any(m["chat"]["id"] == 2 for m in emulator.state.sent))
    menu = _last_with(emulator, 2, "请选择关注范围")
    _press(emulator, 2, "scope:region", menu["message_id"], "请发送地区名称")
    kinds = _reply(emulator, 2, "淮安", "请选择提醒类型")
    assert "江苏省淮安市" in kinds
    message = _last_with(emulator, 2, "请选择提醒类型")
    assert "江苏省淮安市" in _press(emulator, 2, "done", message["message_id"], "已订阅")["text"]

    emulator.user_says(2, "/subscribe")
    assert emulator.wait_for(lambda: len([m for m in emulator.state.sent if "请选择关注范围" in m["text"]
                                          and m["chat"]["id"] == 2]) == 2)
    menu = _last_with(emulator, 2, "请选择关注范围")
    _press(emulator, 2, "scope:agency", menu["message_id"], "关键词")
    _reply(emulator, 2, "政务服务管理中心", "请选择机关")
    keyboard = _last_with(emulator, 2, "请选择机关")["reply_markup"]["inline_keyboard"]
    data = keyboard[0][0]["callback_data"]
    assert keyboard[0][0]["text"] == LONG_AGENCY and len(data.encode()) <= 64 and LONG_AGENCY not in data
    choice = _press(emulator, 2, data, _last_with(emulator, 2, "请选择机关")["message_id"], "请选择提醒类型")
    _press(emulator, 2, "done", choice["message_id"], "已订阅")
    with sessions() as session:
        scopes = [s.scope for s in session.scalars(select(Subscription).order_by(Subscription.id))]
    assert scopes == [{"regions": ["3208"], "agencies": []}, {"regions": [], "agencies": [LONG_AGENCY]}]


@pytest.mark.parametrize("data", ["unsub:abc", "unsub:", "agency:", "agency:abc", "kind:", "scope:everything",
                                  "unsub:99999999999999999999"])
def test_bad_button_data_gets_a_polite_answer(world: dict[str, Any], data: str) -> None:
    emulator, sessions = world["emulator"], world["sessions"]
    emulator.user_presses(3, data, 1)
    assert emulator.wait_for(lambda: any(m["chat"]["id"] == 3 and "失效" in m["text"] for m in emulator.state.sent))
    with sessions() as session:
        assert session.scalars(select(Subscription)).all() == []  # `agency:` never subscribes to everything


def test_report_command_with_bad_numbers_and_empty_cells(world: dict[str, Any]) -> None:
    emulator, sessions, archive = world["emulator"], world["sessions"], world["archive"]
    for bad in ("/report 99999999999999999999", "/report ²", "/report abc", "/report"):
        assert "用法" in _reply(emulator, 4, bad, "用法")
    assert "没有编号为 424242 的报告" in _reply(emulator, 4, "/report 424242", "没有编号")
    spec = generate(random.Random(3), agency="淮安市洪泽区人民政府")
    result = ingest(sessions, archive, render_html(spec), Origin(agency="淮安市洪泽区人民政府", url="https://x.example/r",
                                                                 seen_at=datetime.now(UTC), region="320813"))
    with sessions() as session, session.begin():
        report = session.get(Report, result.report_id)
        assert report is not None and report.record is not None
        record = dict(report.record)
        review = dict(record["tables"]["review"])
        review["litigation_after_review"] = dict(review["litigation_after_review"], total=None)
        record["tables"] = dict(record["tables"], review=review)
        report.record = record
    text = _reply(emulator, 4, f"/report {result.report_id}", "行政复议")
    assert "None" not in text and "＋空件" in text


def test_latest_by_city_finds_a_county_report(world: dict[str, Any]) -> None:
    emulator, sessions, archive = world["emulator"], world["sessions"], world["archive"]
    spec = generate(random.Random(5), agency="淮安市洪泽区教育局")
    ingest(sessions, archive, render_html(spec), Origin(agency="淮安市洪泽区教育局", url="https://x.example/l",
                                                        seen_at=datetime.now(UTC)))  # no region: from the name
    assert "淮安市洪泽区教育局" in _reply(emulator, 5, "/latest 淮安", "最近发现的报告")
    assert "暂无报告" in _reply(emulator, 5, "/latest 南京", "暂无报告")


def test_unreachable_api_at_start_is_retried_and_the_menu_registered(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    port = free_port()
    bot = TelegramBot(session_factory(engine), Clock())
    run = BotRun(bot, f"http://127.0.0.1:{port}", first_delay=0.2)  # nothing listens yet; no /bot suffix
    try:
        threading.Event().wait(1.0)
        assert run.thread.is_alive() and run.error is None
        emulator = TelegramEmulator(TOKEN, port=port).start()
        assert emulator.wait_for(lambda: bool(emulator.state.commands), timeout=20)
        assert {c["command"] for c in emulator.state.commands} >= {"help", "subscribe", "report"}
    finally:
        run.close()
    emulator.shutdown()


def test_a_rejected_token_ends_with_a_message_without_the_token(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    emulator = TelegramEmulator("999:the-real-token").start()
    run = BotRun(TelegramBot(session_factory(engine), Clock()), emulator.base_url)
    run.thread.join(20)
    emulator.shutdown()
    assert isinstance(run.error, TokenRejected) and TOKEN not in str(run.error)


def test_base_url_gets_its_bot_suffix() -> None:
    assert normalize_base_url("http://127.0.0.1:8081") == "http://127.0.0.1:8081/bot"
    assert normalize_base_url("http://127.0.0.1:8081/bot/") == "http://127.0.0.1:8081/bot"
    assert normalize_base_url(None) is None


def test_the_monitors_bot_thread_registers_the_command_menu(tmp_path: Path) -> None:
    """Under `nianbao run` the menu was never registered (only `run_polling` ran post_init)."""
    from monitor.config import Settings
    from monitor.daemon import BotThread

    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    emulator = TelegramEmulator(TOKEN).start()
    settings = Settings.from_env({"NIANBAO_DATA_DIR": str(tmp_path), "NIANBAO_TELEGRAM_TOKEN": TOKEN,
                                  "NIANBAO_TELEGRAM_BASE_URL": emulator.base_url})
    thread = BotThread(settings, session_factory(engine), Clock())
    thread.start()
    try:
        assert emulator.wait_for(lambda: bool(emulator.state.commands), timeout=20)
        assert "/help" in _reply(emulator, 6, "/help", "可用命令")
    finally:
        thread.stop()
        emulator.shutdown()
    assert not thread.is_alive()


def test_bot_api_errors_at_start_are_retried(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    emulator = TelegramEmulator(TOKEN).start()
    emulator.fail_next(502, calls=2)  # getMe answers 502 twice, then the bot starts
    run = BotRun(TelegramBot(session_factory(engine), Clock()), emulator.base_url, first_delay=0.2)
    try:
        assert emulator.wait_for(lambda: bool(emulator.state.commands), timeout=20) and run.error is None
    finally:
        run.close()
        emulator.shutdown()
