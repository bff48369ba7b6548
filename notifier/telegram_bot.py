"""The Telegram bot (python-telegram-bot 22) and the Telegram channel of the outbox. Everything a person
reads is Chinese; the token and the API base URL come from configuration, never from code or logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from domain.redact import redact
from domain.vocabulary import DEFAULT_ALERT_KINDS, Severity, is_live, rule_name, severity_label
from storage.models import Agency, Delivery, Document, Report, Site

from .channels import SendFailed
from .matching import ALERT_KINDS, RegionNotFound, Scope, region_code, region_name
from .messages import split
from .subscriptions import active_subscriptions, describe, subscribe, unsubscribe

log = logging.getLogger("nianbao.bot")

COMMANDS = [
    ("start", "这个机器人能做什么"), ("help", "使用说明"), ("subscribe", "订阅提醒（按地区、机关或全部）"),
    ("list", "查看我的订阅"), ("unsubscribe", "取消订阅"), ("latest", "最近发现的报告，可加地区：/latest 淮安"),
    ("report", "查看一份报告：/report 编号"), ("status", "监测状态"),
]
HELP = ("/subscribe 订阅提醒\n/list 我的订阅\n/unsubscribe 取消订阅\n/latest [地区] 最近的报告，如 /latest 淮安\n"
        "/report 编号 查看报告详情\n/status 监测状态\n/help 使用说明")
WELCOME = ("您好！这是政府信息公开工作年度报告（年报）监测机器人。\n"
           "它持续查看各级政府网站，发现新年报后自动核对表格勾稽关系、正文与表格是否一致、日期与期限，"
           "并在发现新报告、错误、逾期或未发布、报告被修改或删除时提醒您。\n\n" + HELP)
MAX_REGION_CHARS = 30  # the longest 行政区划 full name is about 20 characters
MAX_KEYWORD_CHARS = 30
MAX_ECHO_CHARS = 20  # what of a person's own text is repeated back
REPORT_ID = re.compile(r"#?(\d{1,12})", re.ASCII)  # ASCII digits only: "²".isdigit() is True
CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback data


def _echo(text: str) -> str:
    """A person's text repeated back, bounded."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "…"


def _cell(value: object) -> str:
    """A table cell for people: 空 when the report left it empty."""
    return "空" if value is None or value == "" else str(value)


def _button(label: str, data: str) -> InlineKeyboardButton:
    if len(data.encode("utf-8")) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {data!r}")
    return InlineKeyboardButton(label, callback_data=data)


def normalize_base_url(base_url: str | None) -> str | None:
    """python-telegram-bot appends the token to its base URL, so a local Bot API server's address must end in
    `/bot` — without it the token would run into the port (`http://host:8081123:ABC…`, an "Invalid port"
    error that prints the token). An address without `/bot` gets it."""
    if not base_url:
        return None
    url = base_url.strip().rstrip("/")
    if "{token}" in url or url.endswith("/bot"):
        return url
    return url + "/bot"


class TokenRejected(Exception):
    """The Bot API refused the token (wrong or revoked). The message never contains the token."""


async def run_bot(bot: TelegramBot, token: str, base_url: str | None, *, stop: asyncio.Event | None = None,
                  first_delay: float = 2.0, max_delay: float = 60.0) -> None:
    """Run the bot (long polling) until `stop` is set: the command menu registered at every start, and an
    unreachable Bot API retried with exponential backoff (first_delay … max_delay) instead of ending the
    process. A rejected token raises TokenRejected."""
    stop = stop or asyncio.Event()
    delay = first_delay
    while not stop.is_set():
        application = bot.build(token, base_url)
        try:
            async with application:
                await bot.register_commands(application)
                await application.start()
                assert application.updater is not None
                await application.updater.start_polling(poll_interval=0.5, timeout=10)
                log.info("telegram bot: polling")
                delay = first_delay
                await stop.wait()
                await application.updater.stop()
                await application.stop()
            return
        except InvalidToken:
            raise TokenRejected("the Bot API rejected the Telegram token (wrong or revoked); set a valid "
                                "NIANBAO_TELEGRAM_TOKEN") from None
        except (TelegramError, OSError) as exc:  # the Bot API down, unreachable or busy at start: try again
            log.warning("telegram bot: Bot API unreachable (%s); retrying in %.0f s", redact(str(exc), [token]),
                        delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_delay)


