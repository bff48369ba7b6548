"""The real python-telegram-bot Application against the local Bot API emulator: subscribing through the
bot, alerts reaching exactly the right chats, and 429 / 5xx from Telegram without loss or duplicates."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock
from sqlalchemy import select

from notifier.outbox import dispatch
from notifier.telegram_bot import TelegramBot, TelegramChannel
from sandbox.reportgen import generate, render_html
from sandbox.reportgen.plant import PLANTS
from sandbox.telegram import TelegramEmulator
from storage import Archive, Origin, ingest, make_engine, session_factory, upgrade
from storage.models import Delivery, Subscription

TOKEN = "123456:TEST-token"
T0 = datetime(2024, 2, 1, 9, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    emulator = TelegramEmulator(TOKEN).start()
    clock = Clock()
    bot = TelegramBot(sessions, clock, admins={999})
    application = bot.build(TOKEN, emulator.base_url)
    stop = threading.Event()

    async def run() -> None:
        await application.initialize()
        await bot.register_commands(application)  # run_polling() does this itself through post_init
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.05, timeout=1)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await application.updater.stop()
        await application.stop()
        await application.shutdown()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    assert emulator.wait_for(lambda: bool(emulator.state.commands))  # setMyCommands at start-up
    yield {"emulator": emulator, "sessions": sessions, "archive": Archive(tmp_path / "a"), "clock": clock}
    stop.set()
    thread.join(20)
    emulator.shutdown()


def _last(emulator: TelegramEmulator, chat: int, contains: str) -> dict[str, Any]:
    assert emulator.wait_for(lambda: any(contains in m["text"] for m in emulator.state.sent
                                         if m["chat"]["id"] == chat)), (contains, emulator.state.sent[-3:])
    return [m for m in emulator.state.sent if m["chat"]["id"] == chat and contains in m["text"]][-1]


def _subscribe_by_region(emulator: TelegramEmulator, chat: int, region: str) -> None:
    emulator.user_says(chat, "/subscribe")
    menu = _last(emulator, chat, "请选择关注范围")
    emulator.user_presses(chat, "scope:region", menu["message_id"])
    _last(emulator, chat, "请发送地区名称")
    emulator.user_says(chat, region)
    kinds = _last(emulator, chat, "请选择提醒类型")
    emulator.user_presses(chat, "done", kinds["message_id"])
    _last(emulator, chat, "已订阅")


def test_subscribe_through_the_bot_and_receive_exactly_ones_own_alerts(world: dict[str, Any]) -> None:
    emulator, sessions, archive, clock = world["emulator"], world["sessions"], world["archive"], world["clock"]
    emulator.user_says(1001, "/start")
    assert "年报" in _last(emulator, 1001, "监测机器人")["text"]
    _subscribe_by_region(emulator, 1001, "江苏")
    emulator.user_says(1002, "/subscribe")
    menu = _last(emulator, 1002, "请选择关注范围")
    emulator.user_presses(1002, "scope:all", menu["message_id"])
    kinds = _last(emulator, 1002, "请选择提醒类型")
    emulator.user_presses(1002, "kind:new", kinds["message_id"])  # this one wants no "new report" alerts
    emulator.user_presses(1002, "done", kinds["message_id"])
    _last(emulator, 1002, "已订阅")
    with sessions() as session:
        rows = {r.address: r for r in session.scalars(select(Subscription))}
    assert rows["1001"].scope["regions"] == ["32"] and "new" in rows["1001"].kinds
    assert rows["1002"].scope == {"regions": [], "agencies": []} and "new" not in rows["1002"].kinds

    clock.now = datetime.now(UTC)
    for seed, (agency, region, planted) in enumerate([("淮安市洪泽区人民政府", "320813", "T4-BLOCK"),
                                                      ("北京市西城区教育局", "110102", None)]):
        spec = generate(random.Random(seed), agency=agency)
        if planted:
            result = PLANTS[planted](spec, random.Random(seed))
            assert result is not None
            spec = result.spec
        ingest(sessions, archive, render_html(spec), Origin(agency=agency, url=f"https://x.example/{seed}",
                                                            seen_at=clock.now, region=region))
    channel = TelegramChannel(TOKEN, emulator.base_url)
    with sessions() as session:
        queued = len(session.scalars(select(Delivery)).all())
    assert dispatch(sessions, {"telegram": channel}, clock).sent == queued
    to_1001 = emulator.messages_to(1001)
    alerts_1001 = [m for m in to_1001 if "【" in m]
    assert len(alerts_1001) == 2 and all("淮安市洪泽区人民政府" in m for m in alerts_1001)
    # the rule by its Chinese name, the link and the report's number for /report
    assert any("表四复议诉讼数字不平" in m and "链接：https://x.example/0" in m and "/report " in m
               for m in alerts_1001)
    alerts_1002 = [m for m in emulator.messages_to(1002) if "【" in m]
    assert any("表四复议诉讼数字不平" in m for m in alerts_1002) and not any("T4-BLOCK" in m for m in alerts_1002)
    assert not any("【新报告】" in m for m in alerts_1002)  # it chose no new-report alerts
    assert len(to_1001) + len(emulator.messages_to(1002)) - queued == len(  # nothing else, nothing twice
        [m for m in to_1001 + emulator.messages_to(1002) if "【" not in m])


def test_telegram_429_and_5xx_delay_but_never_lose_or_double(world: dict[str, Any]) -> None:
    emulator, sessions, archive, clock = world["emulator"], world["sessions"], world["archive"], world["clock"]
    _subscribe_by_region(emulator, 1003, "北京")
    clock.now = datetime.now(UTC)
    for seed in range(3):
        ingest(sessions, archive, render_html(generate(random.Random(10 + seed), agency=f"北京市某局{seed}")),
               Origin(agency=f"北京市某局{seed}", url=f"https://y.example/{seed}", seen_at=clock.now, region="110102"))
    emulator.fail_next(429, 2, retry_after=3)
    emulator.fail_next(502, 2)
    channel = TelegramChannel(TOKEN, emulator.base_url)
    sent = 0
    for _ in range(12):
        sent += dispatch(sessions, {"telegram": channel}, clock).sent
        clock.now += timedelta(minutes=3)
    with sessions() as session:
        statuses = [d.status for d in session.scalars(select(Delivery))]
    assert statuses == ["sent"] * len(statuses) and sent == len(statuses) >= 3
    alerts = [m for m in emulator.messages_to(1003) if "【" in m]
    assert len(alerts) == len(statuses)  # every delivery exactly once, despite 429 and 502
    assert len([m for m in alerts if "【新报告】" in m]) == 3


def test_report_status_and_admin_commands(world: dict[str, Any]) -> None:
    emulator, sessions, archive, clock = world["emulator"], world["sessions"], world["archive"], world["clock"]
    spec = PLANTS["T4-BLOCK"](generate(random.Random(4), agency="某市某局"), random.Random(4))
    assert spec is not None
    result = ingest(sessions, archive, render_html(spec.spec), Origin(agency="某市某局", url="https://z.example/1",
                                                                     seen_at=clock.now))
    emulator.user_says(1004, f"/report {result.report_id}")
    text = _last(emulator, 1004, "发现问题")["text"]
    assert "T4-BLOCK" not in text and "表四" in text and "https://z.example/1" in text and "存档" in text
    emulator.user_says(1004, "/latest")
    assert f"#{result.report_id}" in _last(emulator, 1004, "最近发现的报告")["text"]
    emulator.user_says(1004, "/status")
    assert "已收录报告 1 份" in _last(emulator, 1004, "监测站点")["text"]
    emulator.user_says(1004, "/sites")
    _last(emulator, 1004, "仅限管理员")
    emulator.user_says(999, "/sites")
    _last(emulator, 999, "所有站点正常")
