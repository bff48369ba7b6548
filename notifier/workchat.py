"""Work-chat group robots, natively: 企业微信 (WeCom), 钉钉 (DingTalk, with its optional signing secret) and
飞书 (Feishu/Lark, optional signature), each with its own markdown card. A send counts only when the service's
own success code comes back (errcode 0 / code 0 / StatusCode 0) — these APIs answer HTTP 200 to most errors.

A subscription's address is the robot's webhook URL as the platform shows it; a signing secret goes after
`#secret=` (the fragment is never sent: it is the key the request is signed with). Every send checks the
URL against the crawler's guard (no private, loopback or link-local addresses, after DNS; exceptions in
NIANBAO_WEBHOOK_ALLOWED_HOSTS), and follows no redirect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import httpcore

from .channels import SendFailed
from .links import PublicLinks
from .messages import Alert

RATE_LIMITED = {45009, 130101, 11232, 9499}  # too many messages: wait a minute
TEST_TEXT = "年报监测：订阅测试。此群已订阅政府信息公开工作年度报告监测提醒，收到此消息说明机器人设置正确。"
FULLWIDTH = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "*": "＊", "_": "＿", "`": "｀", "#": "＃",
                           ">": "＞", "<": "＜", "|": "｜", "~": "～", "\\": "＼"})


def inert(text: str) -> str:
    """Crawled text made inert in every platform's markdown (full-width look-alikes; no escape syntax that one
    platform would show literally)."""
    return text.translate(FULLWIDTH)


def split_secret(address: str) -> tuple[str, str | None]:
    url, _, fragment = address.partition("#")
    secret = dict(parse_qsl(fragment)).get("secret") if fragment else None
    return url, secret or None


def with_secret(url: str, secret: str | None) -> str:
    url = url.partition("#")[0]
    return f"{url}#{urlencode({'secret': secret})}" if secret else url


def mask(address: str) -> str:
    """A webhook URL safe to show: the host and the last four characters of its key."""
    url, _ = split_secret(address)
    parts = urlsplit(url)
    tail = (parts.query or parts.path)[-4:]
    return f"{parts.scheme}://{parts.hostname}/…{tail}"


def allowed_hosts_from_env(env: Mapping[str, str] | None = None) -> frozenset[str]:
    raw = (os.environ if env is None else env).get("NIANBAO_WEBHOOK_ALLOWED_HOSTS", "")
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


@dataclass(frozen=True)
class Card:
    title: str
    markdown: str
    buttons: tuple[tuple[str, str], ...] = ()
    severity: str = "info"  # info / warning / error: the card's colour where there is one


def card_of(text: str, links: PublicLinks | None) -> Card:
    alert: Alert | None = getattr(text, "alert", None)
    if alert is None:
        first = str(text).partition("\n")[0]
        return Card(title=inert(first)[:60], markdown=inert(str(text)).replace("\n", "\n\n"))
    subscription_id = getattr(text, "subscription_id", None)
    manage = links.manage(subscription_id, getattr(text, "nonce", None)) \
        if links is not None and links.secret and subscription_id is not None else None
    lines = [f"**{inert(alert.headline)}**"]
    if alert.title:
        lines.append(f"《{inert(alert.title)}》")
    lines.append(inert(alert.summary))
    lines += [f"> {inert(label)}：**{inert(value)}**" for label, value in alert.facts]
    lines += [inert(d) for d in alert.details]
    if alert.rule:
        lines.append(f"> 规则：{inert(alert.rule)}")
    buttons = list(alert.link_lines(links))
    lines += [f"[{label}]({url})" for label, url in buttons]
    if manage:
        lines.append(f"[退订或修改订阅]({manage})")
    lines.append("—— 年报监测")  # also the keyword a robot's security setting can require
    colour = "error" if alert.tag in ("【错误】", "【逾期未发布】", "【逾期发布】") else \
        "warning" if alert.tag in ("【疑点】", "【报告被删除】", "【发布时间疑似倒填】") else "info"
    return Card(title=inert(alert.headline)[:60], markdown="\n\n".join(lines), buttons=tuple(buttons),
                severity=colour)


def _clip(text: str, limit_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[:limit_bytes - 12].decode("utf-8", errors="ignore") + "\n\n……（已截断）"


class Robot:
    """One platform's robot channel; `send` raises SendFailed unless the platform's success code came back."""

    name = "robot"
    label = "机器人"

    def __init__(self, links: PublicLinks | None = None, *, allowed_hosts: frozenset[str] | None = None,
                 timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.links = links
        self.allowed_hosts = allowed_hosts if allowed_hosts is not None else allowed_hosts_from_env()
        self.timeout = timeout
        self.clock = clock

    # the platform's parts
    def body(self, card: Card, secret: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def signed_url(self, url: str, secret: str | None) -> str:
        return url

    def success(self, answer: dict[str, Any]) -> tuple[bool, int | None, str]:
        code = answer.get("errcode")
        return code == 0, code if isinstance(code, int) else None, str(answer.get("errmsg") or "")

    @classmethod
    def valid_url(cls, url: str) -> bool:
        raise NotImplementedError

    # the common part
    def send(self, address: str, text: str) -> str:
        return self.post(address, card_of(text, self.links))

    def test(self, address: str) -> str:
        """The test message a sign-up sends; returns the receipt or raises SendFailed (its reason in Chinese
        where the platform gave one)."""
        return self.post(address, Card(title="年报监测：订阅测试", markdown=f"**年报监测：订阅测试**\n\n{TEST_TEXT}"))

    def post(self, address: str, card: Card) -> str:
        from domain.addresses import ForbiddenAddress, check_url

        url, secret = split_secret(address)
        try:
            check_url(url, self.allowed_hosts)
        except ForbiddenAddress as exc:
            raise SendFailed(f"{self.name}: refused address ({exc})") from exc
        data = json.dumps(self.body(card, secret), ensure_ascii=False).encode("utf-8")
        timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout, "pool": self.timeout}
        try:
            # the address is resolved once, checked and connected to (no DNS rebinding between check and
            # connect); TLS still verifies the host name; no redirect is followed, no proxy from the environment
            with httpcore.ConnectionPool(network_backend=PinnedBackend(self.allowed_hosts)) as pool:
                response = pool.request("POST", self.signed_url(url, secret), content=data,
                                        headers=[("Content-Type", "application/json; charset=utf-8")],
                                        extensions={"timeout": timeouts})
        except ForbiddenAddress as exc:
            raise SendFailed(f"{self.name}: refused address ({exc})") from exc
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                httpcore.UnsupportedProtocol, OSError) as exc:
            raise SendFailed(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.status == 429 or response.status >= 500:
            raise SendFailed(f"{self.name}: HTTP {response.status}", retry_after=60.0)
        try:
            answer = json.loads(response.content)
        except ValueError as exc:
            raise SendFailed(f"{self.name}: HTTP {response.status}, not a JSON answer") from exc
        ok, code, message = self.success(answer if isinstance(answer, dict) else {})
        if not ok:
            raise SendFailed(f"{self.name}: code {code}: {message}"[:500],
                             retry_after=60.0 if code in RATE_LIMITED else None)
        return f"{self.name}:ok"


def public_address(host: str, port: int, allowed_hosts: frozenset[str]) -> str:
    """The address to connect to for `host`: resolved once (the answer `check_url` checked), every answer
    globally routable (or the host allow-listed)."""
    from domain.addresses import resolve_checked

    return resolve_checked(host, port, allowed_hosts)[0]


class PinnedBackend(httpcore.SyncBackend):
    """Connects to the address `public_address` checked, never to what a second DNS answer says."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self.allowed_hosts = allowed_hosts

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return super().connect_tcp(public_address(host, port, self.allowed_hosts), port, timeout=timeout,
                                   local_address=local_address, socket_options=socket_options)


