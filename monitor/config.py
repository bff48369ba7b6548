"""Configuration in one place: one typed `Settings` object, read once by the composition root (the CLI) from
`NIANBAO_*` environment variables over an optional TOML file (`--config` / `NIANBAO_CONFIG`, flat keys named
like the variables without the prefix: `poll_interval = 600`), over safe defaults — and passed down as
arguments (to Scrapy through its settings). Secrets are `SecretStr` (never printed), choices are enums, and
every error names the variable.

Why not pydantic-settings itself: its errors name the field (`smtp_port`), not the variable a person set
(`NIANBAO_SMTP_PORT`), and its environment source reads only `os.environ`; the reader below is the two
sources (TOML under environment) feeding the same pydantic model."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from notifier.channels import SmtpSecurity, SmtpSettings

from .errors import ConfigError

CLOCK_REFRESH_SECONDS = 2.0


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


ENV_PREFIX = "NIANBAO_"
DEFAULT_USER_AGENT = "nianbao-watch/0.1 (annual-report monitor; contact: set NIANBAO_USER_AGENT with your e-mail)"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nianbao-watch"


def _toml_values(path: str) -> dict[str, Any]:
    try:
        with open(Path(path).expanduser(), "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"config file {path}: {key!r} — use flat keys such as smtp_host, not tables")
    return {key.lower(): value for key, value in data.items()}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def merged_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the config file's values filled in where a variable is not set (what a child
    process such as the crawl pass gets)."""
    env = dict(os.environ if environ is None else environ)
    path = env.get("NIANBAO_CONFIG")
    if path:
        for key, value in _toml_values(path).items():
            env.setdefault(ENV_PREFIX + key.upper(), _as_text(value))
    return env


Seconds = Annotated[float, Field(ge=0.2)]


