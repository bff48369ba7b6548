"""Configuration in one place, from the environment (safe defaults for a single user)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


def make_clock(start: str | None, clock_url: str | None = None) -> Callable[[], datetime]:
    """Real UTC time; or the time of another clock: `clock_url` answers {"offset_seconds": …} (the sandbox's
    /__sandbox__/clock), so every process agrees with the sandbox's world; or `start` (ISO), a clock that
    starts there and runs at real speed (one process's tests)."""
    if clock_url:
        import json
        import urllib.request

        with urllib.request.urlopen(clock_url, timeout=10) as response:
            offset = timedelta(seconds=float(json.load(response)["offset_seconds"]))
        return lambda: datetime.now(UTC) + offset
    if not start:
        return lambda: datetime.now(UTC)
    origin = datetime.fromisoformat(start)
    origin = origin if origin.tzinfo else origin.replace(tzinfo=UTC)
    began = time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - began)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nianbao-watch"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    archive_compress: bool = False
    now: str | None = None  # NIANBAO_NOW: pretend the time is this (ISO)
    clock_url: str | None = None  # NIANBAO_CLOCK_URL: take the time from this clock (the sandbox's)

    @property
    def archive_root(self) -> Path:
        return self.data_dir / "archive"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("NIANBAO_DATA_DIR") or default_data_dir()).expanduser()
        url = env.get("NIANBAO_DATABASE_URL") or f"sqlite:///{data_dir / 'nianbao.db'}"
        compress = env.get("NIANBAO_ARCHIVE_COMPRESS", "").lower() in ("1", "true", "yes")
        return cls(data_dir=data_dir, database_url=url, archive_compress=compress, now=env.get("NIANBAO_NOW") or None,
                   clock_url=env.get("NIANBAO_CLOCK_URL") or None)

    def clock(self) -> Callable[[], datetime]:
        return make_clock(self.now, self.clock_url)
