"""Where alerts go: the console (the offline demo), e-mail over SMTP. Each channel sends one text to one
address and returns a receipt, or raises `SendFailed` (retried later by the outbox)."""

from __future__ import annotations

import smtplib
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from .links import PublicLinks

from domain.redact import redact


class SendFailed(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Channel(Protocol):
    name: str

    def send(self, address: str, text: str) -> str: ...


class ConsoleChannel:
    name = "console"

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def send(self, address: str, text: str) -> str:
        print(f"—— 提醒 → {address} ——\n{text}\n", file=self.out, flush=True)
        return "printed"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes; built by the composition root from the one `Settings` (NIANBAO_SMTP_*)."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "nianbao-watch@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str = SmtpSecurity.NONE  # none / starttls / ssl, nothing else
    timeout: float = 30.0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "security", SmtpSecurity(self.security))
        except ValueError:
            raise ValueError(f"SMTP security {self.security!r}: one of none, starttls, ssl") from None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings | None:
        """For a caller not yet handed the settings object (`monitor.config.Settings.smtp()` is the reader the
        composition root uses), with the same rules: NIANBAO_SMTP_SECURITY exactly none/starttls/ssl, the port
        a number; an error names the variable. None without NIANBAO_SMTP_HOST."""
        host = env.get("NIANBAO_SMTP_HOST")
        if not host:
            return None
        security = env.get("NIANBAO_SMTP_SECURITY") or "none"
        if security not in {s.value for s in SmtpSecurity}:
            raise ValueError(f"NIANBAO_SMTP_SECURITY={security!r}: one of none, starttls, ssl")
        raw_port = env.get("NIANBAO_SMTP_PORT") or ""
        if raw_port and not (raw_port.isascii() and raw_port.isdigit() and 0 < int(raw_port) < 65536):
            raise ValueError(f"NIANBAO_SMTP_PORT={raw_port!r}: a port number")
        port = int(raw_port) if raw_port else {"ssl": 465, "starttls": 587}.get(security, 25)
        return cls(host=host, port=port, sender=env.get("NIANBAO_SMTP_FROM") or cls.sender,
                   username=env.get("NIANBAO_SMTP_USER") or None, password=env.get("NIANBAO_SMTP_PASSWORD") or None,
                   security=security)


def smtp_send(settings: SmtpSettings, message: EmailMessage) -> str:
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                     context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.username:
                client.login(settings.username, settings.password or "")
            refused = client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendFailed(redact(f"SMTP {settings.host}:{settings.port}: {exc}", [settings.password])) from exc
    if refused:
        raise SendFailed(f"SMTP refused {', '.join(refused)}")
    return f"smtp:{message['Message-ID'] or ''}"


class EmailChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings, links: PublicLinks | None = None) -> None:
        self.settings = settings
        self.links = links  # the dashboard's address and signing key: unsubscribe links and headers

    def send(self, address: str, text: str) -> str:
        from .mail import alert_email

        return smtp_send(self.settings, alert_email(self.settings.sender, address, text, self.links))


class WebhookChannel:
    """Work-chat robots (企业微信 wxteams://, 钉钉 dingtalk://, 飞书 feishu:// …) and plain JSON webhooks
    (json://host/path), through Apprise: the subscription's address is an Apprise URL."""

    name = "webhook"

    def send(self, address: str, text: str) -> str:
        import apprise

        client = apprise.Apprise()
        if not client.add(address):
            raise SendFailed(f"not a notification URL Apprise understands: {address.split('://')[0]}://…")
        title, _, body = text.partition("\n")
        if not client.notify(body=body or title, title=title):
            raise SendFailed(f"webhook {address.split('://')[0]}:// did not accept the message")
        return "webhook:ok"


def reach_channels(env: dict[str, str], smtp: SmtpSettings | None, links: PublicLinks) -> dict[str, Channel]:
    """E-mail with unsubscribe links, and the native work-chat robots (企业微信, 钉钉, 飞书)."""
    from .workchat import allowed_hosts_from_env, robot_channels

    channels: dict[str, Channel] = dict(robot_channels(links, allowed_hosts=allowed_hosts_from_env(env)))
    if smtp is not None:
        channels["email"] = EmailChannel(smtp, links)
    return channels