class WeComRobot(Robot):
    """企业微信群机器人: POST …/cgi-bin/webhook/send?key=…, markdown up to 4,096 bytes; answers errcode 0."""

    name = "wecom"
    label = "企业微信群机器人"

    @classmethod
    def valid_url(cls, url: str) -> bool:
        parts = urlsplit(url)
        return parts.path.endswith("/cgi-bin/webhook/send") and "key" in dict(parse_qsl(parts.query))

    def body(self, card: Card, secret: str | None) -> dict[str, Any]:
        colour = {"error": "warning", "warning": "warning"}.get(card.severity, "info")
        content = card.markdown.replace(f"**{card.title}**", f"<font color=\"{colour}\">**{card.title}**</font>", 1)
        return {"msgtype": "markdown", "markdown": {"content": _clip(content, 4096)}}


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """钉钉: base64(HMAC-SHA256(key=secret, "timestamp\\nsecret"))."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkRobot(Robot):
    """钉钉自定义机器人: POST …/robot/send?access_token=…[&timestamp=…&sign=…]; an actionCard with buttons to
    the original and the dashboard (markdown when there are none); answers errcode 0."""

    name = "dingtalk"
    label = "钉钉群机器人"

    @classmethod
    def valid_url(cls, url: str) -> bool:
        parts = urlsplit(url)
        return parts.path.endswith("/robot/send") and "access_token" in dict(parse_qsl(parts.query))

    def signed_url(self, url: str, secret: str | None) -> str:
        if not secret:
            return url
        timestamp = int(self.clock() * 1000)
        parts = urlsplit(url)
        query = f"{parts.query}&timestamp={timestamp}&sign={quote_plus(dingtalk_sign(timestamp, secret))}"
        return urlunsplit(parts._replace(query=query))

    def body(self, card: Card, secret: str | None) -> dict[str, Any]:
        text = _clip(card.markdown, 18000)
        if not card.buttons:
            return {"msgtype": "markdown", "markdown": {"title": card.title, "text": text}}
        return {"msgtype": "actionCard", "actionCard": {
            "title": card.title, "text": text, "btnOrientation": "1",
            "btns": [{"title": label, "actionURL": url} for label, url in card.buttons]}}


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """飞书: base64(HMAC-SHA256(key="timestamp\\nsecret", message=empty))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuRobot(Robot):
    """飞书自定义机器人: POST …/open-apis/bot/v2/hook/…; an interactive card (header coloured by severity,
    lark_md body, buttons); answers code 0 (StatusCode 0 in the older form)."""

    name = "feishu"
    label = "飞书群机器人"

    @classmethod
    def valid_url(cls, url: str) -> bool:
        return "/open-apis/bot/v2/hook/" in urlsplit(url).path

    def success(self, answer: dict[str, Any]) -> tuple[bool, int | None, str]:
        code = answer.get("code", answer.get("StatusCode"))
        message = answer.get("msg", answer.get("StatusMessage"))
        return code == 0, code if isinstance(code, int) else None, str(message or "")

    def body(self, card: Card, secret: str | None) -> dict[str, Any]:
        template = {"error": "red", "warning": "orange"}.get(card.severity, "blue")
        body_md = card.markdown.split("\n\n", 1)[1] if "\n\n" in card.markdown else card.markdown
        body_md = body_md.replace("\n\n> ", "\n\n")  # lark_md has no quotes
        elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": _clip(body_md, 20000)}}]
        if card.buttons:
            elements.append({"tag": "action", "actions": [
                {"tag": "button", "text": {"tag": "plain_text", "content": label}, "url": url,
                 "type": "primary" if index == 0 else "default"} for index, (label, url) in enumerate(card.buttons)]})
        message: dict[str, Any] = {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": card.title}, "template": template},
            "elements": elements}}
        if secret:
            timestamp = int(self.clock())
            message.update(timestamp=str(timestamp), sign=feishu_sign(timestamp, secret))
        return message


