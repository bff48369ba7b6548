"""The Telegram bot (python-telegram-bot 22) and the Telegram channel of the outbox. Everything a person
reads is Chinese; the token and the API base URL come from configuration, never from code or logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from storage.models import Agency, Delivery, Document, Report, Site, Subscription

from .channels import SendFailed
from .matching import ALERT_KINDS
from .messages import split
from .subscriptions import describe, subscribe, unsubscribe

COMMANDS = [
    ("start", "这个机器人能做什么"), ("subscribe", "订阅提醒（按地区、机关或全部）"), ("list", "查看我的订阅"),
    ("unsubscribe", "取消订阅"), ("latest", "最近发现的报告，可加地区：/latest 江苏"),
    ("report", "查看一份报告：/report 编号"), ("status", "监测状态"),
]
WELCOME = ("您好！这是政府信息公开工作年度报告（年报）监测机器人。\n"
           "它持续查看各级政府网站，发现新年报后自动核对表格勾稽关系、正文与表格是否一致、日期与期限，"
           "并在发现新报告、错误、逾期或未发布、报告被修改或删除时提醒您。\n\n"
           "/subscribe 订阅提醒\n/list 我的订阅\n/unsubscribe 取消订阅\n/latest 最近的报告\n"
           "/report 编号 查看报告详情\n/status 监测状态")


class TelegramBot:
    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime],
                 admins: Iterable[int] = ()) -> None:
        self.sessions, self.now, self.admins = sessions, now, frozenset(admins)

    def build(self, token: str, base_url: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
        builder = Application.builder().token(token).rate_limiter(AIORateLimiter(max_retries=3))
        if base_url:
            builder = builder.base_url(base_url)
        application = builder.post_init(self.register_commands).build()
        for name, handler in (("start", self.start), ("subscribe", self.subscribe), ("list", self.list_subscriptions),
                              ("unsubscribe", self.unsubscribe), ("latest", self.latest), ("report", self.report),
                              ("status", self.status), ("sites", self.sites)):
            application.add_handler(CommandHandler(name, handler))
        application.add_handler(CallbackQueryHandler(self.button))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.text))
        return application

    async def register_commands(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await application.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])

    async def _db(self, work: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with self.sessions() as session, session.begin():
                return work(session)

        return await asyncio.to_thread(run)

    # ---------------------------------------------------------------- commands
    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(WELCOME)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and context.user_data is not None
        context.user_data.clear()
        keyboard = [[InlineKeyboardButton("全部地区和机关", callback_data="scope:all")],
                    [InlineKeyboardButton("按地区", callback_data="scope:region"),
                     InlineKeyboardButton("按机关", callback_data="scope:agency")]]
        await update.effective_message.reply_text("请选择关注范围：", reply_markup=InlineKeyboardMarkup(keyboard))

    async def list_subscriptions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        chat = str(update.effective_chat.id)
        rows = await self._db(lambda s: [describe(r) for r in s.scalars(select(Subscription).where(
            Subscription.channel == "telegram", Subscription.address == chat, Subscription.active.is_(True)))])
        empty = "您还没有订阅。发送 /subscribe 开始订阅。"
        await update.effective_message.reply_text("\n".join(rows) if rows else empty)

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        chat = str(update.effective_chat.id)
        rows = await self._db(lambda s: [(r.id, describe(r)) for r in s.scalars(select(Subscription).where(
            Subscription.channel == "telegram", Subscription.address == chat, Subscription.active.is_(True)))])
        if not rows:
            await update.effective_message.reply_text("您没有有效的订阅。")
            return
        keyboard = [[InlineKeyboardButton(f"取消 #{i}", callback_data=f"unsub:{i}")] for i, _ in rows]
        keyboard.append([InlineKeyboardButton("全部取消", callback_data="unsub:all")])
        await update.effective_message.reply_text("\n".join(text for _, text in rows),
                                                  reply_markup=InlineKeyboardMarkup(keyboard))

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from .matching import Scope

        assert update.effective_message is not None
        scope = Scope.from_json({"regions": list(context.args or [])})

        def query(session: Session) -> list[str]:
            lines = []
            documents = session.scalars(select(Document).where(Document.removed_at.is_(None))
                                        .order_by(Document.first_seen.desc()).limit(200))
            for document in documents:
                agency = document.agency
                if not scope.covers(agency.name, agency.region_code) or not document.versions:
                    continue
                report = document.versions[-1].report
                if report is None:
                    continue
                severities = [f.severity for f in report.findings if f.status not in ("dismissed", "resolved")]
                flags = f"（错误{severities.count('error')}）" if "error" in severities else ""
                lines.append(f"#{report.id} {agency.name} {report.year or ''}年 {flags}\n{document.url}")
                if len(lines) >= 10:
                    break
            return lines

        lines = await self._db(query)
        await self._reply_long(update, "最近发现的报告：\n\n" + "\n\n".join(lines) if lines else "暂无报告。")

    async def report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        if not context.args or not context.args[0].lstrip("#").isdigit():
            await update.effective_message.reply_text("用法：/report 编号（编号见 /latest）")
            return
        report_id = int(context.args[0].lstrip("#"))

        def query(session: Session) -> str | None:
            report = session.get(Report, report_id)
            if report is None:
                return None
            document = report.version.document
            record = report.record or {}
            tables = record.get("tables") or {}
            lines = [f"{record.get('title') or document.title}", f"机关：{document.agency.name}　年度：{report.year}"
                     f"　格式：{report.template}", f"原文：{document.url}",
                     f"存档：archive/{report.version.archive_path}（sha256 {report.version.sha256[:16]}…）"]
            requests = tables.get("requests") or {}
            if requests.get("new"):
                lines.append(f"本年新收申请{requests['new'].get('total')}件，上年结转"
                             f"{(requests.get('carried_over') or {}).get('total')}件，结转下年度"
                             f"{(requests.get('carried_forward') or {}).get('total')}件")
            review = tables.get("review") or {}
            if review.get("review"):
                lines.append(f"行政复议{review['review'].get('total')}件，行政诉讼"
                             f"{(review.get('litigation_direct') or {}).get('total')}＋"
                             f"{(review.get('litigation_after_review') or {}).get('total')}件")
            findings = [f for f in report.findings if f.status not in ("dismissed", "resolved")]
            lines.append(f"\n发现问题{len(findings)}处：" if findings else "\n未发现问题。")
            labels = {"error": "错误", "warning": "疑点", "notice": "提示"}
            for finding in findings:
                page = f"（第{finding.evidence.get('page')}页）" if finding.evidence.get("page") else ""
                lines.append(f"【{labels.get(finding.severity)}】{finding.message}{page}")
            return "\n".join(lines)

        text = await self._db(query)
        await self._reply_long(update, text or f"没有编号为 {report_id} 的报告。")

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None

        def query(session: Session) -> str:
            sites = session.scalar(select(func.count()).select_from(Site)) or 0
            broken = session.scalar(select(func.count()).select_from(Site).where(Site.broken_since.is_not(None)))
            last = session.scalar(select(func.max(Site.last_poll_at)))
            reports = session.scalar(select(func.count()).select_from(Report)) or 0
            pending = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status != "sent"))
            when = last.strftime("%Y-%m-%d %H:%M") if last else "尚未检查"
            return (f"监测站点 {sites} 个，其中异常 {broken} 个；最近检查：{when}\n"
                    f"已收录报告 {reports} 份；待发送提醒 {pending} 条。")

        await update.effective_message.reply_text(await self._db(query))

    async def sites(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        if update.effective_chat.id not in self.admins:
            await update.effective_message.reply_text("此命令仅限管理员使用。")
            return

        def query(session: Session) -> list[str]:
            rows = session.execute(select(Site, Agency).join(Agency, Site.agency_id == Agency.id)
                                   .where(Site.broken_since.is_not(None) | Site.last_error.is_not(None)))
            return [f"{site.key} {agency.name}：{site.last_error}" for site, agency in rows]

        lines = await self._db(query)
        await self._reply_long(update, "异常站点：\n" + "\n".join(lines) if lines else "所有站点正常。")

    async def _reply_long(self, update: Update, text: str) -> None:
        assert update.effective_message is not None
        for part in split(text):
            await update.effective_message.reply_text(part)

    # ---------------------------------------------------------------- the guided subscription
    def _kinds_keyboard(self, chosen: list[str], admin: bool) -> InlineKeyboardMarkup:
        rows = [[InlineKeyboardButton(("✅ " if kind in chosen else "⬜ ") + label, callback_data=f"kind:{kind}")]
                for kind, label in ALERT_KINDS.items() if kind != "admin" or admin]
        rows.append([InlineKeyboardButton("完成", callback_data="done")])
        return InlineKeyboardMarkup(rows)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None and context.user_data is not None
        assert update.effective_chat is not None
        await query.answer()
        data, state = query.data, context.user_data
        admin = update.effective_chat.id in self.admins
        if data == "scope:all":
            state.update(regions=[], agencies=[], kinds=[k for k in ALERT_KINDS if k != "admin"])
            await query.edit_message_text("范围：全部。请选择提醒类型：",
                                          reply_markup=self._kinds_keyboard(state["kinds"], admin))
        elif data in ("scope:region", "scope:agency"):
            state["awaiting"] = data.split(":")[1]
            prompt = "请发送地区名称或行政区划代码（如：江苏 或 320813）。" if data.endswith("region") else \
                "请发送机关名称中的关键词（如：洪泽区）。"
            await query.edit_message_text(prompt)
        elif data.startswith("agency:"):
            agency = data.split(":", 1)[1]
            state.update(agencies=[agency], regions=[], kinds=[k for k in ALERT_KINDS if k != "admin"])
            await query.edit_message_text(f"范围：{agency}。请选择提醒类型：",
                                          reply_markup=self._kinds_keyboard(state["kinds"], admin))
        elif data.startswith("kind:"):
            kind = data.split(":", 1)[1]
            kinds = state.setdefault("kinds", [])
            if kind in kinds:
                kinds.remove(kind)
            elif kind in ALERT_KINDS and (kind != "admin" or admin):
                kinds.append(kind)
            await query.edit_message_reply_markup(reply_markup=self._kinds_keyboard(kinds, admin))
        elif data == "done":
            kinds = list(state.get("kinds") or [])
            if not kinds:
                await query.edit_message_text("请至少选择一种提醒类型，然后重新发送 /subscribe。")
                return
            chat = str(update.effective_chat.id)
            text = await self._db(lambda s: "已订阅：" + describe(subscribe(
                s, channel="telegram", address=chat, regions=state.get("regions"), agencies=state.get("agencies"),
                kinds=kinds, now=self.now())))
            state.clear()
            await query.edit_message_text(text)
        elif data.startswith("unsub:"):
            chat = str(update.effective_chat.id)
            target = data.split(":", 1)[1]
            count = await self._db(lambda s: unsubscribe(s, "telegram", chat,
                                                         None if target == "all" else int(target)))
            await query.edit_message_text(f"已取消{count}项订阅。" if count else "没有找到该订阅。")

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and context.user_data is not None
        assert update.effective_chat is not None
        state = context.user_data
        awaiting = state.pop("awaiting", None)
        words = (update.effective_message.text or "").strip()
        admin = update.effective_chat.id in self.admins
        if awaiting == "region" and words:
            state.update(regions=[words], agencies=[], kinds=[k for k in ALERT_KINDS if k != "admin"])
            await update.effective_message.reply_text(f"范围：{words}（含下属机关）。请选择提醒类型：",
                                                      reply_markup=self._kinds_keyboard(state["kinds"], admin))
        elif awaiting == "agency" and words:
            names = await self._db(lambda s: [a.name for a in s.scalars(
                select(Agency).where(Agency.name.contains(words)).order_by(Agency.name).limit(8))])
            if not names:
                state["awaiting"] = "agency"
                await update.effective_message.reply_text("没有找到匹配的机关，请换个关键词。")
                return
            keyboard = [[InlineKeyboardButton(name, callback_data=f"agency:{name}"[:64])] for name in names]
            await update.effective_message.reply_text("请选择机关：", reply_markup=InlineKeyboardMarkup(keyboard))
        else:
            await update.effective_message.reply_text("发送 /start 查看可用命令。")


class TelegramChannel:
    """The outbox's Telegram channel: long texts split under 4,096 characters; Telegram's 429 `retry_after`
    and outages become a retry at the time Telegram asks for. One `Bot` (one HTTP connection pool) on one
    event loop of its own serves every send: a client per message would cost a TLS context each time."""

    name = "telegram"
    SEND_TIMEOUT = 120.0

    def __init__(self, token: str, base_url: str | None = None) -> None:
        self.token, self.base_url = token, base_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: Bot | None = None
        self._lock = threading.Lock()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="telegram-channel", daemon=True).start()
                self._loop = loop
            return self._loop

    def send(self, address: str, text: str) -> str:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs carry the token
        future = asyncio.run_coroutine_threadsafe(self._send(int(address), text), self._event_loop())
        try:
            return future.result(self.SEND_TIMEOUT)
        except TimeoutError as exc:
            future.cancel()
            raise SendFailed("Telegram did not answer in time") from exc

    async def _send(self, chat_id: int, text: str) -> str:
        try:
            if self._bot is None:
                kwargs: dict[str, Any] = {"base_url": self.base_url} if self.base_url else {}
                bot = Bot(self.token, **kwargs)
                await bot.initialize()
                self._bot = bot
            ids = [str((await self._bot.send_message(chat_id=chat_id, text=part)).message_id) for part in split(text)]
        except RetryAfter as exc:
            retry = exc.retry_after
            seconds = retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)
            raise SendFailed(f"Telegram asks to wait {seconds:g} s", retry_after=seconds) from exc
        except (NetworkError, TelegramError) as exc:
            raise SendFailed(f"Telegram: {exc}") from exc
        return "telegram:" + ",".join(ids)

    def close(self) -> None:
        with self._lock:
            loop, bot, self._loop, self._bot = self._loop, self._bot, None, None
        if loop is None:
            return
        if bot is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(bot.shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
