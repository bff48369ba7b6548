"""Keeping secrets out of everything a person or a file sees: Telegram bot tokens, passwords in URLs, and any
secret value the composition root registers. Used for log records (tracebacks included), error texts that
get stored (`deliveries.last_error`, a site's last error) and status output."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from types import TracebackType

# a Bot API token: the bot's numeric id, a colon, 35 characters of base64url (looser here, to be safe)
_TELEGRAM_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{16,}")
_BOT_PATH = re.compile(r"(/bot)[^/\s'\"`]+")  # https://api.telegram.org/bot<token>/getMe
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@'\"]*):(?P<pw>[^/\s@'\"]*)@")
HIDDEN = "***"

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(*values: str | None) -> None:
    """Values (tokens, passwords) scrubbed from every later redaction in this process."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without registered or given secrets, bot tokens, and passwords in URLs."""
    if not text:
        return text
    with _lock:
        known = sorted({*_secrets, *(s for s in secrets if s and len(s) >= 4)}, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, HIDDEN)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{HIDDEN}@", text)
    text = _BOT_PATH.sub(rf"\g<1>{HIDDEN}", text)
    return _TELEGRAM_TOKEN.sub(HIDDEN, text)


def redact_url(url: str | None) -> str:
    """A URL for logs: its password hidden."""
    return redact(url or "")


class RedactingFilter(logging.Filter):
    """Rewrites each record it passes — message, arguments and traceback — through `redact`. Attached to
    handlers (not loggers) so that it sees records from every logger, third-party ones included."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw message
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a `RedactingFilter` on every handler of `logger` (default: the root logger, and Python's last-resort
    handler) that lacks one. Call again after a library installs its own handler (Scrapy does)."""
    target = logger or logging.getLogger()
    handlers = list(target.handlers)
    if logging.lastResort is not None:  # what prints a warning when no handler is configured
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def install_excepthook() -> None:
    """Uncaught exceptions (in the main thread and others) print their traceback redacted."""
    import sys
    import threading
    import traceback

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redact(text))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        sys.stderr.write(f"Exception in thread {name}:\n")
        hook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