class Settings(BaseModel):
    """Every setting of nianbao-watch. Field `x` is the variable `NIANBAO_X` and the TOML key `x`; each is
    documented in the README's configuration table (a test keeps the two in step)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # empty: SQLite in the data directory
    archive_compress: bool = False
    archive: str | None = None  # a directory (default: data_dir/archive) or s3://bucket/prefix
    s3_endpoint: str | None = None  # an S3-compatible store's URL (default: AWS)
    s3_region: str | None = None
    s3_access_key: str | None = None  # default: boto3's credential chain
    s3_secret_key: SecretStr | None = None
    worker_heartbeat: float = Field(default=10, ge=0.5)  # `nianbao worker`: seconds between heartbeats
    poll_groups: int = Field(default=16, ge=1)  # `nianbao worker`: the sites' fixed poll groups
    now: str | None = None  # NIANBAO_NOW: pretend the time is this (ISO)
    clock_url: str | None = None  # NIANBAO_CLOCK_URL: take the time from this clock (the sandbox's)
    sites: str | None = None  # NIANBAO_SITES: the registry, a file or URL (may carry a password: never logged)
    allowed_hosts: tuple[str, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    download_maxsize: int = Field(default=50 * 1024 * 1024, ge=1024)
    chromium: str | None = None  # the browser for JavaScript sites (default: Debian's chromium)
    crawl_log_level: str = "WARNING"
    max_list_pages: int = Field(default=100, ge=1)  # a pass follows at most this many pages of one list
    max_requests_per_site: int = Field(default=2000, ge=1)  # and makes at most this many requests per site
    # the scheduler (seconds)
    poll_interval: float = Field(default=6 * 3600, ge=1)  # per site, in the reporting season
    poll_interval_offseason: float = Field(default=24 * 3600, ge=1)
    season: tuple[tuple[int, int], tuple[int, int]] = ((1, 1), (4, 15))
    poll_jitter: float = Field(default=0.2, ge=0, le=0.5)  # ± this share of the interval
    tick: Seconds = 30  # how often the scheduler looks for sites that are due
    crawl_timeout: float = Field(default=3 * 3600, ge=10)  # one crawl pass at most
    revisit_hours: float = Field(default=24, ge=0)
    slot_per_site: bool = False
    dispatch_interval: Seconds = 10
    sweep_interval: Seconds = 3600
    digest_interval: Seconds = 600  # how often due weekly digests are looked for
    digest_weekday: int = Field(default=0, ge=0, le=6)  # Monday
    digest_hour: int = Field(default=9, ge=0, le=23)
    timezone: str = "Asia/Shanghai"
    maintenance_interval: float = Field(default=24 * 3600, ge=1)
    keep_fetch_days: float = Field(default=90, ge=1)
    telegram_token: SecretStr | None = None
    telegram_base_url: str | None = None
    telegram_admins: tuple[int, ...] = ()
    smtp_host: str | None = None  # unset: no e-mail
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # default by security: 25 / 587 / 465
    smtp_from: str = "nianbao-watch@localhost"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    web: bool = False  # serve the dashboard from `nianbao run`
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    admin_password: SecretStr | None = None
    web_secret: SecretStr | None = None
    web_secure_cookies: bool = False  # the session cookie is `Secure` (the dashboard is served over HTTPS)
    public_url: str | None = None  # where people reach the dashboard (links in alerts, digests, feeds, sign-ups)
    webhook_allowed_hosts: tuple[str, ...] = ()  # private hosts a work-chat robot URL may point at
    signup_per_address: int = Field(default=3, ge=0)  # dashboard sign-ups per e-mail address or webhook a day
    signup_per_client: int = Field(default=10, ge=0)  # dashboard sign-ups per client address an hour
    config: str | None = None  # NIANBAO_CONFIG: the TOML file these came from
    environment: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)

    @field_validator("season", mode="before")
    @classmethod
    def _season(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            start, end = (tuple(int(p) for p in part.strip().split("-")) for part in value.split(".."))
            if len(start) != 2 or len(end) != 2:
                raise ValueError
            datetime(2024, *start), datetime(2024, *end)  # a real month and day (2024: 29 February exists)
        except (ValueError, TypeError):
            raise ValueError("expected MM-DD..MM-DD, e.g. 01-01..04-15") from None
        return (start[0], start[1]), (end[0], end[1])

    @field_validator("allowed_hosts", "telegram_admins", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("crawl_log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, config_file: str | None = None) -> Settings:
        """`NIANBAO_*` variables of `environ` (default: this process's) over the TOML file `config_file` (or
        `NIANBAO_CONFIG`). Raises ConfigError naming the variable."""
        env = dict(os.environ if environ is None else environ)
        path = config_file or env.get("NIANBAO_CONFIG") or None
        if path:
            env["NIANBAO_CONFIG"] = path
        from_file = _toml_values(path) if path else {}
        names = set(cls.model_fields) - {"environment"}
        unknown = sorted(set(from_file) - names)
        if unknown:
            raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)} "
                              "(keys are the variables' names without NIANBAO_, in lower case)")
        values: dict[str, Any] = dict(from_file)
        for name in names:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        values["config"] = path
        data_dir = Path(str(values.get("data_dir") or default_data_dir())).expanduser()
        values["data_dir"] = data_dir
        values.setdefault("database_url", "")
        if not values["database_url"]:
            values["database_url"] = f"sqlite:///{data_dir / 'nianbao.db'}"
        try:
            settings = cls(**values, environment=merged_environment(env))
        except ValidationError as exc:
            raise ConfigError(_explain(exc, env, path)) from None
        from domain.redact import register_secret

        register_secret(*(secret.get_secret_value() for secret in settings.secrets()))
        return settings

    def __repr__(self) -> str:  # secrets are SecretStr already; URLs may carry a password (NIANBAO_SITES, DB)
        from domain.redact import redact

        return redact(super().__repr__())

    def __str__(self) -> str:
        return repr(self)

    # ------------------------------------------------------------------ derived
    @property
    def archive_root(self) -> Path:
        return self.data_dir / "archive"

    def secrets(self) -> list[SecretStr]:
        return [s for s in (self.telegram_token, self.smtp_password, self.admin_password, self.web_secret,
                            self.s3_secret_key) if s]

    def clock(self) -> Callable[[], datetime]:
        return make_clock(self.now, self.clock_url)

    def child_environment(self) -> dict[str, str]:
        """What a crawl subprocess gets: this process's environment with the config file's values."""
        return dict(self.environment or os.environ)

    def smtp(self) -> SmtpSettings | None:
        """The e-mail channel's settings, or None without NIANBAO_SMTP_HOST."""
        if not self.smtp_host:
            return None
        port = self.smtp_port or {SmtpSecurity.SSL: 465, SmtpSecurity.STARTTLS: 587}.get(self.smtp_security, 25)
        return SmtpSettings(host=self.smtp_host, port=port, sender=self.smtp_from, username=self.smtp_user,
                            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
                            security=self.smtp_security.value)

    def public_links(self) -> Any:
        """The dashboard's public address for links in alerts (None without NIANBAO_PUBLIC_URL)."""
        from notifier.links import PublicLinks

        return PublicLinks(base_url=self.public_url) if self.public_url else None

    def signed_links(self) -> Any:
        """Links that also sign what a subscriber follows without logging in (one-click unsubscribe, manage):
        the public address (default: the dashboard's own) and the dashboard's key — NIANBAO_WEB_SECRET, or the
        one it keeps in the data directory — so the dashboard accepts them."""
        from notifier.links import PublicLinks, kept_secret

        secret = self.web_secret.get_secret_value() if self.web_secret else kept_secret(self.data_dir)
        return PublicLinks(base_url=self.public_url or f"http://{self.web_host}:{self.web_port}", secret=secret)

    def scrapy_overrides(self) -> dict[str, Any]:
        """What the crawler needs, as Scrapy settings (the crawler never reads the environment itself)."""
        return {"NIANBAO_SETTINGS": self, "NIANBAO_ALLOWED_HOSTS": list(self.allowed_hosts),
                "USER_AGENT": self.user_agent, "DOWNLOAD_MAXSIZE": self.download_maxsize,
                "DOWNLOAD_WARNSIZE": min(20 * 1024 * 1024, self.download_maxsize),
                "LOG_LEVEL": self.crawl_log_level, "NIANBAO_CHROMIUM": self.chromium or "",
                "NIANBAO_MAX_LIST_PAGES": self.max_list_pages,
                "NIANBAO_MAX_REQUESTS_PER_SITE": self.max_requests_per_site,
                # a worker's crawl child archives each file and defers its parse (workers/handoff.py)
                "NIANBAO_DOCUMENT_HANDOFF": "workers.handoff.hand_off"
                if (self.environment or {}).get("NIANBAO_PARSE_ELSEWHERE") else ""}

    def describe(self) -> dict[str, str]:
        """The effective settings without secrets (for `nianbao run` to log)."""
        from sqlalchemy.engine import make_url

        from domain.redact import redact

        shown: dict[str, Any] = {k: v for k, v in self.__dict__.items()
                                 if k not in ("environment", "telegram_token", "smtp_password", "admin_password",
                                              "web_secret", "s3_secret_key")}
        shown["telegram"] = "configured" if self.telegram_token else "off"
        shown["smtp_password"] = "set" if self.smtp_password else "unset"
        shown["admin_password"] = "set" if self.admin_password else "unset"
        shown["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        return {k: redact(str(v)) for k, v in shown.items()}


def _explain(exc: ValidationError, env: Mapping[str, str], path: str | None) -> str:
    """One line per problem, each naming the variable (and the file when the value came from it); secrets'
    values are never repeated."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        field_name = str(error["loc"][0]) if error["loc"] else "?"
        variable = ENV_PREFIX + field_name.upper()
        raw = env.get(variable)
        secret = field_name in ("telegram_token", "smtp_password", "admin_password", "web_secret")
        if raw is not None and raw.strip() != "":
            where = variable if secret else f"{variable}={raw.strip()!r}"
        else:
            where = f"{variable} ({field_name} in {path})" if path else variable
        line = f"{where}: {error['msg']}"
        if line not in lines:
            lines.append(line)
    return "; ".join(lines)
