"""The pieces around a real `nianbao run` process for end-to-end tests and benchmarks: sandbox sites in this
process (their clock is the monitor's clock), the Bot API emulator, and the daemon started as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.sites.server import Sandbox, serve
from sandbox.sites.world import World, build_world
from sandbox.telegram import TelegramEmulator
from storage import make_engine, session_factory, upgrade

CHINA = ZoneInfo("Asia/Shanghai")
TOKEN = "700000001:TEST-token-not-real"
CHAT = 4242


@dataclass
class Harness:
    data_dir: Path
    world: World
    sandbox: Sandbox
    telegram: TelegramEmulator
    env: dict[str, str]
    sessions: Any
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = self.data_dir / f"run-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run"], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)
        return self.process

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in self.logs if p.exists())

    def messages(self) -> list[str]:
        return self.telegram.messages_to(CHAT)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"nianbao run exited ({self.process.returncode}):\n{self.output()[-4000:]}")
            time.sleep(0.2)
        return False

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.sandbox.shutdown()
        self.telegram.shutdown()


def make_harness(tmp: Path, *, sites: int, now: datetime, poll_seconds: float = 4.0, smtp_port: int | None = None,
                 seed: int = 11, years: int = 1, extra_env: dict[str, str] | None = None) -> Harness:
    world = build_world(sites, seed, now, years=years, formats=("html", "pdf"), browser_share=0.0)
    sandbox = serve(world)
    telegram = TelegramEmulator(TOKEN).start()
    database = f"sqlite:///{tmp / 'nianbao.db'}"
    engine = make_engine(database)
    upgrade(engine)
    env = dict(os.environ)
    env.update({
        "NIANBAO_DATA_DIR": str(tmp), "NIANBAO_DATABASE_URL": database,
        "NIANBAO_SITES": f"{sandbox.base_url}/__sandbox__/sites.yaml",
        "NIANBAO_CLOCK_URL": f"{sandbox.base_url}/__sandbox__/clock",
        "NIANBAO_ALLOWED_HOSTS": "127.0.0.1", "NIANBAO_SLOT_PER_SITE": "1",
        "NIANBAO_POLL_INTERVAL": str(poll_seconds), "NIANBAO_POLL_INTERVAL_OFFSEASON": str(poll_seconds),
        "NIANBAO_POLL_JITTER": "0.1", "NIANBAO_TICK": "1", "NIANBAO_DISPATCH_INTERVAL": "0.5",
        "NIANBAO_SWEEP_INTERVAL": "2", "NIANBAO_DIGEST_INTERVAL": "1", "NIANBAO_REVISIT_HOURS": "1000",
        "NIANBAO_TELEGRAM_TOKEN": TOKEN, "NIANBAO_TELEGRAM_BASE_URL": telegram.base_url,
    })
    if smtp_port is not None:
        env.update({"NIANBAO_SMTP_HOST": "127.0.0.1", "NIANBAO_SMTP_PORT": str(smtp_port),
                    "NIANBAO_SMTP_FROM": "nianbao@example.org", "NIANBAO_SMTP_TIMEOUT": "3"})
    env.update(extra_env or {})
    return Harness(tmp, world, sandbox, telegram, env, session_factory(engine))