ROBOTS: dict[str, type[Robot]] = {"wecom": WeComRobot, "dingtalk": DingTalkRobot, "feishu": FeishuRobot}


def robot_channels(links: PublicLinks | None = None, *,
                   allowed_hosts: frozenset[str] | None = None) -> dict[str, Robot]:
    return {name: kind(links, allowed_hosts=allowed_hosts) for name, kind in ROBOTS.items()}


class BadWebhook(ValueError):
    """A webhook address refused before anything is sent: `problem` is "not-webhook" (not the platform's
    robot URL), "private" (an internal, loopback or unresolvable host) or "secret" (a malformed signing key)."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem = problem


def check_webhook(platform: str, url: str, secret: str | None, allowed_hosts: frozenset[str]) -> str:
    """The subscription address for a robot's webhook URL (with its signing secret), after the rules every
    sign-up follows — the dashboard's and the command line's: the platform's own URL shape, a public host
    (unless allow-listed), a signing secret of printable characters. Raises BadWebhook."""
    from domain.addresses import ForbiddenAddress, check_url

    if not url.startswith(("https://", "http://")) or len(url) > 250 or not ROBOTS[platform].valid_url(url):
        raise BadWebhook("not-webhook", url[:80])
    try:
        check_url(url, allowed_hosts)
    except ForbiddenAddress as exc:
        raise BadWebhook("private", str(exc)) from None
    if secret and (len(secret) > 100 or not re.fullmatch(r"[\x21-\x7e]+", secret)
                   or len(with_secret(url, secret)) > 300):
        raise BadWebhook("secret")
    return with_secret(url, secret)


def guess_platform(url: str) -> str | None:
    """The platform a pasted webhook URL belongs to, from its path (the hosts differ in tests)."""
    for name, kind in ROBOTS.items():
        if kind.valid_url(url):
            return name
    return None


def describe_answer(answer: bytes) -> str:
    try:
        return json.dumps(json.loads(answer), ensure_ascii=False)[:300]
    except ValueError:
        return answer[:300].decode("utf-8", errors="replace")
