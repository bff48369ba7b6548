from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
