"""The e-mails: an alert (text and HTML parts), the sign-up confirmation. Every alert and digest carries its
one-click unsubscribe link in the body and in the `List-Unsubscribe` + `List-Unsubscribe-Post` headers
(RFC 8058: mail clients POST `List-Unsubscribe=One-Click` to it, no login, no confirmation page)."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from .links import PublicLinks
from .matching import ALERT_KINDS

LIST_ID = "<alerts.nianbao-watch>"


def add_unsubscribe(mail: EmailMessage, unsubscribe_url: str) -> None:
    mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["List-Id"] = f"年报监测 {LIST_ID}"


def _base(sender: str, to: str, subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "nianbao-watch")
    return mail


def footer_text(unsubscribe: str | None, manage: str | None) -> str:
    if not unsubscribe:
        return "——\n本邮件由 nianbao-watch 自动发送。"
    return (f"——\n本邮件由 nianbao-watch 自动发送，因为您在网站上订阅并确认了此类提醒。\n"
            f"一键退订：{unsubscribe}\n修改订阅：{manage}")


def footer_html(unsubscribe: str | None, manage: str | None) -> str:
    if not unsubscribe:
        return "<p style=\"font-size:12px;color:#888\">本邮件由 nianbao-watch 自动发送。</p>"
    return (f"<p style=\"font-size:12px;color:#888;border-top:1px solid #eee;padding-top:8px\">本邮件由 nianbao-watch "
            f"自动发送，因为您订阅并确认了此类提醒。<a href=\"{html.escape(unsubscribe)}\">一键退订</a>　"
            f"<a href=\"{html.escape(manage or unsubscribe)}\">修改订阅</a></p>")


def alert_email(sender: str, to: str, text: str, links: PublicLinks | None) -> EmailMessage:
    """`text` is the outbox's text; when it is an `AlertText` the mail gets an HTML part and, with `links`,
    the subscription's unsubscribe link and headers."""
    alert = getattr(text, "alert", None)
    subscription_id: int | None = getattr(text, "subscription_id", None)
    nonce: str | None = getattr(text, "nonce", None)
    headline = alert.headline if alert is not None else text.split("\n", 1)[0]
    mail = _base(sender, to, "年报监测提醒：" + headline[:60])
    unsubscribe = manage = None
    if links is not None and links.secret and subscription_id is not None:
        unsubscribe = links.unsubscribe(subscription_id, nonce)
        manage = links.manage(subscription_id, nonce)
        add_unsubscribe(mail, unsubscribe)
    body = alert.text(links) if alert is not None else str(text)
    mail.set_content(body + "\n\n" + footer_text(unsubscribe, manage))
    if alert is not None:
        page = (f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"></head>"
                f"<body style=\"font-family:'PingFang SC','Microsoft YaHei',sans-serif;color:#222;max-width:640px\">"
                f"{alert.html(links)}{footer_html(unsubscribe, manage)}</body></html>")
        mail.add_alternative(page, subtype="html")
    return mail


def describe_scope(scope: dict[str, Any], kinds: list[str], labels: dict[str, str] | None = None) -> str:
    regions = [(labels or {}).get(r, r) for r in scope.get("regions") or []]
    agencies = list(scope.get("agencies") or [])
    where = "、".join([*regions, *agencies]) or "全部地区和机关"
    return f"范围：{where}；提醒：{'、'.join(ALERT_KINDS.get(k, k) for k in kinds)}"


def confirmation_email(sender: str, to: str, confirm_url: str, what: str, hours: int) -> EmailMessage:
    mail = _base(sender, to, "请确认订阅：政府信息公开年报监测提醒")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(
        f"您好！\n\n有人（希望是您本人）在年报监测网站上用本邮箱订阅了提醒：\n{what}\n\n"
        f"请在{hours}小时内打开下面的链接确认订阅，确认之前我们不会给您发送任何提醒：\n{confirm_url}\n\n"
        f"如果不是您本人申请，请忽略本邮件，此邮箱不会再收到我们的邮件。\n\n——\nnianbao-watch")
    mail.add_alternative(
        f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"></head><body style=\"font-family:"
        f"'PingFang SC','Microsoft YaHei',sans-serif;color:#222;max-width:640px\"><p>您好！</p><p>有人（希望是您本人）"
        f"在年报监测网站上用本邮箱订阅了提醒：<br>{html.escape(what)}</p><p><a href=\"{html.escape(confirm_url)}\" "
        f"style=\"display:inline-block;padding:8px 16px;background:#b71c1c;color:#fff;text-decoration:none\">确认订阅"
        f"</a></p><p style=\"color:#555\">链接{hours}小时内有效。确认之前我们不会给您发送任何提醒。如果不是您本人申请，"
        f"请忽略本邮件。</p></body></html>", subtype="html")
    return mail
