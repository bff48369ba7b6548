from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def corpus_root() -> Path:
    return Path(os.environ.get("NIANBAO_CORPUS", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    root = corpus_root()
    if not (root / "corpus" / "labels").is_dir():
        pytest.skip(f"real-report corpus not found at {root} (set NIANBAO_CORPUS to the folder holding corpus/)")
    return root


class Clock:
    """A clock tests move by hand (no sleeping tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 2, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now
