"""Configuration in one place, from the environment (safe defaults for a single user)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nianbao-watch"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    archive_compress: bool = False

    @property
    def archive_root(self) -> Path:
        return self.data_dir / "archive"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("NIANBAO_DATA_DIR") or default_data_dir()).expanduser()
        url = env.get("NIANBAO_DATABASE_URL") or f"sqlite:///{data_dir / 'nianbao.db'}"
        compress = env.get("NIANBAO_ARCHIVE_COMPRESS", "").lower() in ("1", "true", "yes")
        return cls(data_dir=data_dir, database_url=url, archive_compress=compress)
