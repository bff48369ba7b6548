"""Links in messages: the dashboard's public address (NIANBAO_PUBLIC_URL) and signed tokens for the links a
subscriber follows without logging in — confirm a sign-up (expires), stop or change a subscription (does not:
an unsubscribe link in a year-old e-mail must still work). Tokens are signed with the dashboard's secret
(itsdangerous) and carry the subscription's nonce, so giving a subscription a new nonce revokes its links."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 3 * 24 * 3600  # a confirmation link works for three days
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


class BadToken(Exception):
    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True)
class PublicLinks:
    base_url: str = DEFAULT_PUBLIC_URL
    secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    # ------------------------------------------------------------------ pages
    def url(self, path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def report(self, report_id: int | None) -> str | None:
        return self.url(f"/reports/{report_id}") if report_id else None

    def agency(self, agency_id: int | None) -> str | None:
        return self.url(f"/agencies/{agency_id}") if agency_id else None

    def letter(self, report_id: int) -> str:
        return self.url(f"/reports/{report_id}/letter")

    def feed(self, **params: Any) -> str:
        return self.url("/feeds/alerts.atom", **params)

    # ------------------------------------------------------------------ signed links
    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if not self.secret:
            raise BadToken("no signing secret configured")
        return URLSafeTimedSerializer(self.secret, salt=f"nianbao-{purpose}")

    def token(self, purpose: str, subscription_id: int, nonce: str | None) -> str:
        return str(self._serializer(purpose).dumps({"s": subscription_id, "n": nonce or ""}))

    def read(self, purpose: str, token: str, *, max_age: int | None = None) -> tuple[int, str]:
        """(subscription id, nonce) from a token made for `purpose`; BadToken when forged, for another
        purpose, or older than `max_age` seconds."""
        try:
            data = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise BadToken("expired", expired=True) from exc
        except BadSignature as exc:
            raise BadToken("bad signature") from exc
        if not isinstance(data, dict) or not isinstance(data.get("s"), int):
            raise BadToken("malformed")
        return int(data["s"]), str(data.get("n") or "")

    def confirm(self, subscription_id: int, nonce: str | None) -> str:
        return self.url("/subscribe/confirm", t=self.token("confirm", subscription_id, nonce))

    def unsubscribe(self, subscription_id: int, nonce: str | None) -> str:
        """The one-click link (RFC 8058: a POST to it, with no login, stops the subscription; a GET shows a
        page with the button)."""
        return self.url("/unsubscribe", t=self.token("stop", subscription_id, nonce))

    def unsubscribe_all(self, subscription_id: int, nonce: str | None) -> str:
        """One click stops every e-mail subscription of the address (the weekly digest's link)."""
        return self.url("/unsubscribe", t=self.token("stop-all", subscription_id, nonce))

    def manage(self, subscription_id: int, nonce: str | None) -> str:
        return self.url("/subscribe/manage", t=self.token("stop", subscription_id, nonce))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, data_dir: Path | None = None) -> PublicLinks:
        """NIANBAO_PUBLIC_URL (default: the dashboard's own address), signed with NIANBAO_WEB_SECRET or the key
        the dashboard keeps in the data directory (the same one, so its links verify there)."""
        env = os.environ if env is None else env
        base = env.get("NIANBAO_PUBLIC_URL") or (
            f"http://{env.get('NIANBAO_WEB_HOST') or '127.0.0.1'}:{env.get('NIANBAO_WEB_PORT') or '8080'}")
        secret = env.get("NIANBAO_WEB_SECRET") or ""
        if not secret:
            directory = data_dir or Path(env.get("NIANBAO_DATA_DIR") or Path(
                env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "nianbao-watch").expanduser()
            secret = kept_secret(directory)
        return cls(base_url=base, secret=secret)



def kept_secret(directory: Path) -> str:
    """The signing key kept (0600) in the data directory — the one the dashboard makes and uses when
    NIANBAO_WEB_SECRET is not set."""
    path = directory / "web-secret"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        directory.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(value)
        return value


def quoted(text: str) -> str:
    return quote(text, safe="")
