"""Configuration in one place: `NIANBAO_*` environment variables over an optional TOML file (`NIANBAO_CONFIG`,
flat keys named like the variables without the prefix: `poll_interval = 600`), over safe defaults."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLOCK_REFRESH_SECONDS = 2.0


class ConfigError(ValueError):
    pass


def make_clock(start: str | None, clock_url: str | None = None) -> Callable[[], datetime]:
    """Real UTC time; or the time of another clock: `clock_url` answers {"offset_seconds": …} (the sandbox's
    /__sandbox__/clock), so every process agrees with the sandbox's world, even when it is moved; or `start`
    (ISO), a clock that starts there and runs at real speed (one process's tests)."""
    if clock_url:
        return _RemoteClock(clock_url)
    if not start:
        return lambda: datetime.now(UTC)
    origin = datetime.fromisoformat(start)
    origin = origin if origin.tzinfo else origin.replace(tzinfo=UTC)
    began = time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - began)


class _RemoteClock:
    """Real time plus the remote clock's offset, asked again every few seconds (tests move the sandbox's
    clock across deadlines); while the remote clock cannot be reached the last offset holds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._offset = self._fetch()
        self._fetched = time.monotonic()

    def _fetch(self) -> timedelta:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            return timedelta(seconds=float(json.load(response)["offset_seconds"]))

    def __call__(self) -> datetime:
        with self._lock:
            if time.monotonic() - self._fetched > CLOCK_REFRESH_SECONDS:
                with contextlib.suppress(OSError):
                    self._offset = self._fetch()
                self._fetched = time.monotonic()
            return datetime.now(UTC) + self._offset


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nianbao-watch"


def merged_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the config file's values filled in where a variable is not set."""
    env = dict(os.environ if environ is None else environ)
    path = env.get("NIANBAO_CONFIG")
    if not path:
        return env
    try:
        with open(Path(path).expanduser(), "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"config file {path}: {key!r} — use flat keys such as smtp_host, not tables")
        name = "NIANBAO_" + key.upper()
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        env.setdefault(name, text)
    return env


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} is below {minimum:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    return default if raw in (None, "") else raw.strip().lower() in ("1", "true", "yes", "on")


def _season(raw: str) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        start, end = (tuple(int(p) for p in part.strip().split("-")) for part in raw.split(".."))
        if len(start) != 2 or len(end) != 2:
            raise ValueError
        return (start[0], start[1]), (end[0], end[1])
    except ValueError:
        raise ConfigError(f"NIANBAO_SEASON={raw!r}: expected MM-DD..MM-DD, e.g. 01-01..04-15") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    archive_compress: bool = False
    now: str | None = None  # NIANBAO_NOW: pretend the time is this (ISO)
    clock_url: str | None = None  # NIANBAO_CLOCK_URL: take the time from this clock (the sandbox's)
    sites: str | None = None  # NIANBAO_SITES: the registry, a file or URL
    allowed_hosts: tuple[str, ...] = ()
    # the scheduler (seconds)
    poll_interval: float = 6 * 3600  # per site, in the reporting season
    poll_interval_offseason: float = 24 * 3600
    season: tuple[tuple[int, int], tuple[int, int]] = ((1, 1), (4, 15))
    poll_jitter: float = 0.2  # ± this share of the interval, so sites do not all come due together
    tick: float = 30  # how often the scheduler looks for sites that are due
    crawl_timeout: float = 3 * 3600  # one crawl pass at most
    revisit_hours: float = 24
    slot_per_site: bool = False
    dispatch_interval: float = 10
    sweep_interval: float = 3600
    digest_interval: float = 600  # how often due weekly digests are looked for
    digest_weekday: int = 0  # Monday
    digest_hour: int = 9
    timezone: str = "Asia/Shanghai"
    maintenance_interval: float = 24 * 3600
    keep_fetch_days: float = 90
    telegram_token: str | None = field(default=None, repr=False)
    telegram_base_url: str | None = None
    telegram_admins: tuple[int, ...] = ()
    web: bool = False  # serve the dashboard from `nianbao run`
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    admin_password: str | None = field(default=None, repr=False)
    web_secret: str | None = field(default=None, repr=False)
    web_secure_cookies: bool = False  # the session cookie is `Secure` (the dashboard is served over HTTPS)
    environment: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def archive_root(self) -> Path:
        return self.data_dir / "archive"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = merged_environment(environ)
        data_dir = Path(env.get("NIANBAO_DATA_DIR") or default_data_dir()).expanduser()
        url = env.get("NIANBAO_DATABASE_URL") or f"sqlite:///{data_dir / 'nianbao.db'}"
        try:
            admins = tuple(int(a) for a in env.get("NIANBAO_TELEGRAM_ADMINS", "").split(",") if a.strip())
        except ValueError:
            raise ConfigError("NIANBAO_TELEGRAM_ADMINS: chat ids (numbers) separated by commas") from None
        weekday = int(_number(env, "NIANBAO_DIGEST_WEEKDAY", 0))
        hour = int(_number(env, "NIANBAO_DIGEST_HOUR", 9))
        if weekday > 6 or hour > 23:
            raise ConfigError("NIANBAO_DIGEST_WEEKDAY is 0 (Monday) … 6, NIANBAO_DIGEST_HOUR 0 … 23")
        return cls(
            data_dir=data_dir, database_url=url,
            archive_compress=_flag(env, "NIANBAO_ARCHIVE_COMPRESS"),
            now=env.get("NIANBAO_NOW") or None, clock_url=env.get("NIANBAO_CLOCK_URL") or None,
            sites=env.get("NIANBAO_SITES") or None,
            allowed_hosts=tuple(h.strip() for h in env.get("NIANBAO_ALLOWED_HOSTS", "").split(",") if h.strip()),
            poll_interval=_number(env, "NIANBAO_POLL_INTERVAL", 6 * 3600, minimum=1),
            poll_interval_offseason=_number(env, "NIANBAO_POLL_INTERVAL_OFFSEASON", 24 * 3600, minimum=1),
            season=_season(env.get("NIANBAO_SEASON") or "01-01..04-15"),
            poll_jitter=min(_number(env, "NIANBAO_POLL_JITTER", 0.2), 0.5),
            tick=_number(env, "NIANBAO_TICK", 30, minimum=0.2),
            crawl_timeout=_number(env, "NIANBAO_CRAWL_TIMEOUT", 3 * 3600, minimum=10),
            revisit_hours=_number(env, "NIANBAO_REVISIT_HOURS", 24),
            slot_per_site=_flag(env, "NIANBAO_SLOT_PER_SITE"),
            dispatch_interval=_number(env, "NIANBAO_DISPATCH_INTERVAL", 10, minimum=0.2),
            sweep_interval=_number(env, "NIANBAO_SWEEP_INTERVAL", 3600, minimum=0.2),
            digest_interval=_number(env, "NIANBAO_DIGEST_INTERVAL", 600, minimum=0.2),
            digest_weekday=weekday, digest_hour=hour,
            timezone=env.get("NIANBAO_TIMEZONE") or "Asia/Shanghai",
            maintenance_interval=_number(env, "NIANBAO_MAINTENANCE_INTERVAL", 24 * 3600, minimum=1),
            keep_fetch_days=_number(env, "NIANBAO_KEEP_FETCH_DAYS", 90, minimum=1),
            telegram_token=env.get("NIANBAO_TELEGRAM_TOKEN") or None,
            telegram_base_url=env.get("NIANBAO_TELEGRAM_BASE_URL") or None,
            telegram_admins=admins,
            web=_flag(env, "NIANBAO_WEB"),
            web_host=env.get("NIANBAO_WEB_HOST") or "127.0.0.1",
            web_port=int(_number(env, "NIANBAO_WEB_PORT", 8080, minimum=0)),
            admin_password=env.get("NIANBAO_ADMIN_PASSWORD") or None,
            web_secret=env.get("NIANBAO_WEB_SECRET") or None,
            web_secure_cookies=_flag(env, "NIANBAO_WEB_SECURE_COOKIES"),
            environment=env,
        )

    def clock(self) -> Callable[[], datetime]:
        return make_clock(self.now, self.clock_url)

    def child_environment(self) -> dict[str, str]:
        """What a crawl subprocess gets: this process's environment with the config file's values."""
        return dict(self.environment or os.environ)

    def describe(self) -> dict[str, Any]:
        """The effective settings without secrets (for `nianbao run` to log)."""
        shown = {k: v for k, v in self.__dict__.items()
                 if k not in ("telegram_token", "admin_password", "web_secret", "environment")}
        shown["telegram"] = "configured" if self.telegram_token else "off"
        shown["admin_password"] = "set" if self.admin_password else "unset"
        from sqlalchemy.engine import make_url

        shown["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        return {k: str(v) for k, v in shown.items()}