class TelegramBot:
    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime],
                 admins: Iterable[int] = ()) -> None:
        self.sessions, self.now, self.admins = sessions, now, frozenset(admins)

    def build(self, token: str, base_url: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
        builder = Application.builder().token(token).rate_limiter(AIORateLimiter(max_retries=3))
        url = normalize_base_url(base_url)
        if url:
            builder = builder.base_url(url)
        application = builder.post_init(self.register_commands).build()
        for name, handler in (("start", self.start), ("help", self.help), ("subscribe", self.subscribe),
                              ("list", self.list_subscriptions), ("unsubscribe", self.unsubscribe),
                              ("latest", self.latest), ("report", self.report), ("status", self.status),
                              ("sites", self.sites)):
            application.add_handler(CommandHandler(name, handler))
        # buttons carry ids and short words only (≤ 64 bytes), each pattern routed to its handler
        application.add_handler(CallbackQueryHandler(self.choose_scope, pattern=r"^scope:(all|region|agency)$"))
        application.add_handler(CallbackQueryHandler(self.choose_agency, pattern=r"^agency:\d{1,12}$"))
        application.add_handler(CallbackQueryHandler(self.toggle_kind, pattern=r"^kind:[a-z]{1,16}$"))
        application.add_handler(CallbackQueryHandler(self.finish, pattern=r"^done$"))
        application.add_handler(CallbackQueryHandler(self.remove, pattern=r"^unsub:(\d{1,12}|all)$"))
        application.add_handler(CallbackQueryHandler(self.stale_button))
        application.add_handler(MessageHandler(filters.COMMAND, self.unknown_command))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.text))
        application.add_error_handler(self.on_error)
        return application

    async def register_commands(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await application.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])

    async def _db(self, work: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with self.sessions() as session, session.begin():
                return work(session)

        return await asyncio.to_thread(run)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Whatever went wrong, the person gets an answer and the log gets the error (tokens redacted)."""
        log.error("telegram bot: %s", redact(f"{type(context.error).__name__}: {context.error}"))
        if isinstance(update, Update):
            with contextlib.suppress(TelegramError):
                if update.callback_query is not None:
                    await update.callback_query.answer("处理出错，请稍后重试。")
                if update.effective_message is not None:
                    await update.effective_message.reply_text("抱歉，处理您的请求时出错了，请稍后重试或发送 /help。")

    # ---------------------------------------------------------------- commands
    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(WELCOME)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("可用命令：\n" + HELP)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        command = (update.effective_message.text or "").split()[0] if update.effective_message.text else ""
        await update.effective_message.reply_text(f"没有“{_echo(command)}”这个命令。可用命令：\n" + HELP)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and context.user_data is not None
        context.user_data.clear()
        keyboard = [[_button("全部地区和机关", "scope:all")],
                    [_button("按地区", "scope:region"), _button("按机关", "scope:agency")]]
        await update.effective_message.reply_text("请选择关注范围：", reply_markup=InlineKeyboardMarkup(keyboard))

    async def list_subscriptions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        chat = str(update.effective_chat.id)
        rows = await self._db(lambda s: [describe(r) for r in active_subscriptions(s, "telegram", chat)])
        empty = "您还没有订阅。发送 /subscribe 开始订阅。"
        await self._reply_long(update, "\n".join(rows) if rows else empty)

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_chat is not None
        chat = str(update.effective_chat.id)
        rows = await self._db(lambda s: [(r.id, describe(r)) for r in active_subscriptions(s, "telegram", chat)])
        if not rows:
            await update.effective_message.reply_text("您没有有效的订阅。")
            return
        keyboard = [[_button(f"取消 #{i}", f"unsub:{i}")] for i, _ in rows]
        keyboard.append([_button("全部取消", "unsub:all")])
        await update.effective_message.reply_text("\n".join(text for _, text in rows)[:3500],
                                                  reply_markup=InlineKeyboardMarkup(keyboard))

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        words = " ".join(context.args or []).strip()
        scope = Scope()
        if words:
            if len(words) > MAX_REGION_CHARS:
                await update.effective_message.reply_text("地区名称过长。用法：/latest 淮安（或行政区划代码）")
                return
            try:
                scope = Scope(regions=(region_code(words),))
            except RegionNotFound as exc:
                await update.effective_message.reply_text(str(exc))
                return

        def query(session: Session) -> list[str]:
            lines = []
            documents = session.scalars(select(Document).where(Document.removed_at.is_(None))
                                        .order_by(Document.first_seen.desc()).limit(500))
            for document in documents:
                agency = document.agency
                if not scope.covers(None, agency.region_code) or not document.versions:
                    continue
                report = document.versions[-1].report
                if report is None:
                    continue
                errors = sum(1 for f in report.findings if is_live(f.status) and f.severity == Severity.ERROR)
                flags = f"（{severity_label(Severity.ERROR)}{errors}）" if errors else ""
                lines.append(f"#{report.id} {agency.name} {report.year or ''}年 {flags}\n{document.url}")
                if len(lines) >= 10:
                    break
            return lines

        lines = await self._db(query)
        where = f"（{region_name(scope.regions[0])}）" if scope.regions else ""
        await self._reply_long(update, f"最近发现的报告{where}：\n\n" + "\n\n".join(lines) if lines
                               else f"暂无报告{where}。")

    async def report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        match = REPORT_ID.fullmatch(context.args[0]) if context.args and len(context.args) == 1 else None
        if match is None:
            await update.effective_message.reply_text("用法：/report 编号（编号是数字，见 /latest 或提醒消息）")
            return
        report_id = int(match.group(1))

        def query(session: Session) -> str | None:
            report = session.get(Report, report_id)
            if report is None:
                return None
            document = report.version.document
            record = report.record or {}
            tables = record.get("tables") or {}
            lines = [f"{record.get('title') or document.title or '（标题未识别）'}",
                     f"编号：{report.id}　机关：{document.agency.name}　年度：{_cell(report.year)}"
                     f"　格式：{_cell(report.template)}", f"原文：{document.url}",
                     f"存档：archive/{report.version.archive_path}（sha256 {report.version.sha256[:16]}…）"]
            requests = tables.get("requests") or {}
            if requests.get("new"):
                lines.append(f"本年新收申请{_cell(requests['new'].get('total'))}件，上年结转"
                             f"{_cell((requests.get('carried_over') or {}).get('total'))}件，结转下年度"
                             f"{_cell((requests.get('carried_forward') or {}).get('total'))}件")
            review = tables.get("review") or {}
            if review.get("review"):
                lines.append(f"行政复议{_cell(review['review'].get('total'))}件，行政诉讼"
                             f"{_cell((review.get('litigation_direct') or {}).get('total'))}＋"
                             f"{_cell((review.get('litigation_after_review') or {}).get('total'))}件")
            findings = [f for f in report.findings if is_live(f.status)]
            lines.append(f"\n发现问题{len(findings)}处：" if findings else "\n未发现问题。")
            for finding in findings:
                page = f"（第{finding.evidence.get('page')}页）" if finding.evidence.get("page") else ""
                lines.append(f"【{severity_label(finding.severity)}·{rule_name(finding.rule)}】{finding.message}{page}")
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
            return [f"{site.key} {agency.name}：{redact(site.last_error or '')}" for site, agency in rows]

        lines = await self._db(query)
        await self._reply_long(update, "异常站点：\n" + "\n".join(lines) if lines else "所有站点正常。")

    async def _reply_long(self, update: Update, text: str) -> None:
        assert update.effective_message is not None
        for part in split(text):
            await update.effective_message.reply_text(part)

    # ---------------------------------------------------------------- the guided subscription (buttons)
    def _kinds_keyboard(self, chosen: list[str], admin: bool) -> InlineKeyboardMarkup:
        rows = [[_button(("✅ " if kind in chosen else "⬜ ") + label, f"kind:{kind}")]
                for kind, label in ALERT_KINDS.items() if kind != "admin" or admin]
        rows.append([_button("完成", "done")])
        return InlineKeyboardMarkup(rows)

    def _is_admin(self, update: Update) -> bool:
        return update.effective_chat is not None and update.effective_chat.id in self.admins

    async def choose_scope(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, state = update.callback_query, context.user_data
        assert query is not None and query.data is not None and state is not None
        await query.answer()
        choice = query.data.split(":", 1)[1]
        if choice == "all":
            state.update(regions=[], agencies=[], kinds=list(DEFAULT_ALERT_KINDS))
            await query.edit_message_text("范围：全部。请选择提醒类型：",
                                          reply_markup=self._kinds_keyboard(state["kinds"], self._is_admin(update)))
            return
        state["awaiting"] = choice
        await query.edit_message_text("请发送地区名称或行政区划代码（如：江苏、淮安、洪泽区 或 320813）。"
                                      if choice == "region" else "请发送机关名称中的关键词（如：洪泽区）。")

    async def choose_agency(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, state = update.callback_query, context.user_data
        assert query is not None and query.data is not None and state is not None
        await query.answer()
        agency_id = int(query.data.split(":", 1)[1])
        name = await self._db(lambda s: (a.name if (a := s.get(Agency, agency_id)) is not None else None))
        if name is None:
            await query.edit_message_text("没有找到这个机关，请重新发送 /subscribe。")
            return
        state.update(agencies=[name], regions=[], kinds=list(DEFAULT_ALERT_KINDS))
        await query.edit_message_text(f"范围：{name}。请选择提醒类型：",
                                      reply_markup=self._kinds_keyboard(state["kinds"], self._is_admin(update)))

    async def toggle_kind(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, state = update.callback_query, context.user_data
        assert query is not None and query.data is not None and state is not None
        await query.answer()
        kind = query.data.split(":", 1)[1]
        admin = self._is_admin(update)
        kinds = state.setdefault("kinds", [])
        if kind in kinds:
            kinds.remove(kind)
        elif kind in ALERT_KINDS and (kind != "admin" or admin):
            kinds.append(kind)
        await query.edit_message_reply_markup(reply_markup=self._kinds_keyboard(kinds, admin))

    async def finish(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, state = update.callback_query, context.user_data
        assert query is not None and state is not None and update.effective_chat is not None
        await query.answer()
        kinds = list(state.get("kinds") or [])
        if not kinds:
            await query.edit_message_text("请至少选择一种提醒类型，然后重新发送 /subscribe。")
            return
        chat = str(update.effective_chat.id)
        regions, agencies = list(state.get("regions") or []), list(state.get("agencies") or [])
        text = await self._db(lambda s: "已订阅：" + describe(subscribe(
            s, channel="telegram", address=chat, regions=regions, agencies=agencies, kinds=kinds, now=self.now())))
        state.clear()
        await query.edit_message_text(text)

    async def remove(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None and update.effective_chat is not None
        await query.answer()
        chat = str(update.effective_chat.id)
        target = query.data.split(":", 1)[1]
        count = await self._db(lambda s: unsubscribe(s, "telegram", chat, None if target == "all" else int(target)))
        await query.edit_message_text(f"已取消{count}项订阅。" if count else "没有找到该订阅。")

    async def stale_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Button data no handler knows (an old keyboard, or forged data): an answer, never a crash."""
        query = update.callback_query
        assert query is not None
        await query.answer("此按钮已失效。")
        if update.effective_message is not None:
            await update.effective_message.reply_text("此按钮已失效，请重新发送命令（如 /subscribe 或 /unsubscribe）。")

    # ---------------------------------------------------------------- free text (answers to the bot's questions)
    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and context.user_data is not None
        state = context.user_data
        awaiting = state.pop("awaiting", None)
        words = " ".join((update.effective_message.text or "").split())
        if awaiting == "region":
            if not words or len(words) > MAX_REGION_CHARS:
                state["awaiting"] = "region"
                await update.effective_message.reply_text(
                    f"请发送不超过{MAX_REGION_CHARS}个字的地区名称或行政区划代码。")
                return
            try:
                prefix = region_code(words)
            except RegionNotFound as exc:
                state["awaiting"] = "region"
                await update.effective_message.reply_text(f"{exc}。请重新发送地区名称。")
                return
            state.update(regions=[prefix], agencies=[], kinds=list(DEFAULT_ALERT_KINDS))
            await update.effective_message.reply_text(
                f"范围：{region_name(prefix)}（含下属机关）。请选择提醒类型：",
                reply_markup=self._kinds_keyboard(state["kinds"], self._is_admin(update)))
        elif awaiting == "agency":
            if not words or len(words) > MAX_KEYWORD_CHARS:
                state["awaiting"] = "agency"
                await update.effective_message.reply_text(f"请发送机关名称中的关键词（1–{MAX_KEYWORD_CHARS}个字）。")
                return
            found = await self._db(lambda s: [(a.id, a.name) for a in s.scalars(
                select(Agency).where(Agency.name.contains(words)).order_by(Agency.name).limit(8))])
            if not found:
                state["awaiting"] = "agency"
                await update.effective_message.reply_text(f"没有找到包含“{_echo(words)}”的机关，请换个关键词。")
                return
            keyboard = [[_button(name, f"agency:{agency_id}")] for agency_id, name in found]
            await update.effective_message.reply_text("请选择机关：", reply_markup=InlineKeyboardMarkup(keyboard))
        else:
            await update.effective_message.reply_text("发送 /help 查看可用命令。")


class TelegramChannel:
    """The outbox's Telegram channel: long texts split under 4,096 characters; Telegram's 429 `retry_after`
    and outages become a retry at the time Telegram asks for. One `Bot` (one HTTP connection pool) on one
    event loop of its own serves every send: a client per message would cost a TLS context each time."""

    name = "telegram"
    SEND_TIMEOUT = 120.0

    def __init__(self, token: str, base_url: str | None = None) -> None:
        self.token, self.base_url = token, normalize_base_url(base_url)
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
        if not re.fullmatch(r"-?\d{1,20}", address.strip(), re.ASCII):
            raise SendFailed(f"not a Telegram chat id: {_echo(address)!r}")
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
        except InvalidToken:
            raise SendFailed("Telegram: the token was rejected (wrong or revoked)") from None
        except (NetworkError, TelegramError, OSError) as exc:
            # the error's text may quote the request URL, which carries the token: never let it through
            raise SendFailed(redact(f"Telegram: {type(exc).__name__}: {exc}", [self.token])) from None
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
