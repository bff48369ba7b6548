"""Self-service subscriptions on the dashboard, for people with only a browser: choose a scope (everything, a
province/city/county by name, agencies found by a search) and the alert kinds, then a channel —
e-mail with double opt-in (a signed link that expires; nothing is sent before it is followed) or a work-chat
robot (企业微信, 钉钉, 飞书), which is active only if its test message was accepted by the platform.

Every e-mail carries a one-click unsubscribe link (RFC 8058: a POST with no login); the manage page changes
or stops a subscription. The page refuses webhooks at non-public addresses (the crawler's guard), limits
sign-ups per address and per client, and answers the same whether an address is already subscribed or not."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from notifier.channels import SendFailed, SmtpSettings, smtp_send
from notifier.links import CONFIRM_MAX_AGE, BadToken, PublicLinks
from notifier.mail import confirmation_email, describe_scope
from notifier.matching import ALERT_KINDS
from notifier.subscriptions import stop, supersede
from notifier.workchat import ROBOTS, BadWebhook, Robot, check_webhook, mask, robot_channels, with_secret
from storage.models import Agency, SignupAttempt, Subscription

if TYPE_CHECKING:
    from .app import Dashboard

EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
CHANNEL_LABELS = {"email": "电子邮件", "wecom": "企业微信群机器人", "dingtalk": "钉钉群机器人",
                  "feishu": "飞书群机器人"}
PUBLIC_KINDS = {k: v for k, v in ALERT_KINDS.items() if k != "admin"}


@dataclass
class ReachSettings:
    """What sign-ups need beyond the dashboard: where e-mail goes out, the robots, the public address of the
    links, the limits. From the environment unless a test sets `app.state.reach`."""

    smtp: SmtpSettings | None = None
    public_url: str | None = None  # NIANBAO_PUBLIC_URL; else the address the request came to
    webhook_allowed_hosts: frozenset[str] = frozenset()  # NIANBAO_WEBHOOK_ALLOWED_HOSTS (tests: 127.0.0.1)
    per_address: int = 3  # sign-ups per e-mail address or webhook per day
    per_client: int = 10  # sign-ups per client address per hour
    robots: dict[str, Robot] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReachSettings:
        hosts = frozenset(h.strip().lower() for h in env.get("NIANBAO_WEBHOOK_ALLOWED_HOSTS", "").split(",")
                          if h.strip())
        return cls(smtp=SmtpSettings.from_env(dict(env)), public_url=env.get("NIANBAO_PUBLIC_URL") or None,
                   webhook_allowed_hosts=hosts,
                   per_address=_count(env, "NIANBAO_SIGNUP_PER_ADDRESS", 3),
                   per_client=_count(env, "NIANBAO_SIGNUP_PER_CLIENT", 10))


    @classmethod
    def from_settings(cls, settings: Any) -> ReachSettings:
        """From the one settings object (monitor.config.Settings): file and environment alike."""
        return cls(smtp=settings.smtp(), public_url=settings.public_url or None,
                   webhook_allowed_hosts=frozenset(h.lower() for h in settings.webhook_allowed_hosts),
                   per_address=settings.signup_per_address, per_client=settings.signup_per_client)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.strip().isdigit():
        raise ValueError(f"{name}={raw!r}: a whole number of sign-ups")
    return int(raw)


class SignupError(Exception):
    """A sign-up refused, with the reason to show (in Chinese)."""


@dataclass
class Choice:
    scope: str = "all"  # all / region / agency
    region_text: str = ""
    region_prefix: str | None = None
    region_label: str | None = None
    agencies: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=lambda: ["new", "errors", "deadlines"])
    channel: str = "email"
    email: str = ""
    webhook: str = ""
    secret: str = ""

    def scope_json(self) -> dict[str, Any]:
        if self.scope == "region" and self.region_prefix:
            return {"regions": [self.region_prefix], "agencies": []}
        if self.scope == "agency":
            return {"regions": [], "agencies": list(self.agencies)}
        return {"regions": [], "agencies": []}

    def describe(self) -> str:
        labels = {self.region_prefix: self.region_label} if self.region_prefix and self.region_label else {}
        return describe_scope(self.scope_json(), self.kinds, {k: v for k, v in labels.items() if k and v})


def region_label(prefix: str) -> str:
    from domain.regions import region_by_code

    region = region_by_code(prefix.ljust(6, "0"))
    return region.full_name if region is not None else prefix


def scope_text(scope: dict[str, Any], kinds: list[str]) -> str:
    return describe_scope(scope, kinds, {r: region_label(r) for r in scope.get("regions") or []})


def keyed_hash(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()[:64]


class Subscriptions:
    """The sign-up pages; mounted by `create_app` through `subscribe_routes`."""

    def __init__(self, board: Dashboard, secret_key: str) -> None:
        self.board = board
        self.secret_key = secret_key
        self._default: ReachSettings | None = None

    # ------------------------------------------------------------------ settings and links
    def settings(self, request: Request) -> ReachSettings:
        given = getattr(request.app.state, "reach", None)
        if isinstance(given, ReachSettings):
            return given
        if self._default is None:
            self._default = ReachSettings.from_env(os.environ)
        return self._default

    def links(self, request: Request) -> PublicLinks:
        base = self.settings(request).public_url or str(request.base_url)
        return PublicLinks(base_url=base, secret=self.secret_key)

    def robot(self, request: Request, platform: str) -> Robot:
        settings = self.settings(request)
        if platform in settings.robots:
            return settings.robots[platform]
        return robot_channels(self.links(request), allowed_hosts=settings.webhook_allowed_hosts)[platform]

    # ------------------------------------------------------------------ the form
    def _choice(self, data: FormData | QueryParams) -> Choice:
        getlist = data.getlist
        return Choice(scope=str(data.get("scope") or "all"), region_text=str(data.get("region") or "").strip(),
                        agencies=[str(a) for a in getlist("agency") if str(a).strip()][:20],
                        kinds=[str(k) for k in getlist("kinds") if str(k) in PUBLIC_KINDS] or [],
                        channel=str(data.get("channel") or "email"), email=str(data.get("email") or "").strip(),
                        webhook=str(data.get("webhook") or "").strip(), secret=str(data.get("secret") or "").strip())

    def _validate(self, choice: Choice, session: Session, settings: ReachSettings) -> None:
        if choice.scope == "region":
            from domain.regions import RegionNotFound, resolve_region

            if not choice.region_text:
                raise SignupError("请填写地区名称，如：淮安市、江苏省或洪泽区。")
            try:
                region = resolve_region(choice.region_text)
            except RegionNotFound as exc:
                raise SignupError(str(exc)) from None
            choice.region_prefix, choice.region_label = region.prefix, region.full_name
        elif choice.scope == "agency":
            known = set(session.scalars(select(Agency.name).where(Agency.name.in_(choice.agencies))))
            choice.agencies = [a for a in choice.agencies if a in known]
            if not choice.agencies:
                raise SignupError("请先搜索并勾选至少一个机关。")
        elif choice.scope != "all":
            raise SignupError("请选择关注范围。")
        if not choice.kinds:
            raise SignupError("请至少选择一种提醒类型。")
        if choice.channel == "email":
            if len(choice.email) > 254 or not EMAIL.match(choice.email):
                raise SignupError("请填写有效的电子邮件地址。")
        elif choice.channel in ROBOTS:
            label = CHANNEL_LABELS[choice.channel]
            try:
                check_webhook(choice.channel, choice.webhook, choice.secret, settings.webhook_allowed_hosts)
            except BadWebhook as exc:
                raise SignupError({
                    "not-webhook": f"这不是{label}的 Webhook 地址，请从群机器人设置中复制完整地址。",
                    "private": f"不能使用这个地址：它指向内部网络、本机或无法解析的主机，不是{label}的公网服务。",
                }.get(exc.problem, "加签密钥格式不对，请从机器人安全设置中复制（以 SEC 开头）。")) from None
        else:
            raise SignupError("请选择接收方式。")

    def _agency_matches(self, session: Session, words: str) -> list[str]:
        if not words:
            return []
        return list(session.scalars(select(Agency.name).where(Agency.name.contains(words[:50]))
                                    .order_by(Agency.name).limit(30)))

    async def form(self, request: Request) -> Response:
        params = request.query_params
        choice = self._choice(params)
        if "kinds" not in params:
            choice.kinds = ["new", "errors", "deadlines"]
        with self.board.sessions() as session:
            matches = self._agency_matches(session, (params.get("q") or "").strip())
        return self.board.render(request, "subscribe.html", {
            "c": choice, "kinds": PUBLIC_KINDS, "channels": CHANNEL_LABELS, "matches": matches,
            "q": params.get("q") or "", "error": None})

    async def submit(self, request: Request) -> Response:
        from .app import check_csrf

        form = await request.form()
        check_csrf(request, str(form.get("csrf") or ""))
        settings = self.settings(request)
        links = self.links(request)
        client = request.client.host if request.client else "unknown"
        choice = self._choice(form)
        try:
            result = await run_in_threadpool(self._sign_up, choice, client, settings, links, request)
        except SignupError as exc:
            with self.board.sessions() as session:
                matches = self._agency_matches(session, str(form.get("q") or ""))
            return self.board.render(request, "subscribe.html", {
                "c": choice, "kinds": PUBLIC_KINDS, "channels": CHANNEL_LABELS, "q": str(form.get("q") or ""),
                "matches": sorted(set(matches) | set(choice.agencies)), "error": str(exc)}, status=400)
        return self.board.render(request, "subscribe_done.html", result)

    def _sign_up(self, choice: Choice, client: str, settings: ReachSettings, links: PublicLinks,
                 request: Request) -> dict[str, Any]:
        now = self.board.clock()
        address = choice.email.lower() if choice.channel == "email" else with_secret(choice.webhook, choice.secret)
        with self.board.sessions() as session, session.begin():  # every attempt counts, even a refused one
            prune(session, now)
            allowed = self._limit(session, client, choice.webhook if choice.channel in ROBOTS else address,
                                  choice.channel, now, settings)
        if not allowed:
            raise SignupError("提交过于频繁，请稍后再试。")
        with self.board.sessions() as session, session.begin():
            self._validate(choice, session, settings)
            subscription = Subscription(channel=choice.channel, address=address, scope=choice.scope_json(),
                                        kinds=list(choice.kinds), active=False, created_at=now, origin="web",
                                        token_nonce=secrets.token_hex(8))
            session.add(subscription)
            session.flush()
            subscription_id, nonce = subscription.id, subscription.token_nonce
        what = choice.describe()
        if choice.channel == "email":
            if settings.smtp is None:
                self._forget(subscription_id)
                raise SignupError("本站尚未配置发信服务器，暂不能用电子邮件订阅，请选择其他方式。")
            mail = confirmation_email(settings.smtp.sender, address, links.confirm(subscription_id, nonce), what,
                                      CONFIRM_MAX_AGE // 3600)
            try:
                smtp_send(settings.smtp, mail)
            except SendFailed:
                self._forget(subscription_id)
                raise SignupError("确认邮件暂时无法发出，请稍后再试。") from None
            # the same answer whether or not this address was subscribed before: nothing about others leaks
            return {"kind": "email", "what": what, "hours": CONFIRM_MAX_AGE // 3600}
        robot = self.robot(request, choice.channel)
        try:
            robot.test(address)
        except SendFailed as exc:
            self._forget(subscription_id)
            raise SignupError(robot_failure(choice.channel, str(exc))) from None
        with self.board.sessions() as session, session.begin():
            row = session.get(Subscription, subscription_id)
            assert row is not None
            moment = self.board.clock()
            row.active, row.confirmed_at, row.created_at = True, moment, moment
            supersede(session, row, moment)
        return {"kind": "robot", "what": what, "label": CHANNEL_LABELS[choice.channel],
                "manage": links.manage(subscription_id, nonce), "masked": mask(address)}

    def _forget(self, subscription_id: int) -> None:
        """A sign-up that could not be completed leaves no subscription (and no stored webhook key) behind."""
        with self.board.sessions() as session, session.begin():
            row = session.get(Subscription, subscription_id)
            if row is not None and not row.active:
                session.delete(row)

    def _limit(self, session: Session, client: str, address: str, channel: str, now: datetime,
               settings: ReachSettings) -> bool:
        """Record the attempt; whether it is within the limits."""
        client_key, address_key = keyed_hash(self.secret_key, client), keyed_hash(self.secret_key, address)
        session.add(SignupAttempt(at=now, client=client_key, address=address_key, channel=channel))
        session.flush()
        by_client = session.scalar(select(func.count()).select_from(SignupAttempt).where(
            SignupAttempt.client == client_key, SignupAttempt.at > now - timedelta(hours=1))) or 0
        by_address = session.scalar(select(func.count()).select_from(SignupAttempt).where(
            SignupAttempt.address == address_key, SignupAttempt.at > now - timedelta(days=1))) or 0
        return by_client <= settings.per_client and by_address <= settings.per_address

    # ------------------------------------------------------------------ confirm, unsubscribe, manage
    def _subscription(self, session: Session, links: PublicLinks, purpose: str, token: str,
                      max_age: int | None = None) -> Subscription:
        try:
            subscription_id, nonce = links.read(purpose, token, max_age=max_age)
        except BadToken as exc:
            if exc.expired:
                raise HTTPException(410, "确认链接已过期，请重新订阅。") from None
            raise HTTPException(404, "链接无效或已失效。") from None
        row = session.get(Subscription, subscription_id)
        if row is None or (row.token_nonce or "") != nonce:
            raise HTTPException(404, "链接无效或已失效。")
        return row

    async def confirm(self, request: Request) -> Response:
        """GET shows a button (mail scanners follow links; a person confirms), POST confirms."""
        from .app import check_csrf

        token = request.query_params.get("t") or ""
        links = self.links(request)
        if request.method == "POST":
            form = await request.form()
            check_csrf(request, str(form.get("csrf") or ""))
        with self.board.sessions() as session, session.begin():
            row = self._subscription(session, links, "confirm", token, max_age=CONFIRM_MAX_AGE)
            what = scope_text(row.scope or {}, list(row.kinds))
            if row.stopped_at is not None:
                raise HTTPException(404, "该订阅已退订，请重新订阅。")
            done = row.confirmed_at is not None
            if request.method == "POST" and not done:
                now = self.board.clock()
                row.active, row.confirmed_at, row.created_at = True, now, now
                supersede(session, row, now)
                done = True
            manage = links.manage(row.id, row.token_nonce)
        return self.board.render(request, "subscribe_confirm.html", {"what": what, "done": done, "token": token,
                                                                     "manage": manage})

    def _stop_targets(self, session: Session, links: PublicLinks, token: str) -> tuple[Subscription,
                                                                                        list[Subscription]]:
        """The subscription a stop link names, and what it stops: itself, or (the digest's link) every
        subscription of its address on its channel."""
        try:
            links.read("stop-all", token)
        except BadToken:
            row = self._subscription(session, links, "stop", token)
            return row, [row]
        row = self._subscription(session, links, "stop-all", token)
        return row, list(session.scalars(select(Subscription).where(
            Subscription.channel == row.channel, Subscription.address == row.address)))

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click: a POST (body `List-Unsubscribe=One-Click`) stops the subscription at once, with
        no login and no CSRF token (the signed link is the authority). A GET shows the page with the button."""
        token = request.query_params.get("t") or ""
        links = self.links(request)
        if request.method == "POST":
            await request.form()
            with self.board.sessions() as session, session.begin():
                _, targets = self._stop_targets(session, links, token)
                for target in targets:
                    stop(target, self.board.clock())
            if "text/html" not in request.headers.get("accept", ""):
                return PlainTextResponse("已退订。")
            return self.board.render(request, "unsubscribed.html", {"stopped": True, "token": token})
        with self.board.sessions() as session:
            row, targets = self._stop_targets(session, links, token)
            what = "、".join(scope_text(t.scope or {}, list(t.kinds)) for t in targets if t.active) or \
                scope_text(row.scope or {}, list(row.kinds))
            stopped = not any(t.active for t in targets)
        return self.board.render(request, "unsubscribed.html", {"stopped": stopped, "token": token, "what": what,
                                                                "manage": links.manage(row.id, row.token_nonce)})

    async def manage(self, request: Request) -> Response:
        from domain.regions import RegionNotFound

        from .app import check_csrf

        token = request.query_params.get("t") or ""
        links = self.links(request)
        error = saved = None
        form = await request.form() if request.method == "POST" else None
        if form is not None:
            check_csrf(request, str(form.get("csrf") or ""))
        with self.board.sessions() as session, session.begin():
            row = self._subscription(session, links, "stop", token)
            if form is not None:
                action = str(form.get("action") or "save")
                if action == "stop":
                    stop(row, self.board.clock())
                    saved = "已退订，不会再收到此订阅的提醒。"
                else:
                    kinds = [str(k) for k in form.getlist("kinds") if str(k) in PUBLIC_KINDS]
                    try:
                        if not kinds:
                            raise SignupError("请至少选择一种提醒类型。")
                        row.scope = self._new_scope(session, form, row.scope or {})
                        row.kinds = kinds
                        saved = "已保存。"
                    except (SignupError, RegionNotFound) as exc:
                        error = str(exc)
            scope = row.scope or {}
            q = str((form.get("q") if form is not None else None) or request.query_params.get("q") or "").strip()
            chosen = list(scope.get("agencies") or [])
            if form is not None and error and str(form.get("scope") or "") == "agency":
                chosen = [str(a) for a in form.getlist("agency") if str(a).strip()][:20]
            matches = list(dict.fromkeys([*chosen, *self._agency_matches(session, q)]))
            view = {"channel": CHANNEL_LABELS.get(row.channel, row.channel),
                    "address": row.address if row.channel == "email" else mask(row.address),
                    "what": scope_text(scope, list(row.kinds)), "kinds_chosen": list(row.kinds),
                    "regions": [region_label(r) for r in scope.get("regions") or []],
                    "agencies": list(scope.get("agencies") or []), "active": row.active,
                    "scope": "agency" if scope.get("agencies") else "region" if scope.get("regions") else "all",
                    "chosen": chosen, "matches": matches, "q": q,
                    "pending": row.confirmed_at is None and row.origin == "web" and row.stopped_at is None}
        return self.board.render(request, "subscribe_manage.html", {
            "s": view, "kinds": PUBLIC_KINDS, "token": token, "error": error, "saved": saved},
            status=400 if error else 200)


    def _new_scope(self, session: Session, form: FormData, current: dict[str, Any]) -> dict[str, Any]:
        """The scope the manage form chose: everything, a region by name, or agencies found by a search (as on
        the sign-up page); a form without a choice keeps the scope, or takes the region typed in."""
        from domain.regions import resolve_region

        region_text = str(form.get("region") or "").strip()
        scope = str(form.get("scope") or ("region" if region_text else "keep"))
        if scope == "all":
            return {"regions": [], "agencies": []}
        if scope == "region":
            if not region_text:
                raise SignupError("请填写地区名称，如：淮安市、江苏省或洪泽区。")
            if region_text in {region_label(r) for r in current.get("regions") or []}:
                return current  # the region shown, unchanged
            return {"regions": [resolve_region(region_text).prefix], "agencies": []}
        if scope == "agency":
            wanted = [str(a) for a in form.getlist("agency") if str(a).strip()][:20]
            known = set(session.scalars(select(Agency.name).where(Agency.name.in_(wanted))))
            agencies = [a for a in wanted if a in known]
            if not agencies:
                raise SignupError("请先搜索并勾选至少一个机关。")
            return {"regions": [], "agencies": agencies}
        return current


def prune(session: Session, now: datetime) -> None:
    """Forget what is no longer needed: sign-ups never confirmed once their link has expired (someone typed
    an address that is not theirs: it is not kept), and sign-up attempts older than the limits look back."""
    expired = now - timedelta(seconds=CONFIRM_MAX_AGE)
    for row in session.scalars(select(Subscription).where(
            Subscription.origin == "web", Subscription.confirmed_at.is_(None), Subscription.active.is_(False),
            Subscription.created_at < expired).limit(500)):
        session.delete(row)
    session.execute(delete(SignupAttempt).where(SignupAttempt.at < now - timedelta(days=2)))


def robot_failure(platform: str, reason: str) -> str:
    label = CHANNEL_LABELS[platform]
    if "refused address" in reason:
        return f"不能使用这个地址：它指向内部网络或本机，不是{label}的公网服务。"
    hints = {"310000": "钉钉拒绝了消息：请检查加签密钥，或在机器人安全设置的自定义关键词中加入“年报”。",
             "300001": "钉钉表示此机器人不存在，请重新复制 Webhook 地址。",
             "93000": "企业微信表示 Webhook 地址无效，请重新复制。",
             "19021": "飞书签名校验失败，请检查签名密钥。", "19024": "飞书拒绝了消息：请在自定义关键词中加入“年报”。",
             "19001": "飞书表示 Webhook 地址无效，请重新复制。"}
    for code, hint in hints.items():
        if f"code {code}" in reason:
            return f"测试消息发送失败，订阅未生效。{hint}"
    return f"测试消息发送失败，订阅未生效（{label}答复：{reason.split(': ', 1)[-1][:120]}）。请检查地址后重试。"


def subscribe_routes(board: Dashboard, secret_key: str) -> list[Route]:
    pages = Subscriptions(board, secret_key)
    return [Route("/subscribe", pages.form, methods=["GET"]),
            Route("/subscribe", pages.submit, methods=["POST"]),
            Route("/subscribe/confirm", pages.confirm, methods=["GET", "POST"]),
            Route("/subscribe/manage", pages.manage, methods=["GET", "POST"]),
            Route("/unsubscribe", pages.unsubscribe, methods=["GET", "POST"])]
